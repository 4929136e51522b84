//! What travels on RabbitMQ. Every message carries `v` (its schema version) so a newer
//! consumer can still read what an older producer queued, and is tagged by `type`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{Change, EventId, OrderDetails, OrderId, WebhookType};

pub const SCHEMA_VERSION: u16 = 1;

/// Everything the worker consumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkerMessage {
    OrderCreated(OrderCreated),
    OrderCancelled(OrderCancelled),
    StaffCommand(StaffCommand),
}

impl WorkerMessage {
    /// The key de-duplication is done on: Kyte's event id, or the command's id.
    pub fn dedup_key(&self) -> String {
        match self {
            Self::OrderCreated(m) => format!("kyte:{}", m.event_id),
            Self::OrderCancelled(m) => format!("kyte:{}", m.event_id),
            Self::StaffCommand(m) => format!("cmd:{}", m.command_id),
        }
    }

    pub fn order_id(&self) -> &OrderId {
        match self {
            Self::OrderCreated(m) => &m.order_id,
            Self::OrderCancelled(m) => &m.order_id,
            Self::StaffCommand(m) => &m.order_id,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::OrderCreated(_) => "order_created",
            Self::OrderCancelled(_) => "order_cancelled",
            Self::StaffCommand(_) => "staff_command",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCreated {
    pub v: u16,
    pub event_id: EventId,
    pub occurred_at: Option<DateTime<Utc>>,
    pub order_id: OrderId,
    pub order: OrderDetails,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCancelled {
    pub v: u16,
    pub event_id: EventId,
    pub occurred_at: Option<DateTime<Utc>>,
    pub order_id: OrderId,
    pub reason: Option<String>,
}

/// A staff member's requested change, queued by ingress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaffCommand {
    pub v: u16,
    pub command_id: Uuid,
    pub order_id: OrderId,
    pub actor: String,
    pub change: Change,
    pub requested_at: DateTime<Utc>,
}

/// Everything the notifier consumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NotifierMessage {
    Deliver { v: u16, notification: Webhook },
}

/// The webhook body Kyte receives (CONTRACT §5), stored with the notification so every retry
/// sends the same bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: WebhookType,
    pub order_id: String,
    pub sequence: i32,
    pub occurred_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub data: Value,
}

/// The id a notification gets: `ntf_` and a time-ordered UUID, so ids sort by creation.
pub fn new_notification_id() -> String {
    format!("ntf_{}", Uuid::now_v7().simple())
}

/// The result of a staff command, stored by the worker and read by whoever waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommandStatus {
    Queued,
    Applied,
    Rejected,
}

impl CommandStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Applied => "applied",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Applied, Self::Rejected]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// Why a command was rejected, in the API's error shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CommandError {
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OrderInput;

    fn round_trip<T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug>(
        value: &T,
    ) {
        let json = serde_json::to_string(value).unwrap();
        let back: T = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, value);
    }

    #[test]
    fn every_worker_message_round_trips_with_its_type_tag() {
        let input: OrderInput = serde_json::from_value(serde_json::json!({
            "id": "ORD-1", "customer": {"name": "Ada"},
            "items": [{"name": "Pizza", "quantity": 1, "unit_price_cents": 900}],
            "total_cents": 900, "currency": "EUR", "placed_at": "2026-12-03T11:59:58Z"
        }))
        .unwrap();
        let (order_id, order) = input.parse().unwrap();
        let created = WorkerMessage::OrderCreated(OrderCreated {
            v: SCHEMA_VERSION,
            event_id: EventId::parse("evt_1").unwrap(),
            occurred_at: None,
            order_id: order_id.clone(),
            order,
        });
        round_trip(&created);
        let json = serde_json::to_value(&created).unwrap();
        assert_eq!(json["type"], "order_created");
        assert_eq!(json["v"], 1);
        assert_eq!(created.dedup_key(), "kyte:evt_1");

        round_trip(&WorkerMessage::OrderCancelled(OrderCancelled {
            v: SCHEMA_VERSION,
            event_id: EventId::parse("evt_2").unwrap(),
            occurred_at: Some(Utc::now()),
            order_id: order_id.clone(),
            reason: Some("customer_request".into()),
        }));
        for change in [
            Change::Complete,
            Change::Delay { delay_minutes: 5 },
            Change::Reject { reason: None },
        ] {
            round_trip(&WorkerMessage::StaffCommand(StaffCommand {
                v: SCHEMA_VERSION,
                command_id: Uuid::new_v4(),
                order_id: order_id.clone(),
                actor: "alice".into(),
                change,
                requested_at: Utc::now(),
            }));
        }
    }

    #[test]
    fn webhook_bodies_use_kytes_field_names() {
        let webhook = Webhook {
            id: new_notification_id(),
            kind: WebhookType::PreparationDelayed,
            order_id: "ORD-1".into(),
            sequence: 3,
            occurred_at: Utc::now(),
            data: serde_json::json!({"delay_minutes": 15}),
        };
        let json = serde_json::to_value(&webhook).unwrap();
        assert_eq!(json["type"], "preparation_delayed");
        assert!(json["id"].as_str().unwrap().starts_with("ntf_"));
        round_trip(&NotifierMessage::Deliver {
            v: SCHEMA_VERSION,
            notification: webhook,
        });
    }

    #[test]
    fn messages_with_invalid_ids_do_not_parse() {
        let bad = r#"{"type":"order_cancelled","v":1,"event_id":"","occurred_at":null,"order_id":"ORD 1","reason":null}"#;
        assert!(serde_json::from_str::<WorkerMessage>(bad).is_err());
    }
}

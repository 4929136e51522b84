//! CONTRACT §4 as one pure function: given an order's state and a requested change, either the
//! transition to record (new status, next version, history event, webhook) or a typed refusal.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::OrderStatus;

/// What may happen to an order that exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// Kyte's `order_cancelled`.
    KyteCancel {
        reason: Option<String>,
    },
    Accept {
        prep_minutes: Option<u16>,
    },
    Reject {
        reason: Option<String>,
    },
    Delay {
        delay_minutes: u16,
    },
    Cancel {
        reason: Option<String>,
    },
    Complete,
    /// The acceptance deadline passed while the order was still pending.
    AcceptanceTimeout,
}

impl Change {
    /// The verb used in refusal messages ("cannot accept an order that is completed").
    fn verb(&self) -> &'static str {
        match self {
            Self::KyteCancel { .. } => "cancel (Kyte)",
            Self::Accept { .. } => "accept",
            Self::Reject { .. } | Self::AcceptanceTimeout => "reject",
            Self::Delay { .. } => "delay",
            Self::Cancel { .. } => "cancel",
            Self::Complete => "complete",
        }
    }

    fn allowed_from(&self) -> &'static [OrderStatus] {
        use OrderStatus::*;
        match self {
            Self::KyteCancel { .. } => &[Pending, Accepted, Delayed],
            Self::Accept { .. } | Self::Reject { .. } | Self::AcceptanceTimeout => &[Pending],
            Self::Delay { .. } | Self::Cancel { .. } | Self::Complete => &[Accepted, Delayed],
        }
    }
}

/// The webhooks Kyte hears, named as Kyte names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookType {
    PreparationAccepted,
    PreparationRejected,
    PreparationDelayed,
    PreparationCancelled,
    PreparationDone,
}

impl WebhookType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PreparationAccepted => "preparation_accepted",
            Self::PreparationRejected => "preparation_rejected",
            Self::PreparationDelayed => "preparation_delayed",
            Self::PreparationCancelled => "preparation_cancelled",
            Self::PreparationDone => "preparation_done",
        }
    }
}

/// The name a change carries in the order's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryEvent {
    OrderCreated,
    OrderCancelled,
    Staff(WebhookType),
}

impl HistoryEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderCreated => "order_created",
            Self::OrderCancelled => "order_cancelled",
            Self::Staff(w) => w.as_str(),
        }
    }
}

/// What the state machine needs to know of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderState {
    pub status: OrderStatus,
    pub version: i32,
    pub estimated_ready_at: Option<DateTime<Utc>>,
}

/// An applied change: everything the store writes and the notifier sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    pub version: i32,
    pub event: HistoryEvent,
    pub reason: Option<String>,
    pub estimated_ready_at: Option<DateTime<Utc>>,
    /// The webhook Kyte must hear, with its `data` object; `None` when Kyte made the change.
    pub webhook: Option<(WebhookType, Value)>,
}

impl Transition {
    pub fn state(&self) -> OrderState {
        OrderState {
            status: self.to,
            version: self.version,
            estimated_ready_at: self.estimated_ready_at,
        }
    }
}

/// A change the state machine refuses, with a sentence for whoever asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: OrderStatus,
    pub message: String,
}

/// `order_created`: a new order is pending at version 1.
pub fn create() -> Transition {
    Transition {
        from: None,
        to: OrderStatus::Pending,
        version: 1,
        event: HistoryEvent::OrderCreated,
        reason: None,
        estimated_ready_at: None,
        webhook: None,
    }
}

/// Applies `change` at time `at` to an order in `state`.
pub fn apply(
    state: &OrderState,
    change: &Change,
    at: DateTime<Utc>,
) -> Result<Transition, Refusal> {
    if !change.allowed_from().contains(&state.status) {
        let message = if state.status.is_final() {
            format!("order is {}", state.status)
        } else {
            format!("cannot {} an order that is {}", change.verb(), state.status)
        };
        return Err(Refusal {
            status: state.status,
            message,
        });
    }
    let minutes = |m: u16| Duration::minutes(i64::from(m));
    let mut data = Map::new();
    let mut estimated_ready_at = state.estimated_ready_at;
    let (to, event, reason) = match change {
        Change::KyteCancel { reason } => (
            OrderStatus::Cancelled,
            HistoryEvent::OrderCancelled,
            reason.clone(),
        ),
        Change::Accept { prep_minutes } => {
            if let Some(m) = prep_minutes {
                let eta = at + minutes(*m);
                estimated_ready_at = Some(eta);
                data.insert("estimated_ready_at".into(), json!(eta));
            }
            (
                OrderStatus::Accepted,
                HistoryEvent::Staff(WebhookType::PreparationAccepted),
                None,
            )
        }
        Change::Reject { reason } => (
            OrderStatus::Rejected,
            HistoryEvent::Staff(WebhookType::PreparationRejected),
            reason.clone(),
        ),
        Change::AcceptanceTimeout => (
            OrderStatus::Rejected,
            HistoryEvent::Staff(WebhookType::PreparationRejected),
            Some("acceptance_timeout".to_owned()),
        ),
        Change::Delay { delay_minutes } => {
            // A delay pushes the current estimate back; without one it counts from now.
            let eta = estimated_ready_at.map_or(at, |eta| eta.max(at)) + minutes(*delay_minutes);
            estimated_ready_at = Some(eta);
            data.insert("delay_minutes".into(), json!(delay_minutes));
            data.insert("estimated_ready_at".into(), json!(eta));
            (
                OrderStatus::Delayed,
                HistoryEvent::Staff(WebhookType::PreparationDelayed),
                None,
            )
        }
        Change::Cancel { reason } => (
            OrderStatus::Cancelled,
            HistoryEvent::Staff(WebhookType::PreparationCancelled),
            reason.clone(),
        ),
        Change::Complete => (
            OrderStatus::Completed,
            HistoryEvent::Staff(WebhookType::PreparationDone),
            None,
        ),
    };
    if let Some(r) = &reason {
        data.insert("reason".into(), json!(r));
    }
    let webhook = match event {
        HistoryEvent::Staff(kind) => Some((kind, Value::Object(data))),
        HistoryEvent::OrderCreated | HistoryEvent::OrderCancelled => None,
    };
    Ok(Transition {
        from: Some(state.status),
        to,
        version: state.version + 1,
        event,
        reason,
        estimated_ready_at,
        webhook,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use OrderStatus::*;

    fn at() -> DateTime<Utc> {
        "2026-12-03T12:00:00Z".parse().unwrap()
    }

    fn state(status: OrderStatus) -> OrderState {
        OrderState {
            status,
            version: 3,
            estimated_ready_at: None,
        }
    }

    fn all_changes() -> Vec<Change> {
        vec![
            Change::KyteCancel {
                reason: Some("customer_request".into()),
            },
            Change::Accept {
                prep_minutes: Some(20),
            },
            Change::Reject {
                reason: Some("out_of_stock".into()),
            },
            Change::Delay { delay_minutes: 15 },
            Change::Cancel {
                reason: Some("kitchen_closed".into()),
            },
            Change::Complete,
            Change::AcceptanceTimeout,
        ]
    }

    /// The CONTRACT §4 table, row by row: (from, change index, to, webhook).
    fn table() -> Vec<(OrderStatus, usize, OrderStatus, Option<WebhookType>)> {
        use WebhookType::*;
        vec![
            (Pending, 1, Accepted, Some(PreparationAccepted)),
            (Pending, 2, Rejected, Some(PreparationRejected)),
            (Pending, 6, Rejected, Some(PreparationRejected)),
            (Pending, 0, Cancelled, None),
            (Accepted, 0, Cancelled, None),
            (Delayed, 0, Cancelled, None),
            (Accepted, 3, Delayed, Some(PreparationDelayed)),
            (Delayed, 3, Delayed, Some(PreparationDelayed)),
            (Accepted, 4, Cancelled, Some(PreparationCancelled)),
            (Delayed, 4, Cancelled, Some(PreparationCancelled)),
            (Accepted, 5, Completed, Some(PreparationDone)),
            (Delayed, 5, Completed, Some(PreparationDone)),
        ]
    }

    #[test]
    fn every_state_and_change_pair_follows_the_contract_table() {
        let changes = all_changes();
        for from in OrderStatus::ALL {
            for (i, change) in changes.iter().enumerate() {
                let expected = table()
                    .into_iter()
                    .find(|(f, c, _, _)| *f == from && *c == i);
                let result = apply(&state(from), change, at());
                match expected {
                    Some((_, _, to, webhook)) => {
                        let t =
                            result.unwrap_or_else(|r| panic!("{from} + {change:?} refused: {r:?}"));
                        assert_eq!(t.to, to, "{from} + {change:?}");
                        assert_eq!(t.version, 4);
                        assert_eq!(t.from, Some(from));
                        assert_eq!(t.webhook.map(|(w, _)| w), webhook, "{from} + {change:?}");
                    }
                    None => {
                        let refusal = result.expect_err("should be refused");
                        assert_eq!(refusal.status, from);
                    }
                }
            }
        }
    }

    #[test]
    fn creation_gives_pending_at_version_one_without_webhook() {
        let t = create();
        assert_eq!((t.to, t.version, t.from), (Pending, 1, None));
        assert!(t.webhook.is_none());
        assert_eq!(t.event.as_str(), "order_created");
    }

    #[test]
    fn refusals_of_final_orders_say_so() {
        let r = apply(
            &state(Completed),
            &Change::KyteCancel { reason: None },
            at(),
        )
        .unwrap_err();
        assert_eq!(r.message, "order is completed");
        let r = apply(&state(Pending), &Change::Complete, at()).unwrap_err();
        assert_eq!(r.message, "cannot complete an order that is pending");
    }

    #[test]
    fn webhook_data_matches_the_contract() {
        let t = apply(
            &state(Pending),
            &Change::Accept {
                prep_minutes: Some(20),
            },
            at(),
        )
        .unwrap();
        assert_eq!(
            t.webhook.unwrap().1,
            json!({"estimated_ready_at": "2026-12-03T12:20:00Z"})
        );
        let t = apply(
            &state(Pending),
            &Change::Accept { prep_minutes: None },
            at(),
        )
        .unwrap();
        assert_eq!(t.webhook.unwrap().1, json!({}));

        let mut accepted = state(Accepted);
        accepted.estimated_ready_at = Some("2026-12-03T12:25:00Z".parse().unwrap());
        let t = apply(&accepted, &Change::Delay { delay_minutes: 15 }, at()).unwrap();
        assert_eq!(
            t.webhook.unwrap().1,
            json!({"delay_minutes": 15, "estimated_ready_at": "2026-12-03T12:40:00Z"})
        );

        let t = apply(&state(Pending), &Change::AcceptanceTimeout, at()).unwrap();
        assert_eq!(t.reason.as_deref(), Some("acceptance_timeout"));
        assert_eq!(
            t.webhook.unwrap().1,
            json!({"reason": "acceptance_timeout"})
        );

        let t = apply(&state(Delayed), &Change::Complete, at()).unwrap();
        assert_eq!(t.webhook.unwrap().1, json!({}));
    }

    proptest! {
        #[test]
        fn any_sequence_keeps_versions_contiguous_and_final_states_final(
            picks in proptest::collection::vec(0usize..7, 0..40)
        ) {
            let changes = all_changes();
            let mut current = create().state();
            for i in picks {
                let before = current.clone();
                match apply(&before, &changes[i], at()) {
                    Ok(t) => {
                        prop_assert!(!before.status.is_final(), "left final state {}", before.status);
                        prop_assert_eq!(t.version, before.version + 1);
                        current = t.state();
                    }
                    Err(r) => prop_assert_eq!(r.status, before.status),
                }
            }
        }
    }
}

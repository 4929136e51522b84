//! Notifications the notifier gave up on: listed and replayed by `notifier dead-letters` and by
//! ingress's `/ops/dead-letters`.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde::Serialize;
use utoipa::ToSchema;

use crate::messages::Webhook;
use crate::messaging::{Broker, Headers, queue_delivery};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeadLetter {
    pub notification_id: String,
    pub order_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub sequence: i32,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub dead_at: Option<DateTime<Utc>>,
}

/// Which dead letters to replay.
#[derive(Debug, Clone)]
pub enum Scope {
    Order(String),
    All,
}

pub async fn list(db: &DatabaseConnection) -> anyhow::Result<Vec<DeadLetter>> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT id, order_id, type, sequence, attempts, last_status_code, last_error, dead_at \
             FROM notifications WHERE state = 'dead' ORDER BY dead_at, order_id, sequence",
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(DeadLetter {
                notification_id: r.try_get("", "id")?,
                order_id: r.try_get("", "order_id")?,
                kind: r.try_get("", "type")?,
                sequence: r.try_get("", "sequence")?,
                attempts: r.try_get("", "attempts")?,
                last_status_code: r.try_get("", "last_status_code")?,
                last_error: r.try_get("", "last_error")?,
                dead_at: r.try_get("", "dead_at")?,
            })
        })
        .collect()
}

/// Makes the chosen dead notifications pending again (same id, fresh retry budget) and queues
/// them, in sequence order per order.
pub async fn replay(
    db: &DatabaseConnection,
    broker: &Broker,
    scope: Scope,
) -> anyhow::Result<usize> {
    let order = match &scope {
        Scope::Order(id) => Some(id.clone()),
        Scope::All => None,
    };
    // Committed before anything is queued: a notifier that picked a message up before the
    // commit would still see the notification dead and drop the message.
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE notifications SET state = 'pending', first_attempt_at = NULL, next_attempt_at = NULL, \
             lease_until = NULL, dead_at = NULL, updated_at = now(), published_at = now() \
             WHERE state = 'dead' AND ($1::text IS NULL OR order_id = $1) RETURNING payload",
            [order.into()],
        ))
        .await?;
    let mut webhooks = rows
        .iter()
        .map(|r| {
            Ok(serde_json::from_value::<Webhook>(
                r.try_get("", "payload")?,
            )?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    webhooks.sort_by(|a, b| (&a.order_id, a.sequence).cmp(&(&b.order_id, b.sequence)));
    for (i, webhook) in webhooks.iter().enumerate() {
        let headers = Headers::default().with("replayed", "true");
        if let Err(e) = queue_delivery(broker, webhook, headers).await {
            // Not queued: make the rest dead again, so they stay listed and can be replayed.
            let unqueued: Vec<String> = webhooks[i..].iter().map(|w| w.id.clone()).collect();
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE notifications SET state = 'dead', dead_at = now(), updated_at = now() \
                 WHERE id = ANY($1) AND state = 'pending' AND attempts > 0",
                [unqueued.into()],
            ))
            .await?;
            return Err(e.into());
        }
    }
    Ok(webhooks.len())
}

//! Publishing the notification rows a transaction wrote. The normal path publishes right after
//! commit; rows left unpublished by a crash are published by the redelivered message or the
//! periodic sweep, under `FOR UPDATE SKIP LOCKED` so two workers never queue the same row.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use shared::messages::Webhook;
use shared::messaging::{Broker, Headers, PublishError, queue_delivery};

use crate::store::stmt;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

async fn publish_one(
    broker: &Broker,
    webhook: &Webhook,
    correlation_id: Option<&str>,
) -> Result<(), OutboxError> {
    let headers = Headers {
        correlation_id: correlation_id.map(str::to_owned),
        ..Headers::default()
    };
    Ok(queue_delivery(broker, webhook, headers).await?)
}

/// Publishes the webhooks a committed transaction produced, then marks them published.
pub async fn publish_committed(
    db: &DatabaseConnection,
    broker: &Broker,
    webhooks: &[Webhook],
    correlation_id: Option<&str>,
) -> Result<(), OutboxError> {
    if webhooks.is_empty() {
        return Ok(());
    }
    for webhook in webhooks {
        publish_one(broker, webhook, correlation_id).await?;
    }
    let ids: Vec<String> = webhooks.iter().map(|w| w.id.clone()).collect();
    db.execute_raw(stmt(
        "UPDATE notifications SET published_at = now() WHERE id = ANY($1) AND published_at IS NULL",
        [ids.into()],
    ))
    .await?;
    Ok(())
}

/// Publishes rows still unpublished: of one order (a redelivered message's), or of every order
/// once they are older than `grace` (the sweep). Returns how many it published.
pub async fn publish_leftovers(
    db: &DatabaseConnection,
    broker: &Broker,
    order_id: Option<&str>,
    grace: Duration,
) -> Result<usize, OutboxError> {
    let txn = db.begin().await?;
    let rows = txn
        .query_all_raw(stmt(
            "SELECT payload FROM notifications WHERE published_at IS NULL \
             AND ($1::text IS NULL OR order_id = $1) AND created_at < now() - make_interval(secs => $2) \
             ORDER BY order_id, sequence LIMIT 500 FOR UPDATE SKIP LOCKED",
            [order_id.map(str::to_owned).into(), grace.as_secs_f64().into()],
        ))
        .await?;
    let mut ids = Vec::with_capacity(rows.len());
    for row in &rows {
        let webhook: Webhook = serde_json::from_value(row.try_get("", "payload")?)?;
        publish_one(broker, &webhook, None).await?;
        ids.push(webhook.id);
    }
    if !ids.is_empty() {
        txn.execute_raw(stmt(
            "UPDATE notifications SET published_at = now() WHERE id = ANY($1)",
            [ids.clone().into()],
        ))
        .await?;
    }
    txn.commit().await?;
    Ok(ids.len())
}

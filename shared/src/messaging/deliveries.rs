//! Queuing a notification for the notifier. Four producers do it (the worker's outbox, the
//! notifier's hand-on and stuck-row sweep, dead-letter replay); one spelling keeps the message
//! id (the notification id, for tracing and de-duplication) and the `order-id` header the same.

use crate::messages::{NotifierMessage, SCHEMA_VERSION, Webhook};

use super::{Broker, Headers, PublishError};

/// Publishes `webhook` to the notifier's queue and waits for the broker's confirm. `headers`
/// carries whatever the caller adds (correlation id, `replayed`); the ids are set here.
pub async fn queue_delivery(
    broker: &Broker,
    webhook: &Webhook,
    headers: Headers,
) -> Result<(), PublishError> {
    let headers = Headers {
        message_id: Some(webhook.id.clone()),
        ..headers
    }
    .with("order-id", webhook.order_id.clone());
    let body = serde_json::to_vec(&NotifierMessage::Deliver {
        v: SCHEMA_VERSION,
        notification: webhook.clone(),
    })
    .map_err(|e| PublishError::Encode(e.to_string()))?;
    broker
        .publish_to(&broker.topology().notifier_queue(), &body, &headers)
        .await
}

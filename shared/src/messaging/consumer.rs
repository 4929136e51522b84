use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::{Broker, Headers};

/// What a handler decided about one message; the consume loop turns it into AMQP calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done (or a duplicate): remove it from the queue.
    Ack,
    /// Try again after this long; the message waits in a delay queue, not in the consumer.
    Retry(Duration),
    /// Never going to work: move it to the dead-letter queue with this reason.
    DeadLetter(String),
}

/// A delivery as handlers see it: the body and the headers that matter, no AMQP handles.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub data: Vec<u8>,
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    /// How often the broker delivered it before (quorum queues count crashed consumers too).
    pub delivery_count: i64,
    /// How often a handler asked to retry it.
    pub retries: i64,
    pub redelivered: bool,
    headers: FieldTable,
}

impl Incoming {
    fn from_delivery(d: &Delivery) -> Self {
        let headers = d.properties.headers().clone().unwrap_or_default();
        let int = |key: &str| match headers.inner().get(key) {
            Some(AMQPValue::LongLongInt(n)) => *n,
            Some(AMQPValue::LongInt(n)) => i64::from(*n),
            Some(AMQPValue::LongString(s)) => {
                String::from_utf8_lossy(s.as_bytes()).parse().unwrap_or(0)
            }
            _ => 0,
        };
        Self {
            data: d.data.clone(),
            message_id: d
                .properties
                .message_id()
                .as_ref()
                .map(|s| s.as_str().to_owned()),
            correlation_id: d
                .properties
                .correlation_id()
                .as_ref()
                .map(|s| s.as_str().to_owned()),
            delivery_count: int("x-delivery-count"),
            retries: int("x-retries"),
            redelivered: d.redelivered,
            headers,
        }
    }

    pub fn header(&self, key: &str) -> Option<String> {
        match self.headers.inner().get(key)? {
            AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
            AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
            _ => None,
        }
    }

    /// Headers to carry along when the message is re-published (retry, dead letter).
    pub fn forward_headers(&self) -> Headers {
        let mut h = Headers {
            message_id: self.message_id.clone(),
            correlation_id: self.correlation_id.clone(),
            extra: Vec::new(),
        };
        for (k, v) in self.headers.inner() {
            let key = k.as_str();
            if key.starts_with("x-death") || key == "x-delivery-count" || key == "x-retries" {
                continue;
            }
            if let AMQPValue::LongString(s) = v {
                h.extra.push((
                    key.to_owned(),
                    String::from_utf8_lossy(s.as_bytes()).into_owned(),
                ));
            }
        }
        h.with("x-retries", (self.retries + 1).to_string())
    }
}

/// Consumes `queue` until `shutdown`, running `handler` on up to `prefetch` deliveries at once.
/// Reconnects with back-off when the connection breaks. On shutdown it stops taking
/// deliveries, waits for the handlers in flight to finish and ack, then returns.
pub async fn consume<F, Fut>(
    broker: Arc<Broker>,
    queue: String,
    label: &'static str,
    prefetch: u16,
    handler: F,
    shutdown: CancellationToken,
) where
    F: Fn(Incoming) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let tracker = TaskTracker::new();
    let mut backoff = Duration::from_millis(100);
    let tag = format!("{label}-{}", uuid::Uuid::new_v4().simple());
    'connection: while !shutdown.is_cancelled() {
        let channel = match start(&broker, &queue, &tag, prefetch).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, queue = %queue, retry_in = ?backoff, "cannot consume, will retry");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.cancelled() => break 'connection,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        let (channel, mut consumer) = channel;
        backoff = Duration::from_millis(100);
        tracing::info!(queue = %queue, prefetch, "consuming");
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    let _ = channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default()).await;
                    tracker.close();
                    tracker.wait().await;
                    let _ = channel.close(200, "shutdown".into()).await;
                    break 'connection;
                }
                next = consumer.next() => match next {
                    Some(Ok(delivery)) => {
                        tracker.spawn(handle_one(broker.clone(), queue.clone(), label, delivery, handler.clone()));
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, queue = %queue, "consumer failed, reconnecting");
                        break;
                    }
                    None => {
                        tracing::warn!(queue = %queue, "consumer closed, reconnecting");
                        break;
                    }
                }
            }
        }
    }
    tracker.close();
    tracker.wait().await;
}

async fn start(
    broker: &Broker,
    queue: &str,
    tag: &str,
    prefetch: u16,
) -> Result<(lapin::Channel, lapin::Consumer), super::PublishError> {
    let channel = broker.consumer_channel().await?;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    let consumer = channel
        .basic_consume(
            queue.into(),
            tag.into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok((channel, consumer))
}

async fn handle_one<F, Fut>(
    broker: Arc<Broker>,
    queue: String,
    label: &'static str,
    delivery: Delivery,
    handler: F,
) where
    F: Fn(Incoming) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let incoming = Incoming::from_delivery(&delivery);
    let span = tracing::info_span!(
        "message",
        queue = label,
        correlation_id = incoming.correlation_id.as_deref().unwrap_or(""),
        message_id = incoming.message_id.as_deref().unwrap_or(""),
    );
    async move {
        if incoming.redelivered {
            metrics::counter!("kyte_redeliveries_total", "queue" => label).increment(1);
        }
        let in_flight = metrics::gauge!("kyte_messages_in_flight", "queue" => label);
        in_flight.increment(1.0);
        let started = Instant::now();
        let outcome = handler(incoming.clone()).await;
        metrics::histogram!("kyte_message_handling_seconds", "queue" => label)
            .record(started.elapsed().as_secs_f64());
        in_flight.decrement(1.0);
        let (name, settled) = match &outcome {
            Outcome::Ack => ("ack", Ok(())),
            Outcome::Retry(delay) => {
                tracing::debug!(?delay, "retrying later");
                (
                    "retry",
                    broker
                        .publish_delayed(
                            &queue,
                            *delay,
                            &incoming.data,
                            &incoming.forward_headers(),
                        )
                        .await,
                )
            }
            Outcome::DeadLetter(reason) => {
                tracing::warn!(%reason, "dead-lettering message");
                (
                    "dead_letter",
                    broker
                        .publish_dead(&queue, &incoming.data, &incoming.forward_headers(), reason)
                        .await,
                )
            }
        };
        metrics::counter!("kyte_messages_total", "queue" => label, "outcome" => name).increment(1);
        match settled {
            Ok(()) => {
                if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
                    tracing::warn!(error = %e, "ack failed; the broker will redeliver");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not park the message; requeueing it");
                let _ = delivery
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await;
            }
        }
    }
    .instrument(span)
    .await;
}

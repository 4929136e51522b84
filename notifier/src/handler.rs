//! One notification message in, one [`Outcome`] out.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use sea_orm::DatabaseConnection;
use shared::messages::{NotifierMessage, SCHEMA_VERSION, Webhook};
use shared::messaging::{Broker, Headers, Incoming, Outcome, queue_delivery};

use crate::delivery::{Sender, Verdict};
use crate::policy::RetryPolicy;
use crate::store::{self, After, Claim};

pub(crate) struct State {
    pub db: DatabaseConnection,
    pub broker: Arc<Broker>,
    pub sender: Sender,
    pub policy: RetryPolicy,
    pub lease: Duration,
}

fn backoff(retries: i64) -> Duration {
    let exp = u32::try_from(retries.clamp(0, 9)).unwrap_or(9);
    Duration::from_millis(100 * 2u64.pow(exp)).min(Duration::from_secs(30))
}

impl State {
    pub async fn handle(&self, incoming: Incoming) -> Outcome {
        let webhook = match serde_json::from_slice::<NotifierMessage>(&incoming.data) {
            Ok(NotifierMessage::Deliver { v, notification }) if v <= SCHEMA_VERSION => notification,
            Ok(NotifierMessage::Deliver { v, .. }) => {
                return Outcome::DeadLetter(format!(
                    "schema version {v} is newer than this notifier"
                ));
            }
            Err(e) => return Outcome::DeadLetter(format!("unparseable message: {e}")),
        };
        let span = tracing::info_span!("deliver", notification_id = %webhook.id, order_id = %webhook.order_id, sequence = webhook.sequence);
        let _enter = span.enter();
        match self.deliver(&webhook).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::warn!(error = %e, "database unavailable; retrying later");
                Outcome::Retry(backoff(incoming.retries))
            }
        }
    }

    async fn deliver(&self, webhook: &Webhook) -> anyhow::Result<Outcome> {
        let (attempts, first_attempt_at) =
            match store::claim(&self.db, &webhook.id, self.lease).await? {
                Claim::Go {
                    attempts,
                    first_attempt_at,
                } => (attempts, first_attempt_at),
                Claim::Done => {
                    // Possibly a redelivery after a crash that came before the hand-on.
                    self.hand_on(&webhook.order_id).await?;
                    return Ok(Outcome::Ack);
                }
                Claim::Blocked => return Ok(Outcome::Ack),
                Claim::NotYet(wait) => return Ok(Outcome::Retry(wait)),
            };
        let attempt = self.sender.send(webhook).await;
        let attempt_no = attempts + 1;
        let class = attempt.status.map_or("error", |s| match s {
            200..=299 => "2xx",
            400..=499 => "4xx",
            500..=599 => "5xx",
            _ => "other",
        });
        let elapsed = (Utc::now() - first_attempt_at).to_std().unwrap_or_default();
        let after = match attempt.verdict {
            Verdict::Delivered => After::Delivered,
            Verdict::Permanent => After::Dead,
            Verdict::Retryable => {
                let jitter = rand::rng().random::<f64>();
                let n = u32::try_from(attempt_no).unwrap_or(u32::MAX);
                self.policy
                    .next_delay(n, elapsed, attempt.retry_after, jitter)
                    .map_or(After::Dead, After::Retry)
            }
        };
        let result = match after {
            After::Delivered => "delivered",
            After::Retry(_) => "retry",
            After::Dead => "dead",
        };
        metrics::counter!("kyte_webhook_attempts_total", "result" => result, "class" => class)
            .increment(1);
        store::record_attempt(&self.db, &webhook.id, attempt_no, &attempt, after).await?;
        match after {
            After::Delivered => {
                let latency = (Utc::now() - webhook.occurred_at)
                    .to_std()
                    .unwrap_or_default();
                metrics::histogram!("kyte_webhook_delivery_seconds").record(latency.as_secs_f64());
                tracing::info!(attempts = attempt_no, "webhook delivered");
            }
            After::Retry(delay) => {
                tracing::info!(
                    attempts = attempt_no,
                    ?delay,
                    error = attempt.error.as_deref().unwrap_or(""),
                    "webhook failed; will retry"
                );
                return Ok(Outcome::Retry(delay));
            }
            After::Dead => {
                metrics::counter!("kyte_webhook_dead_total").increment(1);
                tracing::warn!(
                    attempts = attempt_no,
                    error = attempt.error.as_deref().unwrap_or(""),
                    "webhook dead-lettered"
                );
            }
        }
        self.hand_on(&webhook.order_id).await?;
        Ok(Outcome::Ack)
    }

    /// Queues the order's next open notification, which waited for this one.
    async fn hand_on(&self, order_id: &str) -> anyhow::Result<()> {
        if let Some(next) = store::next_open(&self.db, order_id).await? {
            queue_delivery(&self.broker, &next, Headers::default()).await?;
        }
        Ok(())
    }
}

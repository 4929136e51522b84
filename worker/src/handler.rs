//! One delivery in, one [`Outcome`] out; the consume loop does the AMQP part.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use shared::messages::{SCHEMA_VERSION, WorkerMessage};
use shared::messaging::{Broker, Incoming, Outcome};

use crate::outbox;
use crate::store::apply_message;

/// Decides, per message, whether to simulate a crash.
pub type CrashHook = Arc<dyn Fn(&WorkerMessage) -> bool + Send + Sync>;

/// Fault injection for tests.
#[derive(Clone, Default)]
pub struct Hooks {
    /// Called after a message's transaction committed and before its notifications are
    /// published; returning true simulates a crash there (nothing is published, the message
    /// goes back to the queue).
    pub crash_after_commit: Option<CrashHook>,
}

pub(crate) struct State {
    pub db: DatabaseConnection,
    pub broker: Arc<Broker>,
    pub hooks: Hooks,
}

/// Back-off for transient failures (database or broker down): 100 ms doubling to 30 s.
fn backoff(retries: i64) -> Duration {
    let exp = u32::try_from(retries.clamp(0, 9)).unwrap_or(9);
    Duration::from_millis(100 * 2u64.pow(exp)).min(Duration::from_secs(30))
}

fn schema_version(msg: &WorkerMessage) -> u16 {
    match msg {
        WorkerMessage::OrderCreated(m) => m.v,
        WorkerMessage::OrderCancelled(m) => m.v,
        WorkerMessage::StaffCommand(m) => m.v,
    }
}

impl State {
    pub async fn handle(&self, incoming: Incoming) -> Outcome {
        let msg: WorkerMessage = match serde_json::from_slice(&incoming.data) {
            Ok(m) => m,
            Err(e) => return Outcome::DeadLetter(format!("unparseable message: {e}")),
        };
        if schema_version(&msg) > SCHEMA_VERSION {
            return Outcome::DeadLetter(format!(
                "schema version {} is newer than this worker",
                schema_version(&msg)
            ));
        }
        let order_id = msg.order_id().as_str().to_owned();
        let span = tracing::info_span!("apply", order_id = %order_id, kind = msg.kind());
        let _enter = span.enter();
        let applied = match apply_message(&self.db, &msg).await {
            Ok(a) => a,
            Err(e) if shared::db::refuses_the_data(&e) => {
                tracing::error!(error = %e, "the database refuses this message's data");
                return Outcome::DeadLetter(format!("the database refuses its data: {e}"));
            }
            Err(e) => {
                tracing::warn!(error = %e, "transaction failed; retrying later");
                return Outcome::Retry(backoff(incoming.retries));
            }
        };
        for event in &applied.transitions {
            metrics::counter!("kyte_worker_transitions_total", "event" => *event).increment(1);
        }
        if applied.refused {
            metrics::counter!("kyte_worker_refusals_total", "kind" => msg.kind()).increment(1);
        }
        if let Some(crash) = &self.hooks.crash_after_commit
            && crash(&msg)
        {
            return Outcome::Retry(Duration::ZERO);
        }
        let published = if applied.duplicate {
            // A redelivery: whatever the first attempt committed but did not publish goes now.
            outbox::publish_leftovers(&self.db, &self.broker, Some(&order_id), Duration::ZERO)
                .await
                .map(|_| ())
        } else {
            outbox::publish_committed(
                &self.db,
                &self.broker,
                &applied.webhooks,
                incoming.correlation_id.as_deref(),
            )
            .await
        };
        match published {
            Ok(()) => Outcome::Ack,
            Err(e) => {
                tracing::warn!(error = %e, "notification not published yet; retrying the message");
                Outcome::Retry(backoff(incoming.retries))
            }
        }
    }
}

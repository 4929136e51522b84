//! Periodic sweeps: the acceptance deadline (pending orders past `ACCEPT_DEADLINE_SECS` are
//! rejected by `system`) and outbox rows a crash left unpublished. State lives in Postgres, so
//! a sweep survives restarts, and every worker may sweep: the per-order lock and the re-check
//! inside the transaction make each rejection happen at most once.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use shared::messaging::Broker;
use tokio_util::sync::CancellationToken;

use crate::{outbox, store};

pub async fn run_sweeps(
    db: DatabaseConnection,
    broker: Arc<Broker>,
    deadline: Duration,
    interval: Duration,
    outbox_grace: Duration,
    shutdown: CancellationToken,
) {
    shared::periodic::every(interval, shutdown, || async {
        if let Err(e) = sweep_deadlines(&db, &broker, deadline).await {
            tracing::warn!(error = %e, "acceptance-deadline sweep failed");
        }
        match outbox::publish_leftovers(&db, &broker, None, outbox_grace).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                published = n,
                "outbox sweep published leftover notifications"
            ),
            Err(e) => tracing::warn!(error = %e, "outbox sweep failed"),
        }
    })
    .await;
}

async fn sweep_deadlines(
    db: &DatabaseConnection,
    broker: &Broker,
    deadline: Duration,
) -> anyhow::Result<()> {
    let secs = i64::try_from(deadline.as_secs()).unwrap_or(i64::MAX);
    for order_id in store::expired_pending(db, secs).await? {
        if let Some(webhook) = store::reject_expired(db, &order_id, secs).await? {
            tracing::info!(order_id = %order_id, "acceptance deadline passed: order rejected");
            metrics::counter!("kyte_worker_transitions_total", "event" => "acceptance_timeout")
                .increment(1);
            // If this publish fails the outbox sweep retries it.
            if let Err(e) = outbox::publish_committed(db, broker, &[webhook], None).await {
                tracing::warn!(error = %e, order_id = %order_id, "could not publish; the outbox sweep will");
            }
        }
    }
    Ok(())
}

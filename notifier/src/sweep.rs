//! The stuck-notification sweep. An open notification normally has a message on its way: the
//! worker's, a retry waiting in a delay queue, a hand-on, a replay. A crash between a commit and
//! its publish (a dead-letter replay's), or a message the broker dead-lettered at its delivery
//! limit, leaves an open notification no message will ever bring back — and, since an order's
//! webhooks go out in sequence, it would hold back every later one of its order. The sweep
//! queues such rows again. A duplicate message is harmless (the claim and its lease decide who
//! sends), so the sweep errs towards queuing, but `published_at` (last queued) is bumped in the
//! same statement so one row is queued at most once per `stuck_after`, by one notifier.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use shared::messaging::{Broker, Headers, queue_delivery};
use tokio_util::sync::CancellationToken;

use crate::store;

/// Rows queued per sweep: bounds the extra messages when many rows look stuck at once (after
/// a long notifier outage they all do, though most still have their message in the queue).
const BATCH: i64 = 100;

pub async fn run(
    db: DatabaseConnection,
    broker: Arc<Broker>,
    interval: Duration,
    stuck_after: Duration,
    shutdown: CancellationToken,
) {
    shared::periodic::every(interval, shutdown, || async {
        match requeue_stuck(&db, &broker, stuck_after).await {
            Ok(0) => {}
            Ok(n) => {
                metrics::counter!("kyte_notifications_requeued_total").increment(n as u64);
                tracing::warn!(requeued = n, "queued stuck notifications again");
            }
            Err(e) => tracing::warn!(error = %e, "stuck-notification sweep failed"),
        }
    })
    .await;
}

/// Queues open notifications untouched for `stuck_after`. Returns how many it queued.
pub async fn requeue_stuck(
    db: &DatabaseConnection,
    broker: &Broker,
    stuck_after: Duration,
) -> anyhow::Result<usize> {
    let stuck = store::take_stuck(db, stuck_after, BATCH).await?;
    for webhook in &stuck {
        // Not queued: the row stays stuck and the next sweep after `stuck_after` tries again.
        queue_delivery(broker, webhook, Headers::default().with("requeued", "true")).await?;
    }
    Ok(stuck.len())
}

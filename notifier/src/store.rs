//! The notifier's state in Postgres. A delivery is *claimed* with a lease before it is sent:
//! the claim refuses while an earlier notification of the same order is still open (ordering),
//! while another notifier holds the lease (no double send), and before the retry time.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait, Value,
};
use shared::messages::Webhook;

use crate::delivery::Attempt;

fn stmt(sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Ours to send now; `attempts` made so far, the first of them at `first_attempt_at`.
    Go {
        attempts: i32,
        first_attempt_at: DateTime<Utc>,
    },
    /// Delivered, dead or unknown: nothing to do.
    Done,
    /// An earlier notification of the order is still open; it will hand this one on.
    Blocked,
    /// Leased by another attempt or not due yet: look again after this long.
    NotYet(Duration),
}

pub async fn claim(db: &DatabaseConnection, id: &str, lease: Duration) -> Result<Claim, DbErr> {
    let claimed = db
        .query_one_raw(stmt(
            "UPDATE notifications n SET lease_until = now() + make_interval(secs => $2), \
                 first_attempt_at = COALESCE(n.first_attempt_at, now()), updated_at = now() \
             WHERE n.id = $1 AND n.state IN ('pending', 'retrying') \
               AND (n.lease_until IS NULL OR n.lease_until < now()) \
               AND (n.next_attempt_at IS NULL OR n.next_attempt_at <= now()) \
               AND NOT EXISTS (SELECT 1 FROM notifications e WHERE e.order_id = n.order_id \
                               AND e.sequence < n.sequence AND e.state IN ('pending', 'retrying')) \
             RETURNING n.attempts, n.first_attempt_at",
            [id.into(), lease.as_secs_f64().into()],
        ))
        .await?;
    if let Some(row) = claimed {
        return Ok(Claim::Go {
            attempts: row.try_get("", "attempts")?,
            first_attempt_at: row.try_get("", "first_attempt_at")?,
        });
    }
    let row = db
        .query_one_raw(stmt(
            "SELECT n.state, \
                    EXISTS (SELECT 1 FROM notifications e WHERE e.order_id = n.order_id \
                            AND e.sequence < n.sequence AND e.state IN ('pending', 'retrying')) AS blocked, \
                    GREATEST(EXTRACT(EPOCH FROM (n.lease_until - now())), \
                             EXTRACT(EPOCH FROM (n.next_attempt_at - now())), 0)::float8 AS wait_secs \
             FROM notifications n WHERE n.id = $1",
            [id.into()],
        ))
        .await?;
    let Some(row) = row else {
        return Ok(Claim::Done);
    };
    let state: String = row.try_get("", "state")?;
    if state == "delivered" || state == "dead" {
        return Ok(Claim::Done);
    }
    if row.try_get::<bool>("", "blocked")? {
        return Ok(Claim::Blocked);
    }
    let wait: Option<f64> = row.try_get("", "wait_secs")?;
    Ok(Claim::NotYet(
        Duration::from_secs_f64(wait.unwrap_or(0.0).max(0.0)) + Duration::from_millis(50),
    ))
}

/// How an attempt ends the notification's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    Delivered,
    Retry(Duration),
    Dead,
}

/// Records the attempt and the notification's new state in one transaction.
pub async fn record_attempt(
    db: &DatabaseConnection,
    id: &str,
    attempt_no: i32,
    attempt: &Attempt,
    after: After,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    let duration_ms = i32::try_from(attempt.duration.as_millis()).unwrap_or(i32::MAX);
    txn.execute_raw(stmt(
        "INSERT INTO notification_attempts (notification_id, attempt, at, status_code, error, duration_ms, response_excerpt) \
         VALUES ($1, $2, now(), $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        [
            id.into(),
            attempt_no.into(),
            attempt.status.map(i32::from).into(),
            attempt.error.clone().into(),
            duration_ms.into(),
            attempt.excerpt.clone().into(),
        ],
    ))
    .await?;
    let (state, retry_secs) = match after {
        After::Delivered => ("delivered", None),
        After::Retry(d) => ("retrying", Some(d.as_secs_f64())),
        After::Dead => ("dead", None),
    };
    txn.execute_raw(stmt(
        "UPDATE notifications SET state = $2, attempts = $3, last_status_code = $4, last_error = $5, \
             lease_until = NULL, updated_at = now(), \
             next_attempt_at = CASE WHEN $6::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $6) END, \
             delivered_at = CASE WHEN $2 = 'delivered' THEN now() ELSE delivered_at END, \
             dead_at = CASE WHEN $2 = 'dead' THEN now() ELSE NULL END \
         WHERE id = $1",
        [
            id.into(),
            state.into(),
            attempt_no.into(),
            attempt.status.map(i32::from).into(),
            attempt.error.clone().into(),
            retry_secs.into(),
        ],
    ))
    .await?;
    txn.commit().await
}

/// The order's first open notification, if it can be sent now: handed on after an earlier
/// one of the order was delivered or died. Marked queued (`published_at`) here, so the stuck
/// sweep does not queue it too.
pub async fn next_open(db: &DatabaseConnection, order_id: &str) -> Result<Option<Webhook>, DbErr> {
    // One that is not due has its own retry already waiting in a delay queue.
    let row = db
        .query_one_raw(stmt(
            "UPDATE notifications SET published_at = now() WHERE id = \
                 (SELECT id FROM notifications WHERE order_id = $1 AND state IN ('pending', 'retrying') \
                  ORDER BY sequence LIMIT 1) \
               AND (next_attempt_at IS NULL OR next_attempt_at <= now()) \
             RETURNING payload",
            [order_id.into()],
        ))
        .await?;
    row.map(|row| payload(&row)).transpose()
}

/// Open notifications nothing has touched (claimed, attempted, queued) for `stuck_after`, that
/// are first in their order and not leased; marked queued in the same statement, so
/// notifiers sweeping at once take disjoint rows. Never-published rows are left to the
/// worker's outbox sweep.
pub async fn take_stuck(
    db: &DatabaseConnection,
    stuck_after: Duration,
    limit: i64,
) -> Result<Vec<Webhook>, DbErr> {
    let rows = db
        .query_all_raw(stmt(
            "UPDATE notifications n SET published_at = now() FROM ( \
                 SELECT o.id FROM notifications o \
                 WHERE o.state IN ('pending', 'retrying') AND o.published_at IS NOT NULL \
                   AND (o.lease_until IS NULL OR o.lease_until < now()) \
                   AND GREATEST(o.updated_at, o.published_at, o.next_attempt_at) \
                       < now() - make_interval(secs => $1) \
                   AND NOT EXISTS (SELECT 1 FROM notifications e WHERE e.order_id = o.order_id \
                                   AND e.sequence < o.sequence AND e.state IN ('pending', 'retrying')) \
                 ORDER BY o.order_id, o.sequence LIMIT $2 FOR UPDATE SKIP LOCKED) s \
             WHERE n.id = s.id RETURNING n.payload",
            [stuck_after.as_secs_f64().into(), limit.into()],
        ))
        .await?;
    rows.iter().map(payload).collect()
}

fn payload(row: &sea_orm::QueryResult) -> Result<Webhook, DbErr> {
    serde_json::from_value(row.try_get("", "payload")?).map_err(|e| DbErr::Json(e.to_string()))
}

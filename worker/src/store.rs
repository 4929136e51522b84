//! One transaction per message. The order is serialized by an advisory lock on its id (which
//! also covers orders that do not exist yet, so a cancellation racing its order cannot be
//! lost); the message's key in `processed_messages` makes a redelivery a no-op.

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
    TransactionTrait, Value,
};
use serde_json::json;
use shared::domain::{Change, OrderState, OrderStatus, Transition, apply, create};
use shared::messages::{
    CommandError, CommandStatus, StaffCommand, Webhook, WorkerMessage, new_notification_id,
};

/// The channel ingress listens on for staff command outcomes (payload: the command id).
pub const OUTCOME_CHANNEL: &str = "kyte_command_outcomes";

/// What a message changed; `webhooks` are the outbox rows to publish after commit.
#[derive(Debug, Default)]
pub struct Applied {
    pub duplicate: bool,
    pub webhooks: Vec<Webhook>,
    pub transitions: Vec<&'static str>,
    pub refused: bool,
}

pub(crate) fn stmt(sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// Serializes everything that touches one order id until the transaction ends.
pub(crate) async fn lock_order(txn: &DatabaseTransaction, order_id: &str) -> Result<(), DbErr> {
    txn.execute_raw(stmt(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
        [order_id.into()],
    ))
    .await
    .map(|_| ())
}

pub(crate) async fn load_state(
    txn: &DatabaseTransaction,
    order_id: &str,
) -> Result<Option<OrderState>, DbErr> {
    let row = txn
        .query_one_raw(stmt(
            "SELECT status, version, estimated_ready_at FROM orders WHERE id = $1 FOR UPDATE",
            [order_id.into()],
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let status: String = row.try_get("", "status")?;
    Ok(Some(OrderState {
        status: status.parse().map_err(|e: String| DbErr::Type(e))?,
        version: row.try_get("", "version")?,
        estimated_ready_at: row.try_get("", "estimated_ready_at")?,
    }))
}

/// Writes an applied transition in one round trip: the order, its history entry and, when
/// Kyte must hear of it, the notification row (the outbox). Returns the webhook to publish
/// after commit. (Data-modifying CTEs always run to completion, referenced or not.)
pub(crate) async fn record(
    txn: &DatabaseTransaction,
    order_id: &str,
    t: &Transition,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<Option<Webhook>, DbErr> {
    const UPDATE: &str = "UPDATE orders SET status = $2, version = $3, estimated_ready_at = $4, updated_at = $5 WHERE id = $1";
    const HISTORY: &str = "INSERT INTO order_history (order_id, sequence, event, from_status, to_status, actor, reason, at) \
                           VALUES ($1, $3, $6, $7, $2, $8, $9, $5)";
    let mut values: Vec<Value> = vec![
        order_id.into(),
        t.to.as_str().into(),
        t.version.into(),
        t.estimated_ready_at.into(),
        at.into(),
        t.event.as_str().into(),
        t.from.map(OrderStatus::as_str).into(),
        actor.into(),
        t.reason.clone().into(),
    ];
    let webhook = t.webhook.as_ref().map(|(kind, data)| Webhook {
        id: new_notification_id(),
        kind: *kind,
        order_id: order_id.to_owned(),
        sequence: t.version,
        occurred_at: at,
        data: data.clone(),
    });
    let sql = match &webhook {
        None => format!("WITH updated AS ({UPDATE}) {HISTORY}"),
        Some(w) => {
            let payload = serde_json::to_value(w).map_err(|e| DbErr::Json(e.to_string()))?;
            values.extend([w.id.clone().into(), w.kind.as_str().into(), payload.into()]);
            format!(
                "WITH updated AS ({UPDATE}), history AS ({HISTORY}) \
                 INSERT INTO notifications (id, order_id, sequence, type, payload) VALUES ($10, $1, $3, $11, $12)"
            )
        }
    };
    txn.execute_raw(stmt(&sql, values)).await?;
    Ok(webhook)
}

/// What inserting an order found.
enum Created {
    /// The order id exists already: a duplicate `order_created`.
    Exists,
    /// Inserted at version 1; `early_cancel` holds the reason of a cancellation that arrived
    /// before the order, if one did.
    New {
        early_cancel: Option<Option<String>>,
    },
}

/// Inserts a new order at version 1 with its `order_created` history entry, and takes the
/// cancellation that may have arrived before it.
async fn create_order(
    txn: &DatabaseTransaction,
    order_id: &str,
    details: serde_json::Value,
    at: DateTime<Utc>,
) -> Result<Created, DbErr> {
    let inserted = txn
        .execute_raw(stmt(
            "INSERT INTO orders (id, status, version, details, created_at, updated_at) \
             VALUES ($1, 'pending', 1, $2, $3, $3) ON CONFLICT (id) DO NOTHING",
            [order_id.into(), details.into(), at.into()],
        ))
        .await?
        .rows_affected();
    if inserted == 0 {
        return Ok(Created::Exists);
    }
    let early = txn
        .query_one_raw(stmt(
            "WITH history AS (INSERT INTO order_history (order_id, sequence, event, from_status, to_status, actor, at) \
                              VALUES ($1, 1, 'order_created', NULL, 'pending', 'kyte', $2)) \
             DELETE FROM pending_cancellations WHERE order_id = $1 RETURNING reason",
            [order_id.into(), at.into()],
        ))
        .await?;
    Ok(Created::New {
        early_cancel: early.map(|row| row.try_get("", "reason")).transpose()?,
    })
}

async fn refuse(
    txn: &DatabaseTransaction,
    order_id: &str,
    event: &str,
    event_id: &str,
    reason: &str,
) -> Result<(), DbErr> {
    txn.execute_raw(stmt(
        "INSERT INTO refused_events (order_id, event, event_id, reason) VALUES ($1, $2, $3, $4)",
        [
            order_id.into(),
            event.into(),
            event_id.into(),
            reason.into(),
        ],
    ))
    .await
    .map(|_| ())
}

/// Applies one message in one transaction, at most once per de-duplication key.
pub async fn apply_message(db: &DatabaseConnection, msg: &WorkerMessage) -> Result<Applied, DbErr> {
    let txn = db.begin().await?;
    let order_id = msg.order_id().as_str();
    // The order's lock and the de-duplication key in one round trip.
    let fresh = txn
        .execute_raw(stmt(
            "INSERT INTO processed_messages (key) \
             SELECT $2 FROM (SELECT pg_advisory_xact_lock(hashtextextended($1, 7))) AS locked \
             ON CONFLICT DO NOTHING",
            [order_id.into(), msg.dedup_key().into()],
        ))
        .await?
        .rows_affected()
        == 1;
    if !fresh {
        txn.rollback().await?;
        return Ok(Applied {
            duplicate: true,
            ..Default::default()
        });
    }
    let now = Utc::now();
    let mut applied = Applied::default();
    match msg {
        WorkerMessage::OrderCreated(m) => {
            let details = serde_json::to_value(&m.order).map_err(|e| DbErr::Json(e.to_string()))?;
            match create_order(&txn, order_id, details, now).await? {
                Created::Exists => {
                    refuse(
                        &txn,
                        order_id,
                        "order_created",
                        m.event_id.as_str(),
                        "duplicate_order",
                    )
                    .await?;
                    applied.refused = true;
                }
                Created::New { early_cancel } => {
                    let created = create();
                    applied.transitions.push(created.event.as_str());
                    if let Some(reason) = early_cancel
                        && let Ok(t) = apply(&created.state(), &Change::KyteCancel { reason }, now)
                    {
                        record(&txn, order_id, &t, "kyte", now).await?;
                        applied.transitions.push(t.event.as_str());
                    }
                }
            }
        }
        WorkerMessage::OrderCancelled(m) => match load_state(&txn, order_id).await? {
            None => {
                // Kept until its order arrives; the first cancellation wins.
                txn.execute_raw(stmt(
                    "INSERT INTO pending_cancellations (order_id, event_id, reason) VALUES ($1, $2, $3) \
                     ON CONFLICT (order_id) DO NOTHING",
                    [order_id.into(), m.event_id.as_str().into(), m.reason.clone().into()],
                ))
                .await?;
            }
            Some(state) => match apply(
                &state,
                &Change::KyteCancel {
                    reason: m.reason.clone(),
                },
                now,
            ) {
                Ok(t) => {
                    record(&txn, order_id, &t, "kyte", now).await?;
                    applied.transitions.push(t.event.as_str());
                }
                Err(refusal) => {
                    refuse(
                        &txn,
                        order_id,
                        "order_cancelled",
                        m.event_id.as_str(),
                        &refusal.message,
                    )
                    .await?;
                    applied.refused = true;
                }
            },
        },
        WorkerMessage::StaffCommand(cmd) => apply_command(&txn, cmd, now, &mut applied).await?,
    }
    txn.commit().await?;
    Ok(applied)
}

async fn apply_command(
    txn: &DatabaseTransaction,
    cmd: &StaffCommand,
    now: DateTime<Utc>,
    applied: &mut Applied,
) -> Result<(), DbErr> {
    let order_id = cmd.order_id.as_str();
    let (status, error) = match load_state(txn, order_id).await? {
        None => (
            CommandStatus::Rejected,
            Some(CommandError {
                code: "not_found".into(),
                message: format!("order {order_id} does not exist"),
            }),
        ),
        Some(state) => match apply(&state, &cmd.change, now) {
            Ok(t) => {
                if let Some(w) = record(txn, order_id, &t, &cmd.actor, now).await? {
                    applied.webhooks.push(w);
                }
                applied.transitions.push(t.event.as_str());
                (CommandStatus::Applied, None)
            }
            Err(refusal) => {
                applied.refused = true;
                (
                    CommandStatus::Rejected,
                    Some(CommandError {
                        code: "invalid_transition".into(),
                        message: refusal.message,
                    }),
                )
            }
        },
    };
    let change = serde_json::to_value(&cmd.change).map_err(|e| DbErr::Json(e.to_string()))?;
    let error = error.map(|e| json!(e));
    // The outcome, and its notification to ingress, which Postgres delivers only on commit.
    txn.execute_raw(stmt(
        "WITH outcome AS (INSERT INTO staff_commands (id, order_id, actor, change, status, error, created_at, completed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, error = EXCLUDED.error, completed_at = EXCLUDED.completed_at) \
         SELECT pg_notify($9, $10)",
        [
            cmd.command_id.into(),
            order_id.into(),
            cmd.actor.clone().into(),
            change.into(),
            status.as_str().into(),
            error.into(),
            cmd.requested_at.into(),
            now.into(),
            OUTCOME_CHANNEL.into(),
            cmd.command_id.to_string().into(),
        ],
    ))
    .await?;
    Ok(())
}

/// The orders whose acceptance deadline has passed, oldest first.
pub(crate) async fn expired_pending(
    db: &DatabaseConnection,
    deadline_secs: i64,
) -> Result<Vec<String>, DbErr> {
    let rows = db
        .query_all_raw(stmt(
            "SELECT id FROM orders WHERE status = 'pending' AND created_at < now() - make_interval(secs => $1) \
             ORDER BY created_at LIMIT 200",
            [(deadline_secs as f64).into()],
        ))
        .await?;
    rows.iter().map(|r| r.try_get("", "id")).collect()
}

/// Rejects one order for its passed deadline, if it is still pending and still expired.
pub(crate) async fn reject_expired(
    db: &DatabaseConnection,
    order_id: &str,
    deadline_secs: i64,
) -> Result<Option<Webhook>, DbErr> {
    let txn = db.begin().await?;
    lock_order(&txn, order_id).await?;
    let row = txn
        .query_one_raw(stmt(
            "SELECT 1 AS due FROM orders WHERE id = $1 AND status = 'pending' \
             AND created_at < now() - make_interval(secs => $2)",
            [order_id.into(), (deadline_secs as f64).into()],
        ))
        .await?;
    let state = match row {
        Some(_) => load_state(&txn, order_id).await?,
        None => None,
    };
    let Some(state) = state else {
        txn.rollback().await?;
        return Ok(None);
    };
    let now = Utc::now();
    let webhook = match apply(&state, &Change::AcceptanceTimeout, now) {
        Ok(t) => record(&txn, order_id, &t, "system", now).await?,
        Err(_) => None,
    };
    txn.commit().await?;
    Ok(webhook)
}

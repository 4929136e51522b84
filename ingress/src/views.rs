//! The API's order shape (CONTRACT §3), read from the database. Kept apart from the entities
//! so the storage can change without changing what clients see.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, Statement};
use serde::{Deserialize, Serialize};
use shared::domain::{Customer, Item, OrderDetails, OrderStatus};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderView {
    pub id: String,
    pub status: OrderStatus,
    pub version: i32,
    pub customer: Customer,
    pub items: Vec<Item>,
    pub total_cents: i64,
    pub currency: String,
    pub notes: Option<String>,
    pub placed_at: DateTime<Utc>,
    pub estimated_ready_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub history: Vec<HistoryEntry>,
    pub notifications: Vec<NotificationView>,
    pub refused_events: Vec<RefusedEvent>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
    pub sequence: i32,
    pub event: String,
    pub from: Option<String>,
    pub to: String,
    pub actor: String,
    pub at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NotificationView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub sequence: i32,
    /// `pending`, `retrying`, `delivered` or `dead`.
    pub state: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefusedEvent {
    pub event: String,
    pub event_id: String,
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// Every view in one round trip: the order row with its history, webhooks and refused events
/// aggregated as JSON arrays beside it. A staff PATCH answers with this view, so it is on the
/// hot path; four queries per view cost Postgres more than the transition itself.
const VIEW_SELECT: &str = "SELECT o.id, o.seq, o.status, o.version, o.details, o.estimated_ready_at, \
        o.created_at, o.updated_at, \
        COALESCE((SELECT json_agg(json_build_object('sequence', h.sequence, 'event', h.event, \
                      'from', h.from_status, 'to', h.to_status, 'actor', h.actor, 'at', h.at, \
                      'reason', h.reason) ORDER BY h.sequence) \
                  FROM order_history h WHERE h.order_id = o.id), '[]') AS history, \
        COALESCE((SELECT json_agg(json_build_object('id', n.id, 'type', n.type, 'sequence', n.sequence, \
                      'state', n.state, 'attempts', n.attempts, 'last_status_code', n.last_status_code, \
                      'last_error', n.last_error, 'delivered_at', n.delivered_at) ORDER BY n.sequence) \
                  FROM notifications n WHERE n.order_id = o.id), '[]') AS notifications, \
        COALESCE((SELECT json_agg(json_build_object('event', r.event, 'event_id', r.event_id, \
                      'at', r.at, 'reason', r.reason) ORDER BY r.id) \
                  FROM refused_events r WHERE r.order_id = o.id), '[]') AS refused_events \
    FROM orders o";

fn json_column<T: serde::de::DeserializeOwned>(
    row: &QueryResult,
    column: &str,
) -> Result<T, DbErr> {
    serde_json::from_value(row.try_get("", column)?)
        .map_err(|e| DbErr::Json(format!("{column}: {e}")))
}

fn view(row: &QueryResult) -> Result<OrderView, DbErr> {
    let details: OrderDetails = json_column(row, "details")?;
    let status: String = row.try_get("", "status")?;
    Ok(OrderView {
        id: row.try_get("", "id")?,
        status: status.parse().map_err(DbErr::Type)?,
        version: row.try_get("", "version")?,
        customer: details.customer,
        items: details.items,
        total_cents: details.total_cents.cents(),
        currency: details.currency.to_string(),
        notes: details.notes,
        placed_at: details.placed_at,
        estimated_ready_at: row.try_get("", "estimated_ready_at")?,
        created_at: row.try_get("", "created_at")?,
        updated_at: row.try_get("", "updated_at")?,
        history: json_column(row, "history")?,
        notifications: json_column(row, "notifications")?,
        refused_events: json_column(row, "refused_events")?,
    })
}

pub async fn find(db: &DatabaseConnection, id: &str) -> Result<Option<OrderView>, DbErr> {
    db.query_one_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!("{VIEW_SELECT} WHERE o.id = $1"),
        [id.into()],
    ))
    .await?
    .as_ref()
    .map(view)
    .transpose()
}

/// A page of orders, newest first, after the cursor's position (`seq` is assigned at insert,
/// so new orders land before the first page and never shift later pages).
pub async fn page(
    db: &DatabaseConnection,
    status: Option<OrderStatus>,
    limit: u64,
    before_seq: Option<i64>,
) -> Result<(Vec<OrderView>, Option<i64>), DbErr> {
    let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "{VIEW_SELECT} WHERE ($1::text IS NULL OR o.status = $1) \
                 AND ($2::bigint IS NULL OR o.seq < $2) ORDER BY o.seq DESC LIMIT $3"
            ),
            [
                status.map(|s| s.as_str().to_owned()).into(),
                before_seq.into(),
                fetch.into(),
            ],
        ))
        .await?;
    let keep = usize::try_from(limit).unwrap_or(usize::MAX);
    // The cursor is the last returned order's `seq`, given only when another row exists.
    let next = match keep.checked_sub(1).and_then(|last| rows.get(last)) {
        Some(last) if rows.len() > keep => Some(last.try_get::<i64>("", "seq")?),
        _ => None,
    };
    let views = rows.iter().take(keep).map(view).collect::<Result<_, _>>()?;
    Ok((views, next))
}

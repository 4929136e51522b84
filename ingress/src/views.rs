//! The API's order shape (CONTRACT §3), assembled from the database entities. Kept apart from
//! the entities so the storage can change without changing what clients see.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use shared::db::entities::{notifications, order_history, orders, refused_events};
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

#[derive(Debug, Clone, Serialize, ToSchema)]
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

#[derive(Debug, Clone, Serialize, ToSchema)]
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

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefusedEvent {
    pub event: String,
    pub event_id: String,
    pub at: DateTime<Utc>,
    pub reason: String,
}

fn group<T, K: std::hash::Hash + Eq>(items: Vec<T>, key: impl Fn(&T) -> K) -> HashMap<K, Vec<T>> {
    let mut map: HashMap<K, Vec<T>> = HashMap::new();
    for item in items {
        map.entry(key(&item)).or_default().push(item);
    }
    map
}

/// Builds full views for a page of orders with three more queries, whatever the page size.
pub async fn assemble(
    db: &DatabaseConnection,
    rows: Vec<orders::Model>,
) -> Result<Vec<OrderView>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let history = order_history::Entity::find()
        .filter(order_history::Column::OrderId.is_in(ids.clone()))
        .order_by_asc(order_history::Column::Sequence)
        .all(db)
        .await?;
    let notes = notifications::Entity::find()
        .filter(notifications::Column::OrderId.is_in(ids.clone()))
        .order_by_asc(notifications::Column::Sequence)
        .all(db)
        .await?;
    let refused = refused_events::Entity::find()
        .filter(refused_events::Column::OrderId.is_in(ids))
        .order_by_asc(refused_events::Column::Id)
        .all(db)
        .await?;
    let mut history = group(history, |h| h.order_id.clone());
    let mut notes = group(notes, |n| n.order_id.clone());
    let mut refused = group(refused, |r| r.order_id.clone());
    rows.into_iter()
        .map(|row| {
            let details: OrderDetails =
                serde_json::from_value(row.details).map_err(|e| DbErr::Json(e.to_string()))?;
            let status = row.status.parse().map_err(DbErr::Type)?;
            Ok(OrderView {
                status,
                version: row.version,
                customer: details.customer,
                items: details.items,
                total_cents: details.total_cents.cents(),
                currency: details.currency.to_string(),
                notes: details.notes,
                placed_at: details.placed_at,
                estimated_ready_at: row.estimated_ready_at,
                created_at: row.created_at,
                updated_at: row.updated_at,
                history: history
                    .remove(&row.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|h| HistoryEntry {
                        sequence: h.sequence,
                        event: h.event,
                        from: h.from_status,
                        to: h.to_status,
                        actor: h.actor,
                        at: h.at,
                        reason: h.reason,
                    })
                    .collect(),
                notifications: notes
                    .remove(&row.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|n| NotificationView {
                        id: n.id,
                        kind: n.kind,
                        sequence: n.sequence,
                        state: n.state,
                        attempts: n.attempts,
                        last_status_code: n.last_status_code,
                        last_error: n.last_error,
                        delivered_at: n.delivered_at,
                    })
                    .collect(),
                refused_events: refused
                    .remove(&row.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| RefusedEvent {
                        event: r.event,
                        event_id: r.event_id,
                        at: r.at,
                        reason: r.reason,
                    })
                    .collect(),
                id: row.id,
            })
        })
        .collect()
}

pub async fn find(db: &DatabaseConnection, id: &str) -> Result<Option<OrderView>, DbErr> {
    let Some(row) = orders::Entity::find_by_id(id.to_owned()).one(db).await? else {
        return Ok(None);
    };
    Ok(assemble(db, vec![row]).await?.pop())
}

/// A page of orders, newest first, after the cursor's position (`seq` is assigned at insert,
/// so new orders land before the first page and never shift later pages).
pub async fn page(
    db: &DatabaseConnection,
    status: Option<OrderStatus>,
    limit: u64,
    before_seq: Option<i64>,
) -> Result<(Vec<OrderView>, Option<i64>), DbErr> {
    let mut query = orders::Entity::find()
        .order_by_desc(orders::Column::Seq)
        .limit(limit + 1);
    if let Some(status) = status {
        query = query.filter(orders::Column::Status.eq(status.as_str()));
    }
    if let Some(seq) = before_seq {
        query = query.filter(orders::Column::Seq.lt(seq));
    }
    let mut rows = query.all(db).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = if more {
        rows.last().map(|r| r.seq)
    } else {
        None
    };
    Ok((assemble(db, rows).await?, next))
}

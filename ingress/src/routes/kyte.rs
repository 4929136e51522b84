//! Kyte → ingress (CONTRACT §2): verified, validated, confirmed by the broker, answered 202.

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::domain::{EventId, OrderId, OrderInput, reason, timestamp};
use shared::messages::{OrderCancelled, OrderCreated, SCHEMA_VERSION, WorkerMessage};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::verify_kyte;
use crate::body;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::publish::publish_worker_message;

/// A Kyte event as the handler reads it: field by field, so each fault is named.
#[derive(Debug, Deserialize)]
pub struct KyteEvent {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "timestamp::optional_rfc3339")]
    pub occurred_at: Option<DateTime<Utc>>,
    pub order: Option<OrderInput>,
    pub order_id: Option<String>,
    pub reason: Option<String>,
}

/// A Kyte event (CONTRACT §2), as the OpenAPI document describes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(dead_code)]
pub enum KyteEventSchema {
    OrderCreated {
        #[schema(example = "evt_7f3a", pattern = "^[ -~]{1,128}$")]
        event_id: String,
        #[schema(schema_with = timestamp::optional_schema)]
        occurred_at: Option<DateTime<Utc>>,
        order: OrderInput,
    },
    OrderCancelled {
        #[schema(example = "evt_7f3b", pattern = "^[ -~]{1,128}$")]
        event_id: String,
        #[schema(schema_with = timestamp::optional_schema)]
        occurred_at: Option<DateTime<Utc>>,
        #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
        order_id: String,
        #[schema(max_length = 200, pattern = "^[^\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f]*$")]
        reason: Option<String>,
    },
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Queued {
    pub event_id: String,
    #[schema(example = "queued")]
    pub status: String,
}

fn queued(event_id: &EventId) -> (StatusCode, Json<Queued>) {
    (
        StatusCode::ACCEPTED,
        Json(Queued {
            event_id: event_id.to_string(),
            status: "queued".into(),
        }),
    )
}

fn created(
    event_id: EventId,
    occurred_at: Option<DateTime<Utc>>,
    order: OrderInput,
) -> ApiResult<WorkerMessage> {
    let (order_id, order) = order
        .parse()
        .map_err(|e| ApiError::from(e.within("order")))?;
    Ok(WorkerMessage::OrderCreated(OrderCreated {
        v: SCHEMA_VERSION,
        event_id,
        occurred_at,
        order_id,
        order,
    }))
}

fn cancelled(
    event_id: EventId,
    occurred_at: Option<DateTime<Utc>>,
    order_id: &str,
    why: Option<String>,
) -> ApiResult<WorkerMessage> {
    let order_id = OrderId::parse(order_id).map_err(|e| ApiError::from(e).field("order_id"))?;
    Ok(WorkerMessage::OrderCancelled(OrderCancelled {
        v: SCHEMA_VERSION,
        event_id,
        occurred_at,
        order_id,
        reason: reason(why)?,
    }))
}

/// Receive an event from Kyte.
#[utoipa::path(post, path = "/kyte/events", tag = "kyte",
    request_body = KyteEventSchema,
    params(("webhook-id" = Option<String>, Header), ("webhook-timestamp" = Option<String>, Header), ("webhook-signature" = Option<String>, Header)),
    responses(
        (status = 202, description = "Confirmed by the broker; applied once per event_id", body = Queued),
        (status = 400, description = "Malformed JSON or a failed validation", body = ErrorBody),
        (status = 401, description = "Missing, wrong or stale signature", body = ErrorBody),
        (status = 413, description = "Body over 256 KiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 503, description = "The broker could not confirm", body = ErrorBody),
    ))]
pub async fn post_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Queued>)> {
    let bytes = kyte_body(&state, &headers, body, false).await?;
    let raw: Value = body::parse(&bytes)?;
    let kind = raw
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if kind != "order_created" && kind != "order_cancelled" {
        return Err(ApiError::bad_request(
            "unknown_event_type",
            "type must be order_created or order_cancelled",
        )
        .field("type"));
    }
    let event: KyteEvent = body::from_value(raw)?;
    let event_id = EventId::parse(&event.event_id)?;
    let message = if event.kind == "order_created" {
        let order = event.order.ok_or_else(|| {
            ApiError::bad_request("validation_failed", "order is required").field("order")
        })?;
        created(event_id.clone(), event.occurred_at, order)?
    } else {
        let order_id = event.order_id.ok_or_else(|| {
            ApiError::bad_request("validation_failed", "order_id is required").field("order_id")
        })?;
        cancelled(event_id.clone(), event.occurred_at, &order_id, event.reason)?
    };
    publish_worker_message(&state, &message, &headers).await?;
    Ok(queued(&event_id))
}

/// A request from Kyte: its raw body (size and content type checked) once its signature over
/// exactly those bytes verified.
async fn kyte_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    allow_empty: bool,
) -> ApiResult<axum::body::Bytes> {
    let bytes = body::read(headers, body, allow_empty).await?;
    verify_kyte(state.kyte_secrets.as_ref(), &bytes, headers)?;
    Ok(bytes)
}

/// The event id of an alias request: the `webhook-id` header when present, else derived.
fn alias_event_id(headers: &HeaderMap, fallback: String) -> ApiResult<EventId> {
    let id = match headers.get("webhook-id") {
        None => fallback,
        // Present but unreadable is refused, never silently replaced by the fallback.
        Some(value) => value.to_str().map(str::to_owned).map_err(|_| {
            ApiError::bad_request(
                "validation_failed",
                "event_id: the webhook-id header must be printable ASCII",
            )
            .field("event_id")
        })?,
    };
    EventId::parse(&id).map_err(ApiError::from)
}

/// Create an order (alias of the original system; the body is the bare order).
#[utoipa::path(post, path = "/api/orders/", tag = "kyte",
    request_body = OrderInput,
    responses(
        (status = 202, description = "Confirmed by the broker", body = Queued),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn post_order_alias(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Queued>)> {
    let bytes = kyte_body(&state, &headers, body, false).await?;
    let order: OrderInput = body::parse(&bytes)?;
    let fallback = format!("order_created:{}", order.id);
    let (order_id, details) = order.parse()?;
    let event_id = alias_event_id(&headers, fallback)?;
    let message = WorkerMessage::OrderCreated(OrderCreated {
        v: SCHEMA_VERSION,
        event_id: event_id.clone(),
        occurred_at: None,
        order_id,
        order: details,
    });
    publish_worker_message(&state, &message, &headers).await?;
    Ok(queued(&event_id))
}

#[derive(Debug, Deserialize)]
pub struct CancelQuery {
    pub order_id: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CancelBody {
    #[schema(max_length = 200, pattern = "^[^\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f]*$")]
    pub reason: Option<String>,
}

/// Cancel an order (alias of the original system).
#[utoipa::path(post, path = "/webhook/cancel-order", tag = "kyte",
    params(("order_id" = String, Query, description = "The order to cancel", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    request_body(content = Option<CancelBody>, description = "Empty, or a JSON object with an optional reason"),
    responses(
        (status = 202, description = "Confirmed by the broker", body = Queued),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn post_cancel_alias(
    State(state): State<AppState>,
    query: Result<Query<CancelQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Queued>)> {
    let bytes = kyte_body(&state, &headers, body, true).await?;
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let order_id = query.order_id.ok_or_else(|| {
        ApiError::bad_request("validation_failed", "order_id is required").field("order_id")
    })?;
    // An empty body, or JSON null, means no reason.
    let body: CancelBody = if bytes.is_empty() {
        CancelBody::default()
    } else {
        body::parse::<Option<CancelBody>>(&bytes)?.unwrap_or_default()
    };
    let event_id = alias_event_id(&headers, format!("order_cancelled:{order_id}"))?;
    let message = cancelled(event_id.clone(), None, &order_id, body.reason)?;
    publish_worker_message(&state, &message, &headers).await?;
    Ok(queued(&event_id))
}

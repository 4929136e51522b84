//! Health, readiness, metrics and dead letters (CONTRACT §5, §6).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use shared::dead_letters::{self, DeadLetter, Scope};
use shared::domain::OrderId;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use crate::AppState;
use crate::auth::Staff;
use crate::body;
use crate::error::{ApiError, ApiResult, ErrorBody};

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "alive", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready while connected to the broker and the database.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses((status = 200, body = String), (status = 503, body = String)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.probes.ready().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format", body = String)))]
pub async fn metrics() -> String {
    shared::telemetry::prometheus().render()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterList {
    pub dead_letters: Vec<DeadLetter>,
}

/// Notifications that could not be delivered.
#[utoipa::path(get, path = "/ops/dead-letters", tag = "ops", security(("staff_token" = [])),
    responses((status = 200, body = DeadLetterList), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_dead_letters(
    State(state): State<AppState>,
    _staff: Staff,
) -> ApiResult<Json<DeadLetterList>> {
    let dead_letters = dead_letters::list(&state.db)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(Json(DeadLetterList { dead_letters }))
}

/// Which dead letters to replay, as the handler reads it, so each fault is named.
#[derive(Debug, Deserialize)]
pub struct ReplayRequest {
    pub order_id: Option<String>,
    #[serde(default)]
    pub all: bool,
}

/// Which dead letters to replay, as the OpenAPI document describes it: one order's, or all.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ReplayRequestSchema {
    Order {
        #[schema(example = "ORD-1760987170-4531", pattern = "^[A-Za-z0-9_-]{1,64}$")]
        order_id: String,
        #[schema(schema_with = only_false)]
        all: Option<bool>,
    },
    All {
        #[schema(schema_with = only_true)]
        all: bool,
        #[schema(schema_with = only_null)]
        order_id: Option<String>,
    },
}

/// The handler refuses an ambiguous request (an order and `all: true`, or neither), so each
/// branch of the document admits only the values that make it unambiguous.
fn only(value: bool) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .enum_values(Some([value]))
        .build()
}

fn only_true() -> Object {
    only(true)
}

fn only_false() -> Object {
    only(false)
}

fn only_null() -> Object {
    ObjectBuilder::new().schema_type(Type::Null).build()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    pub replayed: usize,
}

/// Queue dead notifications again, keeping their ids.
#[utoipa::path(post, path = "/ops/dead-letters/replay", tag = "ops", request_body = ReplayRequestSchema, security(("staff_token" = [])),
    responses((status = 202, body = Replayed), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 415, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn replay_dead_letters(
    State(state): State<AppState>,
    Staff(actor): Staff,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Replayed>)> {
    let bytes = body::read(&headers, body, false).await?;
    let request: ReplayRequest = body::parse(&bytes)?;
    let scope = match (request.order_id, request.all) {
        (Some(order), false) => Scope::Order(
            OrderId::parse(&order)
                .map_err(|e| {
                    ApiError::bad_request("validation_failed", format!("order_id {}", e.message))
                        .field("order_id")
                })?
                .to_string(),
        ),
        (None, true) => Scope::All,
        _ => {
            return Err(ApiError::bad_request(
                "validation_failed",
                "give either order_id or \"all\": true",
            )
            .field("order_id"));
        }
    };
    let replayed = dead_letters::replay(&state.db, &state.broker, scope)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    tracing::info!(%actor, replayed, "dead letters replayed");
    Ok((StatusCode::ACCEPTED, Json(Replayed { replayed })))
}

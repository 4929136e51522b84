//! The staff API (CONTRACT §3): order queries and status changes.

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::{ActiveValue, EntityTrait};
use serde::{Deserialize, Serialize};
use shared::db::entities::staff_commands;
use shared::domain::{Change, OrderId, OrderStatus, optional_integer};
use shared::messages::{CommandError, CommandStatus, SCHEMA_VERSION, StaffCommand, WorkerMessage};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::auth::Staff;
use crate::body;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::publish::publish_worker_message;
use crate::routes::IdPath;
use crate::views::{self, OrderView};

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only orders in this status.
    pub status: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPage {
    pub orders: Vec<OrderView>,
    pub next_cursor: Option<String>,
}

fn encode_cursor(seq: i64) -> String {
    format!("o{seq:x}")
}

fn decode_cursor(cursor: &str) -> Option<i64> {
    cursor
        .strip_prefix('o')
        .and_then(|hex| i64::from_str_radix(hex, 16).ok())
}

/// List orders, newest first.
#[utoipa::path(get, path = "/api/orders/", tag = "staff", params(ListQuery), security(("staff_token" = [])),
    responses((status = 200, body = OrderPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_orders(
    State(state): State<AppState>,
    _staff: Staff,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<OrderPage>> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let status = query
        .status
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<OrderStatus>())
        .transpose()
        .map_err(|e| ApiError::bad_request("validation_failed", e).field("status"))?;
    let limit = match query.limit.as_deref() {
        None | Some("") => 50,
        Some(l) => l
            .parse::<u64>()
            .ok()
            .filter(|l| (1..=200).contains(l))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "validation_failed",
                    "limit must be an integer from 1 to 200",
                )
                .field("limit")
            })?,
    };
    let before = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(decode_cursor(c).ok_or_else(|| {
            ApiError::bad_request("validation_failed", "cursor is not one this API gave out")
                .field("cursor")
        })?),
    };
    let (orders, next) = views::page(&state.db, status, limit, before).await?;
    Ok(Json(OrderPage {
        orders,
        next_cursor: next.map(encode_cursor),
    }))
}

/// One order with its history, notifications and refused events.
#[utoipa::path(get, path = "/api/orders/{id}/", tag = "staff", params(("id" = String, Path)), security(("staff_token" = [])),
    responses((status = 200, body = OrderView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_order(
    State(state): State<AppState>,
    _staff: Staff,
    IdPath(id): IdPath,
) -> ApiResult<Json<OrderView>> {
    views::find(&state.db, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("order {id} does not exist")))
}

/// A requested status change, as the OpenAPI document describes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "lowercase")]
#[allow(dead_code)]
pub enum StatusChangeSchema {
    Accepted {
        #[schema(minimum = 1, maximum = 240)]
        prep_minutes: Option<u16>,
    },
    Rejected {
        #[schema(max_length = 200, pattern = "^[^\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f]*$")]
        reason: Option<String>,
    },
    Delayed {
        /// Default 15.
        #[schema(minimum = 1, maximum = 240)]
        delay_minutes: Option<u16>,
    },
    Cancelled {
        #[schema(max_length = 200, pattern = "^[^\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f]*$")]
        reason: Option<String>,
    },
    Completed,
}

/// A requested status change as the handler reads it, so each fault is named.
#[derive(Debug, Deserialize)]
pub struct StatusChange {
    /// `accepted`, `rejected`, `delayed`, `cancelled` or `completed`.
    pub status: String,
    /// With `accepted`: 1–240.
    #[serde(default, deserialize_with = "optional_integer")]
    pub prep_minutes: Option<i64>,
    /// With `delayed`: 1–240 (default 15).
    #[serde(default, deserialize_with = "optional_integer")]
    pub delay_minutes: Option<i64>,
    /// With `rejected` or `cancelled`.
    pub reason: Option<String>,
}

fn minutes(field: &str, value: Option<i64>) -> ApiResult<Option<u16>> {
    value
        .map(|m| {
            u16::try_from(m)
                .ok()
                .filter(|m| (1..=240).contains(m))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "validation_failed",
                        format!("{field} must be from 1 to 240"),
                    )
                    .field(field)
                })
        })
        .transpose()
}

fn to_change(req: StatusChange) -> ApiResult<Change> {
    let reason = shared::domain::reason(req.reason)?.filter(|r| !r.is_empty());
    Ok(match req.status.as_str() {
        "accepted" => Change::Accept {
            prep_minutes: minutes("prep_minutes", req.prep_minutes)?,
        },
        "rejected" => Change::Reject { reason },
        "delayed" => Change::Delay {
            delay_minutes: minutes("delay_minutes", req.delay_minutes)?.unwrap_or(15),
        },
        "cancelled" => Change::Cancel { reason },
        "completed" => Change::Complete,
        other => {
            return Err(ApiError::bad_request(
                "validation_failed",
                format!("status {other:?} is not one of accepted, rejected, delayed, cancelled, completed"),
            )
            .field("status"));
        }
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommandAccepted {
    pub command_id: Uuid,
    #[schema(example = "queued")]
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommandView {
    pub command_id: Uuid,
    pub status: CommandStatus,
    pub error: Option<CommandError>,
    pub order: Option<OrderView>,
}

fn accepted(command_id: Uuid) -> Response {
    let mut response = (
        StatusCode::ACCEPTED,
        Json(CommandAccepted {
            command_id,
            status: "queued".into(),
        }),
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/commands/{command_id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn wants_async(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
}

/// Change an order's status: queued, then answered with the worker's outcome.
#[utoipa::path(patch, path = "/api/orders/{id}/", tag = "staff", params(("id" = String, Path), ("Prefer" = Option<String>, Header, description = "respond-async: answer 202 at once")),
    request_body = StatusChangeSchema, security(("staff_token" = [])),
    responses(
        (status = 200, description = "Applied", body = OrderView),
        (status = 202, description = "Queued; poll the Location", body = CommandAccepted),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The state machine refused it", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn patch_order(
    State(state): State<AppState>,
    Staff(actor): Staff,
    IdPath(id): IdPath,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let bytes = body::read(&headers, body, false).await?;
    let change = to_change(body::parse(&bytes)?)?;
    let order_id = OrderId::parse(&id)
        .map_err(|_| ApiError::not_found(format!("order {id} does not exist")))?;
    let command_id = Uuid::now_v7();
    let now = chrono::Utc::now();
    staff_commands::Entity::insert(staff_commands::ActiveModel {
        id: ActiveValue::Set(command_id),
        order_id: ActiveValue::Set(order_id.to_string()),
        actor: ActiveValue::Set(actor.clone()),
        change: ActiveValue::Set(serde_json::to_value(&change).map_err(ApiError::internal)?),
        status: ActiveValue::Set(CommandStatus::Queued.as_str().to_owned()),
        error: ActiveValue::Set(None),
        created_at: ActiveValue::Set(now),
        completed_at: ActiveValue::Set(None),
    })
    .exec(&state.db)
    .await?;
    let message = WorkerMessage::StaffCommand(StaffCommand {
        v: SCHEMA_VERSION,
        command_id,
        order_id,
        actor,
        change,
        requested_at: now,
    });
    let outcome = state.waiters.register(command_id);
    if let Err(e) = publish_worker_message(&state, &message, &headers).await {
        state.waiters.forget(&command_id);
        return Err(e);
    }
    if wants_async(&headers) {
        state.waiters.forget(&command_id);
        return Ok(accepted(command_id));
    }
    let _ = tokio::time::timeout(state.command_wait, outcome).await;
    state.waiters.forget(&command_id);
    let view = command_view(&state, command_id)
        .await?
        .ok_or_else(|| ApiError::internal("command row vanished"))?;
    Ok(match (view.status, view.error) {
        (CommandStatus::Applied, _) => match view.order {
            Some(order) => Json(order).into_response(),
            None => accepted(command_id),
        },
        (CommandStatus::Rejected, Some(error)) => {
            let status = if error.code == "not_found" {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::CONFLICT
            };
            let code = if error.code == "not_found" {
                "not_found"
            } else {
                "invalid_transition"
            };
            ApiError::new(status, code, error.message).into_response()
        }
        _ => accepted(command_id),
    })
}

async fn command_view(state: &AppState, id: Uuid) -> ApiResult<Option<CommandView>> {
    let Some(row) = staff_commands::Entity::find_by_id(id)
        .one(&state.db)
        .await?
    else {
        return Ok(None);
    };
    let status = CommandStatus::parse(&row.status).unwrap_or(CommandStatus::Queued);
    let error = row.error.and_then(|e| serde_json::from_value(e).ok());
    let order = if status == CommandStatus::Queued {
        None
    } else {
        views::find(&state.db, &row.order_id).await?
    };
    Ok(Some(CommandView {
        command_id: id,
        status,
        error,
        order,
    }))
}

/// A staff command's outcome.
#[utoipa::path(get, path = "/api/commands/{command_id}", tag = "staff", params(("command_id" = String, Path)), security(("staff_token" = [])),
    responses((status = 200, body = CommandView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get_command(
    State(state): State<AppState>,
    _staff: Staff,
    IdPath(id): IdPath,
) -> ApiResult<Json<CommandView>> {
    let not_found = || ApiError::not_found(format!("command {id} does not exist"));
    let uuid = id.parse::<Uuid>().map_err(|_| not_found())?;
    command_view(&state, uuid)
        .await?
        .map(Json)
        .ok_or_else(not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: serde_json::Value) -> StatusChange {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn status_changes_map_to_state_machine_changes() {
        assert_eq!(
            to_change(req(
                serde_json::json!({"status": "accepted", "prep_minutes": 20})
            ))
            .unwrap(),
            Change::Accept {
                prep_minutes: Some(20)
            }
        );
        assert_eq!(
            to_change(req(serde_json::json!({"status": "delayed"}))).unwrap(),
            Change::Delay { delay_minutes: 15 }
        );
        assert_eq!(
            to_change(req(serde_json::json!({"status": "completed"}))).unwrap(),
            Change::Complete
        );
        assert_eq!(
            to_change(req(
                serde_json::json!({"status": "rejected", "reason": "out_of_stock"})
            ))
            .unwrap(),
            Change::Reject {
                reason: Some("out_of_stock".into())
            }
        );
    }

    #[test]
    fn out_of_range_minutes_and_unknown_statuses_name_the_field() {
        assert_eq!(
            to_change(req(
                serde_json::json!({"status": "accepted", "prep_minutes": 0})
            ))
            .unwrap_err()
            .field
            .as_deref(),
            Some("prep_minutes")
        );
        assert_eq!(
            to_change(req(
                serde_json::json!({"status": "delayed", "delay_minutes": 241})
            ))
            .unwrap_err()
            .field
            .as_deref(),
            Some("delay_minutes")
        );
        assert_eq!(
            to_change(req(serde_json::json!({"status": "pending"})))
                .unwrap_err()
                .field
                .as_deref(),
            Some("status")
        );
        // Postgres cannot store a NUL: taken, it would fail the worker's transaction forever.
        for reason in ["a\u{0}b", "line\rfeed", &"x".repeat(201)] {
            let err = to_change(req(
                serde_json::json!({"status": "cancelled", "reason": reason}),
            ))
            .unwrap_err();
            assert_eq!(err.field.as_deref(), Some("reason"), "{reason:?}");
        }
    }

    #[test]
    fn minutes_written_as_integral_floats_are_integers() {
        assert_eq!(
            to_change(req(
                serde_json::json!({"status": "delayed", "delay_minutes": 50.0})
            ))
            .unwrap(),
            Change::Delay { delay_minutes: 50 }
        );
        assert!(
            serde_json::from_value::<StatusChange>(
                serde_json::json!({"status": "delayed", "delay_minutes": 50.5})
            )
            .is_err()
        );
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(12345)), Some(12345));
        assert_eq!(decode_cursor("zzz"), None);
        assert_eq!(decode_cursor("o"), None);
    }
}

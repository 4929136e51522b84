//! Putting a validated message on the worker queue, with the ids that let one order be
//! followed through the services' logs.

use axum::http::HeaderMap;
use shared::messages::WorkerMessage;
use shared::messaging::Headers;

use crate::AppState;
use crate::error::{ApiError, ApiResult};

pub async fn publish_worker_message(
    state: &AppState,
    message: &WorkerMessage,
    request: &HeaderMap,
) -> ApiResult<()> {
    let request_id = request
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let correlation = if request_id.is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        request_id.clone()
    };
    let headers = Headers {
        message_id: Some(message.dedup_key()),
        correlation_id: Some(correlation),
        extra: Vec::new(),
    }
    .with("order-id", message.order_id().to_string())
    .with("request-id", request_id);
    let body = serde_json::to_vec(message).map_err(ApiError::internal)?;
    state
        .broker
        .publish_to(&state.broker.topology().worker_queue(), &body, &headers)
        .await?;
    Ok(())
}

//! Every error leaves ingress as `{"error": {"code", "message", "field"?}}` with its status.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use shared::domain::ValidationError;
use shared::messaging::PublishError;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable, snake_case.
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// The JSON path of the value at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on our side",
        )
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self::bad_request("validation_failed", format!("{}: {}", e.field, e.message)).field(e.field)
    }
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        // Trying again would not help a message that cannot be encoded.
        if let PublishError::Encode(_) = e {
            return Self::internal(e);
        }
        tracing::warn!(error = %e, "broker did not confirm");
        Self::unavailable("the message broker could not confirm the message; try again shortly")
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        // Validation should have caught it; if it did not, the request is still at fault, and
        // answering 503 would only invite the client to send it again.
        if shared::db::refuses_the_data(&e) {
            tracing::error!(error = %e, "the database refused a request's data that passed validation");
            return Self::bad_request(
                "invalid_body",
                "the request holds a value the database cannot store",
            );
        }
        tracing::warn!(error = %e, "database error");
        Self::unavailable("the database is unavailable; try again shortly")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

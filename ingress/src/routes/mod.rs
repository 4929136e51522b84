pub mod kyte;
pub mod ops;
pub mod staff;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use crate::error::ApiError;

/// The `{id}` of a path, with a JSON 404 when it cannot be read (e.g. percent-encoded bytes
/// that are not UTF-8) instead of axum's plain-text rejection.
pub struct IdPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Self(id))
            .map_err(|e| ApiError::not_found(format!("no such resource ({})", e.body_text())))
    }
}

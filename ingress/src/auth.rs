//! Staff bearer tokens (constant-time compare; the token's name is the actor) and Kyte's
//! Standard Webhooks signatures.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use shared::signing::Secrets;
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;

/// `STAFF_TOKENS`, parsed; `None` means anonymous staff access was explicitly allowed.
#[derive(Clone)]
pub struct StaffTokens(Option<Vec<(String, Vec<u8>)>>);

impl std::fmt::Debug for StaffTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "StaffTokens({} hidden)",
            self.0.as_ref().map_or(0, Vec::len)
        )
    }
}

impl StaffTokens {
    pub fn parse(list: Option<&str>, allow_anonymous: bool) -> anyhow::Result<Self> {
        let Some(list) = list.filter(|l| !l.trim().is_empty()) else {
            anyhow::ensure!(
                allow_anonymous,
                "STAFF_TOKENS is not set: set it (name:token,...) or ALLOW_ANONYMOUS_STAFF=true for development"
            );
            return Ok(Self(None));
        };
        let mut tokens = Vec::new();
        for (i, pair) in list
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .enumerate()
        {
            let (name, token) = pair
                .split_once(':')
                .filter(|(n, t)| !n.is_empty() && !t.is_empty())
                .ok_or_else(|| {
                    anyhow::anyhow!("STAFF_TOKENS entry #{} is not name:token", i + 1)
                })?;
            tokens.push((name.to_owned(), token.as_bytes().to_vec()));
        }
        anyhow::ensure!(!tokens.is_empty(), "STAFF_TOKENS has no name:token pair");
        Ok(Self(Some(tokens)))
    }

    /// The actor a bearer token stands for. Every token is compared, so timing does not
    /// reveal which one nearly matched.
    pub fn actor(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        let Some(tokens) = &self.0 else {
            return Ok("anonymous".to_owned());
        };
        let presented = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or_else(|| {
                ApiError::unauthorized("a staff token is required: Authorization: Bearer <token>")
            })?;
        let mut found = None;
        for (name, token) in tokens {
            if bool::from(token.as_slice().ct_eq(presented.trim().as_bytes())) {
                found = Some(name.clone());
            }
        }
        found.ok_or_else(|| ApiError::unauthorized("unknown staff token"))
    }
}

/// Extracts the authenticated staff member's name.
pub struct Staff(pub String);

impl FromRequestParts<AppState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        state.staff.actor(&parts.headers).map(Staff)
    }
}

/// Checks Kyte's signature over the raw body when a secret is configured.
pub fn verify_kyte(
    secrets: Option<&Secrets>,
    body: &[u8],
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let Some(secrets) = secrets else {
        return Ok(());
    };
    secrets
        .verify(body, headers)
        .map_err(|e| ApiError::unauthorized(format!("invalid Kyte signature: {e}")))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn bearer(t: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
        );
        h
    }

    #[test]
    fn tokens_map_to_their_names() {
        let t = StaffTokens::parse(Some("alice:s3cret, bob:other"), false).unwrap();
        assert_eq!(t.actor(&bearer("s3cret")).unwrap(), "alice");
        assert_eq!(t.actor(&bearer("other")).unwrap(), "bob");
        assert!(t.actor(&bearer("nope")).is_err());
        assert!(t.actor(&HeaderMap::new()).is_err());
    }

    #[test]
    fn no_tokens_refuses_to_start_unless_anonymous_is_allowed() {
        assert!(StaffTokens::parse(None, false).is_err());
        assert_eq!(
            StaffTokens::parse(None, true)
                .unwrap()
                .actor(&HeaderMap::new())
                .unwrap(),
            "anonymous"
        );
        assert!(StaffTokens::parse(Some("alice"), false).is_err());
    }
}

//! Standard Webhooks signatures with several secrets, for rotation: outgoing webhooks carry one
//! `v1,` signature per secret; an incoming request passes if any secret verifies it.

use http::HeaderMap;
use standardwebhooks::Webhook;

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("no secret configured")]
    Empty,
    #[error("secret #{0} is not a valid whsec_/base64 secret")]
    Invalid(usize),
}

/// One or more secrets, from a space-separated list (`whsec_…`).
pub struct Secrets(Vec<Webhook>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} hidden)", self.0.len())
    }
}

impl Secrets {
    pub fn parse(list: &str) -> Result<Self, SigningError> {
        let hooks = list
            .split_whitespace()
            .enumerate()
            .map(|(i, s)| Webhook::new(s).map_err(|_| SigningError::Invalid(i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        if hooks.is_empty() {
            return Err(SigningError::Empty);
        }
        Ok(Self(hooks))
    }

    /// The `webhook-signature` header value: one `v1,<base64>` per secret, space-separated.
    pub fn sign(
        &self,
        id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<String, standardwebhooks::WebhookError> {
        let signatures = self
            .0
            .iter()
            .map(|w| w.sign(id, timestamp, body))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(signatures.join(" "))
    }

    /// Checks the headers against every secret (5-minute timestamp tolerance); the error of
    /// the first secret is reported when none matches.
    pub fn verify(
        &self,
        body: &[u8],
        headers: &HeaderMap,
    ) -> Result<(), standardwebhooks::WebhookError> {
        let mut first_error = None;
        for hook in &self.0 {
            match hook.verify(body, headers) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or(standardwebhooks::WebhookError::InvalidSignature))
    }
}

/// Builds the three Standard Webhooks headers for a body.
pub fn headers_for(
    secrets: &Secrets,
    id: &str,
    body: &[u8],
) -> Result<HeaderMap, standardwebhooks::WebhookError> {
    let timestamp = chrono::Utc::now().timestamp();
    let signature = secrets.sign(id, timestamp, body)?;
    let mut headers = HeaderMap::new();
    let value = |s: String| {
        http::HeaderValue::try_from(s).map_err(|_| standardwebhooks::WebhookError::InvalidPayload)
    };
    headers.insert("webhook-id", value(id.to_owned())?);
    headers.insert("webhook-timestamp", value(timestamp.to_string())?);
    headers.insert("webhook-signature", value(signature)?);
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const B: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

    #[test]
    fn signs_with_every_secret_and_verifies_with_any() {
        let both = Secrets::parse(&format!("{A} {B}")).unwrap();
        let headers = headers_for(&both, "msg_1", b"{}").unwrap();
        let sig = headers["webhook-signature"].to_str().unwrap();
        assert_eq!(sig.split(' ').count(), 2);
        assert!(sig.split(' ').all(|s| s.starts_with("v1,")));
        assert!(Secrets::parse(B).unwrap().verify(b"{}", &headers).is_ok());
        assert!(Secrets::parse(A).unwrap().verify(b"{}", &headers).is_ok());
    }

    #[test]
    fn a_changed_body_or_other_secret_fails() {
        let a = Secrets::parse(A).unwrap();
        let headers = headers_for(&a, "msg_1", b"{}").unwrap();
        assert!(a.verify(b"{ }", &headers).is_err());
        assert!(Secrets::parse(B).unwrap().verify(b"{}", &headers).is_err());
    }

    #[test]
    fn the_reference_vector_of_the_spec_matches() {
        // From the Standard Webhooks reference tests.
        let s = Secrets::parse(B).unwrap();
        let sig = s
            .sign(
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                br#"{"email":"test@example.com","username":"test_user"}"#,
            )
            .unwrap();
        assert_eq!(sig, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn empty_or_invalid_secret_lists_are_refused() {
        assert!(matches!(Secrets::parse("  "), Err(SigningError::Empty)));
        assert!(matches!(
            Secrets::parse("whsec_%%%"),
            Err(SigningError::Invalid(1))
        ));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn verification_never_panics_and_accepts_only_the_right_signature(
            body in proptest::collection::vec(any::<u8>(), 0..256),
            id in "[ -~]{0,40}", timestamp in "[ -~]{0,20}", signature in "[ -~]{0,120}",
        ) {
            let secrets = Secrets::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut headers = HeaderMap::new();
            for (name, value) in [("webhook-id", &id), ("webhook-timestamp", &timestamp), ("webhook-signature", &signature)] {
                if let Ok(v) = http::HeaderValue::from_str(value) {
                    headers.insert(name, v);
                }
            }
            // Random headers essentially never carry a valid signature.
            prop_assert!(secrets.verify(&body, &headers).is_err());
            // A real signature over valid UTF-8 verifies; one flipped byte does not.
            if let Ok(text) = std::str::from_utf8(&body) {
                let good = headers_for(&secrets, "msg_1", text.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(secrets.verify(text.as_bytes(), &good).is_ok());
                let mut tampered = text.as_bytes().to_vec();
                tampered.push(b'x');
                prop_assert!(secrets.verify(&tampered, &good).is_err());
            }
        }
    }
}

//! Reading request bodies ourselves, so every refusal (too large, not JSON, malformed) has the
//! JSON error shape, and signatures are checked over the exact bytes received.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub const MAX_BODY: usize = 256 * 1024;

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false)
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the body is larger than {MAX_BODY} bytes"),
    )
}

/// The raw body, at most 256 KiB, with a JSON content type. `allow_empty` accepts an empty
/// body without a content type (the cancel alias).
pub async fn read(headers: &HeaderMap, body: Body, allow_empty: bool) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| too_large())?;
    if allow_empty && bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Bytes::new());
    }
    if !is_json(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON (Content-Type: application/json)",
        ));
    }
    Ok(bytes)
}

/// Parses JSON, reporting malformed input and type mismatches as 400 with serde's location;
/// a mismatch also names its field (`order.items[0].quantity`), as a failed rule does.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let malformed = |e: &serde_json::Error| {
        ApiError::bad_request("invalid_json", format!("the body could not be read: {e}"))
    };
    let mut json = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        if e.inner().is_syntax() || e.inner().is_eof() {
            malformed(e.inner())
        } else {
            mismatch(&e)
        }
    })?;
    // Anything after the value but whitespace is malformed, as `serde_json::from_slice` has it.
    json.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

/// Reads a value already parsed as JSON (a handler that looked at one field first), reporting
/// a mismatch as `parse` does.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| mismatch(&e))
}

fn mismatch(e: &serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let message = e.inner().to_string();
    let error = ApiError::bad_request(
        "invalid_body",
        format!("the body could not be read: {message}"),
    );
    match field_of(e.path(), &message) {
        Some(field) => error.field(field),
        None => error,
    }
}

/// The JSON path of a mismatch; for a missing field, serde's path is its parent and the name
/// is in the message (serde's own wording: "missing field `name`").
fn field_of(path: &serde_path_to_error::Path, message: &str) -> Option<String> {
    let parent = path.to_string();
    let parent = (parent != ".").then_some(parent);
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    match (parent, missing) {
        (Some(parent), Some(name)) => Some(format!("{parent}.{name}")),
        (None, Some(name)) => Some(name.to_owned()),
        (parent, None) => parent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::OrderInput;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Event {
        event_id: String,
        order: Option<OrderInput>,
    }

    fn refusal(json: &str) -> (&'static str, Option<String>) {
        let e = parse::<Event>(json.as_bytes()).unwrap_err();
        (e.code, e.field)
    }

    #[test]
    fn a_mismatch_names_its_field_and_malformed_json_names_none() {
        let order = r#"{"id": "O", "customer": {"name": "A"}, "currency": "EUR",
            "items": [{"name": "M", "quantity": "two", "unit_price_cents": 1}],
            "total_cents": 1, "placed_at": "2026-12-03T12:00:00Z"}"#;
        let cases = [
            (
                format!(r#"{{"event_id": "e", "order": {order}}}"#),
                ("invalid_body", Some("order.items[0].quantity")),
            ),
            (
                r#"{"event_id": "e", "order": {"id": "O"}}"#.to_owned(),
                ("invalid_body", Some("order.customer")),
            ),
            (
                r#"{"order": null}"#.to_owned(),
                ("invalid_body", Some("event_id")),
            ),
            (
                r#"{"event_id": 7}"#.to_owned(),
                ("invalid_body", Some("event_id")),
            ),
            (
                r#"{"event_id": "e"} trailing"#.to_owned(),
                ("invalid_json", None),
            ),
            (r#"{"event_id": "#.to_owned(), ("invalid_json", None)),
            ("[]".to_owned(), ("invalid_body", None)),
        ];
        for (json, (code, field)) in cases {
            assert_eq!(refusal(&json), (code, field.map(str::to_owned)), "{json}");
        }
        assert!(parse::<Event>(br#"{"event_id": "e"}"#).is_ok());
    }

    mod properties {
        use proptest::prelude::*;
        use serde_json::{Value, json};

        use super::*;
        use crate::routes::kyte::KyteEvent;

        /// A value for one field: right, wrong or absent, of any JSON type.
        fn any_value() -> impl Strategy<Value = Option<Value>> {
            prop_oneof![
                Just(None),
                Just(Some(Value::Null)),
                any::<bool>().prop_map(|b| Some(json!(b))),
                any::<i64>().prop_map(|n| Some(json!(n))),
                any::<f64>().prop_map(|f| Some(json!(f))),
                ".{0,30}".prop_map(|s| Some(json!(s))),
                Just(Some(json!("2026-12-03T12:00:00Z"))),
                Just(Some(json!([1, "two"]))),
                Just(Some(json!({"id": "ORD-1", "items": [{"quantity": "x"}]}))),
            ]
        }

        /// A field as a client may send it: absent, right, or any JSON at all.
        fn field(right: Value) -> impl Strategy<Value = Option<Value>> {
            prop_oneof![Just(None), Just(Some(right)), any_value()]
        }

        proptest! {
            /// Whatever a client sends as an event object, it is read, or refused with the
            /// field at fault: never a panic, never an unnamed type error.
            #[test]
            fn an_event_object_is_read_or_its_field_at_fault_named(
                fields in (
                    field(json!("evt-1")),
                    field(json!("order_created")),
                    field(json!("2026-12-03T12:00:00Z")),
                    field(json!({"id": "ORD-1", "customer": {"name": "A"}, "currency": "EUR",
                        "items": [{"name": "M", "quantity": 1, "unit_price_cents": 1}],
                        "total_cents": 1, "placed_at": "2026-12-03T12:00:00Z"})),
                    field(json!("ORD-1")),
                    field(json!("too late")),
                ),
            ) {
                let (a, b, c, d, e, f) = fields;
                let names = ["event_id", "type", "occurred_at", "order", "order_id", "reason"];
                let object: serde_json::Map<String, Value> = names
                    .iter()
                    .zip([a, b, c, d, e, f])
                    .filter_map(|(name, value)| value.map(|v| ((*name).to_owned(), v)))
                    .collect();
                let bytes = serde_json::to_vec(&Value::Object(object))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                if let Err(e) = parse::<KyteEvent>(&bytes) {
                    prop_assert_eq!(e.code, "invalid_body");
                    prop_assert!(e.field.as_deref().is_some_and(|f| !f.is_empty()), "{}", e.message);
                }
            }
        }
    }
}

//! Timestamps from Kyte, read as the contract writes them: RFC 3339 (`2026-12-03T12:00:00Z`).
//! chrono's own serde reading is more lenient (a space for the `T`, an offset without its
//! colon); the OpenAPI document says `date-time`, which is RFC 3339, and a client that
//! reads it must be able to tell what we accept, so we accept exactly that.

use chrono::{DateTime, Timelike, Utc};
use serde::Deserialize;
use serde::de::{self, Deserializer};
use utoipa::openapi::schema::SchemaType;
use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, SchemaFormat, Type};

const EXPECTED: &str = "an RFC 3339 timestamp such as 2026-12-03T12:00:00Z";

/// What `parse` accepts, for the OpenAPI document: `format: date-time` alone is only an
/// annotation in OpenAPI 3.1, so the form is also spelled out (the calendar check, such as
/// 30 days in November, is left to the parser).
const PATTERN: &str = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$";

/// The OpenAPI schema of a timestamp field (`#[schema(schema_with = schema)]`).
pub fn schema() -> Object {
    builder().schema_type(Type::String).build()
}

/// The OpenAPI schema of an optional timestamp field.
pub fn optional_schema() -> Object {
    builder()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .build()
}

fn builder() -> ObjectBuilder {
    ObjectBuilder::new()
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .pattern(Some(PATTERN))
        .examples([serde_json::json!("2026-12-03T12:00:00Z")])
}

fn parse<E: de::Error>(value: &str) -> Result<DateTime<Utc>, E> {
    // chrono takes a space where RFC 3339 has `T` (RFC 3339 only mentions it as a readability
    // option for other documents), so that one byte is checked here.
    let separator_ok = matches!(value.as_bytes().get(10), Some(b'T' | b't'));
    DateTime::parse_from_rfc3339(value)
        .ok()
        // A leap second (`:60`) is valid RFC 3339 but never a real instant to Kyte or to us.
        .filter(|t| separator_ok && t.nanosecond() < 1_000_000_000)
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| E::invalid_value(de::Unexpected::Str(value), &EXPECTED))
}

/// For `#[serde(deserialize_with = "rfc3339")]` on a `DateTime<Utc>` field.
pub fn rfc3339<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    parse(&String::deserialize(deserializer)?)
}

/// For `#[serde(default, deserialize_with = "optional_rfc3339")]` on an `Option<DateTime<Utc>>`.
pub fn optional_rfc3339<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    Option::<String>::deserialize(deserializer)?
        .map(|s| parse(&s))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "rfc3339")]
        at: DateTime<Utc>,
        #[serde(default, deserialize_with = "optional_rfc3339")]
        maybe: Option<DateTime<Utc>>,
    }

    fn read(at: &str) -> Result<Holder, String> {
        serde_json::from_value(serde_json::json!({ "at": at })).map_err(|e| e.to_string())
    }

    #[test]
    fn rfc_3339_forms_are_read_in_utc() {
        for (text, utc) in [
            ("2026-12-03T12:00:00Z", "2026-12-03T12:00:00+00:00"),
            ("2026-12-03t12:00:00z", "2026-12-03T12:00:00+00:00"),
            (
                "2026-12-03T13:30:00.25+01:30",
                "2026-12-03T12:00:00.250+00:00",
            ),
            (
                "2026-12-03T12:00:00.123456789-00:00",
                "2026-12-03T12:00:00.123456789+00:00",
            ),
        ] {
            let held = read(text).unwrap();
            assert_eq!(held.at.to_rfc3339(), utc, "{text}");
            assert_eq!(held.maybe, None);
        }
        let held: Holder = serde_json::from_value(
            serde_json::json!({"at": "2026-12-03T12:00:00Z", "maybe": "2026-12-03T12:00:01Z"}),
        )
        .unwrap();
        assert_eq!(
            held.maybe.map(|t| t.timestamp() - held.at.timestamp()),
            Some(1)
        );
    }

    #[test]
    fn the_documented_pattern_is_what_is_accepted() {
        let pattern = regex::Regex::new(PATTERN).unwrap();
        for text in ["2026-12-03T12:00:00Z", "2026-12-03t13:30:00.25+01:30"] {
            assert!(pattern.is_match(text) && read(text).is_ok(), "{text}");
        }
        for text in [
            "2026-12-03 12:00:00Z",
            "2026-12-03T12:00:00+0100",
            "2026-12-03T12:00:00",
        ] {
            assert!(!pattern.is_match(text) && read(text).is_err(), "{text}");
        }
    }

    #[test]
    fn everything_else_is_refused_with_the_expected_form() {
        for text in [
            "",
            "2026-12-03 12:00:00Z",
            "2026-12-03T12:00:00",
            "2026-12-03T12:00:00+0100",
            "2026-11-31T12:00:00Z",
            "2026-12-31T23:59:60Z",
            "2026-12-03",
            "1764763200",
        ] {
            let err = read(text).unwrap_err();
            assert!(err.contains("RFC 3339"), "{text}: {err}");
        }
    }
}

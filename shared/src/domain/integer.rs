//! Integers as JSON carries them. JSON has one number type, and JSON Schema (so the OpenAPI
//! document, and the clients generated from it) counts `2.0` and `2e1` as integers; so did the
//! Django system this replaces. serde alone refuses them, so integer fields read through here:
//! a number with no fractional part is taken, any other is refused with serde's own message.
//! Only floats that are exact (|x| ≤ 2⁵³) count: past that a float no longer names one integer.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Unexpected, Visitor};

/// The largest integer every float up to which is exact.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// For `#[serde(deserialize_with = "integer")]` on an `i64` field.
pub fn integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    deserializer.deserialize_any(IntegerVisitor)
}

/// For `#[serde(default, deserialize_with = "optional_integer")]` on an `Option<i64>` field.
pub fn optional_integer<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    Ok(Option::<Integer>::deserialize(deserializer)?.map(|Integer(value)| value))
}

/// What `integer` reads, as a type, so that `Option`'s own deserializer can wrap it.
struct Integer(i64);

impl<'de> Deserialize<'de> for Integer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        integer(deserializer).map(Integer)
    }
}

struct IntegerVisitor;

impl Visitor<'_> for IntegerVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<i64, E> {
        Ok(value)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<i64, E> {
        i64::try_from(value).map_err(|_| E::invalid_value(Unexpected::Unsigned(value), &self))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<i64, E> {
        if value.fract() == 0.0 && value.abs() <= EXACT {
            // Exact by the check above: the cast neither rounds nor saturates.
            #[allow(clippy::cast_possible_truncation)]
            Ok(value as i64)
        } else {
            Err(E::invalid_value(Unexpected::Float(value), &self))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "integer")]
        n: i64,
        #[serde(default, deserialize_with = "optional_integer")]
        m: Option<i64>,
    }

    fn read(json: &str) -> Result<Holder, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn integral_numbers_in_any_notation_are_integers() {
        for (json, n) in [("2", 2), ("-7", -7), ("2.0", 2), ("2e1", 20), ("-0.0", 0)] {
            let h = read(&format!(r#"{{"n": {json}}}"#)).unwrap();
            assert_eq!((h.n, h.m), (n, None), "{json}");
        }
        let h = read(r#"{"n": 1, "m": 50.0}"#).unwrap();
        assert_eq!(h.m, Some(50));
        let h = read(r#"{"n": 1, "m": null}"#).unwrap();
        assert_eq!(h.m, None);
    }

    #[test]
    fn fractions_inexact_floats_and_other_types_are_refused() {
        for json in [
            "2.5",
            "1e300",
            "9007199254740994.0",
            "18446744073709551615",
            "\"2\"",
            "true",
            "null",
        ] {
            let err = read(&format!(r#"{{"n": {json}}}"#)).unwrap_err();
            assert!(err.contains("expected an integer"), "{json}: {err}");
        }
        let err = read(r#"{"n": 1, "m": 0.5}"#).unwrap_err();
        assert!(err.contains("expected an integer"), "{err}");
    }

    proptest! {
        #[test]
        fn every_i64_reads_back_as_itself(n in any::<i64>()) {
            prop_assert_eq!(read(&format!(r#"{{"n": {n}}}"#)).unwrap().n, n);
        }

        #[test]
        fn an_exact_float_reads_as_its_integer(n in -(1_i64 << 53)..=(1_i64 << 53)) {
            #[allow(clippy::cast_precision_loss)]
            let json = format!(r#"{{"n": {:.1}}}"#, n as f64);
            prop_assert_eq!(read(&json).unwrap().n, n);
        }
    }
}

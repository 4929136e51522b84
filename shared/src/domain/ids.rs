use std::fmt;

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// Kyte's order id: 1–64 characters of `[A-Za-z0-9_-]`, so it is safe in URLs, logs and
/// AMQP headers without escaping.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrderId(String);

impl OrderId {
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let ok_len = (1..=64).contains(&value.len());
        let ok_chars = value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok_len && ok_chars {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValidationError::new(
                "id",
                "must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The id Kyte gives each event; de-duplication is keyed on it. 1–128 printable ASCII.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventId(String);

impl EventId {
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let ok_len = (1..=128).contains(&value.len());
        let ok_chars = value.bytes().all(|b| (0x20..=0x7e).contains(&b));
        if ok_len && ok_chars {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValidationError::new(
                "event_id",
                "must be 1 to 128 printable ASCII characters",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_newtype_impls {
    ($t:ty) => {
        impl TryFrom<String> for $t {
            type Error = ValidationError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }
        impl From<$t> for String {
            fn from(value: $t) -> Self {
                value.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
string_newtype_impls!(OrderId);
string_newtype_impls!(EventId);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn order_ids_from_the_contract_parse() {
        assert!(OrderId::parse("ORD-1760987170-4531").is_ok());
        assert!(OrderId::parse("a_b-C9").is_ok());
    }

    #[test]
    fn order_ids_with_other_characters_or_lengths_are_refused() {
        for bad in ["", "ORD 1", "ORD/1", "ÖRD", &"x".repeat(65), "a.b"] {
            assert!(OrderId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn event_ids_must_be_printable_ascii_up_to_128() {
        assert!(EventId::parse("evt_7f3a").is_ok());
        assert!(EventId::parse(&"e".repeat(128)).is_ok());
        assert!(EventId::parse(&"e".repeat(129)).is_err());
        assert!(EventId::parse("").is_err());
        assert!(EventId::parse("evt\n1").is_err());
        assert!(EventId::parse("évt").is_err());
    }

    proptest! {
        #[test]
        fn any_valid_order_id_round_trips(s in "[A-Za-z0-9_-]{1,64}") {
            let id = OrderId::parse(&s).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(id.as_str(), s.as_str());
        }

        #[test]
        fn order_id_parse_never_panics(s in ".*") {
            let _ = OrderId::parse(&s);
            let _ = EventId::parse(&s);
        }
    }
}

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// An amount in minor units (cents). Never a float: money must add up exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Money(i64);

impl Money {
    pub fn parse(field: &str, value: i64) -> Result<Self, ValidationError> {
        if value < 0 {
            return Err(ValidationError::new(
                field,
                "must be a non-negative integer of minor units",
            ));
        }
        Ok(Self(value))
    }

    pub fn cents(self) -> i64 {
        self.0
    }
}

/// ISO 4217-shaped currency code: three upper-case ASCII letters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl Currency {
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        if value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValidationError::new(
                "currency",
                "must be three upper-case letters, like EUR",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Currency {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_amounts_are_refused_with_the_field_named() {
        let err = Money::parse("total_cents", -1).unwrap_err();
        assert_eq!(err.field, "total_cents");
        assert_eq!(Money::parse("x", 0).map(Money::cents), Ok(0));
    }

    #[test]
    fn currencies_are_three_upper_case_letters() {
        assert!(Currency::parse("EUR").is_ok());
        for bad in ["eur", "EU", "EURO", "E1R", ""] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
    }
}

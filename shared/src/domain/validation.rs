use std::fmt;

/// A value from outside the process that does not satisfy the contract; `field` is the JSON
/// path of the offending value so API clients can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Prefixes the field path, so nested parsers can report `order.items[2].quantity`.
    pub fn within(mut self, parent: &str) -> Self {
        self.field = if self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ValidationError {}

/// Checks a free-text field's length in characters (not bytes: names are often not ASCII).
pub(crate) fn text(
    field: &str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<String, ValidationError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(ValidationError::new(
            field,
            format!("must be {min} to {max} characters long, got {n}"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// A reason given for a rejection or a cancellation: free text like a note, up to 200
/// characters. It is stored and sent on to Kyte, so it obeys the same rules as every other
/// text (Postgres cannot store a NUL at all: one would fail the worker's transaction forever).
pub fn reason(value: Option<String>) -> Result<Option<String>, ValidationError> {
    value.map(|r| text("reason", &r, 0, 200)).transpose()
}

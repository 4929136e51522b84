//! A client's `x-request-id` is echoed back, written into every log line of the request and
//! carried in AMQP headers through the worker and the notifier. Header values are already
//! free of control characters, but an id may still be kilobytes long or full of quotes and
//! spaces that make log lines hard to read and search. Only short, plain ids are kept; any
//! other is dropped here so the next layer gives the request a fresh UUID instead.

use axum::extract::Request;
use axum::http::HeaderValue;

/// Long enough for UUIDs, ULIDs, W3C trace ids and most vendors' request ids.
const MAX_LEN: usize = 128;

fn usable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=MAX_LEN).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

pub async fn drop_unusable(mut req: Request) -> Request {
    if req
        .headers()
        .get("x-request-id")
        .is_some_and(|v| !usable(v))
    {
        req.headers_mut().remove("x-request-id");
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usable_str(s: &str) -> bool {
        usable(&HeaderValue::from_str(s).expect("a valid header value"))
    }

    #[test]
    fn plain_ids_are_kept() {
        for id in [
            "3f2b8c1e-9d4a-4e1b-8c7d-2a6f0e9b1c3d",
            "01JE4ZK8Q3",
            "req_42.retry:1",
        ] {
            assert!(usable_str(id), "{id}");
        }
    }

    #[test]
    fn long_empty_or_unusual_ids_are_dropped() {
        let long = "a".repeat(MAX_LEN + 1);
        for id in [
            "",
            long.as_str(),
            "a b",
            "\"quoted\"",
            "x=1; other=2",
            "<script>",
        ] {
            assert!(!usable_str(id), "{id:?}");
        }
        assert!(usable_str(&"a".repeat(MAX_LEN)));
    }
}

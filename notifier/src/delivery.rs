//! One HTTP attempt at a webhook, and what its result means (CONTRACT §5).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use shared::messages::Webhook;
use shared::signing::{Secrets, headers_for};

/// What one attempt produced, as recorded in `notification_attempts`.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub duration: Duration,
    pub excerpt: Option<String>,
    pub retry_after: Option<Duration>,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    Retryable,
    Permanent,
}

/// 2xx delivers; 408, 429 and 5xx (like connection errors and time-outs) are worth retrying;
/// any other status will not get better by itself.
pub fn classify(status: StatusCode) -> Verdict {
    if status.is_success() {
        Verdict::Delivered
    } else if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        Verdict::Retryable
    } else {
        Verdict::Permanent
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare for webhooks and ignored).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The characters of Kyte's answer kept with each attempt.
const EXCERPT_CHARS: usize = 200;

/// The start of Kyte's answer, enough for the excerpt: the rest is never read, so a huge or
/// endless body costs the notifier a few bytes of memory, not all of it.
async fn head(mut response: reqwest::Response) -> Vec<u8> {
    let mut bytes = Vec::new();
    while bytes.len() < EXCERPT_CHARS * 4 + 4 {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes
}

/// What is stored of an answer: its first characters, read as UTF-8 leniently, control
/// characters but newlines and tabs replaced (Postgres cannot store a NUL, and an operator
/// reads this in a terminal).
fn excerpt(bytes: &[u8]) -> Option<String> {
    let text: String = String::from_utf8_lossy(bytes)
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                char::REPLACEMENT_CHARACTER
            } else {
                c
            }
        })
        .collect();
    (!text.is_empty()).then_some(text)
}

pub struct Sender {
    client: reqwest::Client,
    url: String,
    secrets: Secrets,
}

impl Sender {
    pub fn new(
        url: &str,
        secrets: Secrets,
        timeout: Duration,
        max_in_flight: usize,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(max_in_flight)
            .user_agent(concat!("kyte-relay-notifier/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            url: url.to_owned(),
            secrets,
        })
    }

    pub async fn send(&self, webhook: &Webhook) -> Attempt {
        let started = Instant::now();
        let failed = |error: String, verdict| Attempt {
            status: None,
            error: Some(error),
            duration: started.elapsed(),
            excerpt: None,
            retry_after: None,
            verdict,
        };
        let body = match serde_json::to_vec(webhook) {
            Ok(b) => b,
            Err(e) => return failed(format!("cannot serialize webhook: {e}"), Verdict::Permanent),
        };
        let headers = match headers_for(&self.secrets, &webhook.id, &body) {
            Ok(h) => h,
            Err(e) => return failed(format!("cannot sign webhook: {e}"), Verdict::Permanent),
        };
        let response = self
            .client
            .post(&self.url)
            .headers(headers)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        match response {
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "connection failed"
                } else {
                    "request failed"
                };
                failed(format!("{kind}: {e}"), Verdict::Retryable)
            }
            Ok(response) => {
                let status = response.status();
                let retry_after = retry_after(response.headers());
                let excerpt = excerpt(&head(response).await);
                let verdict = classify(status);
                Attempt {
                    status: Some(status.as_u16()),
                    error: (verdict != Verdict::Delivered).then(|| format!("HTTP {status}")),
                    duration: started.elapsed(),
                    excerpt,
                    retry_after,
                    verdict,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_short_printable_and_storable() {
        assert_eq!(excerpt(b""), None);
        assert_eq!(excerpt(b"ok\n").as_deref(), Some("ok\n"));
        assert_eq!(
            excerpt(b"a\0b\x1b[31m\xff").as_deref(),
            Some("a\u{fffd}b\u{fffd}[31m\u{fffd}")
        );
        let long = "é".repeat(500);
        let kept = excerpt(long.as_bytes()).unwrap_or_default();
        assert_eq!(kept.chars().count(), EXCERPT_CHARS);
        assert!(kept.chars().all(|c| c == 'é'));
    }

    #[test]
    fn statuses_are_classified_as_the_contract_says() {
        for (code, verdict) in [
            (200, Verdict::Delivered),
            (204, Verdict::Delivered),
            (408, Verdict::Retryable),
            (429, Verdict::Retryable),
            (500, Verdict::Retryable),
            (503, Verdict::Retryable),
            (400, Verdict::Permanent),
            (401, Verdict::Permanent),
            (404, Verdict::Permanent),
            (301, Verdict::Permanent),
        ] {
            assert_eq!(
                classify(StatusCode::from_u16(code).unwrap()),
                verdict,
                "{code}"
            );
        }
    }
}

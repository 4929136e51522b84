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
                let text = response.text().await.unwrap_or_default();
                let excerpt: String = text.chars().take(200).collect();
                let verdict = classify(status);
                Attempt {
                    status: Some(status.as_u16()),
                    error: (verdict != Verdict::Delivered).then(|| format!("HTTP {status}")),
                    duration: started.elapsed(),
                    excerpt: (!excerpt.is_empty()).then_some(excerpt),
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

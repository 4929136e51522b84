use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use shared::signing::{Secrets, headers_for};

/// Sends Kyte's events to ingress, signed like Kyte signs them.
#[derive(Clone)]
pub struct KyteClient {
    http: reqwest::Client,
    base: String,
    secrets: Option<std::sync::Arc<Secrets>>,
}

impl KyteClient {
    pub fn new(base: &str, secret: Option<&str>) -> anyhow::Result<Self> {
        let secrets = secret
            .map(Secrets::parse)
            .transpose()?
            .map(std::sync::Arc::new);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            secrets,
        })
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// POSTs a body signed with a fresh `webhook-id`.
    pub async fn post_signed(&self, path: &str, body: &Value) -> anyhow::Result<reqwest::Response> {
        let bytes = serde_json::to_vec(body)?;
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(bytes.clone());
        if let Some(secrets) = &self.secrets {
            let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
            request = request.headers(headers_for(secrets, &id, &bytes)?);
        }
        Ok(request.send().await?)
    }

    pub async fn order_created(
        &self,
        event_id: &str,
        order: &Value,
    ) -> anyhow::Result<reqwest::Response> {
        let event = json!({"event_id": event_id, "type": "order_created", "occurred_at": Utc::now(), "order": order});
        self.post_signed("/kyte/events", &event).await
    }

    pub async fn order_cancelled(
        &self,
        event_id: &str,
        order_id: &str,
        reason: &str,
    ) -> anyhow::Result<reqwest::Response> {
        let event = json!({"event_id": event_id, "type": "order_cancelled", "occurred_at": Utc::now(),
                           "order_id": order_id, "reason": reason});
        self.post_signed("/kyte/events", &event).await
    }
}

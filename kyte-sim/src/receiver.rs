//! Kyte's webhook endpoint: verifies each Standard Webhooks signature, records what arrived,
//! and answers as scripted (per-order replies, a failure rate, latency), so tests and demos
//! can make Kyte slow, flaky or down.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::Serialize;
use serde_json::Value;
use shared::signing::Secrets;
use tokio::sync::Notify;

/// How to answer one webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub retry_after_secs: Option<u64>,
    pub delay: Duration,
    /// The body to answer with (as bytes, any bytes); the default is `{"ok": …}` as JSON.
    pub body: Option<&'static [u8]>,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            retry_after_secs: None,
            delay: Duration::ZERO,
            body: None,
        }
    }
}

/// One webhook as it arrived.
#[derive(Debug, Clone, Serialize)]
pub struct Received {
    pub webhook_id: String,
    pub timestamp: String,
    pub signature: String,
    pub verified: bool,
    pub answered: u16,
    pub at: DateTime<Utc>,
    pub body: Value,
    #[serde(skip)]
    pub raw: Vec<u8>,
}

impl Received {
    pub fn order_id(&self) -> &str {
        self.body["order_id"].as_str().unwrap_or_default()
    }
    pub fn kind(&self) -> &str {
        self.body["type"].as_str().unwrap_or_default()
    }
    pub fn sequence(&self) -> i64 {
        self.body["sequence"].as_i64().unwrap_or_default()
    }
    pub fn delivered(&self) -> bool {
        (200..300).contains(&self.answered)
    }
}

#[derive(Default)]
struct Script {
    per_order: HashMap<String, VecDeque<Reply>>,
    always: HashMap<String, Reply>,
    failure_rate: f64,
    latency: Duration,
    /// Every order's first N webhooks fail with this reply.
    fail_first: Option<(u32, Reply)>,
    failed_so_far: HashMap<String, u32>,
}

struct Inner {
    secrets: Option<Secrets>,
    received: Mutex<Vec<Received>>,
    script: Mutex<Script>,
    arrived: Notify,
}

#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Inner>,
}

impl Receiver {
    pub fn new(secret: Option<&str>) -> anyhow::Result<Self> {
        let secrets = secret.map(Secrets::parse).transpose()?;
        Ok(Self {
            inner: Arc::new(Inner {
                secrets,
                received: Mutex::new(Vec::new()),
                script: Mutex::new(Script::default()),
                arrived: Notify::new(),
            }),
        })
    }

    /// Serves `/webhooks` (POST) and `/received` (GET) on `addr`; returns the bound address.
    pub async fn serve(
        &self,
        addr: SocketAddr,
    ) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let app = Router::new()
            .route("/webhooks", post(receive))
            .route("/received", get(list))
            .route("/healthz", get(|| async { "ok" }))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((local, task))
    }

    /// Replies for the next webhooks of `order_id`, in order; afterwards the default applies.
    pub fn script_order(&self, order_id: &str, replies: impl IntoIterator<Item = Reply>) {
        self.lock_script()
            .per_order
            .entry(order_id.to_owned())
            .or_default()
            .extend(replies);
    }

    /// Every webhook of `order_id` gets this reply until changed.
    pub fn always(&self, order_id: &str, reply: Option<Reply>) {
        let mut script = self.lock_script();
        match reply {
            Some(r) => script.always.insert(order_id.to_owned(), r),
            None => script.always.remove(order_id),
        };
    }

    /// A share of webhooks answered 503, and latency for all.
    pub fn chaos(&self, failure_rate: f64, latency: Duration) {
        let mut script = self.lock_script();
        script.failure_rate = failure_rate;
        script.latency = latency;
    }

    /// Every order's first `n` webhooks get `reply` (e.g. 503), later ones succeed.
    pub fn fail_first(&self, n: u32, reply: Reply) {
        self.lock_script().fail_first = (n > 0).then_some((n, reply));
    }

    fn lock_script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.inner
            .script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The webhooks answered 2xx for one order, in arrival order.
    pub fn delivered_for(&self, order_id: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.order_id() == order_id && r.delivered())
            .collect()
    }

    /// Resolves at the next arrival (or after `max`), for waiting loops that want to wake early.
    pub async fn next_arrival(&self, max: Duration) {
        let _ = tokio::time::timeout(max, self.inner.arrived.notified()).await;
    }

    fn reply_for(&self, order_id: &str) -> Reply {
        let mut script = self.lock_script();
        if let Some(reply) = script
            .per_order
            .get_mut(order_id)
            .and_then(VecDeque::pop_front)
        {
            return reply;
        }
        if let Some(reply) = script.always.get(order_id) {
            return *reply;
        }
        if let Some((n, reply)) = script.fail_first {
            let failed = script.failed_so_far.entry(order_id.to_owned()).or_default();
            if *failed < n {
                *failed += 1;
                return reply;
            }
        }
        let mut reply = Reply::status(200);
        if script.failure_rate > 0.0 && rand::rng().random_bool(script.failure_rate.clamp(0.0, 1.0))
        {
            reply.status = 503;
        }
        reply.delay = script.latency;
        reply
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let verified = match &receiver.inner.secrets {
        Some(secrets) => secrets.verify(&body, &headers).is_ok(),
        None => true,
    };
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let order_id = parsed["order_id"].as_str().unwrap_or_default().to_owned();
    let reply = if verified {
        receiver.reply_for(&order_id)
    } else {
        Reply::status(401)
    };
    let record = Received {
        webhook_id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        verified,
        answered: reply.status,
        at: Utc::now(),
        body: parsed,
        raw: body.to_vec(),
    };
    tracing::info!(
        order_id = %order_id,
        kind = record.kind(),
        sequence = record.sequence(),
        webhook_id = %record.webhook_id,
        verified,
        answered = reply.status,
        "webhook received"
    );
    receiver
        .inner
        .received
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(record);
    receiver.inner.arrived.notify_waiters();
    // Recorded on arrival, before the scripted latency: a real Kyte acts on a webhook before it
    // answers, so one whose sender dies while waiting for the answer still counts as received,
    // and its re-send as a duplicate.
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    let mut response = match reply.body {
        Some(body) => (status, body).into_response(),
        None => (status, Json(serde_json::json!({"ok": status.is_success()}))).into_response(),
    };
    if let Some(secs) = reply.retry_after_secs
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert("retry-after", v);
    }
    response
}

async fn list(State(receiver): State<Receiver>) -> Json<Vec<Received>> {
    Json(receiver.received())
}

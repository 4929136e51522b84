//! Ingress: the only door into kyte-relay. Kyte's events and staff commands are validated,
//! put on RabbitMQ (answered only after the broker confirmed them), and order queries are
//! answered from Postgres.

mod admission;
mod auth;
mod body;
mod config;
mod console;
mod error;
mod openapi;
mod publish;
mod request_id;
mod routes;
mod views;
mod waiters;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sea_orm::DatabaseConnection;
use shared::messaging::Broker;
use shared::signing::Secrets;
use shared::telemetry::Probes;
use tokio_util::sync::CancellationToken;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};

pub use config::Config;
pub use openapi::ApiDoc;
pub use views::OrderView;

use crate::admission::Admission;
use crate::auth::StaffTokens;
use crate::error::ApiError;
use crate::waiters::Waiters;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

pub struct Inner {
    db: DatabaseConnection,
    broker: Arc<Broker>,
    kyte_secrets: Option<Secrets>,
    staff: StaffTokens,
    waiters: Arc<Waiters>,
    command_wait: Duration,
    accept_deadline_secs: u64,
    probes: Probes,
    admission: Admission,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

pub fn router(state: AppState) -> Router {
    use routes::{kyte, ops, staff};
    Router::new()
        .route("/kyte/events", post(kyte::post_event))
        .route("/api/orders", post(kyte::post_order_alias).get(staff::list_orders))
        .route("/webhook/cancel-order", post(kyte::post_cancel_alias))
        .route("/api/orders/{id}", get(staff::get_order).patch(staff::patch_order))
        .route("/api/commands/{command_id}", get(staff::get_command))
        .route("/ops/dead-letters", get(ops::list_dead_letters))
        .route("/ops/dead-letters/replay", post(ops::replay_dead_letters))
        // Only the routes above count towards the in-flight limit.
        .route_layer(middleware::from_fn_with_state(state.admission.clone(), admission::admit))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(openapi::serve))
        .route("/", get(console::index))
        .route("/console/console.js", get(console::script))
        .route("/console/console.css", get(console::style))
        .route("/console/config.json", get(console::config))
        .route_layer(middleware::from_fn(track_metrics))
        .layer(middleware::from_fn(time_limit))
        .fallback(|| async { ApiError::not_found("no such route").into_response() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(axum::http::StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
                .into_response()
        })
        .with_state(state)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
                    tracing::info_span!("request", method = %req.method(), uri = %req.uri(), request_id = %id)
                })
                // A 503 while the broker is down is expected behaviour, not an error to page on.
                .on_failure(DefaultOnFailure::new().level(tracing::Level::WARN)),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(middleware::map_request(request_id::drop_unusable))
}

/// No request lives longer than this; every step inside has its own, shorter bound (publish
/// confirm, outcome wait, pool acquire), so this only catches the unforeseen.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The last-resort time limit, answered in the API's error shape (tower-http's would be empty).
async fn time_limit(req: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            ApiError::unavailable("the request took too long; try again shortly").into_response()
        }
    }
}

/// Requests by route and status, and their latency.
async fn track_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("kyte_http_request_duration_seconds", "route" => route.clone(), "method" => method.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("kyte_http_requests_total", "route" => route, "method" => method, "status" => status).increment(1);
    response
}

pub struct Ingress {
    state: AppState,
    listener: tokio::net::TcpListener,
}

impl Ingress {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let staff = StaffTokens::parse(
            config.staff_tokens.as_ref().map(|s| s.expose()),
            config.allow_anonymous_staff,
        )?;
        let kyte_secrets = match &config.kyte_inbound_secret {
            Some(s) if !s.expose().trim().is_empty() => Some(
                Secrets::parse(s.expose())
                    .map_err(|e| anyhow::anyhow!("KYTE_INBOUND_SECRET: {e}"))?,
            ),
            _ => {
                tracing::warn!(
                    "KYTE_INBOUND_SECRET is not set: requests from Kyte are NOT verified"
                );
                None
            }
        };
        let (db, broker) = config.infra.connect("ingress").await?;
        if let Err(e) = broker.ensure_connected().await {
            tracing::warn!(error = %e, "broker not reachable yet; will keep trying");
        }
        let listener = tokio::net::TcpListener::bind(config.ingress_addr).await?;
        let probes = Probes {
            broker: broker.clone(),
            db: db.clone(),
        };
        let state = AppState {
            inner: Arc::new(Inner {
                db,
                broker,
                kyte_secrets,
                staff,
                waiters: Arc::new(Waiters::default()),
                command_wait: Duration::from_millis(config.command_wait_ms),
                accept_deadline_secs: config.accept_deadline_secs,
                probes,
                admission: Admission::new(config.max_in_flight),
            }),
        };
        Ok(Self { state, listener })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown`: then stops accepting, finishes requests in flight and returns.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self { state, listener } = self;
        let listen = tokio::spawn(waiters::listen(
            state.db.get_postgres_connection_pool().clone(),
            state.waiters.clone(),
            shutdown.clone(),
        ));
        let reconnect = tokio::spawn(keep_broker_connected(
            state.broker.clone(),
            shutdown.clone(),
        ));
        // Trailing slashes are trimmed before routing, so every path works with and without one.
        let app = NormalizePathLayer::trim_trailing_slash().layer(router(state.clone()));
        let server = axum::serve(
            listener,
            <_ as axum::ServiceExt<Request>>::into_make_service(app),
        )
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
        server.into_future().await?;
        let _ = listen.await;
        let _ = reconnect.await;
        state.broker.close().await;
        tracing::info!("ingress stopped");
        Ok(())
    }
}

/// Reconnects to the broker in the background so readiness recovers without traffic.
async fn keep_broker_connected(broker: Arc<Broker>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if !broker.is_connected()
            && let Err(e) = broker.ensure_connected().await
        {
            tracing::debug!(error = %e, "broker still unreachable");
        }
    }
}

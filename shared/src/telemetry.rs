//! Logs, metrics and the `/healthz`, `/readyz`, `/metrics` endpoints every service serves.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::messaging::Broker;

/// Logs to stderr, as JSON when asked; `RUST_LOG` filters (default `info`). Safe to call more
/// than once (tests start several services in one process).
pub fn init_tracing(format: LogFormat) {
    // sqlx reports every "already exists, skipping" notice of the idempotent migrations at info.
    init_tracing_with(format, "info,sqlx=warn,sea_orm_migration=warn");
}

/// As [`init_tracing`], with another filter when `RUST_LOG` is unset.
pub fn init_tracing_with(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .map(PrometheusBuilder::build_recorder)
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Fails only if another recorder is installed; the handle then renders ours, empty.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The dependencies readiness depends on: ready only while both answer.
#[derive(Clone, Debug)]
pub struct Probes {
    pub broker: Arc<Broker>,
    pub db: DatabaseConnection,
}

impl Probes {
    pub async fn ready(&self) -> bool {
        self.broker.is_connected() && self.db.ping().await.is_ok()
    }
}

/// `/healthz`, `/readyz`, `/metrics`, for merging into a service's router.
pub fn ops_router(probes: Probes) -> Router {
    let handle = prometheus();
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(probes)
        .route("/metrics", get(move || std::future::ready(handle.render())))
}

async fn readyz(State(probes): State<Probes>) -> (StatusCode, &'static str) {
    if probes.ready().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

/// Serves `/healthz`, `/readyz` and `/metrics` on `listener` until `shutdown` (worker and
/// notifier; ingress serves them on its own router).
pub fn spawn_ops_server(
    listener: tokio::net::TcpListener,
    probes: Probes,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let server = axum::serve(listener, ops_router(probes))
            .with_graceful_shutdown(shutdown.cancelled_owned());
        if let Err(e) = server.await {
            tracing::error!(error = %e, "ops server failed");
        }
    })
}

/// Resolves on SIGTERM or Ctrl-C, for the binaries' `main`.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutdown requested");
}

/// A token cancelled on SIGTERM or Ctrl-C: the shutdown every binary passes to its app.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        cancel.cancel();
    });
    token
}

/// rustls needs one crypto provider; ring keeps aws-lc out of the build.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

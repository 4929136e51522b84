//! The worker: consumes Kyte events and staff commands, applies the state machine to Postgres
//! in one transaction per message, and hands the resulting webhooks to the notifier through a
//! transactional outbox. Any number of workers may run on one queue.

mod config;
mod deadline;
mod handler;
mod outbox;
mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use shared::messaging::Broker;
use shared::telemetry::{self, Probes};
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use handler::Hooks;
pub use store::{Applied, apply_message};

/// A built worker: connected to the database (schema migrated), listening for ops requests.
pub struct Worker {
    config: Config,
    db: DatabaseConnection,
    broker: Arc<Broker>,
    listener: tokio::net::TcpListener,
    hooks: Hooks,
}

impl Worker {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_hooks(config, Hooks::default()).await
    }

    /// As [`build`](Self::build), with fault-injection hooks for tests.
    pub async fn build_with_hooks(config: Config, hooks: Hooks) -> anyhow::Result<Self> {
        let (db, broker) = config.infra.connect("worker").await?;
        let listener = tokio::net::TcpListener::bind(config.metrics_addr).await?;
        Ok(Self {
            config,
            db,
            broker,
            listener,
            hooks,
        })
    }

    pub fn metrics_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Runs until `shutdown`: then stops consuming, finishes the messages in flight and returns.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            config,
            db,
            broker,
            listener,
            hooks,
        } = self;
        let probes = Probes {
            broker: broker.clone(),
            db: db.clone(),
        };
        let ops = telemetry::spawn_ops_server(listener, probes, shutdown.clone());
        let state = Arc::new(handler::State {
            db: db.clone(),
            broker: broker.clone(),
            hooks,
        });
        let sweeper = tokio::spawn(deadline::run_sweeps(
            db.clone(),
            broker.clone(),
            Duration::from_secs(config.accept_deadline_secs),
            Duration::from_millis(config.sweep_interval_ms),
            Duration::from_millis(config.outbox_grace_ms),
            shutdown.clone(),
        ));
        let queue = broker.topology().worker_queue();
        shared::messaging::consume(
            broker.clone(),
            queue,
            "worker",
            config.prefetch,
            move |incoming| {
                let state = state.clone();
                async move { state.handle(incoming).await }
            },
            shutdown.clone(),
        )
        .await;
        let _ = sweeper.await;
        broker.close().await;
        let _ = ops.await;
        tracing::info!("worker stopped");
        Ok(())
    }
}

//! The notifier: consumes notifications and delivers them to Kyte as signed webhooks, one order
//! at a time in sequence order, retrying through RabbitMQ delay queues and dead-lettering what
//! cannot be delivered.

mod config;
mod delivery;
mod handler;
pub mod policy;
mod store;
mod sweep;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sea_orm::DatabaseConnection;
use shared::messaging::Broker;
use shared::signing::Secrets;
use shared::telemetry::{self, Probes};
use tokio_util::sync::CancellationToken;

pub use config::{Cli, Command, Config, DeadLetterCommand, ReplayArgs};
pub use delivery::{Verdict, classify};
pub use policy::RetryPolicy;

pub struct Notifier {
    config: Config,
    db: DatabaseConnection,
    broker: Arc<Broker>,
    listener: tokio::net::TcpListener,
    state: Arc<handler::State>,
}

impl Notifier {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let url = config
            .webhook_url
            .clone()
            .context("KYTE_WEBHOOK_URL is required")?;
        let secrets = config
            .webhook_secret
            .as_ref()
            .context("KYTE_WEBHOOK_SECRET is required")
            .and_then(|s| Secrets::parse(s.expose()).context("KYTE_WEBHOOK_SECRET"))?;
        let timeout = Duration::from_millis(config.webhook_timeout_ms);
        let sender =
            delivery::Sender::new(&url, secrets, timeout, usize::from(config.concurrency))?;
        let policy = RetryPolicy {
            initial: Duration::from_millis(config.retry_initial_ms),
            max_delay: Duration::from_millis(config.retry_max_delay_ms),
            max_elapsed: Duration::from_millis(config.retry_max_elapsed_ms),
        };
        let (db, broker) = config.infra.connect("notifier").await?;
        let listener = tokio::net::TcpListener::bind(config.metrics_addr).await?;
        // The lease outlives an attempt, so a crashed notifier's delivery is retried, not doubled.
        let lease = timeout + Duration::from_secs(5);
        let state = Arc::new(handler::State {
            db: db.clone(),
            broker: broker.clone(),
            sender,
            policy,
            lease,
        });
        Ok(Self {
            config,
            db,
            broker,
            listener,
            state,
        })
    }

    pub fn metrics_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            config,
            db,
            broker,
            listener,
            state,
        } = self;
        let probes = Probes {
            broker: broker.clone(),
            db: db.clone(),
        };
        let ops = telemetry::spawn_ops_server(listener, probes, shutdown.clone());
        let sweeper = tokio::spawn(sweep::run(
            db,
            broker.clone(),
            Duration::from_millis(config.stuck_sweep_interval_ms),
            Duration::from_millis(config.stuck_after_ms),
            shutdown.clone(),
        ));
        shared::messaging::consume(
            broker.clone(),
            broker.topology().notifier_queue(),
            "notifier",
            config.concurrency,
            move |incoming| {
                let state = state.clone();
                async move { state.handle(incoming).await }
            },
            shutdown,
        )
        .await;
        let _ = sweeper.await;
        broker.close().await;
        let _ = ops.await;
        tracing::info!("notifier stopped");
        Ok(())
    }
}

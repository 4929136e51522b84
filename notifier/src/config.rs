use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};
use shared::config::{Infra, Secret};

/// Delivers signed status webhooks to Kyte, with durable retries and dead letters.
#[derive(Debug, Clone, Parser)]
#[command(name = "notifier", version)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Inspect or replay notifications that could not be delivered.
    #[command(subcommand)]
    DeadLetters(DeadLetterCommand),
}

#[derive(Debug, Clone, Subcommand)]
pub enum DeadLetterCommand {
    /// Lists dead notifications, one JSON object per line.
    List,
    /// Queues dead notifications again (same ids, fresh retry budget).
    Replay(ReplayArgs),
}

#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct ReplayArgs {
    /// Only this order's dead notifications.
    #[arg(long = "order")]
    pub order: Option<String>,
    /// Every dead notification.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    #[command(flatten)]
    pub infra: Infra,
    /// Listen address for /healthz, /readyz and /metrics (port 0 picks a free port).
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:9101")]
    pub metrics_addr: SocketAddr,
    /// Where status webhooks are POSTed (required to deliver).
    #[arg(long, env = "KYTE_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// Standard Webhooks secret(s) (`whsec_…`, space-separated to sign with several).
    #[arg(long, env = "KYTE_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<Secret>,
    /// First retry delay.
    #[arg(long, env = "RETRY_INITIAL_MS", default_value_t = 1000)]
    pub retry_initial_ms: u64,
    /// Longest retry delay (also caps Retry-After).
    #[arg(long, env = "RETRY_MAX_DELAY_MS", default_value_t = 300_000)]
    pub retry_max_delay_ms: u64,
    /// After this long since the first attempt a failing delivery is dead-lettered.
    #[arg(long, env = "RETRY_MAX_ELAPSED_MS", default_value_t = 7_200_000)]
    pub retry_max_elapsed_ms: u64,
    /// Per-attempt HTTP timeout.
    #[arg(long, env = "WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,
    /// Deliveries in flight at once (the AMQP prefetch).
    #[arg(long, env = "NOTIFIER_CONCURRENCY", default_value_t = 64)]
    pub concurrency: u16,
    /// How often to look for open notifications that no message will bring back.
    #[arg(long, env = "STUCK_SWEEP_INTERVAL_MS", default_value_t = 5000)]
    pub stuck_sweep_interval_ms: u64,
    /// An open notification untouched this long (not claimed, attempted, queued or due for a
    /// retry) is queued again; longer than a delivery's lease, shorter than anyone's patience.
    #[arg(long, env = "STUCK_AFTER_MS", default_value_t = 60_000)]
    pub stuck_after_ms: u64,
}

impl Config {
    pub fn for_infra(infra: Infra, webhook_url: &str, webhook_secret: &str) -> Self {
        Self {
            infra,
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            webhook_url: Some(webhook_url.to_owned()),
            webhook_secret: webhook_secret.parse().ok(),
            retry_initial_ms: 1000,
            retry_max_delay_ms: 300_000,
            retry_max_elapsed_ms: 7_200_000,
            webhook_timeout_ms: 10_000,
            concurrency: 64,
            stuck_sweep_interval_ms: 5000,
            stuck_after_ms: 60_000,
        }
    }
}

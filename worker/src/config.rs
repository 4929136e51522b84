use std::net::SocketAddr;

use clap::Parser;
use shared::config::Infra;

/// Applies Kyte events and staff commands to Postgres; run as many as you like.
#[derive(Debug, Clone, Parser)]
#[command(name = "worker", version)]
pub struct Config {
    #[command(flatten)]
    pub infra: Infra,
    /// Listen address for /healthz, /readyz and /metrics (port 0 picks a free port).
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:9100")]
    pub metrics_addr: SocketAddr,
    /// A pending order not accepted or rejected this many seconds after creation is rejected
    /// automatically (reason `acceptance_timeout`).
    #[arg(long, env = "ACCEPT_DEADLINE_SECS", default_value_t = 600)]
    pub accept_deadline_secs: u64,
    /// Messages processed concurrently (the AMQP prefetch); keep it at or below the pool size.
    #[arg(long, env = "WORKER_PREFETCH", default_value_t = 16)]
    pub prefetch: u16,
    /// How often the acceptance deadline and the outbox are swept.
    #[arg(long, env = "SWEEP_INTERVAL_MS", default_value_t = 1000)]
    pub sweep_interval_ms: u64,
    /// An outbox row still unpublished this long after commit is published by the sweep.
    #[arg(long, env = "OUTBOX_GRACE_MS", default_value_t = 5000)]
    pub outbox_grace_ms: u64,
}

impl Config {
    /// Defaults for tests and tools: metrics on a free loopback port.
    pub fn for_infra(infra: Infra) -> Self {
        Self {
            infra,
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            accept_deadline_secs: 600,
            prefetch: 16,
            sweep_interval_ms: 1000,
            outbox_grace_ms: 5000,
        }
    }
}

use std::net::SocketAddr;

use clap::Parser;
use shared::config::{Infra, Secret};

/// The HTTP API: Kyte events in, staff commands in, order queries, ops endpoints.
#[derive(Debug, Clone, Parser)]
#[command(name = "ingress", version)]
pub struct Config {
    #[command(flatten)]
    pub infra: Infra,
    /// Listen address (port 0 picks a free port).
    #[arg(long, env = "INGRESS_ADDR", default_value = "0.0.0.0:8000")]
    pub ingress_addr: SocketAddr,
    /// Standard Webhooks secret(s) Kyte signs its requests with (space-separated for rotation).
    /// Unset: requests from Kyte are not verified (a warning is logged at start-up).
    #[arg(long, env = "KYTE_INBOUND_SECRET", hide_env_values = true)]
    pub kyte_inbound_secret: Option<Secret>,
    /// Comma-separated `name:token` pairs accepted as `Authorization: Bearer <token>`.
    #[arg(long, env = "STAFF_TOKENS", hide_env_values = true)]
    pub staff_tokens: Option<Secret>,
    /// Allow staff requests without a token when STAFF_TOKENS is unset (development only).
    #[arg(long, env = "ALLOW_ANONYMOUS_STAFF", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_anonymous_staff: bool,
    /// How long a staff PATCH waits for the worker's outcome before answering 202.
    #[arg(long, env = "COMMAND_WAIT_MS", default_value_t = 5000)]
    pub command_wait_ms: u64,
    /// The workers' acceptance deadline; the console highlights pending orders close to it.
    #[arg(long, env = "ACCEPT_DEADLINE_SECS", default_value_t = 600)]
    pub accept_deadline_secs: u64,
    /// API requests served at once; more are refused with 503 and Retry-After, not queued.
    #[arg(long, env = "INGRESS_MAX_IN_FLIGHT", default_value_t = 1024)]
    pub max_in_flight: usize,
}

impl Config {
    pub fn for_infra(infra: Infra) -> Self {
        Self {
            infra,
            ingress_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            kyte_inbound_secret: None,
            staff_tokens: None,
            allow_anonymous_staff: false,
            command_wait_ms: 5000,
            accept_deadline_secs: 600,
            max_in_flight: 1024,
        }
    }
}

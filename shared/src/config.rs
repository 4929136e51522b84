//! Flags every service shares. Each flag falls back to the environment variable of
//! CONTRACT §1; values that may hold credentials are never echoed by `--help` or `Debug`.

use std::fmt;
use std::str::FromStr;

use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::messaging::{Broker, Topology};

/// A string that must not reach logs: `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Connection settings of the broker and the database.
#[derive(Debug, Clone, Args)]
pub struct Infra {
    /// Postgres URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Secret,
    /// RabbitMQ URL.
    #[arg(long, env = "AMQP_URL", hide_env_values = true)]
    pub amqp_url: Secret,
    /// Prefix of every RabbitMQ exchange and queue name.
    #[arg(long, env = "TOPOLOGY_PREFIX", default_value = "")]
    pub topology_prefix: String,
    /// Database connections in this process's pool.
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// How long a publish may wait for the broker's confirm before it counts as failed.
    #[arg(long, env = "PUBLISH_TIMEOUT_MS", default_value_t = 5000)]
    pub publish_timeout_ms: u64,
    /// Log format on stderr.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

impl Infra {
    /// Opens the database (migrating it, retrying while it is not up yet) and makes the broker
    /// handle, which connects on first use; `name` labels the AMQP connection.
    pub async fn connect(
        &self,
        name: &str,
    ) -> anyhow::Result<(sea_orm::DatabaseConnection, Arc<Broker>)> {
        let db = crate::db::connect_and_migrate(
            self.database_url.expose(),
            self.db_max_connections,
            Duration::from_secs(120),
        )
        .await?;
        let broker = Broker::new(
            self.amqp_url.expose(),
            Topology::new(&self.topology_prefix),
            name,
            Duration::from_millis(self.publish_timeout_ms),
        );
        Ok((db, broker))
    }

    /// For tests and tools that build a configuration without a command line.
    pub fn new(database_url: &str, amqp_url: &str, topology_prefix: &str) -> Self {
        Self {
            database_url: Secret(database_url.to_owned()),
            amqp_url: Secret(amqp_url.to_owned()),
            topology_prefix: topology_prefix.to_owned(),
            db_max_connections: 16,
            publish_timeout_ms: 5000,
            log_format: LogFormat::Text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s: Secret = "whsec_abc".parse().unwrap();
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(s.expose(), "whsec_abc");
    }
}

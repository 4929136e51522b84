//! A private PostgreSQL and RabbitMQ for one test, on their own ports and data directory, so
//! they can be stopped and started without disturbing anything else (scripts/services.sh).

use std::path::PathBuf;

use kyte_sim::stack::free_port;
use tokio::process::Command;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/services.sh");

pub struct Servers {
    dir: PathBuf,
    pg_port: u16,
    amqp_port: u16,
}

/// A port whose successor is free too (RabbitMQ's distribution port is AMQP + 1).
fn free_pair() -> u16 {
    loop {
        let port = free_port().expect("a free port");
        if port < 65000 && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

impl Servers {
    pub async fn start() -> Self {
        let servers = Self {
            dir: std::env::temp_dir().join(format!("kyte-fault-{}", uuid::Uuid::new_v4().simple())),
            pg_port: free_port().expect("a free port"),
            amqp_port: free_pair(),
        };
        servers
            .run("services_init && pg_start && rabbit_start")
            .await;
        servers
    }

    async fn run(&self, functions: &str) {
        let status = Command::new("bash")
            .arg("-c")
            .arg(format!(". {SCRIPT} && {functions}"))
            .env("KYTE_SERVICES_DIR", &self.dir)
            .env("KYTE_PG_PORT", self.pg_port.to_string())
            .env("KYTE_AMQP_PORT", self.amqp_port.to_string())
            .status()
            .await
            .expect("run services.sh");
        assert!(status.success(), "services.sh: {functions} failed");
    }

    pub fn database_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.pg_port)
    }

    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.amqp_port)
    }

    pub async fn stop_rabbitmq(&self) {
        self.run("rabbit_stop").await;
    }

    pub async fn start_rabbitmq(&self) {
        self.run("rabbit_start").await;
    }

    pub async fn stop_postgres(&self) {
        self.run("pg_stop").await;
    }

    pub async fn start_postgres(&self) {
        self.run("pg_start").await;
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(". {SCRIPT} && services_stop"))
            .env("KYTE_SERVICES_DIR", &self.dir)
            .env("KYTE_PG_PORT", self.pg_port.to_string())
            .env("KYTE_AMQP_PORT", self.amqp_port.to_string())
            .status();
        let _ = std::process::Command::new("rm")
            .arg("-rf")
            .arg(&self.dir)
            .status();
    }
}

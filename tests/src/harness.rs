//! One isolated environment per test: a fresh database `test_<uuid>` and a topology prefix of
//! its own on shared servers — `DATABASE_URL`/`AMQP_URL` when set, otherwise containers
//! started once per test process by testcontainers (when Docker is available).

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection};
use shared::config::Infra;
use shared::messaging::{Broker, Topology};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Servers every test of the process shares.
struct Servers {
    database_url: String,
    amqp_url: String,
    _containers: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

static SERVERS: OnceCell<Servers> = OnceCell::const_new();

async fn servers() -> &'static Servers {
    SERVERS
        .get_or_init(|| async {
            shared::telemetry::install_crypto_provider();
            if std::env::var("TEST_LOG").is_ok() {
                shared::telemetry::init_tracing(shared::config::LogFormat::Text);
            }
            match (std::env::var("DATABASE_URL"), std::env::var("AMQP_URL")) {
                (Ok(database_url), Ok(amqp_url)) => Servers {
                    database_url,
                    amqp_url,
                    _containers: Vec::new(),
                },
                _ => start_containers().await,
            }
        })
        .await
}

async fn start_containers() -> Servers {
    use testcontainers::runners::AsyncRunner;
    use testcontainers_modules::{postgres::Postgres, rabbitmq::RabbitMq};
    let pg = Postgres::default().start().await.unwrap_or_else(|e| {
        panic!("DATABASE_URL/AMQP_URL are not set and Docker could not start Postgres: {e}")
    });
    let mq = RabbitMq::default()
        .start()
        .await
        .unwrap_or_else(|e| panic!("Docker could not start RabbitMQ: {e}"));
    let pg_port = pg
        .get_host_port_ipv4(5432)
        .await
        .unwrap_or_else(|e| panic!("postgres port: {e}"));
    let mq_port = mq
        .get_host_port_ipv4(5672)
        .await
        .unwrap_or_else(|e| panic!("rabbitmq port: {e}"));
    Servers {
        database_url: format!("postgres://postgres:postgres@127.0.0.1:{pg_port}/postgres"),
        amqp_url: format!("amqp://guest:guest@127.0.0.1:{mq_port}/%2f"),
        _containers: vec![Box::new(pg), Box::new(mq)],
    }
}

pub struct TestEnv {
    pub database_url: String,
    pub amqp_url: String,
    pub prefix: String,
    db_name: String,
    admin_url: String,
    /// A connection to this test's database for assertions.
    pub db: DatabaseConnection,
    /// A broker handle on this test's topology, for publishing and inspecting queues directly.
    pub broker: std::sync::Arc<Broker>,
}

impl TestEnv {
    pub async fn new() -> Self {
        let servers = servers().await;
        let id = Uuid::new_v4().simple().to_string();
        let db_name = format!("test_{id}");
        let admin = shared::db::connect(&servers.database_url, 1)
            .await
            .expect("connect to the admin database");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {db_name}"))
            .await
            .expect("create the test database");
        let database_url = shared::db::with_database(&servers.database_url, &db_name);
        let db = shared::db::connect(&database_url, 4)
            .await
            .expect("connect to the test database");
        shared::db::migrate(&db)
            .await
            .expect("migrate the test database");
        let prefix = format!("t{}.", &id[..12]);
        let broker = Broker::new(
            &servers.amqp_url,
            Topology::new(&prefix),
            "test",
            Duration::from_secs(5),
        );
        Self {
            database_url,
            amqp_url: servers.amqp_url.clone(),
            prefix,
            db_name,
            admin_url: servers.database_url.clone(),
            db,
            broker,
        }
    }

    pub fn infra(&self) -> Infra {
        let mut infra = Infra::new(&self.database_url, &self.amqp_url, &self.prefix);
        infra.db_max_connections = 5;
        infra
    }

    pub fn topology(&self) -> &Topology {
        self.broker.topology()
    }

    pub async fn start_worker(&self, tweak: impl FnOnce(&mut worker::Config)) -> Running {
        self.start_worker_with_hooks(tweak, worker::Hooks::default())
            .await
    }

    pub async fn start_worker_with_hooks(
        &self,
        tweak: impl FnOnce(&mut worker::Config),
        hooks: worker::Hooks,
    ) -> Running {
        let mut config = worker::Config::for_infra(self.infra());
        tweak(&mut config);
        let app = worker::Worker::build_with_hooks(config, hooks)
            .await
            .expect("build worker");
        let addr = app.metrics_addr().expect("worker address");
        Running::spawn(addr, move |stop| app.run_until_stopped(stop))
    }

    pub async fn start_notifier(
        &self,
        webhook_url: &str,
        secret: &str,
        tweak: impl FnOnce(&mut notifier::Config),
    ) -> Running {
        let mut config = notifier::Config::for_infra(self.infra(), webhook_url, secret);
        tweak(&mut config);
        let app = notifier::Notifier::build(config)
            .await
            .expect("build notifier");
        let addr = app.metrics_addr().expect("notifier address");
        Running::spawn(addr, move |stop| app.run_until_stopped(stop))
    }

    pub async fn start_ingress(&self, tweak: impl FnOnce(&mut ingress::Config)) -> Running {
        let mut config = ingress::Config::for_infra(self.infra());
        config.staff_tokens = Some(
            format!("alice:{STAFF_TOKEN},bob:{STAFF_TOKEN_BOB}")
                .parse()
                .expect("tokens"),
        );
        tweak(&mut config);
        let app = ingress::Ingress::build(config)
            .await
            .expect("build ingress");
        let addr = app.local_addr().expect("ingress address");
        Running::spawn(addr, move |stop| app.run_until_stopped(stop))
    }

    /// Deletes this test's queues and exchanges and drops its database.
    pub async fn cleanup(self) {
        if let Ok(channel) = self.broker.consumer_channel().await {
            let _ = self.topology().delete(&channel).await;
        }
        self.broker.close().await;
        let _ = self.db.close().await;
        if let Ok(admin) = shared::db::connect(&self.admin_url, 1).await {
            let _ = admin
                .execute_unprepared(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.db_name
                ))
                .await;
        }
    }
}

pub const STAFF_TOKEN: &str = "test-token-alice";
pub const STAFF_TOKEN_BOB: &str = "test-token-bob";
/// A Standard Webhooks secret for tests (`whsec_` + base64 of 24 bytes).
pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const INBOUND_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// A service running in this process, stopped (gracefully) by [`stop`](Self::stop) or on drop.
pub struct Running {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    fn spawn<F, Fut>(addr: SocketAddr, run: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(shutdown.clone()));
        Self {
            addr,
            shutdown,
            task: Some(task),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Asks the service to stop and waits until it did.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        match self.task.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }

    /// Kills the service without letting it finish anything (a crash, as far as the broker
    /// and the database can tell once its connections drop).
    pub fn abort(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Polls `check` until it yields a value or `deadline` passes (then panics naming `what`).
/// Tests wait on conditions this way, never on fixed sleeps.
pub async fn wait_until<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

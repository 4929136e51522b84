//! Postgres: connection, schema migrations and the sea-orm entities the services read.

pub mod entities;
mod migration;

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

pub use migration::Migrator;

/// Any number stays fixed: it is the advisory lock every service takes while migrating, so
/// services started together apply the schema exactly once.
const MIGRATION_LOCK: i64 = 0x6b79_7465_7265_6c61;

pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    Database::connect(opts).await
}

/// Brings the schema up to date. Runs in one transaction holding an advisory lock: Postgres
/// DDL is transactional, so a crash leaves the old schema and concurrent starts wait their turn.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
        .await?;
    Migrator::up(&txn, None).await?;
    txn.commit().await
}

/// Connects and migrates, retrying with exponential back-off (backon) while the database is
/// not up yet, so any start order works; gives up after `give_up_after`.
pub async fn connect_and_migrate(
    url: &str,
    max_connections: u32,
    give_up_after: Duration,
) -> anyhow::Result<DatabaseConnection> {
    use backon::{ExponentialBuilder, Retryable};
    let attempt = || async {
        let db = connect(url, max_connections).await?;
        migrate(&db).await?;
        Ok::<_, DbErr>(db)
    };
    let backoff = ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
        .with_total_delay(Some(give_up_after));
    attempt
        .retry(backoff)
        .notify(|e, retry_in| tracing::warn!(error = %e, ?retry_in, "database not ready, retrying"))
        .await
        .map_err(|e| anyhow::anyhow!("database unavailable: {e}"))
}

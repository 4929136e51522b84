//! Postgres: connection, schema migrations and the sea-orm entities the services read.

pub mod entities;
mod migration;

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, RuntimeErr,
    TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

pub use migration::Migrator;

/// Any number stays fixed: it is the advisory lock every service takes while migrating, so
/// services started together apply the schema exactly once.
const MIGRATION_LOCK: i64 = 0x6b79_7465_7265_6c61;

/// `url` with its database name replaced (tests and the bench each work in a database of their own).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    query.map_or_else(
        || format!("{base}/{name}"),
        |q| format!("{base}/{name}?{q}"),
    )
}

/// Whether Postgres refused the data itself (SQLSTATE class 22, "data exception": a NUL in a
/// text, a number out of range): unlike a lost connection or a lock time-out, trying the same
/// message again can only fail the same way, so its handler gives it up instead.
pub fn refuses_the_data(error: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = error
    else {
        return false;
    };
    e.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code.starts_with("22"))
}

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

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_names_are_swapped_in_urls() {
        assert_eq!(
            with_database("postgres://u@h:1/postgres", "t1"),
            "postgres://u@h:1/t1"
        );
        assert_eq!(
            with_database("postgres://u@h:1/postgres?sslmode=disable", "t1"),
            "postgres://u@h:1/t1?sslmode=disable"
        );
    }
}

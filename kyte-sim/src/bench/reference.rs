//! What the broker and the database can do on their own, measured in the same run: the limits
//! the system's figures are compared with.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::future::join_all;
use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use shared::messaging::{Broker, Headers, Topology};

/// Confirmed publishes per second with lapin: `concurrency` tasks publishing `body` to a quorum
/// queue through one confirm-mode channel (as ingress does), each awaiting its confirm.
pub async fn publish_rate(
    amqp_url: &str,
    prefix: &str,
    body: &[u8],
    concurrency: usize,
    total: usize,
) -> anyhow::Result<f64> {
    let broker = Broker::new(
        amqp_url,
        Topology::new(prefix),
        "bench-reference",
        Duration::from_secs(30),
    );
    let queue = format!("{prefix}bench.reference");
    let channel = broker.consumer_channel().await?;
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            args,
        )
        .await?;
    let per_task = total.div_ceil(concurrency.max(1));
    let started = Instant::now();
    let results = join_all((0..concurrency.max(1)).map(|_| {
        let broker = broker.clone();
        let queue = queue.clone();
        async move {
            for _ in 0..per_task {
                broker
                    .publish("", &queue, body, &Headers::default())
                    .await?;
            }
            Ok::<_, shared::messaging::PublishError>(())
        }
    }))
    .await;
    let elapsed = started.elapsed();
    for r in results {
        r?;
    }
    channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await?;
    broker.close().await;
    Ok((per_task * concurrency.max(1)) as f64 / elapsed.as_secs_f64())
}

/// Committed transactions per second of the worker's shape — select for update, update, two
/// inserts — over `connections` connections for `duration`.
pub async fn transaction_rate(
    database_url: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let db = shared::db::connect(database_url, u32::try_from(connections).unwrap_or(16)).await?;
    db.execute_unprepared(
        "DROP TABLE IF EXISTS bench_ref_history, bench_ref_outbox, bench_ref_orders;
         CREATE TABLE bench_ref_orders (id TEXT PRIMARY KEY, status TEXT NOT NULL, version INT NOT NULL, updated_at TIMESTAMPTZ NOT NULL);
         CREATE TABLE bench_ref_history (order_id TEXT NOT NULL, sequence INT NOT NULL, event TEXT NOT NULL, at TIMESTAMPTZ NOT NULL, PRIMARY KEY (order_id, sequence));
         CREATE TABLE bench_ref_outbox (id TEXT PRIMARY KEY, order_id TEXT NOT NULL, payload JSONB NOT NULL);
         INSERT INTO bench_ref_orders SELECT 'o' || g, 'pending', 1, now() FROM generate_series(1, 20000) g;",
    )
    .await?;
    let committed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let tasks = (0..connections.max(1)).map(|task| {
        let db = db.clone();
        let committed = committed.clone();
        async move {
            let mut i = 0u64;
            while Instant::now() < deadline {
                // Each task works on its own orders, as independent orders do in the system.
                let id = format!("o{}", 1 + (task as u64 + i * connections as u64) % 20000);
                i += 1;
                let txn = db.begin().await?;
                let row = txn
                    .query_one_raw(Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        "SELECT status, version FROM bench_ref_orders WHERE id = $1 FOR UPDATE",
                        [id.clone().into()],
                    ))
                    .await?;
                let version: i32 = row.map(|r| r.try_get("", "version")).transpose()?.unwrap_or(1);
                txn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "UPDATE bench_ref_orders SET version = $2, updated_at = now() WHERE id = $1",
                    [id.clone().into(), (version + 1).into()],
                ))
                .await?;
                txn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "INSERT INTO bench_ref_history (order_id, sequence, event, at) VALUES ($1, $2, 'bench', now())",
                    [id.clone().into(), (version + 1).into()],
                ))
                .await?;
                txn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "INSERT INTO bench_ref_outbox (id, order_id, payload) VALUES ($1, $2, '{\"data\": {}}')",
                    [format!("{id}-{}", version + 1).into(), id.into()],
                ))
                .await?;
                txn.commit().await?;
                committed.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, sea_orm::DbErr>(())
        }
    });
    for r in join_all(tasks).await {
        r?;
    }
    let rate = committed.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    db.execute_unprepared(
        "DROP TABLE IF EXISTS bench_ref_history, bench_ref_outbox, bench_ref_orders",
    )
    .await?;
    Ok(rate)
}

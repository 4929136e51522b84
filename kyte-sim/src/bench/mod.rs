//! `kyte-sim bench`: starts the system from the built binaries on a fresh database and
//! topology, drives orders through it, and reports every figure next to the limit the broker
//! and the database reach on their own in the same run.

mod plot;
mod reference;
mod report;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;
use shared::domain::{EventId, OrderInput};
use shared::messages::{OrderCreated, SCHEMA_VERSION, WorkerMessage};

pub use report::{Percentiles, Report};

use crate::stack::{Stack, StackConfig, free_port, process_usage};
use crate::{KyteClient, Receiver, random_order};

/// When each (order, sequence)'s PATCH was answered.
type Answered = Arc<Mutex<HashMap<(String, i64), DateTime<Utc>>>>;

const STAFF_TOKEN: &str = "bench-staff-token";
const INBOUND_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// A Postgres URL with rights to create a database (the bench makes its own).
    pub database_url: String,
    pub amqp_url: String,
    pub bin_dir: PathBuf,
    /// Orders for the throughput phases (ingress, then worker drain).
    pub orders: usize,
    /// Concurrent clients (and the reference measurements' concurrency).
    pub concurrency: usize,
    /// Lifecycles per second in the latency phase, and for how long.
    pub rate: f64,
    pub duration: Duration,
    pub workers: usize,
    pub out_dir: PathBuf,
    pub logs: bool,
}

/// A sample order_created message, the size of what ingress publishes.
fn sample_message() -> anyhow::Result<Vec<u8>> {
    let input: OrderInput = serde_json::from_value(random_order())?;
    let (order_id, order) = input.parse()?;
    let msg = WorkerMessage::OrderCreated(OrderCreated {
        v: SCHEMA_VERSION,
        event_id: EventId::parse("evt_reference")?,
        occurred_at: Some(Utc::now()),
        order_id,
        order,
    });
    Ok(serde_json::to_vec(&msg)?)
}

pub async fn run(cfg: BenchConfig, progress: impl Fn(&str)) -> anyhow::Result<Report> {
    let stamp = Utc::now().format("%Y%m%d%H%M%S").to_string();
    let db_name = format!("bench_{stamp}");
    let prefix = format!("bench{stamp}.");
    let admin = shared::db::connect(&cfg.database_url, 1).await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {db_name}"))
        .await?;
    let database_url = shared::db::with_database(&cfg.database_url, &db_name);
    let result = run_in(&cfg, &database_url, &prefix, &progress).await;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
        .await?;
    result
}

async fn run_in(
    cfg: &BenchConfig,
    database_url: &str,
    prefix: &str,
    progress: &impl Fn(&str),
) -> anyhow::Result<Report> {
    let c = cfg.concurrency.max(1);
    progress("reference: raw confirmed publishes");
    let body = sample_message()?;
    let publish_limit =
        reference::publish_rate(&cfg.amqp_url, prefix, &body, c, cfg.orders.max(1000)).await?;
    progress("reference: worker-shaped transactions");
    let txn_limit = reference::transaction_rate(database_url, c, Duration::from_secs(5)).await?;

    let receiver = Receiver::new(Some(WEBHOOK_SECRET))?;
    let receiver_port = free_port()?;
    receiver
        .serve(([127, 0, 0, 1], receiver_port).into())
        .await?;
    let mut stack = Stack::new(StackConfig {
        bin_dir: cfg.bin_dir.clone(),
        database_url: database_url.to_owned(),
        amqp_url: cfg.amqp_url.clone(),
        prefix: prefix.to_owned(),
        staff_token: STAFF_TOKEN.into(),
        inbound_secret: INBOUND_SECRET.into(),
        webhook_secret: WEBHOOK_SECRET.into(),
        webhook_url: format!("http://127.0.0.1:{receiver_port}/webhooks"),
        env: vec![
            ("DB_MAX_CONNECTIONS".into(), c.max(8).to_string()),
            ("WORKER_PREFETCH".into(), c.max(8).to_string()),
        ],
        logs: cfg.logs,
        log_dir: None,
    })?;
    stack.start_ingress()?;
    stack.start_notifier()?;
    let ingress = stack.ingress_url.clone();
    stack
        .wait_ready(&format!("{ingress}/readyz"), Duration::from_secs(120))
        .await?;
    let kyte = KyteClient::new(&ingress, Some(INBOUND_SECRET))?;
    let db = shared::db::connect(database_url, 2).await?;

    // Phase 1: ingress alone (no worker yet), as fast as `c` clients go.
    progress("phase 1: events into ingress");
    let started = Instant::now();
    let latencies: Vec<Duration> = futures::stream::iter(0..cfg.orders)
        .map(|_| {
            let kyte = kyte.clone();
            async move {
                let order = random_order();
                let id = order["id"].as_str().unwrap_or_default().to_owned();
                let t = Instant::now();
                let res = kyte.order_created(&format!("evt_{id}"), &order).await?;
                anyhow::ensure!(
                    res.status().as_u16() == 202,
                    "ingress answered {}",
                    res.status()
                );
                Ok(t.elapsed())
            }
        })
        .buffer_unordered(c)
        .collect::<Vec<anyhow::Result<Duration>>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let ingress_rate = cfg.orders as f64 / started.elapsed().as_secs_f64();
    let ingress_latency = Percentiles::of(&latencies);

    // Phase 2: the workers drain the queue; the rate is read from the orders' creation times.
    progress("phase 2: workers drain the queue");
    for _ in 0..cfg.workers.max(1) {
        stack.start_worker()?;
    }
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            let row = db
                .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
                .await?;
            Ok::<_, anyhow::Error>(
                row.map(|r| r.try_get::<i64>("", "n"))
                    .transpose()?
                    .unwrap_or(0),
            )
        }
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    while count("SELECT count(*)::int8 AS n FROM orders").await? < cfg.orders as i64 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the workers did not apply every order"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let span = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT EXTRACT(EPOCH FROM max(created_at) - min(created_at))::float8 AS s FROM orders",
        ))
        .await?
        .map(|r| r.try_get::<f64>("", "s"))
        .transpose()?
        .unwrap_or(0.0);
    let worker_rate = (cfg.orders.saturating_sub(1)) as f64 / span.max(1e-6);

    // Phase 3: full lifecycles at a fixed rate; latency from each PATCH's answer to Kyte's receipt.
    progress("phase 3: lifecycles at the target rate");
    let answered: Answered = Arc::default();
    let total = (cfg.rate * cfg.duration.as_secs_f64()).round() as usize;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let phase_started = Utc::now();
    let interval = Duration::from_secs_f64(1.0 / cfg.rate.max(0.001));
    let t0 = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total);
    let mut failures = 0usize;
    for i in 0..total {
        tokio::time::sleep_until(t0 + interval.mul_f64(i as f64)).await;
        let (kyte, http, answered, ingress) = (
            kyte.clone(),
            http.clone(),
            answered.clone(),
            ingress.clone(),
        );
        tasks.push(tokio::spawn(async move {
            lifecycle(kyte, http, ingress, answered).await
        }));
    }
    let mut reasons: HashMap<String, usize> = HashMap::new();
    for t in tasks {
        let reason = match t.await {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("task failed: {e}"),
        };
        failures += 1;
        *reasons.entry(reason).or_default() += 1;
    }
    for (reason, n) in &reasons {
        progress(&format!("{n} lifecycles failed: {reason}"));
    }
    let expected_done = total - failures;
    let deadline = Instant::now() + Duration::from_secs(120);
    let done_count = || {
        receiver
            .received()
            .iter()
            .filter(|r| r.delivered() && r.kind() == "preparation_done" && r.at >= phase_started)
            .count()
    };
    while done_count() < expected_done {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} lifecycles never completed",
            expected_done - done_count()
        );
        receiver.next_arrival(Duration::from_millis(200)).await;
    }
    let received = receiver.received();
    let answered = answered
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let mut e2e = Vec::new();
    let mut last_done = phase_started;
    for r in received
        .iter()
        .filter(|r| r.delivered() && r.at >= phase_started)
    {
        if let Some(t) = answered.get(&(r.order_id().to_owned(), r.sequence())) {
            e2e.push((r.at - *t).to_std().unwrap_or_default());
        }
        if r.kind() == "preparation_done" {
            last_done = last_done.max(r.at);
        }
    }
    let lifecycle_rate = expected_done as f64
        / (last_done - phase_started)
            .to_std()
            .unwrap_or_default()
            .as_secs_f64()
            .max(1e-6);

    let mut services = Vec::new();
    for (name, pid) in stack.processes() {
        if let Some((cpu, rss)) = process_usage(pid) {
            services.push(report::ServiceUsage {
                name,
                pid,
                cpu_seconds: cpu,
                peak_rss_bytes: rss,
            });
        }
    }
    let exits = stack.terminate().await;
    let report = Report::new(report::Inputs {
        cfg: cfg.clone(),
        publish_limit,
        txn_limit,
        ingress_rate,
        ingress_latency,
        worker_rate,
        lifecycles: total,
        lifecycle_failures: failures,
        lifecycle_rate,
        e2e: Percentiles::of(&e2e),
        services,
        clean_exits: exits.iter().all(|(_, ok)| *ok),
    });
    std::fs::create_dir_all(&cfg.out_dir)?;
    std::fs::write(
        cfg.out_dir.join("bench.json"),
        serde_json::to_vec_pretty(&json!(report))?,
    )?;
    plot::latency_svg(&cfg.out_dir.join("latency.svg"), &latencies, &e2e)?;
    Ok(report)
}

/// Polls a queued command until the worker applied it (at most 120 s).
async fn wait_applied(http: &reqwest::Client, ingress: &str, location: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        let res = http
            .get(format!("{ingress}{location}"))
            .bearer_auth(STAFF_TOKEN)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("GET command: {}", e.without_url()))?;
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        match body["status"].as_str() {
            Some("applied") => return Ok(()),
            Some("rejected") => anyhow::bail!("command rejected: {}", body["error"]["code"]),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    anyhow::bail!("command not applied within 120 s")
}

/// create → (the kitchen looks) → accept → done, recording when each PATCH was answered.
async fn lifecycle(
    kyte: KyteClient,
    http: reqwest::Client,
    ingress: String,
    answered: Answered,
) -> anyhow::Result<()> {
    let order = random_order();
    let id = order["id"].as_str().unwrap_or_default().to_owned();
    let res = kyte
        .order_created(&format!("evt_{id}"), &order)
        .await
        .map_err(|e| anyhow::anyhow!("create: {}", e.root_cause()))?;
    anyhow::ensure!(res.status().as_u16() == 202, "create: {}", res.status());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let url = format!("{ingress}/api/orders/{id}/");
    for (sequence, body) in [
        (2, json!({"status": "accepted", "prep_minutes": 15})),
        (3, json!({"status": "completed"})),
    ] {
        let started = Instant::now();
        loop {
            let res = http
                .patch(&url)
                .bearer_auth(STAFF_TOKEN)
                .json(&body)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("PATCH: {}", e.without_url()))?;
            let at = Utc::now();
            match res.status().as_u16() {
                200 => {
                    answered
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert((id.clone(), sequence), at);
                    break;
                }
                // Queued but not applied within ingress's wait (the system is behind): the
                // kitchen saw "queued" at `at`; follow the command until it is applied.
                202 => {
                    answered
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert((id.clone(), sequence), at);
                    let location = res
                        .headers()
                        .get("location")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                        .ok_or_else(|| anyhow::anyhow!("202 without Location"))?;
                    wait_applied(&http, &ingress, &location).await?;
                    break;
                }
                // The order is still on its way to a worker.
                404 if started.elapsed() < Duration::from_secs(10) => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                other => anyhow::bail!("PATCH {body}: {other}"),
            }
        }
    }
    Ok(())
}

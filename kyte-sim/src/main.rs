//! kyte-sim: a stand-in Kyte for demos, tests and load.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use kyte_sim::{KyteClient, Receiver, Reply, Scenario, random_order};
use shared::config::Secret;

#[derive(Debug, Parser)]
#[command(
    name = "kyte-sim",
    version,
    about = "A stand-in Kyte: sends orders, receives and verifies webhooks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Receive status webhooks: verify signatures, log them, list them at GET /received.
    Serve(ServeArgs),
    /// Send one random order (like the original simulate-order).
    Order(SendArgs),
    /// Send many random orders (like the original simulate-bulk-orders).
    Orders {
        #[command(flatten)]
        send: SendArgs,
        /// How many orders.
        #[arg(long, default_value_t = 10)]
        count: usize,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Cancel an order, as Kyte does.
    Cancel {
        #[command(flatten)]
        send: SendArgs,
        /// The order to cancel.
        order_id: String,
        #[arg(long, default_value = "customer_request")]
        reason: String,
    },
    /// Run the original system's end-to-end scenario against a running kyte-relay.
    Scenario {
        #[command(flatten)]
        send: SendArgs,
        /// A staff token of ingress (the token part of one STAFF_TOKENS pair).
        #[arg(long, env = "STAFF_TOKEN", hide_env_values = true)]
        staff_token: Secret,
        /// kyte-sim serve's base URL, to check the webhooks Kyte received ("" to skip).
        #[arg(long, env = "KYTE_SIM_URL", default_value = "http://127.0.0.1:9000")]
        receiver: String,
    },
    /// Benchmark: start the system from the built binaries on a fresh database and topology,
    /// drive orders through it and compare every figure with the broker's and database's own.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Postgres URL with rights to create a database (the bench makes and drops its own).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Secret,
    /// RabbitMQ URL (the bench uses its own topology prefix).
    #[arg(long, env = "AMQP_URL", hide_env_values = true)]
    amqp_url: Secret,
    /// Where ingress, worker and notifier are (default: beside kyte-sim).
    #[arg(long)]
    bin_dir: Option<std::path::PathBuf>,
    /// Orders for the throughput phases.
    #[arg(long, default_value_t = 3000)]
    orders: usize,
    /// Concurrent clients (and connections of the reference measurements).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Lifecycles per second in the latency phase.
    #[arg(long, default_value_t = 300.0)]
    rate: f64,
    /// Seconds the latency phase lasts.
    #[arg(long, default_value_t = 60)]
    duration_secs: u64,
    /// Workers to start.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Where bench.json and latency.svg are written.
    #[arg(long, default_value = "bench-results")]
    out: std::path::PathBuf,
    /// Show the services' logs.
    #[arg(long)]
    logs: bool,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Listen address.
    #[arg(long, env = "KYTE_SIM_ADDR", default_value = "0.0.0.0:9000")]
    addr: SocketAddr,
    /// The secret(s) webhooks are signed with (KYTE_WEBHOOK_SECRET of the notifier).
    #[arg(long, env = "KYTE_WEBHOOK_SECRET", hide_env_values = true)]
    secret: Option<Secret>,
    /// Share of webhooks answered 503 (0.0–1.0).
    #[arg(long, default_value_t = 0.0)]
    failure_rate: f64,
    /// Every order's first N webhooks are answered 503.
    #[arg(long, default_value_t = 0)]
    fail_first: u32,
    /// Retry-After (seconds) sent with each 503.
    #[arg(long)]
    retry_after: Option<u64>,
    /// Latency added to every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
}

#[derive(Debug, Args)]
struct SendArgs {
    /// Ingress's base URL.
    #[arg(
        long,
        env = "KYTE_INGRESS_URL",
        default_value = "http://127.0.0.1:8000"
    )]
    ingress: String,
    /// The secret requests are signed with (KYTE_INBOUND_SECRET of ingress); unset: unsigned.
    #[arg(long, env = "KYTE_INBOUND_SECRET", hide_env_values = true)]
    secret: Option<Secret>,
}

impl SendArgs {
    fn client(&self) -> anyhow::Result<KyteClient> {
        KyteClient::new(&self.ingress, self.secret.as_ref().map(Secret::expose))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The bench receives thousands of webhooks: log only what goes wrong.
    let filter = if matches!(cli.command, Command::Bench(_)) {
        "warn"
    } else {
        "info,sqlx=warn,sea_orm_migration=warn"
    };
    shared::telemetry::init_tracing_with(shared::config::LogFormat::Text, filter);
    shared::telemetry::install_crypto_provider();
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Bench(args) => bench(args).await,
        Command::Order(send) => {
            let client = send.client()?;
            let order = random_order();
            let id = order["id"].as_str().unwrap_or_default().to_owned();
            let res = client.order_created(&format!("evt_{id}"), &order).await?;
            println!("{} {}", res.status(), res.text().await.unwrap_or_default());
            println!("order id: {id}");
            Ok(())
        }
        Command::Orders {
            send,
            count,
            concurrency,
        } => orders(send.client()?, count, concurrency).await,
        Command::Cancel {
            send,
            order_id,
            reason,
        } => {
            let client = send.client()?;
            let event_id = format!("evt_cancel_{order_id}_{}", uuid::Uuid::new_v4().simple());
            let res = client
                .order_cancelled(&event_id, &order_id, &reason)
                .await?;
            println!("{} {}", res.status(), res.text().await.unwrap_or_default());
            Ok(())
        }
        Command::Scenario {
            send,
            staff_token,
            receiver,
        } => {
            let scenario = Scenario {
                ingress: send.ingress.trim_end_matches('/').to_owned(),
                staff_token: staff_token.expose().to_owned(),
                kyte: send.client()?,
                receiver: (!receiver.is_empty()).then(|| receiver.trim_end_matches('/').to_owned()),
                timeout: Duration::from_secs(15),
            };
            let steps = scenario
                .run(|s| {
                    let mark = if s.ok { "PASS" } else { "FAIL" };
                    println!(
                        "{mark}  {:<55} {:>6} ms  {}",
                        s.name,
                        s.elapsed.as_millis(),
                        s.detail
                    );
                })
                .await;
            let passed = steps.iter().filter(|s| s.ok).count();
            let failed = steps.len() - passed;
            println!("{passed} passed, {failed} failed");
            anyhow::ensure!(failed == 0, "the scenario failed");
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let receiver = Receiver::new(args.secret.as_ref().map(Secret::expose))?;
    if args.secret.is_none() {
        tracing::warn!("no KYTE_WEBHOOK_SECRET: signatures are not verified");
    }
    receiver.chaos(args.failure_rate, Duration::from_millis(args.latency_ms));
    receiver.fail_first(
        args.fail_first,
        Reply {
            retry_after_secs: args.retry_after,
            ..Reply::status(503)
        },
    );
    let (addr, task) = receiver.serve(args.addr).await?;
    tracing::info!(%addr, "kyte-sim receiving webhooks at POST /webhooks; list them at GET /received");
    tokio::select! {
        _ = shared::telemetry::shutdown_signal() => {}
        _ = task => {}
    }
    Ok(())
}

async fn orders(client: KyteClient, count: usize, concurrency: usize) -> anyhow::Result<()> {
    let bar = ProgressBar::new(count as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} orders  {per_sec}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let client = Arc::new(client);
    let results: Vec<bool> = futures::stream::iter(0..count)
        .map(|_| {
            let client = client.clone();
            let bar = bar.clone();
            async move {
                let order = random_order();
                let id = order["id"].as_str().unwrap_or_default().to_owned();
                let ok = matches!(client.order_created(&format!("evt_{id}"), &order).await, Ok(r) if r.status().as_u16() == 202);
                bar.inc(1);
                ok
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let accepted = results.iter().filter(|ok| **ok).count();
    bar.finish_with_message(format!("{accepted} accepted"));
    anyhow::ensure!(
        accepted == count,
        "{} orders were not accepted",
        count - accepted
    );
    Ok(())
}

async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let bin_dir = match args.bin_dir {
        Some(dir) => dir,
        None => std::env::current_exe()?
            .parent()
            .map(std::path::Path::to_path_buf)
            .ok_or_else(|| anyhow::anyhow!("cannot tell where kyte-sim is"))?,
    };
    let cfg = kyte_sim::bench::BenchConfig {
        database_url: args.database_url.expose().to_owned(),
        amqp_url: args.amqp_url.expose().to_owned(),
        bin_dir,
        orders: args.orders,
        concurrency: args.concurrency,
        rate: args.rate,
        duration: Duration::from_secs(args.duration_secs),
        workers: args.workers,
        out_dir: args.out.clone(),
        logs: args.logs,
    };
    let report = kyte_sim::bench::run(cfg, |step| eprintln!("==> {step}")).await?;
    print!("{}", report.summary());
    println!(
        "wrote {0}/bench.json and {0}/latency.svg",
        args.out.display()
    );
    Ok(())
}

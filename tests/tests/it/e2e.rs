//! End to end with the real binaries: ingress, two workers, the notifier and `kyte-sim serve`
//! as processes, on a real RabbitMQ and Postgres.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use futures::StreamExt;
use kyte_relay_tests::harness::{INBOUND_SECRET, STAFF_TOKEN, TestEnv, WEBHOOK_SECRET, wait_until};
use kyte_relay_tests::sim::{KyteClient, Scenario, random_order};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// `target/<profile>/`, where cargo puts the workspace's binaries.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .to_path_buf()
}

/// The service binaries, built on first use (`cargo test` builds only this package's bins).
async fn binary(name: &str) -> PathBuf {
    static BUILT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    BUILT
        .get_or_init(|| async {
            let dir = bin_dir();
            if ["ingress", "worker", "notifier"]
                .iter()
                .all(|b| dir.join(b).exists())
            {
                return;
            }
            let status = Command::new(env!("CARGO"))
                .args([
                    "build", "--bins", "-p", "ingress", "-p", "worker", "-p", "notifier",
                ])
                .status()
                .await
                .expect("run cargo build");
            assert!(status.success(), "building the service binaries failed");
        })
        .await;
    if name == "kyte-sim" {
        return PathBuf::from(env!("CARGO_BIN_EXE_kyte-sim"));
    }
    bin_dir().join(name)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Stack {
    ingress: String,
    receiver: String,
    children: Vec<(&'static str, Child)>,
}

impl Stack {
    async fn start(env: &TestEnv) -> Self {
        let (ingress_port, receiver_port) = (free_port(), free_port());
        let receiver = format!("http://127.0.0.1:{receiver_port}");
        let mut children = Vec::new();
        let base = |cmd: &mut Command| {
            cmd.env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("DATABASE_URL", &env.database_url)
                .env("AMQP_URL", &env.amqp_url)
                .env("TOPOLOGY_PREFIX", &env.prefix)
                .env("DB_MAX_CONNECTIONS", "5")
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(if std::env::var("TEST_LOG").is_ok() {
                    Stdio::inherit()
                } else {
                    Stdio::null()
                })
                .kill_on_drop(true);
        };
        let mut sim = Command::new(binary("kyte-sim").await);
        base(&mut sim);
        sim.args(["serve", "--addr", &format!("127.0.0.1:{receiver_port}")])
            .env("KYTE_WEBHOOK_SECRET", WEBHOOK_SECRET);
        children.push(("kyte-sim", sim.spawn().expect("spawn kyte-sim")));
        for _ in 0..2 {
            let mut worker = Command::new(binary("worker").await);
            base(&mut worker);
            worker.env("METRICS_ADDR", "127.0.0.1:0");
            children.push(("worker", worker.spawn().expect("spawn worker")));
        }
        let mut notifier = Command::new(binary("notifier").await);
        base(&mut notifier);
        notifier
            .env("METRICS_ADDR", "127.0.0.1:0")
            .env("KYTE_WEBHOOK_URL", format!("{receiver}/webhooks"))
            .env("KYTE_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("RETRY_INITIAL_MS", "100");
        children.push(("notifier", notifier.spawn().expect("spawn notifier")));
        let mut ingress = Command::new(binary("ingress").await);
        base(&mut ingress);
        ingress
            .env("INGRESS_ADDR", format!("127.0.0.1:{ingress_port}"))
            .env("STAFF_TOKENS", format!("alice:{STAFF_TOKEN}"))
            .env("KYTE_INBOUND_SECRET", INBOUND_SECRET);
        children.push(("ingress", ingress.spawn().expect("spawn ingress")));
        let stack = Self {
            ingress: format!("http://127.0.0.1:{ingress_port}"),
            receiver,
            children,
        };
        let http = reqwest::Client::new();
        for url in [
            format!("{}/readyz", stack.ingress),
            format!("{}/healthz", stack.receiver),
        ] {
            wait_until(
                &format!("{url} to answer 200"),
                Duration::from_secs(60),
                || async {
                    http.get(&url)
                        .send()
                        .await
                        .ok()
                        .filter(|r| r.status().is_success())
                        .map(|_| ())
                },
            )
            .await;
        }
        stack
    }

    fn kyte(&self) -> KyteClient {
        KyteClient::new(&self.ingress, Some(INBOUND_SECRET)).expect("client")
    }

    /// SIGTERM to every process; each must exit 0.
    async fn terminate(mut self) {
        for (_, child) in &self.children {
            if let Some(pid) = child.id() {
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .await;
            }
        }
        for (name, child) in &mut self.children {
            let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
                .await
                .expect("exits in time")
                .expect("wait");
            assert!(status.success(), "{name} exited with {status} on SIGTERM");
        }
    }
}

#[tokio::test]
async fn the_original_scenario_passes_against_the_real_binaries() {
    let env = TestEnv::new().await;
    let stack = Stack::start(&env).await;
    let scenario = Scenario {
        ingress: stack.ingress.clone(),
        staff_token: STAFF_TOKEN.into(),
        kyte: stack.kyte(),
        receiver: Some(stack.receiver.clone()),
        timeout: Duration::from_secs(20),
    };
    let steps = scenario.run(|_| {}).await;
    for step in &steps {
        assert!(step.ok, "{}: {}", step.name, step.detail);
    }
    assert_eq!(steps.len(), 7, "every step ran");
    stack.terminate().await;
    env.cleanup().await;
}

#[tokio::test]
async fn two_hundred_orders_go_through_their_whole_lifecycle_with_every_webhook_verified() {
    let env = TestEnv::new().await;
    let stack = Stack::start(&env).await;
    let kyte = stack.kyte();
    let http = reqwest::Client::new();
    let orders: Vec<String> = futures::stream::iter(0..200)
        .map(|_| {
            let kyte = kyte.clone();
            async move {
                let order = random_order();
                let id = order["id"].as_str().unwrap_or_default().to_owned();
                let res = kyte
                    .order_created(&format!("evt_{id}"), &order)
                    .await
                    .expect("post");
                assert_eq!(res.status().as_u16(), 202);
                id
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let patch = |id: String, body: Value| {
        let http = http.clone();
        let url = format!("{}/api/orders/{id}/", stack.ingress);
        async move {
            let res = http
                .patch(&url)
                .bearer_auth(STAFF_TOKEN)
                .json(&body)
                .send()
                .await
                .expect("patch");
            (res.status().as_u16(), id)
        }
    };
    for body in [
        json!({"status": "accepted", "prep_minutes": 15}),
        json!({"status": "completed"}),
    ] {
        // An order may still be on its way to the worker: PATCH again what answered 404.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut pending = orders.clone();
        while !pending.is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "{} PATCHes never applied",
                pending.len()
            );
            let results: Vec<(u16, String)> = futures::stream::iter(pending)
                .map(|id| patch(id, body.clone()))
                .buffer_unordered(16)
                .collect()
                .await;
            for (status, id) in &results {
                assert!(matches!(status, 200 | 202 | 404), "{id}: {status}");
            }
            pending = results
                .into_iter()
                .filter(|(s, _)| *s != 200)
                .map(|(_, id)| id)
                .collect();
        }
    }
    let received = wait_until(
        "400 verified webhooks at Kyte",
        Duration::from_secs(60),
        || async {
            let all: Vec<Value> = http
                .get(format!("{}/received", stack.receiver))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let delivered: Vec<Value> = all.into_iter().filter(|w| w["answered"] == 200).collect();
            (delivered.len() >= 400).then_some(delivered)
        },
    )
    .await;
    assert_eq!(received.len(), 400, "no duplicates");
    assert!(
        received.iter().all(|w| w["verified"] == true),
        "every signature verified"
    );
    let mut per_order: HashMap<String, Vec<(i64, String)>> = HashMap::new();
    for w in &received {
        per_order
            .entry(
                w["body"]["order_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
            .or_default()
            .push((
                w["body"]["sequence"].as_i64().unwrap_or_default(),
                w["body"]["type"].as_str().unwrap_or_default().to_owned(),
            ));
    }
    assert_eq!(per_order.len(), 200);
    for id in &orders {
        assert_eq!(
            per_order.get(id).cloned().unwrap_or_default(),
            vec![
                (2, "preparation_accepted".to_owned()),
                (3, "preparation_done".to_owned())
            ],
            "{id}: in order, once each"
        );
    }
    stack.terminate().await;
    env.cleanup().await;
}

//! End to end with the real binaries: ingress, two workers, the notifier and `kyte-sim serve`
//! as processes, on a real RabbitMQ and Postgres.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use kyte_relay_tests::harness::{INBOUND_SECRET, STAFF_TOKEN, TestEnv, WEBHOOK_SECRET, wait_until};
use kyte_sim::stack::{Stack, StackConfig, free_port, workspace_binaries};
use kyte_sim::{KyteClient, Scenario, random_order};
use serde_json::{Value, json};

struct Running {
    stack: Stack,
    ingress: String,
    receiver: String,
}

async fn start(env: &TestEnv) -> Running {
    start_with(env, None, "warn").await
}

async fn start_with(
    env: &TestEnv,
    log_dir: Option<std::path::PathBuf>,
    log_level: &str,
) -> Running {
    let receiver_port = free_port().expect("port");
    let receiver = format!("http://127.0.0.1:{receiver_port}");
    let mut stack = Stack::new(StackConfig {
        bin_dir: workspace_binaries(env!("CARGO"))
            .await
            .expect("the service binaries"),
        database_url: env.database_url.clone(),
        amqp_url: env.amqp_url.clone(),
        prefix: env.prefix.clone(),
        staff_token: STAFF_TOKEN.into(),
        inbound_secret: INBOUND_SECRET.into(),
        webhook_secret: WEBHOOK_SECRET.into(),
        webhook_url: format!("{receiver}/webhooks"),
        env: vec![
            ("DB_MAX_CONNECTIONS".into(), "5".into()),
            ("RETRY_INITIAL_MS".into(), "100".into()),
            ("RUST_LOG".into(), log_level.into()),
        ],
        logs: std::env::var("TEST_LOG").is_ok(),
        log_dir,
    })
    .expect("stack");
    stack
        .start_kyte_sim(&format!("127.0.0.1:{receiver_port}"))
        .expect("kyte-sim");
    stack.start_worker().expect("worker");
    stack.start_worker().expect("worker");
    stack.start_notifier().expect("notifier");
    stack.start_ingress().expect("ingress");
    let ingress = stack.ingress_url.clone();
    stack
        .wait_ready(&format!("{ingress}/readyz"), Duration::from_secs(60))
        .await
        .expect("ingress ready");
    stack
        .wait_ready(&format!("{receiver}/healthz"), Duration::from_secs(60))
        .await
        .expect("kyte-sim ready");
    Running {
        stack,
        ingress,
        receiver,
    }
}

impl Running {
    fn kyte(&self) -> KyteClient {
        KyteClient::new(&self.ingress, Some(INBOUND_SECRET)).expect("client")
    }

    /// SIGTERM to every process; each must exit 0.
    async fn terminate(self) {
        for (name, ok) in self.stack.terminate().await {
            assert!(ok, "{name} did not exit 0 on SIGTERM");
        }
    }
}

#[tokio::test]
async fn the_original_scenario_passes_against_the_real_binaries() {
    let env = TestEnv::new().await;
    let stack = start(&env).await;
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
    let stack = start(&env).await;
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

#[tokio::test]
async fn secrets_never_reach_the_logs_or_help() {
    let env = TestEnv::new().await;
    let dir = std::env::temp_dir().join(format!("kyte-logs-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("log dir");
    let stack = start_with(&env, Some(dir.clone()), "info").await;
    let scenario = Scenario {
        ingress: stack.ingress.clone(),
        staff_token: STAFF_TOKEN.into(),
        kyte: stack.kyte(),
        receiver: Some(stack.receiver.clone()),
        timeout: Duration::from_secs(20),
    };
    assert!(scenario.run(|_| {}).await.iter().all(|s| s.ok));
    // Refused requests are logged too: a wrong staff token, an unsigned Kyte event.
    let http = reqwest::Client::new();
    let res = http
        .get(format!("{}/api/orders/", stack.ingress))
        .bearer_auth("not-a-token")
        .send()
        .await
        .expect("get");
    assert_eq!(res.status().as_u16(), 401);
    let res = http
        .post(format!("{}/kyte/events", stack.ingress))
        .json(&json!({"event_id": "x"}))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status().as_u16(), 401);
    stack.terminate().await;

    let mut logs = String::new();
    for entry in std::fs::read_dir(&dir).expect("logs") {
        logs.push_str(&std::fs::read_to_string(entry.expect("entry").path()).unwrap_or_default());
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        logs.contains("ingress listening") && logs.contains("worker started"),
        "the services did log"
    );
    let secrets = [
        STAFF_TOKEN,
        INBOUND_SECRET,
        WEBHOOK_SECRET,
        &INBOUND_SECRET[6..],
        &WEBHOOK_SECRET[6..],
    ];
    for secret in secrets {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }

    // `--help` names each variable but never prints a value taken from the environment.
    let bin_dir = workspace_binaries(env!("CARGO")).await.expect("binaries");
    for binary in ["ingress", "worker", "notifier"] {
        let out = tokio::process::Command::new(bin_dir.join(binary))
            .arg("--help")
            .env("DATABASE_URL", "postgres://kyte:db-password-123@db/kyte")
            .env("AMQP_URL", "amqp://kyte:amqp-password-456@mq/%2f")
            .env("STAFF_TOKENS", format!("alice:{STAFF_TOKEN}"))
            .env("KYTE_INBOUND_SECRET", INBOUND_SECRET)
            .env("KYTE_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .output()
            .await
            .expect("--help");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("DATABASE_URL"),
            "{binary} --help names its variables"
        );
        for secret in [
            "db-password-123",
            "amqp-password-456",
            STAFF_TOKEN,
            INBOUND_SECRET,
            WEBHOOK_SECRET,
        ] {
            assert!(!text.contains(secret), "{binary} --help printed a secret");
        }
    }
    env.cleanup().await;
}

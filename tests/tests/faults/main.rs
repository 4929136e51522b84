//! Faults operators meet, survived under a steady load of full order lifecycles: the broker or
//! the database restarted, workers and the notifier killed, Kyte down. Real processes, real
//! RabbitMQ and Postgres; the broker and database tests start private instances (own ports,
//! own RabbitMQ node) so stopping them never disturbs other tests. Each test prints its figures
//! (`cargo test --test faults -- --nocapture`).

mod load;
mod servers;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use kyte_relay_tests::harness::{INBOUND_SECRET, STAFF_TOKEN, TestEnv, WEBHOOK_SECRET, wait_until};
use kyte_sim::stack::{Stack, StackConfig, workspace_binaries};
use kyte_sim::{KyteClient, Receiver};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use load::{Lifecycle, Load};
use servers::Servers;

/// The system as processes, with Kyte's receiver in this process.
struct System {
    stack: Stack,
    receiver: Receiver,
    kyte: KyteClient,
}

async fn start_system(database_url: &str, amqp_url: &str, prefix: &str, workers: usize) -> System {
    start_system_with(database_url, amqp_url, prefix, workers, &[]).await
}

/// As [`start_system`], with more environment for every service.
async fn start_system_with(
    database_url: &str,
    amqp_url: &str,
    prefix: &str,
    workers: usize,
    extra_env: &[(&str, &str)],
) -> System {
    let receiver = Receiver::new(Some(WEBHOOK_SECRET)).expect("receiver");
    let (addr, _) = receiver
        .serve(([127, 0, 0, 1], 0).into())
        .await
        .expect("receiver");
    let mut stack = Stack::new(StackConfig {
        bin_dir: workspace_binaries(env!("CARGO"))
            .await
            .expect("the service binaries"),
        database_url: database_url.into(),
        amqp_url: amqp_url.into(),
        prefix: prefix.into(),
        staff_token: STAFF_TOKEN.into(),
        inbound_secret: INBOUND_SECRET.into(),
        webhook_secret: WEBHOOK_SECRET.into(),
        webhook_url: format!("http://{addr}/webhooks"),
        env: vec![
            ("DB_MAX_CONNECTIONS".into(), "5".into()),
            ("RETRY_INITIAL_MS".into(), "200".into()),
            ("RETRY_MAX_DELAY_MS".into(), "2000".into()),
            ("WEBHOOK_TIMEOUT_MS".into(), "2000".into()),
            ("COMMAND_WAIT_MS".into(), "2000".into()),
        ]
        .into_iter()
        .chain(
            extra_env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
        .collect(),
        logs: std::env::var("TEST_LOG").is_ok(),
        log_dir: None,
    })
    .expect("stack");
    for _ in 0..workers {
        stack.start_worker().expect("worker");
    }
    stack.start_notifier().expect("notifier");
    stack.start_ingress().expect("ingress");
    let ingress = stack.ingress_url.clone();
    stack
        .wait_ready(&format!("{ingress}/readyz"), Duration::from_secs(60))
        .await
        .expect("ingress ready");
    let kyte = KyteClient::new(&ingress, Some(INBOUND_SECRET)).expect("client");
    System {
        stack,
        receiver,
        kyte,
    }
}

/// Checks every lifecycle whose creation got a 202: applied once, completed, and both webhooks
/// delivered (duplicates only with the same webhook-id). Prints the figures.
/// Checks every promise under the fault and prints the figures; returns the duplicates (a
/// webhook Kyte received more than once, always under the same id).
async fn verify(
    test: &str,
    db: &DatabaseConnection,
    receiver: &Receiver,
    lifecycles: &[Lifecycle],
) -> usize {
    let accepted: Vec<&Lifecycle> = lifecycles
        .iter()
        .filter(|l| l.create_status == 202)
        .collect();
    let refused = lifecycles.iter().filter(|l| l.create_status == 503).count();
    let other = lifecycles.len() - accepted.len() - refused;
    assert_eq!(
        other,
        0,
        "only 202 or 503 for Kyte's events: {:?}",
        lifecycles
            .iter()
            .map(|l| l.create_status)
            .collect::<HashSet<_>>()
    );
    assert!(
        accepted.iter().all(|l| l.completed),
        "every accepted lifecycle completed"
    );
    let ids: Vec<String> = accepted.iter().map(|l| l.order_id.clone()).collect();
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT o.id, o.status, o.version, count(h.*)::int8 AS entries, count(DISTINCT h.sequence)::int8 AS sequences \
             FROM orders o JOIN order_history h ON h.order_id = o.id WHERE o.id = ANY($1) GROUP BY o.id",
            [ids.clone().into()],
        ))
        .await
        .expect("query");
    assert_eq!(rows.len(), ids.len(), "every order that got 202 exists");
    for r in &rows {
        let (status, version): (String, i32) = (
            r.try_get("", "status").expect("s"),
            r.try_get("", "version").expect("v"),
        );
        let (entries, sequences): (i64, i64) = (
            r.try_get("", "entries").expect("e"),
            r.try_get("", "sequences").expect("q"),
        );
        assert_eq!(
            (status.as_str(), version, entries, sequences),
            ("completed", 3, 3, 3),
            "applied exactly once each"
        );
    }
    let expected: HashSet<String> = ids
        .iter()
        .flat_map(|id| [format!("{id}#2"), format!("{id}#3")])
        .collect();
    let delivered = wait_until("every webhook at Kyte", Duration::from_secs(90), || async {
        let got: Vec<_> = receiver
            .received()
            .into_iter()
            .filter(|r| r.delivered())
            .collect();
        let keys: HashSet<String> = got
            .iter()
            .map(|r| format!("{}#{}", r.order_id(), r.sequence()))
            .collect();
        expected.is_subset(&keys).then_some(got)
    })
    .await;
    let mut ids_per_key: HashMap<String, HashSet<String>> = HashMap::new();
    let mut order_of_arrival: HashMap<String, Vec<i64>> = HashMap::new();
    for r in &delivered {
        ids_per_key
            .entry(format!("{}#{}", r.order_id(), r.sequence()))
            .or_default()
            .insert(r.webhook_id.clone());
        order_of_arrival
            .entry(r.order_id().to_owned())
            .or_default()
            .push(r.sequence());
    }
    for (key, ids) in &ids_per_key {
        assert_eq!(
            ids.len(),
            1,
            "{key} was delivered under {} different ids",
            ids.len()
        );
    }
    for id in &ids {
        let seqs = &order_of_arrival[id];
        assert!(
            seqs.windows(2).all(|w| w[0] <= w[1]),
            "{id}: webhooks out of order {seqs:?}"
        );
    }
    let duplicates = delivered.len() - ids_per_key.len();
    println!(
        "{test}: sent {} events, accepted {}, refused 503 {}, applied {}, webhooks expected {}, delivered {}, duplicates (same id) {}, lost 0",
        lifecycles.len(),
        accepted.len(),
        refused,
        rows.len(),
        expected.len(),
        ids_per_key.len(),
        duplicates
    );
    duplicates
}

#[tokio::test]
async fn rabbitmq_down_for_10_seconds_loses_nothing_and_every_service_reconnects() {
    let servers = Servers::start().await;
    let db = shared::db::connect(&servers.database_url(), 2)
        .await
        .expect("db");
    let system = start_system(&servers.database_url(), &servers.amqp_url(), "", 2).await;
    let load = Load::start(
        system.kyte.clone(),
        system.stack.ingress_url.clone(),
        Duration::from_millis(100),
    );
    load.wait_for_completed(10, Duration::from_secs(30)).await;

    servers.stop_rabbitmq().await;
    let down_from = Instant::now();
    // While the broker is down every event must be refused, never accepted.
    let during = system
        .kyte
        .order_created("evt_during_outage", &kyte_sim::random_order())
        .await
        .expect("post");
    assert_eq!(during.status().as_u16(), 503);
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(down_from.elapsed())).await;
    let down_until = Instant::now();
    servers.start_rabbitmq().await;
    let back = Instant::now();
    let completed_before = load.completed();
    load.wait_for_completed(completed_before + 10, Duration::from_secs(30))
        .await;
    println!(
        "rabbitmq restart: lifecycles completing again {:?} after the broker was back",
        back.elapsed()
    );
    let lifecycles = load.stop().await;
    for l in &lifecycles {
        if l.create_started >= down_from && l.create_finished <= down_until {
            assert_ne!(
                l.create_status, 202,
                "{} got 202 while the broker was down",
                l.order_id
            );
        }
    }
    verify("rabbitmq down 10 s", &db, &system.receiver, &lifecycles).await;
    for (name, ok) in system.stack.terminate().await {
        assert!(ok, "{name} exits 0 after the outage");
    }
}

#[tokio::test]
async fn a_postgres_restart_loses_nothing_and_readiness_goes_red_and_back() {
    let servers = Servers::start().await;
    let system = start_system(&servers.database_url(), &servers.amqp_url(), "", 2).await;
    let ready = format!("{}/readyz", system.stack.ingress_url);
    let load = Load::start(
        system.kyte.clone(),
        system.stack.ingress_url.clone(),
        Duration::from_millis(100),
    );
    load.wait_for_completed(10, Duration::from_secs(30)).await;

    servers.stop_postgres().await;
    let status = reqwest::get(&ready)
        .await
        .expect("readyz")
        .status()
        .as_u16();
    assert_eq!(status, 503, "not ready without the database");
    tokio::time::sleep(Duration::from_secs(5)).await;
    servers.start_postgres().await;
    wait_until("readiness back", Duration::from_secs(30), || async {
        reqwest::get(&ready)
            .await
            .ok()
            .filter(|r| r.status().is_success())
            .map(|_| ())
    })
    .await;
    let completed_before = load.completed();
    load.wait_for_completed(completed_before + 10, Duration::from_secs(30))
        .await;
    let lifecycles = load.stop().await;
    let db = shared::db::connect(&servers.database_url(), 2)
        .await
        .expect("db");
    verify("postgres restart", &db, &system.receiver, &lifecycles).await;
    for (name, ok) in system.stack.terminate().await {
        assert!(ok, "{name} exits 0 after the restart");
    }
}

#[tokio::test]
async fn workers_killed_mid_load_lose_nothing_and_apply_nothing_twice() {
    let env = TestEnv::new().await;
    let mut system = start_system(&env.database_url, &env.amqp_url, &env.prefix, 2).await;
    let load = Load::start(
        system.kyte.clone(),
        system.stack.ingress_url.clone(),
        Duration::from_millis(50),
    );
    for round in 0..3 {
        load.wait_for_completed(10 * (round + 1), Duration::from_secs(30))
            .await;
        system
            .stack
            .kill("worker", 0)
            .await
            .expect("SIGKILL a worker");
        system.stack.start_worker().expect("a new worker");
    }
    let completed_before = load.completed();
    load.wait_for_completed(completed_before + 10, Duration::from_secs(30))
        .await;
    let lifecycles = load.stop().await;
    verify(
        "workers SIGKILLed 3 times",
        &env.db,
        &system.receiver,
        &lifecycles,
    )
    .await;
    system.stack.terminate().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_notifier_killed_mid_delivery_still_delivers_every_webhook() {
    let env = TestEnv::new().await;
    let mut system = start_system(&env.database_url, &env.amqp_url, &env.prefix, 1).await;
    // Slow answers keep deliveries in flight when the notifier dies: Kyte has the webhook
    // (it records on arrival) but the notifier never hears the answer.
    system.receiver.chaos(0.0, Duration::from_secs(1));
    let load = Load::start(
        system.kyte.clone(),
        system.stack.ingress_url.clone(),
        Duration::from_millis(50),
    );
    load.wait_for_completed(10, Duration::from_secs(30)).await;
    let arrived = system.receiver.received().len();
    wait_until("deliveries in flight", Duration::from_secs(10), || async {
        (system.receiver.received().len() > arrived).then_some(())
    })
    .await;
    system
        .stack
        .kill("notifier", 0)
        .await
        .expect("SIGKILL the notifier");
    system.stack.start_notifier().expect("a new notifier");
    let completed_before = load.completed();
    load.wait_for_completed(completed_before + 10, Duration::from_secs(30))
        .await;
    system.receiver.chaos(0.0, Duration::ZERO);
    let lifecycles = load.stop().await;
    let duplicates = verify(
        "notifier SIGKILLed mid-delivery",
        &env.db,
        &system.receiver,
        &lifecycles,
    )
    .await;
    assert!(
        duplicates >= 1,
        "the delivery in flight at the kill is sent again (same id) after its lease"
    );
    system.stack.terminate().await;
    env.cleanup().await;
}

#[tokio::test]
async fn kyte_down_for_30_seconds_gets_everything_in_order_when_it_returns() {
    let env = TestEnv::new().await;
    let system = start_system(&env.database_url, &env.amqp_url, &env.prefix, 1).await;
    let load = Load::start(
        system.kyte.clone(),
        system.stack.ingress_url.clone(),
        Duration::from_millis(100),
    );
    load.wait_for_completed(5, Duration::from_secs(30)).await;
    system.receiver.chaos(1.0, Duration::ZERO);
    tokio::time::sleep(Duration::from_secs(30)).await;
    system.receiver.chaos(0.0, Duration::ZERO);
    let lifecycles = load.stop().await;
    verify("kyte down 30 s", &env.db, &system.receiver, &lifecycles).await;
    system.stack.terminate().await;
    env.cleanup().await;
}

#[tokio::test]
async fn kyte_failing_one_order_dead_letters_it_without_touching_the_others_and_replay_delivers() {
    let env = TestEnv::new().await;
    // Retry time scaled down from two hours, so the failing order dies within the test.
    let system = start_system_with(
        &env.database_url,
        &env.amqp_url,
        &env.prefix,
        1,
        &[("RETRY_MAX_ELAPSED_MS", "3000")],
    )
    .await;
    let ingress = system.stack.ingress_url.clone();
    let load = Load::start(
        system.kyte.clone(),
        ingress.clone(),
        Duration::from_millis(100),
    );

    // One order Kyte cannot take: every webhook of it answered 500.
    let order = kyte_sim::random_order();
    let bad = order["id"].as_str().unwrap_or_default().to_owned();
    system
        .receiver
        .always(&bad, Some(kyte_sim::Reply::status(500)));
    let res = system
        .kyte
        .order_created(&format!("evt_{bad}"), &order)
        .await
        .expect("post");
    assert_eq!(res.status().as_u16(), 202);
    let http = reqwest::Client::new();
    assert!(
        load::change(
            &http,
            &ingress,
            &bad,
            serde_json::json!({"status": "accepted"}),
            "accepted"
        )
        .await
    );
    assert!(
        load::change(
            &http,
            &ingress,
            &bad,
            serde_json::json!({"status": "completed"}),
            "completed"
        )
        .await
    );
    let dead = wait_until(
        "both of its webhooks dead",
        Duration::from_secs(60),
        || async {
            let rows = env
                .db
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT attempts FROM notifications WHERE order_id = $1 AND state = 'dead'",
                    [bad.clone().into()],
                ))
                .await
                .ok()?;
            (rows.len() == 2).then(|| {
                rows.iter()
                    .map(|r| r.try_get::<i32>("", "attempts").unwrap_or(0))
                    .sum::<i32>()
            })
        },
    )
    .await;
    let lifecycles = load.stop().await;
    verify(
        "kyte failing one order",
        &env.db,
        &system.receiver,
        &lifecycles,
    )
    .await;

    // Kyte is fixed; the kitchen's operator replays the order's dead letters.
    system.receiver.always(&bad, None);
    let res = http
        .post(format!("{ingress}/ops/dead-letters/replay"))
        .bearer_auth(STAFF_TOKEN)
        .json(&serde_json::json!({"order_id": bad}))
        .send()
        .await
        .expect("replay");
    assert_eq!(res.status().as_u16(), 202);
    assert_eq!(
        res.json::<serde_json::Value>().await.expect("json")["replayed"],
        2
    );
    let kinds = wait_until(
        "the replayed webhooks at Kyte",
        Duration::from_secs(30),
        || async {
            let got: Vec<String> = system
                .receiver
                .delivered_for(&bad)
                .iter()
                .map(|r| r.kind().to_owned())
                .collect();
            (got.len() >= 2).then_some(got)
        },
    )
    .await;
    assert_eq!(
        kinds,
        ["preparation_accepted", "preparation_done"],
        "replayed in order"
    );
    println!(
        "kyte failing one order: {dead} failed attempts before both webhooks died; replay delivered {} in order",
        kinds.len()
    );
    system.stack.terminate().await;
    env.cleanup().await;
}

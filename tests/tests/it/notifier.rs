//! The notifier against a real broker, database and HTTP receiver (kyte-sim's): signatures,
//! retries, Retry-After, dead letters and replay, per-order ordering, restarts.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use kyte_relay_tests::harness::{Running, TestEnv, WEBHOOK_SECRET, wait_until};
use kyte_sim::{Receiver, Reply};
use sha2::Sha256;
use shared::dead_letters::{self, Scope};
use shared::domain::Change;

use crate::helpers::*;

const SECOND_SECRET: &str = "whsec_dGhpcyBpcyBhIHNlY29uZCBzZWNyZXQ=";

struct Pipeline {
    receiver: Receiver,
    url: String,
    worker: Running,
    notifier: Running,
}

impl Pipeline {
    async fn start(env: &TestEnv, tweak: impl FnOnce(&mut notifier::Config)) -> Self {
        let receiver = Receiver::new(Some(WEBHOOK_SECRET)).expect("receiver");
        let (addr, _) = receiver
            .serve(([127, 0, 0, 1], 0).into())
            .await
            .expect("serve receiver");
        let url = format!("http://{addr}/webhooks");
        let worker = env.start_worker(|_| {}).await;
        let notifier = env
            .start_notifier(&url, WEBHOOK_SECRET, |c| {
                c.retry_initial_ms = 100;
                c.retry_max_delay_ms = 2000;
                c.webhook_timeout_ms = 2000;
                tweak(c);
            })
            .await;
        Self {
            receiver,
            url,
            worker,
            notifier,
        }
    }

    async fn stop(self) {
        self.notifier.stop().await.expect("notifier stops cleanly");
        self.worker.stop().await.expect("worker stops cleanly");
    }
}

async fn notification_row(
    env: &TestEnv,
    order_id: &str,
    sequence: i32,
) -> (String, i32, Option<i32>) {
    let rows = query(
        env,
        "SELECT state, attempts, last_status_code FROM notifications WHERE order_id = $1 AND sequence = $2",
        vec![order_id.into(), sequence.into()],
    )
    .await;
    let r = rows.first().expect("notification row");
    (
        r.try_get("", "state").expect("state"),
        r.try_get("", "attempts").expect("attempts"),
        r.try_get("", "last_status_code").expect("code"),
    )
}

async fn wait_state(
    env: &TestEnv,
    order_id: &str,
    sequence: i32,
    state: &str,
) -> (String, i32, Option<i32>) {
    wait_until(&format!("notification {order_id}#{sequence} to be {state}"), Duration::from_secs(30), || async {
        let rows = query(env, "SELECT 1 AS x FROM notifications WHERE order_id = $1 AND sequence = $2 AND state = $3", vec![order_id.into(), sequence.into(), state.into()]).await;
        (!rows.is_empty()).then_some(())
    })
    .await;
    notification_row(env, order_id, sequence).await
}

/// Verifies a Standard Webhooks signature from first principles (HMAC-SHA256), not with the
/// crate the notifier signs with.
fn independently_verified(
    secret: &str,
    id: &str,
    timestamp: &str,
    body: &[u8],
    signature_header: &str,
) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("hmac key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    signature_header.split(' ').any(|s| s == expected)
}

#[tokio::test]
async fn webhooks_are_signed_with_every_secret_and_pass_an_independent_verifier() {
    let env = TestEnv::new().await;
    let p = Pipeline::start(&env, |c| {
        c.webhook_secret = Some(
            format!("{WEBHOOK_SECRET} {SECOND_SECRET}")
                .parse()
                .expect("secret"),
        )
    })
    .await;
    let order_id = unique_order_id();
    drive(
        &env,
        &order_id,
        &[Change::Accept {
            prep_minutes: Some(20),
        }],
    )
    .await;
    wait_state(&env, &order_id, 2, "delivered").await;
    let got = p.receiver.delivered_for(&order_id);
    assert_eq!(got.len(), 1);
    let w = &got[0];
    assert!(w.verified, "the receiver's own check passed");
    assert_eq!(
        w.signature.split(' ').count(),
        2,
        "one signature per secret"
    );
    for secret in [WEBHOOK_SECRET, SECOND_SECRET] {
        assert!(
            independently_verified(secret, &w.webhook_id, &w.timestamp, &w.raw, &w.signature),
            "signed with {secret}"
        );
    }
    assert_eq!(
        w.body["id"],
        w.webhook_id.as_str(),
        "webhook-id is the notification id"
    );
    assert_eq!(w.body["type"], "preparation_accepted");
    assert_eq!(w.body["order_id"], order_id.as_str());
    assert_eq!(w.body["sequence"], 2);
    assert!(w.body["data"]["estimated_ready_at"].is_string());
    assert!(w.body["occurred_at"].is_string());
    p.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn two_503s_then_200_is_delivered_with_three_attempts_recorded() {
    let env = TestEnv::new().await;
    let p = Pipeline::start(&env, |_| {}).await;
    let order_id = unique_order_id();
    p.receiver
        .script_order(&order_id, [Reply::status(503), Reply::status(503)]);
    drive(&env, &order_id, &[Change::Accept { prep_minutes: None }]).await;
    let (_, attempts, code) = wait_state(&env, &order_id, 2, "delivered").await;
    assert_eq!((attempts, code), (3, Some(200)));
    let rows = query(&env, "SELECT a.status_code FROM notification_attempts a JOIN notifications n ON n.id = a.notification_id WHERE n.order_id = $1 ORDER BY a.attempt", vec![order_id.clone().into()]).await;
    let codes: Vec<Option<i32>> = rows
        .iter()
        .map(|r| r.try_get("", "status_code").expect("code"))
        .collect();
    assert_eq!(codes, vec![Some(503), Some(503), Some(200)]);
    let all: Vec<_> = p
        .receiver
        .received()
        .into_iter()
        .filter(|r| r.order_id() == order_id)
        .collect();
    assert_eq!(all.len(), 3);
    assert!(
        all.iter().all(|r| r.webhook_id == all[0].webhook_id),
        "the id is stable across retries"
    );
    p.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn retry_after_from_kyte_is_respected() {
    let env = TestEnv::new().await;
    let p = Pipeline::start(&env, |c| c.retry_max_delay_ms = 10_000).await;
    let order_id = unique_order_id();
    p.receiver.script_order(
        &order_id,
        [Reply {
            retry_after_secs: Some(2),
            ..Reply::status(429)
        }],
    );
    drive(&env, &order_id, &[Change::Accept { prep_minutes: None }]).await;
    wait_state(&env, &order_id, 2, "delivered").await;
    let all: Vec<_> = p
        .receiver
        .received()
        .into_iter()
        .filter(|r| r.order_id() == order_id)
        .collect();
    assert_eq!(all.len(), 2);
    let gap = (all[1].at - all[0].at).to_std().expect("ordered");
    assert!(
        gap >= Duration::from_secs(2),
        "retried after {gap:?}, Retry-After said 2 s"
    );
    p.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn any_answer_from_kyte_is_recorded_and_a_bad_one_does_not_stall_the_webhook() {
    let env = TestEnv::new().await;
    let p = Pipeline::start(&env, |_| {}).await;
    let order_id = unique_order_id();
    // A 502 whose body holds a NUL (Postgres cannot store one) and a terminal escape; then a
    // 200 with a 4 MiB body, of which only the start may be read.
    let huge: &'static [u8] = Box::leak(vec![b'x'; 4 << 20].into_boxed_slice());
    p.receiver.script_order(
        &order_id,
        [
            Reply {
                body: Some(b"bad\0gate\x1b[31mway"),
                ..Reply::status(502)
            },
            Reply {
                body: Some(huge),
                ..Reply::status(200)
            },
        ],
    );
    drive(&env, &order_id, &[Change::Accept { prep_minutes: None }]).await;
    let (_, attempts, code) = wait_state(&env, &order_id, 2, "delivered").await;
    assert_eq!((attempts, code), (2, Some(200)));
    let rows = query(
        &env,
        "SELECT a.response_excerpt FROM notification_attempts a \
         JOIN notifications n ON n.id = a.notification_id \
         WHERE n.order_id = $1 ORDER BY a.attempt",
        vec![order_id.clone().into()],
    )
    .await;
    let excerpts: Vec<Option<String>> = rows
        .iter()
        .map(|r| r.try_get("", "response_excerpt").expect("excerpt"))
        .collect();
    assert_eq!(
        excerpts,
        [
            Some("bad\u{fffd}gate\u{fffd}[31mway".to_owned()),
            Some("x".repeat(200))
        ]
    );
    let sent = p
        .receiver
        .received()
        .into_iter()
        .filter(|r| r.order_id() == order_id)
        .count();
    assert_eq!(sent, 2, "one retry, no more");
    p.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_400_dead_letters_at_once_and_replay_delivers_with_the_same_id() {
    let env = TestEnv::new().await;
    let p = Pipeline::start(&env, |_| {}).await;
    let order_id = unique_order_id();
    p.receiver.script_order(&order_id, [Reply::status(400)]);
    drive(&env, &order_id, &[Change::Accept { prep_minutes: None }]).await;
    let (_, attempts, code) = wait_state(&env, &order_id, 2, "dead").await;
    assert_eq!((attempts, code), (1, Some(400)));
    let dead = dead_letters::list(&env.db).await.expect("list");
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].order_id.as_str(),
            dead[0].kind.as_str(),
            dead[0].sequence
        ),
        (order_id.as_str(), "preparation_accepted", 2)
    );
    assert_eq!(dead[0].last_status_code, Some(400));

    let replayed = dead_letters::replay(&env.db, &env.broker, Scope::Order(order_id.clone()))
        .await
        .expect("replay");
    assert_eq!(replayed, 1);
    wait_state(&env, &order_id, 2, "delivered").await;
    let all: Vec<_> = p
        .receiver
        .received()
        .into_iter()
        .filter(|r| r.order_id() == order_id)
        .collect();
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[0].webhook_id, all[1].webhook_id,
        "a replay keeps the id"
    );
    assert_eq!(all[0].webhook_id, dead[0].notification_id);
    assert!(dead_letters::list(&env.db).await.expect("list").is_empty());
    p.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_long_back_off_for_one_order_does_not_delay_another() {
    let env = TestEnv::new().await;
    let p = Pipeline::start(&env, |c| c.retry_max_delay_ms = 60_000).await;
    let slow = unique_order_id();
    let fast = unique_order_id();
    p.receiver.always(
        &slow,
        Some(Reply {
            retry_after_secs: Some(60),
            ..Reply::status(503)
        }),
    );
    drive(&env, &slow, &[Change::Accept { prep_minutes: None }]).await;
    wait_state(&env, &slow, 2, "retrying").await;
    drive(
        &env,
        &fast,
        &[Change::Accept { prep_minutes: None }, Change::Complete],
    )
    .await;
    wait_state(&env, &fast, 3, "delivered").await;
    let (state, attempts, _) = notification_row(&env, &slow, 2).await;
    assert_eq!(
        (state.as_str(), attempts),
        ("retrying", 1),
        "the slow order still waits its minute"
    );
    p.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn an_orders_webhooks_arrive_in_sequence_while_the_first_is_retried() {
    let env = TestEnv::new().await;
    let p = Pipeline::start(&env, |c| c.retry_initial_ms = 300).await;
    let order_id = unique_order_id();
    p.receiver
        .script_order(&order_id, [Reply::status(503), Reply::status(500)]);
    drive(
        &env,
        &order_id,
        &[
            Change::Accept { prep_minutes: None },
            Change::Delay { delay_minutes: 10 },
            Change::Complete,
        ],
    )
    .await;
    wait_state(&env, &order_id, 4, "delivered").await;
    let all: Vec<_> = p
        .receiver
        .received()
        .into_iter()
        .filter(|r| r.order_id() == order_id)
        .collect();
    let sequences: Vec<i64> = all.iter().map(|r| r.sequence()).collect();
    assert_eq!(
        sequences,
        vec![2, 2, 2, 3, 4],
        "no later webhook was sent while an earlier one was open"
    );
    p.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_notifier_restarted_during_a_retry_wait_still_delivers() {
    let env = TestEnv::new().await;
    let p = Pipeline::start(&env, |c| c.retry_initial_ms = 1500).await;
    let order_id = unique_order_id();
    p.receiver.script_order(&order_id, [Reply::status(503)]);
    drive(&env, &order_id, &[Change::Accept { prep_minutes: None }]).await;
    wait_state(&env, &order_id, 2, "retrying").await;
    let Pipeline {
        receiver,
        url,
        worker,
        notifier,
    } = p;
    notifier.stop().await.expect("clean stop");
    let notifier = env
        .start_notifier(&url, WEBHOOK_SECRET, |c| {
            c.retry_initial_ms = 1500;
            c.webhook_timeout_ms = 2000;
        })
        .await;
    let (_, attempts, _) = wait_state(&env, &order_id, 2, "delivered").await;
    assert_eq!(attempts, 2);
    assert_eq!(receiver.delivered_for(&order_id).len(), 1);
    notifier.stop().await.expect("clean stop");
    worker.stop().await.expect("clean stop");
    env.cleanup().await;
}

#[tokio::test]
async fn running_out_of_retry_time_dead_letters_with_the_last_error() {
    let env = TestEnv::new().await;
    let p = Pipeline::start(&env, |c| c.retry_max_elapsed_ms = 1500).await;
    let order_id = unique_order_id();
    p.receiver.always(&order_id, Some(Reply::status(502)));
    drive(&env, &order_id, &[Change::Accept { prep_minutes: None }]).await;
    let (_, attempts, code) = wait_state(&env, &order_id, 2, "dead").await;
    assert!(
        attempts >= 2,
        "retried before giving up ({attempts} attempts)"
    );
    assert_eq!(code, Some(502));
    let dead = dead_letters::list(&env.db).await.expect("list");
    assert_eq!(dead[0].last_error.as_deref(), Some("HTTP 502 Bad Gateway"));
    p.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_dead_notification_does_not_hold_back_later_ones() {
    let env = TestEnv::new().await;
    let p = Pipeline::start(&env, |_| {}).await;
    let order_id = unique_order_id();
    p.receiver.script_order(&order_id, [Reply::status(410)]);
    drive(
        &env,
        &order_id,
        &[Change::Accept { prep_minutes: None }, Change::Complete],
    )
    .await;
    wait_state(&env, &order_id, 2, "dead").await;
    wait_state(&env, &order_id, 3, "delivered").await;
    p.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_notification_whose_message_was_lost_is_queued_again_and_releases_its_order() {
    let env = TestEnv::new().await;
    let worker = env.start_worker(|_| {}).await;
    let order_id = unique_order_id();
    drive(&env, &order_id, &[Change::Accept { prep_minutes: None }]).await;
    // The acceptance's message is lost (as when the broker dead-letters it at its delivery
    // limit, or a replay crashes before queuing): the row stays pending with no message.
    let queue = env.topology().notifier_queue();
    wait_until(
        "the acceptance to be queued",
        Duration::from_secs(10),
        || async { (queue_depth(&env, &queue).await == 1).then_some(()) },
    )
    .await;
    let lost = drain(&env, &queue).await;
    assert_eq!(lost.len(), 1);
    // The completion is queued normally, but must wait for the acceptance (per-order order).
    apply(&env, &order_id, &[Change::Complete]).await;

    let receiver = Receiver::new(Some(WEBHOOK_SECRET)).expect("receiver");
    let (addr, _) = receiver
        .serve(([127, 0, 0, 1], 0).into())
        .await
        .expect("serve receiver");
    let notifier = env
        .start_notifier(&format!("http://{addr}/webhooks"), WEBHOOK_SECRET, |c| {
            c.stuck_sweep_interval_ms = 100;
            c.stuck_after_ms = 1000;
        })
        .await;
    wait_state(&env, &order_id, 3, "delivered").await;
    let (state, attempts, _) = notification_row(&env, &order_id, 2).await;
    assert_eq!((state.as_str(), attempts), ("delivered", 1));
    let got: Vec<(i64, String)> = receiver
        .delivered_for(&order_id)
        .iter()
        .map(|r| (r.sequence(), r.kind().to_owned()))
        .collect();
    assert_eq!(
        got,
        [
            (2, "preparation_accepted".to_owned()),
            (3, "preparation_done".to_owned())
        ],
        "each once, in order"
    );
    notifier.stop().await.expect("notifier stops cleanly");
    worker.stop().await.expect("worker stops cleanly");
    env.cleanup().await;
}

//! The worker against real RabbitMQ and Postgres: CONTRACT §4 row by row, duplicates, early
//! cancellations, the acceptance deadline, crash recovery and scale-out.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::join_all;
use kyte_relay_tests::harness::{TestEnv, wait_until};
use serde_json::json;
use shared::domain::Change;
use shared::messages::WorkerMessage;

use crate::helpers::*;

fn accept() -> Change {
    Change::Accept {
        prep_minutes: Some(20),
    }
}
fn delay() -> Change {
    Change::Delay { delay_minutes: 15 }
}

/// Path to the from-state, the change (`None`: Kyte cancels), expected status and webhook.
type Case = (
    Vec<Change>,
    Option<Change>,
    &'static str,
    Option<&'static str>,
);

#[tokio::test]
async fn every_row_of_the_state_machine_applies_through_the_worker() {
    let env = TestEnv::new().await;
    let worker = env.start_worker(|_| {}).await;
    // (path to the from-state, the change, expected status, expected webhook)
    let cases: Vec<Case> = vec![
        (
            vec![],
            Some(accept()),
            "accepted",
            Some("preparation_accepted"),
        ),
        (
            vec![],
            Some(Change::Reject {
                reason: Some("out_of_stock".into()),
            }),
            "rejected",
            Some("preparation_rejected"),
        ),
        (vec![], None, "cancelled", None),
        (vec![accept()], None, "cancelled", None),
        (vec![accept(), delay()], None, "cancelled", None),
        (
            vec![accept()],
            Some(delay()),
            "delayed",
            Some("preparation_delayed"),
        ),
        (
            vec![accept(), delay()],
            Some(delay()),
            "delayed",
            Some("preparation_delayed"),
        ),
        (
            vec![accept()],
            Some(Change::Cancel {
                reason: Some("kitchen_closed".into()),
            }),
            "cancelled",
            Some("preparation_cancelled"),
        ),
        (
            vec![accept(), delay()],
            Some(Change::Cancel { reason: None }),
            "cancelled",
            Some("preparation_cancelled"),
        ),
        (
            vec![accept()],
            Some(Change::Complete),
            "completed",
            Some("preparation_done"),
        ),
        (
            vec![accept(), delay()],
            Some(Change::Complete),
            "completed",
            Some("preparation_done"),
        ),
    ];
    join_all(cases.into_iter().map(|(path, change, status, webhook)| {
        let env = &env;
        async move {
            let order_id = unique_order_id();
            drive(env, &order_id, &path).await;
            let before = 1 + path.len() as i32;
            match change {
                Some(change) => {
                    let (id, msg) = command(&order_id, change);
                    send(env, &msg).await;
                    assert_eq!(wait_command(env, id).await.0, "applied");
                }
                None => send(env, &cancelled(&format!("cancel-{order_id}"), &order_id)).await,
            }
            wait_for_status(env, &order_id, status, before + 1).await;
            let notes = notifications(env, &order_id).await;
            let last = notes
                .iter()
                .find(|(_, seq, _)| *seq == before + 1)
                .map(|(t, _, _)| t.as_str());
            assert_eq!(last, webhook, "{order_id} → {status}");
            assert_eq!(
                notes.len(),
                path.len() + usize::from(webhook.is_some()),
                "one notification per staff change"
            );
            let hist = history(env, &order_id).await;
            let seqs: Vec<i32> = hist.iter().map(|h| h.0).collect();
            assert_eq!(seqs, (1..=before + 1).collect::<Vec<_>>());
        }
    }))
    .await;
    worker.stop().await.expect("clean stop");
    env.cleanup().await;
}

#[tokio::test]
async fn refused_changes_are_recorded_and_send_nothing() {
    let env = TestEnv::new().await;
    let worker = env.start_worker(|_| {}).await;
    let order_id = unique_order_id();
    drive(&env, &order_id, &[accept(), Change::Complete]).await;
    // Staff: completing twice is an invalid transition.
    let (id, msg) = command(&order_id, Change::Complete);
    send(&env, &msg).await;
    let (status, error) = wait_command(&env, id).await;
    assert_eq!(status, "rejected");
    assert_eq!(error.expect("error")["code"], "invalid_transition");
    // Kyte: cancelling a completed order is refused and recorded.
    send(&env, &cancelled("late-cancel", &order_id)).await;
    let refused = wait_until(
        "the refused cancellation",
        Duration::from_secs(10),
        || async {
            let rows = query(
                &env,
                "SELECT event, event_id, reason FROM refused_events WHERE order_id = $1",
                vec![order_id.clone().into()],
            )
            .await;
            rows.first().map(|r| {
                (
                    r.try_get::<String>("", "event").expect("e"),
                    r.try_get::<String>("", "event_id").expect("id"),
                    r.try_get::<String>("", "reason").expect("r"),
                )
            })
        },
    )
    .await;
    assert_eq!(
        refused,
        (
            "order_cancelled".into(),
            "late-cancel".into(),
            "order is completed".into()
        )
    );
    assert_eq!(
        order_state(&env, &order_id).await,
        Some(("completed".into(), 3))
    );
    assert_eq!(
        notifications(&env, &order_id).await.len(),
        2,
        "no webhook for refused changes"
    );
    // Unknown order.
    let (id, msg) = command("ORD-does-not-exist", accept());
    send(&env, &msg).await;
    assert_eq!(
        wait_command(&env, id).await.1.expect("error")["code"],
        "not_found"
    );
    worker.stop().await.expect("clean stop");
    env.cleanup().await;
}

#[tokio::test]
async fn duplicate_events_and_commands_apply_once() {
    let env = TestEnv::new().await;
    let worker = env.start_worker(|_| {}).await;
    let order_id = unique_order_id();
    for _ in 0..3 {
        send(&env, &created("evt-dup-create", &order_id)).await;
    }
    let (id, accept_msg) = command(&order_id, accept());
    for _ in 0..3 {
        send(&env, &accept_msg).await;
    }
    assert_eq!(wait_command(&env, id).await.0, "applied");
    // A new event id for the same order is a refused duplicate_order.
    send(&env, &created("evt-dup-create-2", &order_id)).await;
    let reason = wait_until(
        "duplicate_order recorded",
        Duration::from_secs(10),
        || async {
            let rows = query(
                &env,
                "SELECT reason FROM refused_events WHERE order_id = $1",
                vec![order_id.clone().into()],
            )
            .await;
            rows.first()
                .map(|r| r.try_get::<String>("", "reason").expect("reason"))
        },
    )
    .await;
    assert_eq!(reason, "duplicate_order");
    // Everything settled: process a marker message behind the duplicates.
    let (marker, msg) = command(&order_id, Change::Complete);
    send(&env, &msg).await;
    wait_command(&env, marker).await;
    assert_eq!(
        order_state(&env, &order_id).await,
        Some(("completed".into(), 3))
    );
    assert_eq!(history(&env, &order_id).await.len(), 3);
    assert_eq!(notifications(&env, &order_id).await.len(), 2);
    worker.stop().await.expect("clean stop");
    env.cleanup().await;
}

#[tokio::test]
async fn a_message_postgres_refuses_is_dead_lettered_and_its_order_goes_on() {
    let env = TestEnv::new().await;
    let worker = env.start_worker(|_| {}).await;
    let order_id = unique_order_id();
    send(&env, &created("evt-nul-create", &order_id)).await;
    // Ingress refuses a NUL in a reason; a message carrying one anyway (an older producer, a
    // hand-published one) can never be stored, so retrying it would loop for ever.
    let (nul, nul_msg) = command(
        &order_id,
        Change::Reject {
            reason: Some("out\u{0}of stock".into()),
        },
    );
    send(&env, &nul_msg).await;
    let dead = wait_dead_letters(&env, &env.topology().worker_queue()).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0.as_deref(), Some(nul_msg.dedup_key().as_str()));
    let reason = header(&dead[0].2, "x-dead-reason").expect("reason header");
    assert!(reason.contains("refuses its data"), "{reason}");
    // Nothing of it was applied, and the order's next command is.
    let (next, next_msg) = command(&order_id, accept());
    send(&env, &next_msg).await;
    assert_eq!(wait_command(&env, next).await.0, "applied");
    assert_eq!(
        order_state(&env, &order_id).await,
        Some(("accepted".into(), 2))
    );
    assert_eq!(history(&env, &order_id).await.len(), 2);
    assert_eq!(
        command_status(&env, nul).await,
        None,
        "no outcome recorded for it"
    );
    worker.stop().await.expect("clean stop");
    env.cleanup().await;
}

#[tokio::test]
async fn a_cancellation_before_its_order_is_applied_when_the_order_arrives() {
    let env = TestEnv::new().await;
    let worker = env.start_worker(|_| {}).await;
    let order_id = unique_order_id();
    send(&env, &cancelled("evt-early-cancel", &order_id)).await;
    wait_until(
        "the early cancellation to be kept",
        Duration::from_secs(10),
        || async {
            let rows = query(
                &env,
                "SELECT 1 AS x FROM pending_cancellations WHERE order_id = $1",
                vec![order_id.clone().into()],
            )
            .await;
            (!rows.is_empty()).then_some(())
        },
    )
    .await;
    send(&env, &created("evt-late-create", &order_id)).await;
    wait_for_status(&env, &order_id, "cancelled", 2).await;
    let hist = history(&env, &order_id).await;
    assert_eq!(hist[0].1, "order_created");
    assert_eq!(hist[0].3, "pending");
    assert_eq!(hist[1].1, "order_cancelled");
    assert_eq!(
        (hist[1].2.as_deref(), hist[1].3.as_str(), hist[1].4.as_str()),
        (Some("pending"), "cancelled", "kyte")
    );
    assert!(
        notifications(&env, &order_id).await.is_empty(),
        "Kyte already knows"
    );
    worker.stop().await.expect("clean stop");
    env.cleanup().await;
}

#[tokio::test]
async fn a_pending_order_past_its_deadline_is_rejected_by_the_system_once() {
    let env = TestEnv::new().await;
    // Two workers sweep concurrently: the rejection must still happen once.
    let tweak = |c: &mut worker::Config| {
        c.accept_deadline_secs = 1;
        c.sweep_interval_ms = 100;
    };
    let w1 = env.start_worker(tweak).await;
    let w2 = env.start_worker(tweak).await;
    let late = unique_order_id();
    let prompt = unique_order_id();
    send(&env, &created("evt-late", &late)).await;
    send(&env, &created("evt-prompt", &prompt)).await;
    wait_for_status(&env, &prompt, "pending", 1).await;
    let (id, msg) = command(&prompt, accept());
    send(&env, &msg).await;
    wait_command(&env, id).await;
    wait_for_status(&env, &late, "rejected", 2).await;
    let hist = history(&env, &late).await;
    assert_eq!(hist.len(), 2);
    assert_eq!(
        (hist[1].1.as_str(), hist[1].4.as_str(), hist[1].5.as_deref()),
        ("preparation_rejected", "system", Some("acceptance_timeout"))
    );
    let notes = notifications(&env, &late).await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].0, "preparation_rejected");
    assert_eq!(notes[0].2, json!({"reason": "acceptance_timeout"}));
    // The accepted order is left alone by the sweep.
    assert_eq!(
        order_state(&env, &prompt).await,
        Some(("accepted".into(), 2))
    );
    w1.stop().await.expect("clean stop");
    w2.stop().await.expect("clean stop");
    env.cleanup().await;
}

#[tokio::test]
async fn a_crash_between_commit_and_publish_still_queues_each_notification_exactly_once() {
    let env = TestEnv::new().await;
    let crashed = Arc::new(AtomicBool::new(false));
    let flag = crashed.clone();
    let hooks = worker::Hooks {
        crash_after_commit: Some(Arc::new(move |m: &WorkerMessage| {
            matches!(m, WorkerMessage::StaffCommand(_)) && !flag.swap(true, Ordering::SeqCst)
        })),
    };
    // A long outbox grace keeps the sweep out of it: the redelivered message must do the work.
    let worker = env
        .start_worker_with_hooks(|c| c.outbox_grace_ms = 600_000, hooks)
        .await;
    let order_id = unique_order_id();
    drive(&env, &order_id, &[accept()]).await;
    assert!(crashed.load(Ordering::SeqCst), "the crash was injected");
    wait_until(
        "the notification to be published",
        Duration::from_secs(15),
        || async {
            let rows = query(
                &env,
                "SELECT 1 AS x FROM notifications WHERE order_id = $1 AND published_at IS NOT NULL",
                vec![order_id.clone().into()],
            )
            .await;
            (!rows.is_empty()).then_some(())
        },
    )
    .await;
    worker.stop().await.expect("clean stop");
    let queued = drain(&env, &env.topology().notifier_queue()).await;
    let ids: Vec<_> = queued.iter().filter_map(|(id, _, _)| id.clone()).collect();
    let notes = query(
        &env,
        "SELECT id FROM notifications WHERE order_id = $1",
        vec![order_id.clone().into()],
    )
    .await;
    assert_eq!(notes.len(), 1);
    let id: String = notes[0].try_get("", "id").expect("id");
    assert_eq!(ids, vec![id], "exactly one message per notification id");
    assert_eq!(history(&env, &order_id).await.len(), 2, "applied once");
    env.cleanup().await;
}

#[tokio::test]
async fn three_workers_carry_500_full_lifecycles_without_loss_or_duplicates() {
    let env = TestEnv::new().await;
    let workers = vec![
        env.start_worker(|_| {}).await,
        env.start_worker(|_| {}).await,
        env.start_worker(|_| {}).await,
    ];
    let orders: Vec<String> = (0..500).map(|_| unique_order_id()).collect();
    let count = |status: &'static str| {
        let env = &env;
        async move {
            let rows = query(
                env,
                "SELECT count(*)::int8 AS n FROM orders WHERE status = $1",
                vec![status.into()],
            )
            .await;
            rows[0].try_get::<i64>("", "n").expect("count")
        }
    };
    let publish_all = |msgs: Vec<WorkerMessage>| {
        let env = &env;
        async move {
            for chunk in msgs.chunks(50) {
                join_all(chunk.iter().map(|m| send(env, m))).await;
            }
        }
    };
    publish_all(
        orders
            .iter()
            .map(|o| created(&format!("evt-{o}"), o))
            .collect(),
    )
    .await;
    wait_until("500 pending orders", Duration::from_secs(60), || async {
        (count("pending").await == 500).then_some(())
    })
    .await;
    publish_all(orders.iter().map(|o| command(o, accept()).1).collect()).await;
    wait_until("500 accepted orders", Duration::from_secs(60), || async {
        (count("accepted").await == 500).then_some(())
    })
    .await;
    publish_all(
        orders
            .iter()
            .map(|o| command(o, Change::Complete).1)
            .collect(),
    )
    .await;
    wait_until("500 completed orders", Duration::from_secs(60), || async {
        (count("completed").await == 500).then_some(())
    })
    .await;

    let versions = query(
        &env,
        "SELECT version, count(*)::int8 AS n FROM orders GROUP BY version",
        vec![],
    )
    .await;
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].try_get::<i32>("", "version").expect("v"), 3);
    let hist = query(&env, "SELECT order_id, array_agg(sequence ORDER BY sequence) AS seqs FROM order_history GROUP BY order_id", vec![]).await;
    assert_eq!(hist.len(), 500);
    for row in &hist {
        assert_eq!(
            row.try_get::<Vec<i32>>("", "seqs").expect("seqs"),
            vec![1, 2, 3],
            "contiguous, no duplicates"
        );
    }
    let per_type = query(
        &env,
        "SELECT type, count(*)::int8 AS n FROM notifications GROUP BY type",
        vec![],
    )
    .await;
    let per_type: HashMap<String, i64> = per_type
        .iter()
        .map(|r| {
            (
                r.try_get("", "type").expect("t"),
                r.try_get("", "n").expect("n"),
            )
        })
        .collect();
    assert_eq!(per_type.get("preparation_accepted"), Some(&500));
    assert_eq!(per_type.get("preparation_done"), Some(&500));
    assert_eq!(per_type.len(), 2);
    for w in workers {
        w.stop().await.expect("clean stop");
    }
    env.cleanup().await;
}

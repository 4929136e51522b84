//! The messaging layer against a real broker: confirms, delayed retries, dead letters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use kyte_relay_tests::harness::TestEnv;
use shared::messaging::{Broker, Headers, Outcome, PublishError, Topology, consume};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::helpers::{header, queue_depth, wait_dead_letters};

#[tokio::test]
async fn a_confirmed_message_is_consumed_and_acked() {
    let env = TestEnv::new().await;
    let queue = env.topology().worker_queue();
    let headers = Headers {
        message_id: Some("m-1".into()),
        correlation_id: Some("corr-1".into()),
        extra: vec![],
    }
    .with("order-id", "ORD-1");
    env.broker
        .publish_to(&queue, b"{\"hello\":1}", &headers)
        .await
        .expect("confirmed");

    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let consumer = tokio::spawn(consume(
        env.broker.clone(),
        queue.clone(),
        "test",
        4,
        move |m| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(m);
                Outcome::Ack
            }
        },
        stop.clone(),
    ));
    let got = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("delivered in time")
        .expect("message");
    assert_eq!(got.data, b"{\"hello\":1}");
    assert_eq!(got.message_id.as_deref(), Some("m-1"));
    assert_eq!(got.correlation_id.as_deref(), Some("corr-1"));
    assert_eq!(got.header("order-id").as_deref(), Some("ORD-1"));
    stop.cancel();
    consumer.await.expect("consumer stops");
    assert_eq!(queue_depth(&env, &queue).await, 0, "the message was acked");
    env.cleanup().await;
}

#[tokio::test]
async fn a_retried_message_comes_back_after_its_delay() {
    let env = TestEnv::new().await;
    let queue = env.topology().worker_queue();
    env.broker
        .publish_to(&queue, b"{}", &Headers::default())
        .await
        .expect("confirmed");

    let seen = Arc::new(AtomicU32::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let counter = seen.clone();
    let consumer = tokio::spawn(consume(
        env.broker.clone(),
        queue.clone(),
        "test",
        4,
        move |m| {
            let tx = tx.clone();
            let counter = counter.clone();
            async move {
                let _ = tx.send((Instant::now(), m.retries));
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    Outcome::Retry(Duration::from_millis(700))
                } else {
                    Outcome::Ack
                }
            }
        },
        stop.clone(),
    ));
    let (first, retries0) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("first")
        .expect("msg");
    let (second, retries1) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("second")
        .expect("msg");
    assert_eq!(
        (retries0, retries1),
        (0, 1),
        "the retry count travels in a header"
    );
    assert!(
        second - first >= Duration::from_millis(700),
        "came back after {:?}",
        second - first
    );
    stop.cancel();
    consumer.await.expect("consumer stops");
    env.cleanup().await;
}

#[tokio::test]
async fn a_poison_message_is_dead_lettered_with_its_reason() {
    let env = TestEnv::new().await;
    let queue = env.topology().worker_queue();
    let worker = env.start_worker(|_| {}).await;
    env.broker
        .publish_to(
            &queue,
            b"this is not json",
            &Headers {
                message_id: Some("poison".into()),
                ..Default::default()
            },
        )
        .await
        .expect("confirmed");
    let dead = wait_dead_letters(&env, &queue).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].1, b"this is not json");
    assert_eq!(dead[0].0.as_deref(), Some("poison"));
    let reason = header(&dead[0].2, "x-dead-reason").expect("reason header");
    assert!(reason.contains("unparseable"), "{reason}");
    assert_eq!(queue_depth(&env, &queue).await, 0, "not requeued");
    worker.stop().await.expect("worker stops cleanly");
    env.cleanup().await;
}

#[tokio::test]
async fn publishing_to_an_unreachable_broker_fails_quickly() {
    let broker = Broker::new(
        "amqp://guest:guest@127.0.0.1:1/%2f",
        Topology::new("nowhere."),
        "test",
        Duration::from_secs(2),
    );
    let started = Instant::now();
    let result = broker
        .publish_to("nowhere.worker.inbox", b"{}", &Headers::default())
        .await;
    assert!(
        matches!(
            result,
            Err(PublishError::Unreachable(_) | PublishError::Timeout(_))
        ),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(6));
    assert!(!broker.is_connected());
}

#[tokio::test]
async fn a_message_for_no_queue_is_reported_unroutable() {
    let env = TestEnv::new().await;
    env.broker.ensure_connected().await.expect("connect");
    let result = env
        .broker
        .publish_to("no-such-queue", b"{}", &Headers::default())
        .await;
    assert!(
        matches!(result, Err(PublishError::Unroutable(_))),
        "{result:?}"
    );
    env.cleanup().await;
}

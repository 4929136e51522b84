//! Builders for messages and queries for assertions, shared by the test modules.

use std::time::Duration;

use chrono::Utc;
use kyte_relay_tests::harness::{TestEnv, wait_until};
use lapin::options::{BasicGetOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use shared::domain::{Change, EventId, OrderId, OrderInput};
use shared::messages::{OrderCancelled, OrderCreated, SCHEMA_VERSION, StaffCommand, WorkerMessage};
use shared::messaging::{Headers, Topology};
use uuid::Uuid;

pub fn order_json(id: &str) -> Value {
    json!({
        "id": id,
        "customer": {"name": "Ada Lovelace", "phone": "+44 20 7946 0958"},
        "items": [{"name": "Margherita", "quantity": 2, "unit_price_cents": 950, "notes": "extra basil"}],
        "total_cents": 1900, "currency": "EUR", "notes": "ring twice",
        "placed_at": "2026-12-03T11:59:58Z"
    })
}

pub fn unique_order_id() -> String {
    format!("ORD-{}", &Uuid::new_v4().simple().to_string()[..16])
}

pub fn created(event_id: &str, order_id: &str) -> WorkerMessage {
    let input: OrderInput = serde_json::from_value(order_json(order_id)).expect("order json");
    let (order_id, order) = input.parse().expect("valid order");
    WorkerMessage::OrderCreated(OrderCreated {
        v: SCHEMA_VERSION,
        event_id: EventId::parse(event_id).expect("event id"),
        occurred_at: Some(Utc::now()),
        order_id,
        order,
    })
}

pub fn cancelled(event_id: &str, order_id: &str) -> WorkerMessage {
    WorkerMessage::OrderCancelled(OrderCancelled {
        v: SCHEMA_VERSION,
        event_id: EventId::parse(event_id).expect("event id"),
        occurred_at: Some(Utc::now()),
        order_id: OrderId::parse(order_id).expect("order id"),
        reason: Some("customer_request".into()),
    })
}

pub fn command(order_id: &str, change: Change) -> (Uuid, WorkerMessage) {
    let id = Uuid::new_v4();
    let msg = WorkerMessage::StaffCommand(StaffCommand {
        v: SCHEMA_VERSION,
        command_id: id,
        order_id: OrderId::parse(order_id).expect("order id"),
        actor: "alice".into(),
        change,
        requested_at: Utc::now(),
    });
    (id, msg)
}

pub async fn send(env: &TestEnv, msg: &WorkerMessage) {
    let body = serde_json::to_vec(msg).expect("serialize");
    let headers = Headers {
        message_id: Some(msg.dedup_key()),
        ..Default::default()
    };
    env.broker
        .publish_to(&env.topology().worker_queue(), &body, &headers)
        .await
        .expect("publish confirmed");
}

pub async fn query(
    env: &TestEnv,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Vec<sea_orm::QueryResult> {
    env.db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await
        .expect("query")
}

/// (status, version) of an order, if it exists.
pub async fn order_state(env: &TestEnv, order_id: &str) -> Option<(String, i32)> {
    let rows = query(
        env,
        "SELECT status, version FROM orders WHERE id = $1",
        vec![order_id.into()],
    )
    .await;
    rows.first().map(|r| {
        (
            r.try_get("", "status").expect("status"),
            r.try_get("", "version").expect("version"),
        )
    })
}

pub async fn wait_for_status(env: &TestEnv, order_id: &str, status: &str, version: i32) {
    wait_until(
        &format!("{order_id} to be {status} at version {version}"),
        Duration::from_secs(20),
        || async {
            (order_state(env, order_id).await == Some((status.to_owned(), version))).then_some(())
        },
    )
    .await;
}

/// (type, sequence, data) of an order's notifications.
pub async fn notifications(env: &TestEnv, order_id: &str) -> Vec<(String, i32, Value)> {
    query(
        env,
        "SELECT type, sequence, payload FROM notifications WHERE order_id = $1 ORDER BY sequence",
        vec![order_id.into()],
    )
    .await
    .iter()
    .map(|r| {
        let payload: Value = r.try_get("", "payload").expect("payload");
        (
            r.try_get("", "type").expect("type"),
            r.try_get("", "sequence").expect("sequence"),
            payload["data"].clone(),
        )
    })
    .collect()
}

/// (event, from, to, actor, reason) of an order's history, in sequence order.
pub async fn history(
    env: &TestEnv,
    order_id: &str,
) -> Vec<(i32, String, Option<String>, String, String, Option<String>)> {
    query(
        env,
        "SELECT sequence, event, from_status, to_status, actor, reason FROM order_history WHERE order_id = $1 ORDER BY sequence",
        vec![order_id.into()],
    )
    .await
    .iter()
    .map(|r| {
        (
            r.try_get("", "sequence").expect("sequence"),
            r.try_get("", "event").expect("event"),
            r.try_get("", "from_status").expect("from"),
            r.try_get("", "to_status").expect("to"),
            r.try_get("", "actor").expect("actor"),
            r.try_get("", "reason").expect("reason"),
        )
    })
    .collect()
}

/// Takes every message now in `queue` (acking them), with their message ids and bodies.
pub async fn drain(env: &TestEnv, queue: &str) -> Vec<(Option<String>, Vec<u8>, FieldTable)> {
    let channel = env.broker.consumer_channel().await.expect("channel");
    let mut out = Vec::new();
    while let Some(msg) = channel
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
        .expect("basic_get")
    {
        let props = &msg.delivery.properties;
        out.push((
            props.message_id().as_ref().map(|s| s.as_str().to_owned()),
            msg.delivery.data.clone(),
            props.headers().clone().unwrap_or_default(),
        ));
    }
    let _ = channel.close(200, "done".into()).await;
    out
}

/// Waits for `queue`'s dead-letter queue to hold messages and takes them.
pub async fn wait_dead_letters(
    env: &TestEnv,
    queue: &str,
) -> Vec<(Option<String>, Vec<u8>, FieldTable)> {
    let dead_queue = Topology::dead_queue(queue);
    wait_until(
        "a message in the dead-letter queue",
        Duration::from_secs(15),
        || async {
            let msgs = drain(env, &dead_queue).await;
            (!msgs.is_empty()).then_some(msgs)
        },
    )
    .await
}

pub async fn queue_depth(env: &TestEnv, queue: &str) -> u32 {
    let channel = env.broker.consumer_channel().await.expect("channel");
    let q = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("passive declare");
    let _ = channel.close(200, "done".into()).await;
    q.message_count()
}

pub fn header(table: &FieldTable, key: &str) -> Option<String> {
    match table.inner().get(key)? {
        lapin::types::AMQPValue::LongString(s) => {
            Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
        }
        _ => None,
    }
}

pub async fn command_status(
    env: &TestEnv,
    id: uuid::Uuid,
) -> Option<(String, Option<serde_json::Value>)> {
    let rows = query(
        env,
        "SELECT status, error FROM staff_commands WHERE id = $1",
        vec![id.into()],
    )
    .await;
    rows.first().map(|r| {
        (
            r.try_get("", "status").expect("status"),
            r.try_get("", "error").expect("error"),
        )
    })
}

pub async fn wait_command(env: &TestEnv, id: uuid::Uuid) -> (String, Option<serde_json::Value>) {
    wait_until("the command's outcome", Duration::from_secs(20), || async {
        command_status(env, id).await.filter(|(s, _)| s != "queued")
    })
    .await
}

/// Drives a new order to `path` (a list of staff changes, each expected to apply).
pub async fn drive(env: &TestEnv, order_id: &str, path: &[Change]) {
    send(env, &created(&format!("evt-{order_id}"), order_id)).await;
    wait_for_status(env, order_id, "pending", 1).await;
    apply(env, order_id, path).await;
}

/// Applies staff changes to an existing order, each confirmed applied.
pub async fn apply(env: &TestEnv, order_id: &str, path: &[Change]) {
    for change in path {
        let (id, msg) = command(order_id, change.clone());
        send(env, &msg).await;
        let (status, error) = wait_command(env, id).await;
        assert_eq!(status, "applied", "{change:?} on {order_id}: {error:?}");
    }
}

//! Ingress against real RabbitMQ and Postgres: every status path of CONTRACT §2 and §3.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use futures::future::join_all;
use kyte_relay_tests::harness::{INBOUND_SECRET, Running, STAFF_TOKEN, TestEnv, wait_until};
use kyte_sim::KyteClient;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::signing::{Secrets, headers_for};

use crate::helpers::*;

struct Api {
    http: reqwest::Client,
    base: String,
    kyte: KyteClient,
}

impl Api {
    fn new(ingress: &Running, secret: Option<&str>) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: ingress.url(),
            kyte: KyteClient::new(&ingress.url(), secret).expect("client"),
        }
    }

    async fn staff(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(STAFF_TOKEN);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.json::<Value>().await.unwrap_or(Value::Null);
        (status, body, headers)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, b, _) = self.staff(reqwest::Method::GET, path, None).await;
        (s, b)
    }

    async fn patch(
        &self,
        order_id: &str,
        body: Value,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        self.staff(
            reqwest::Method::PATCH,
            &format!("/api/orders/{order_id}/"),
            Some(body),
        )
        .await
    }

    async fn wait_for_order(&self, order_id: &str) -> Value {
        wait_until(
            &format!("{order_id} to be readable"),
            Duration::from_secs(20),
            || async {
                let (s, b) = self.get(&format!("/api/orders/{order_id}/")).await;
                (s == StatusCode::OK).then_some(b)
            },
        )
        .await
    }
}

async fn json_of(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    (status, res.json::<Value>().await.unwrap_or(Value::Null))
}

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn a_kyte_event_is_answered_202_only_once_it_is_on_the_queue() {
    let env = TestEnv::new().await;
    let ingress = env.start_ingress(|_| {}).await;
    let api = Api::new(&ingress, None);
    let order_id = unique_order_id();
    let res = api
        .kyte
        .order_created("evt_queued_1", &order_json(&order_id))
        .await
        .expect("post");
    let (status, body) = json_of(res).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        body,
        json!({"event_id": "evt_queued_1", "status": "queued"})
    );
    let queued = drain(&env, &env.topology().worker_queue()).await;
    assert_eq!(queued.len(), 1);
    let (message_id, data, headers) = &queued[0];
    assert_eq!(message_id.as_deref(), Some("kyte:evt_queued_1"));
    let msg: Value = serde_json::from_slice(data).expect("json");
    assert_eq!(
        (
            msg["type"].as_str(),
            msg["order_id"].as_str(),
            msg["v"].as_i64()
        ),
        (Some("order_created"), Some(order_id.as_str()), Some(1))
    );
    assert_eq!(
        header(headers, "order-id").as_deref(),
        Some(order_id.as_str())
    );
    assert!(
        header(headers, "request-id").is_some_and(|r| !r.is_empty()),
        "the request id travels along"
    );
    ingress.stop().await.expect("clean stop");
    env.cleanup().await;
}

#[tokio::test]
async fn a_plain_request_id_travels_along_and_an_unusable_one_is_replaced() {
    let env = TestEnv::new().await;
    let ingress = env.start_ingress(|_| {}).await;
    let http = reqwest::Client::new();
    let long = "r".repeat(2000);
    // (the client's x-request-id, whether it is kept)
    let cases = [
        ("req-42.retry:1", true),
        (long.as_str(), false),
        ("a b", false),
        ("\"}, \"injected\": \"1", false),
    ];
    for (i, (sent, kept)) in cases.iter().enumerate() {
        let body = json!({"event_id": format!("evt_rid_{i}"), "type": "order_created",
                          "order": order_json(&unique_order_id())});
        let res = http
            .post(format!("{}/kyte/events", ingress.url()))
            .header("x-request-id", *sent)
            .json(&body)
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let echoed = header_of(&res, "x-request-id").expect("an x-request-id answered");
        let queued = drain(&env, &env.topology().worker_queue()).await;
        assert_eq!(queued.len(), 1);
        let carried = header(&queued[0].2, "request-id").expect("request-id header");
        assert_eq!(echoed, carried, "the answered id is the one carried on");
        if *kept {
            assert_eq!(&echoed, sent);
        } else {
            assert_ne!(&echoed, sent);
            assert!(
                uuid::Uuid::parse_str(&echoed).is_ok(),
                "a fresh UUID: {echoed}"
            );
        }
    }
    ingress.stop().await.expect("clean stop");
    env.cleanup().await;
}

fn header_of(res: &reqwest::Response, name: &str) -> Option<String> {
    Some(res.headers().get(name)?.to_str().ok()?.to_owned())
}

#[tokio::test]
async fn kyte_requests_need_a_valid_fresh_signature_when_a_secret_is_set() {
    let env = TestEnv::new().await;
    let ingress = env
        .start_ingress(|c| c.kyte_inbound_secret = Some(INBOUND_SECRET.parse().expect("secret")))
        .await;
    let order = order_json(&unique_order_id());
    let event = json!({"event_id": "evt_sig", "type": "order_created", "order": order});
    let body = serde_json::to_vec(&event).expect("json");
    let http = reqwest::Client::new();
    let post = |headers: reqwest::header::HeaderMap| {
        http.post(format!("{}/kyte/events", ingress.url()))
            .header("content-type", "application/json")
            .headers(headers)
            .body(body.clone())
            .send()
    };
    // Unsigned.
    let (s, b) = json_of(post(Default::default()).await.expect("post")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_error(&b, "unauthorized");
    // Signed with another secret.
    let other = Secrets::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
    let (s, _) = json_of(
        post(headers_for(&other, "msg_1", &body).expect("sign"))
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Signed correctly but ten minutes ago (a replay).
    let ours = Secrets::parse(INBOUND_SECRET).expect("secret");
    let stale = Utc::now().timestamp() - 600;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("webhook-id", "msg_old".parse().expect("h"));
    headers.insert("webhook-timestamp", stale.to_string().parse().expect("h"));
    headers.insert(
        "webhook-signature",
        ours.sign("msg_old", stale, &body)
            .expect("sign")
            .parse()
            .expect("h"),
    );
    let (s, _) = json_of(post(headers).await.expect("post")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        queue_depth(&env, &env.topology().worker_queue()).await,
        0,
        "nothing queued for refused requests"
    );
    // Signed correctly, now: accepted.
    let (s, _) = json_of(
        post(headers_for(&ours, "msg_new", &body).expect("sign"))
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(queue_depth(&env, &env.topology().worker_queue()).await, 1);
    ingress.stop().await.expect("clean stop");
    env.cleanup().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_nothing_is_queued() {
    let env = TestEnv::new().await;
    let ingress = env.start_ingress(|_| {}).await;
    let http = reqwest::Client::new();
    let url = format!("{}/kyte/events", ingress.url());
    let send = |body: Vec<u8>, content_type: &'static str| {
        http.post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let mut bad_quantity =
        json!({"event_id": "e1", "type": "order_created", "order": order_json("ORD-1")});
    bad_quantity["order"]["items"][0]["quantity"] = json!(0);
    let mut wrong_type = bad_quantity.clone();
    wrong_type["order"]["items"][0]["quantity"] = json!("two");
    let huge_number = br#"{"event_id": "e1", "type": "order_created", "order": {"id": "ORD-1", "total_cents": 1e400}}"#.to_vec();
    // (body, content type, expected status, error code, field)
    type Case = (
        Vec<u8>,
        &'static str,
        StatusCode,
        &'static str,
        Option<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            b"{not json".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_json",
            None,
        ),
        (
            serde_json::to_vec(&bad_quantity).expect("j"),
            "application/json",
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("order.items[0].quantity"),
        ),
        (
            serde_json::to_vec(&wrong_type).expect("j"),
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_body",
            Some("order.items[0].quantity"),
        ),
        (
            br#"{"event_id": "e1", "type": "order_teleported"}"#.to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "unknown_event_type",
            Some("type"),
        ),
        (
            br#"{"event_id": "", "type": "order_cancelled", "order_id": "ORD-1"}"#.to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("event_id"),
        ),
        (
            br#"{"event_id": "e1", "type": "order_cancelled", "order_id": "bad id!"}"#.to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("order_id"),
        ),
        (
            // A NUL cannot be stored: accepted, it would fail the worker's transaction forever.
            br#"{"event_id": "e1", "type": "order_cancelled", "order_id": "ORD-1", "reason": "a\u0000b"}"#.to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("reason"),
        ),
        (
            br#"{"event_id": "e1", "type": "order_created"}"#.to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("order"),
        ),
        (
            huge_number,
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_json",
            None,
        ),
        (
            vec![0xff, 0xfe, b'{'],
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_json",
            None,
        ),
        (
            b"event_id=e1".to_vec(),
            "application/x-www-form-urlencoded",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            None,
        ),
        (
            vec![b' '; 300 * 1024],
            "application/json",
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            None,
        ),
        (
            format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_json",
            None,
        ),
    ];
    for (body, content_type, status, code, field) in cases {
        let (s, b) = json_of(send(body, content_type).await.expect("post")).await;
        assert_eq!(s, status, "{b}");
        assert_error(&b, code);
        assert_eq!(b["error"]["field"].as_str(), field, "{b}");
    }
    assert_eq!(queue_depth(&env, &env.topology().worker_queue()).await, 0);
    ingress.stop().await.expect("clean stop");
    env.cleanup().await;
}

#[tokio::test]
async fn the_original_systems_aliases_work_with_and_without_a_trailing_slash() {
    let env = TestEnv::new().await;
    let ingress = env.start_ingress(|_| {}).await;
    let api = Api::new(&ingress, None);
    let a = unique_order_id();
    let b = unique_order_id();
    let (s, body) = json_of(
        api.kyte
            .post_signed("/api/orders/", &order_json(&a))
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(
        (s, body["event_id"].as_str()),
        (
            StatusCode::ACCEPTED,
            Some(format!("order_created:{a}").as_str())
        )
    );
    let (s, _) = json_of(
        api.kyte
            .post_signed("/api/orders", &order_json(&b))
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    // Cancel with an empty body, and with a webhook-id and a reason.
    let res = api
        .http
        .post(format!(
            "{}/webhook/cancel-order?order_id={a}",
            ingress.url()
        ))
        .send()
        .await
        .expect("post");
    let (s, body) = json_of(res).await;
    assert_eq!(
        (s, body["event_id"].as_str()),
        (
            StatusCode::ACCEPTED,
            Some(format!("order_cancelled:{a}").as_str())
        )
    );
    let res = api
        .http
        .post(format!(
            "{}/webhook/cancel-order/?order_id={b}",
            ingress.url()
        ))
        .header("webhook-id", "msg_cancel_b")
        .json(&json!({"reason": "customer_request"}))
        .send()
        .await
        .expect("post");
    let (s, body) = json_of(res).await;
    assert_eq!(
        (s, body["event_id"].as_str()),
        (StatusCode::ACCEPTED, Some("msg_cancel_b"))
    );
    let res = api
        .http
        .post(format!("{}/webhook/cancel-order", ingress.url()))
        .send()
        .await
        .expect("post");
    let (s, body) = json_of(res).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "order_id");
    // A webhook-id that is not a valid event id (here: not ASCII) is refused, not queued.
    let res = api
        .http
        .post(format!("{}/api/orders", ingress.url()))
        .header(
            "webhook-id",
            reqwest::header::HeaderValue::from_bytes("évt".as_bytes()).expect("header"),
        )
        .json(&order_json(&unique_order_id()))
        .send()
        .await
        .expect("post");
    let (s, body) = json_of(res).await;
    assert_eq!(
        (s, body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("event_id"))
    );
    let kinds: Vec<String> = drain(&env, &env.topology().worker_queue())
        .await
        .iter()
        .map(|(_, d, _)| {
            serde_json::from_slice::<Value>(d).expect("json")["type"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "order_created",
            "order_created",
            "order_cancelled",
            "order_cancelled"
        ]
    );
    ingress.stop().await.expect("clean stop");
    env.cleanup().await;
}

#[tokio::test]
async fn an_unreachable_broker_gives_503_with_retry_after_never_202() {
    let env = TestEnv::new().await;
    let ingress = env
        .start_ingress(|c| {
            c.infra.amqp_url = "amqp://guest:guest@127.0.0.1:1/%2f".parse().expect("url");
            c.infra.publish_timeout_ms = 2000;
        })
        .await;
    let api = Api::new(&ingress, None);
    let started = std::time::Instant::now();
    let res = api
        .kyte
        .order_created("evt_nobroker", &order_json(&unique_order_id()))
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    assert_error(&res.json::<Value>().await.expect("json"), "unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded: {:?}",
        started.elapsed()
    );
    let ready = api
        .http
        .get(format!("{}/readyz", ingress.url()))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let live = api
        .http
        .get(format!("{}/healthz", ingress.url()))
        .send()
        .await
        .expect("healthz");
    assert_eq!(live.status(), StatusCode::OK);
    ingress.stop().await.expect("clean stop");
    env.cleanup().await;
}

#[tokio::test]
async fn staff_endpoints_refuse_missing_and_unknown_tokens() {
    let env = TestEnv::new().await;
    let ingress = env.start_ingress(|_| {}).await;
    let http = reqwest::Client::new();
    for path in [
        "/api/orders/",
        "/api/orders/ORD-1/",
        "/ops/dead-letters",
        "/api/commands/00000000-0000-0000-0000-000000000000",
    ] {
        let (s, b) = json_of(
            http.get(format!("{}{path}", ingress.url()))
                .send()
                .await
                .expect("get"),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{path}");
        assert_error(&b, "unauthorized");
        let (s, _) = json_of(
            http.get(format!("{}{path}", ingress.url()))
                .bearer_auth("nope")
                .send()
                .await
                .expect("get"),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{path}");
    }
    let (s, _) = json_of(
        http.patch(format!("{}/api/orders/ORD-1/", ingress.url()))
            .json(&json!({"status": "accepted"}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(queue_depth(&env, &env.topology().worker_queue()).await, 0);
    ingress.stop().await.expect("clean stop");
    env.cleanup().await;
}

#[tokio::test]
async fn a_staff_patch_answers_with_the_workers_outcome() {
    let env = TestEnv::new().await;
    let ingress = env.start_ingress(|_| {}).await;
    let worker = env.start_worker(|_| {}).await;
    let api = Api::new(&ingress, None);
    let order_id = unique_order_id();
    api.kyte
        .order_created("evt_patch", &order_json(&order_id))
        .await
        .expect("post");
    let order = api.wait_for_order(&order_id).await;
    assert_eq!(
        (order["status"].as_str(), order["version"].as_i64()),
        (Some("pending"), Some(1))
    );

    let (s, order, _) = api
        .patch(&order_id, json!({"status": "accepted", "prep_minutes": 20}))
        .await;
    assert_eq!(s, StatusCode::OK, "{order}");
    assert_eq!(
        (order["status"].as_str(), order["version"].as_i64()),
        (Some("accepted"), Some(2))
    );
    assert_eq!(order["history"][1]["actor"], "alice");
    assert_eq!(order["history"][1]["event"], "preparation_accepted");
    assert!(order["estimated_ready_at"].is_string());
    assert_eq!(order["notifications"][0]["type"], "preparation_accepted");

    let (s, body, _) = api.patch(&order_id, json!({"status": "accepted"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_error(&body, "invalid_transition");

    let (s, body, _) = api
        .patch("ORD-nobody-ordered-this", json!({"status": "accepted"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found");

    let (s, body, _) = api
        .patch(
            &order_id,
            json!({"status": "delayed", "delay_minutes": 500}),
        )
        .await;
    assert_eq!(
        (s, body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("delay_minutes"))
    );

    let res = api
        .http
        .patch(format!("{}/api/orders/{order_id}", ingress.url()))
        .bearer_auth(STAFF_TOKEN)
        .header("prefer", "respond-async")
        .json(&json!({"status": "completed"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let location = res.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let body: Value = res.json().await.expect("json");
    assert_eq!(
        location,
        format!("/api/commands/{}", body["command_id"].as_str().expect("id"))
    );
    let command = wait_until(
        "the async command to apply",
        Duration::from_secs(20),
        || async {
            let (s, b) = api.get(&location).await;
            (s == StatusCode::OK && b["status"] == "applied").then_some(b)
        },
    )
    .await;
    assert_eq!(command["order"]["status"], "completed");
    assert!(command["error"].is_null());
    worker.stop().await.expect("clean stop");
    ingress.stop().await.expect("clean stop");
    env.cleanup().await;
}

#[tokio::test]
async fn a_patch_without_a_worker_answers_202_when_its_wait_runs_out() {
    let env = TestEnv::new().await;
    let ingress = env.start_ingress(|c| c.command_wait_ms = 300).await;
    let api = Api::new(&ingress, None);
    let (s, body, headers) = api
        .patch("ORD-waiting", json!({"status": "completed"}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(body["status"], "queued");
    let location = headers["location"].to_str().expect("location");
    let (s, command) = api.get(location).await;
    assert_eq!(
        (s, command["status"].as_str()),
        (StatusCode::OK, Some("queued"))
    );
    let (s, _) = api.get("/api/commands/not-a-uuid").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A path that is not UTF-8 once decoded still gets the JSON error shape.
    let (s, body) = api.get("/api/orders/%FF%FE/").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found");
    assert_eq!(
        queue_depth(&env, &env.topology().worker_queue()).await,
        1,
        "the command is on the queue"
    );
    ingress.stop().await.expect("clean stop");
    env.cleanup().await;
}

#[tokio::test]
async fn duplicate_event_ids_are_accepted_again_and_applied_once() {
    let env = TestEnv::new().await;
    let ingress = env.start_ingress(|_| {}).await;
    let worker = env.start_worker(|_| {}).await;
    let api = Api::new(&ingress, None);
    let order_id = unique_order_id();
    for _ in 0..3 {
        let (s, b) = json_of(
            api.kyte
                .order_created("evt_same", &order_json(&order_id))
                .await
                .expect("post"),
        )
        .await;
        assert_eq!(
            (s, b["event_id"].as_str()),
            (StatusCode::ACCEPTED, Some("evt_same"))
        );
    }
    let order = api.wait_for_order(&order_id).await;
    assert_eq!(order["history"].as_array().map(Vec::len), Some(1));
    // Another event id for the same order is listed as refused.
    api.kyte
        .order_created("evt_other", &order_json(&order_id))
        .await
        .expect("post");
    let order = wait_until("the refused duplicate", Duration::from_secs(10), || async {
        let (_, b) = api.get(&format!("/api/orders/{order_id}")).await;
        (b["refused_events"]
            .as_array()
            .is_some_and(|r| !r.is_empty()))
        .then_some(b)
    })
    .await;
    assert_eq!(order["refused_events"][0]["reason"], "duplicate_order");
    assert_eq!(order["refused_events"][0]["event_id"], "evt_other");
    assert_eq!(order["version"], 1);
    worker.stop().await.expect("clean stop");
    ingress.stop().await.expect("clean stop");
    env.cleanup().await;
}

#[tokio::test]
async fn pagination_returns_every_order_exactly_once_while_orders_are_inserted() {
    let env = TestEnv::new().await;
    let ingress = env.start_ingress(|_| {}).await;
    let worker = env.start_worker(|_| {}).await;
    let api = Api::new(&ingress, None);
    let before: Vec<String> = (0..45).map(|_| unique_order_id()).collect();
    join_all(before.iter().map(|o| {
        let kyte = api.kyte.clone();
        let o = o.clone();
        async move {
            kyte.order_created(&format!("evt-{o}"), &order_json(&o))
                .await
        }
    }))
    .await;
    wait_until("45 orders", Duration::from_secs(20), || async {
        let (_, b) = api.get("/api/orders/?limit=200").await;
        (b["orders"].as_array().map(Vec::len) == Some(45)).then_some(())
    })
    .await;
    // Insert more while paging through.
    let inserting = async {
        for _ in 0..20 {
            let o = unique_order_id();
            let _ = api
                .kyte
                .order_created(&format!("evt-{o}"), &order_json(&o))
                .await;
        }
    };
    let paging = async {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/orders/?limit=7&cursor={c}"),
                None => "/api/orders/?limit=7".to_owned(),
            };
            let (s, page) = api.get(&path).await;
            assert_eq!(s, StatusCode::OK);
            let orders = page["orders"].as_array().expect("orders");
            assert!(orders.len() <= 7);
            seen.extend(
                orders
                    .iter()
                    .map(|o| o["id"].as_str().unwrap_or_default().to_owned()),
            );
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        seen
    };
    let ((), seen) = tokio::join!(inserting, paging);
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no order twice");
    for o in &before {
        assert!(unique.contains(o), "{o} missing");
    }
    // Filters and limits.
    let (s, b) = api.get("/api/orders/?status=accepted").await;
    assert_eq!(
        (s, b["orders"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
    for bad in [
        "/api/orders/?limit=0",
        "/api/orders/?limit=201",
        "/api/orders/?status=eaten",
        "/api/orders/?cursor=xyz",
    ] {
        let (s, b) = api.get(bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert_error(&b, "validation_failed");
    }
    worker.stop().await.expect("clean stop");
    ingress.stop().await.expect("clean stop");
    env.cleanup().await;
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let env = TestEnv::new().await;
    let ingress = env.start_ingress(|_| {}).await;
    let (s, doc) = json_of(
        reqwest::get(format!("{}/openapi.json", ingress.url()))
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let paths = doc["paths"].as_object().expect("paths");
    for route in [
        "/kyte/events",
        "/api/orders/",
        "/webhook/cancel-order",
        "/api/orders/{id}/",
        "/api/commands/{command_id}",
        "/ops/dead-letters",
        "/ops/dead-letters/replay",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(paths.contains_key(route), "{route} missing");
    }
    let metrics = reqwest::get(format!("{}/metrics", ingress.url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("kyte_http_requests_total"), "{metrics}");
    ingress.stop().await.expect("clean stop");
    env.cleanup().await;
}

#[tokio::test]
async fn past_its_in_flight_limit_ingress_refuses_at_once_and_queues_nothing() {
    let env = TestEnv::new().await;
    let ingress = env
        .start_ingress(|c| {
            c.max_in_flight = 1;
            c.command_wait_ms = 2000;
        })
        .await;
    let api = Api::new(&ingress, None);
    // No worker: this PATCH holds the one slot while it waits for an outcome.
    let waiting = tokio::spawn({
        let api = Api::new(&ingress, None);
        async move { api.patch("ORD-held", json!({"status": "completed"})).await }
    });
    let worker_queue = env.topology().worker_queue();
    wait_until(
        "the held PATCH to be queued",
        Duration::from_secs(10),
        || async { (queue_depth(&env, &worker_queue).await == 1).then_some(()) },
    )
    .await;

    let (s, body, headers) = api
        .patch("ORD-refused", json!({"status": "completed"}))
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_error(&body, "unavailable");
    assert!(headers.contains_key("retry-after"));
    let refused = api
        .kyte
        .order_created("evt_refused", &order_json("ORD-refused-kyte"))
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Probes are not counted: an overloaded ingress still answers them.
    let health = reqwest::get(format!("{}/healthz", ingress.url()))
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(
        queue_depth(&env, &worker_queue).await,
        1,
        "nothing refused was queued"
    );

    let (s, _, _) = waiting.await.expect("held PATCH");
    assert_eq!(s, StatusCode::ACCEPTED, "the held PATCH ran out its wait");
    let (s, _) = api.get("/api/orders/ORD-held/").await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "a slot is free again once it is answered"
    );
    ingress.stop().await.expect("clean stop");
    env.cleanup().await;
}

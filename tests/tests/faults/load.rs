//! A steady load of full order lifecycles (Kyte creates, the kitchen accepts, then completes),
//! retrying the kitchen's side through outages as a person at the console would.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kyte_relay_tests::harness::{STAFF_TOKEN, wait_until};
use kyte_sim::{KyteClient, random_order};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct Lifecycle {
    pub order_id: String,
    pub create_status: u16,
    pub create_started: Instant,
    pub create_finished: Instant,
    pub completed: bool,
}

pub struct Load {
    stop: CancellationToken,
    completed: Arc<AtomicUsize>,
    task: JoinHandle<Vec<Lifecycle>>,
}

impl Load {
    /// Starts one lifecycle every `every` until stopped.
    pub fn start(kyte: KyteClient, ingress: String, every: Duration) -> Self {
        let stop = CancellationToken::new();
        let completed = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(generate(
            kyte,
            ingress,
            every,
            stop.clone(),
            completed.clone(),
        ));
        Self {
            stop,
            completed,
            task,
        }
    }

    pub fn completed(&self) -> usize {
        self.completed.load(Ordering::SeqCst)
    }

    pub async fn wait_for_completed(&self, n: usize, within: Duration) {
        wait_until(&format!("{n} completed lifecycles"), within, || async {
            (self.completed() >= n).then_some(())
        })
        .await;
    }

    /// Stops starting lifecycles and waits for the started ones to finish.
    pub async fn stop(self) -> Vec<Lifecycle> {
        self.stop.cancel();
        self.task.await.expect("load generator")
    }
}

async fn generate(
    kyte: KyteClient,
    ingress: String,
    every: Duration,
    stop: CancellationToken,
    completed: Arc<AtomicUsize>,
) -> Vec<Lifecycle> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http");
    let mut tasks = Vec::new();
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let (kyte, http, ingress, completed) = (
            kyte.clone(),
            http.clone(),
            ingress.clone(),
            completed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            lifecycle(kyte, http, ingress, completed).await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("lifecycle task"));
    }
    out
}

async fn lifecycle(
    kyte: KyteClient,
    http: reqwest::Client,
    ingress: String,
    completed: Arc<AtomicUsize>,
) -> Lifecycle {
    let order = random_order();
    let order_id = order["id"].as_str().unwrap_or_default().to_owned();
    let create_started = Instant::now();
    let create_status = match kyte.order_created(&format!("evt_{order_id}"), &order).await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    };
    let create_finished = Instant::now();
    let mut done = false;
    if create_status == 202 {
        done = change(
            &http,
            &ingress,
            &order_id,
            json!({"status": "accepted"}),
            "accepted",
        )
        .await
            && change(
                &http,
                &ingress,
                &order_id,
                json!({"status": "completed"}),
                "completed",
            )
            .await;
        if done {
            completed.fetch_add(1, Ordering::SeqCst);
        }
    }
    Lifecycle {
        order_id,
        create_status,
        create_started,
        create_finished,
        completed: done,
    }
}

/// PATCHes until the order is in `target`: through 503s (outage), 404s (the order is still on
/// its way) and 202s (the outcome took longer than the wait), for at most 90 s.
pub async fn change(
    http: &reqwest::Client,
    ingress: &str,
    order_id: &str,
    body: Value,
    target: &str,
) -> bool {
    let url = format!("{ingress}/api/orders/{order_id}/");
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if let Ok(res) = http
            .patch(&url)
            .bearer_auth(STAFF_TOKEN)
            .json(&body)
            .send()
            .await
            && res.status().as_u16() == 200
        {
            return true;
        }
        // Whatever the answer, the order's state says whether the change got through.
        if let Ok(res) = http.get(&url).bearer_auth(STAFF_TOKEN).send().await
            && let Ok(order) = res.json::<Value>().await
        {
            let status = order["status"].as_str().unwrap_or_default();
            if status == target || (target == "accepted" && status == "completed") {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

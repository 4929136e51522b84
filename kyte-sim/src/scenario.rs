//! The original system's end-to-end scenario (ORIGINAL.md, "Testing"), run against a live
//! kyte-relay: create → accept → delay → done → Kyte cancels, with Kyte's webhooks checked.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{KyteClient, random_order};

/// One step's result, printed by `kyte-sim scenario` and asserted by the end-to-end tests.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    pub elapsed: Duration,
}

pub struct Scenario {
    pub ingress: String,
    pub staff_token: String,
    pub kyte: KyteClient,
    /// kyte-sim serve's base URL, to check which webhooks Kyte received.
    pub receiver: Option<String>,
    pub timeout: Duration,
}

impl Scenario {
    async fn staff(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .kyte
            .http()
            .request(method, format!("{}{path}", self.ingress))
            .bearer_auth(&self.staff_token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }

    async fn poll<T>(
        &self,
        mut check: impl AsyncFnMut() -> anyhow::Result<Option<T>>,
    ) -> anyhow::Result<T> {
        let started = Instant::now();
        loop {
            if let Some(v) = check().await? {
                return Ok(v);
            }
            anyhow::ensure!(
                started.elapsed() < self.timeout,
                "no result within {:?}",
                self.timeout
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs every step, reporting each to `report` as it finishes; stops at the first failure.
    pub async fn run(&self, mut report: impl FnMut(&Step)) -> Vec<Step> {
        let order = random_order();
        let order_id = order["id"].as_str().unwrap_or_default().to_owned();
        let mut steps = Vec::new();
        macro_rules! step {
            ($name:expr, $body:expr) => {{
                let started = Instant::now();
                let result: anyhow::Result<String> = async { $body }.await;
                let step = Step {
                    name: $name,
                    ok: result.is_ok(),
                    detail: result.unwrap_or_else(|e| format!("{e:#}")),
                    elapsed: started.elapsed(),
                };
                report(&step);
                let ok = step.ok;
                steps.push(step);
                if !ok {
                    return steps;
                }
            }};
        }
        step!("Kyte creates an order", {
            let res = self
                .kyte
                .order_created(&format!("evt_{order_id}"), &order)
                .await?;
            anyhow::ensure!(
                res.status().as_u16() == 202,
                "ingress answered {}",
                res.status()
            );
            Ok(format!("{order_id} queued"))
        });
        step!("the kitchen sees it pending", {
            let path = format!("/api/orders/{order_id}/");
            let status = self
                .poll(async || {
                    let (code, body) = self.staff(reqwest::Method::GET, &path, None).await?;
                    Ok((code == 200)
                        .then(|| body["status"].as_str().unwrap_or_default().to_owned()))
                })
                .await?;
            anyhow::ensure!(status == "pending", "status is {status}");
            Ok("pending".into())
        });
        for (name, body, expected) in [
            (
                "the restaurant accepts",
                json!({"status": "accepted", "prep_minutes": 20}),
                "accepted",
            ),
            (
                "the restaurant reports a delay",
                json!({"status": "delayed", "delay_minutes": 10}),
                "delayed",
            ),
            (
                "the restaurant marks it done",
                json!({"status": "completed"}),
                "completed",
            ),
        ] {
            step!(name, {
                let (code, order) = self
                    .staff(
                        reqwest::Method::PATCH,
                        &format!("/api/orders/{order_id}/"),
                        Some(body.clone()),
                    )
                    .await?;
                anyhow::ensure!(code == 200, "PATCH answered {code}: {order}");
                anyhow::ensure!(order["status"] == expected, "status is {}", order["status"]);
                Ok(format!("{expected}, version {}", order["version"]))
            });
        }
        step!("Kyte cancels (too late: refused and recorded)", {
            let res = self
                .kyte
                .order_cancelled(
                    &format!("evt_cancel_{order_id}"),
                    &order_id,
                    "customer_request",
                )
                .await?;
            anyhow::ensure!(
                res.status().as_u16() == 202,
                "ingress answered {}",
                res.status()
            );
            let path = format!("/api/orders/{order_id}/");
            let reason = self
                .poll(async || {
                    let (_, body) = self.staff(reqwest::Method::GET, &path, None).await?;
                    Ok(body["refused_events"][0]["reason"]
                        .as_str()
                        .map(str::to_owned))
                })
                .await?;
            Ok(format!("refused: {reason}"))
        });
        if let Some(receiver) = &self.receiver {
            step!("Kyte received every status change, signed and in order", {
                let url = format!("{receiver}/received");
                let kinds = self
                    .poll(async || {
                        let all: Vec<Value> =
                            self.kyte.http().get(&url).send().await?.json().await?;
                        let mine: Vec<&Value> = all
                            .iter()
                            .filter(|w| {
                                w["body"]["order_id"] == order_id.as_str()
                                    && w["answered"]
                                        .as_u64()
                                        .is_some_and(|s| (200..300).contains(&s))
                            })
                            .collect();
                        anyhow::ensure!(
                            mine.iter().all(|w| w["verified"] == true),
                            "a webhook failed signature verification"
                        );
                        Ok((mine.len() >= 3).then(|| {
                            mine.iter()
                                .map(|w| w["body"]["type"].as_str().unwrap_or_default().to_owned())
                                .collect::<Vec<_>>()
                        }))
                    })
                    .await?;
                anyhow::ensure!(
                    kinds
                        == [
                            "preparation_accepted",
                            "preparation_delayed",
                            "preparation_done"
                        ],
                    "received {kinds:?}"
                );
                Ok(kinds.join(" → "))
            });
        }
        steps
    }
}

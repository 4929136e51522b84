//! The bench's figures, their limits and targets, as JSON and as a summary for people.

use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;

use super::BenchConfig;

#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    pub fn of(samples: &[Duration]) -> Self {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| {
            if ms.is_empty() {
                return 0.0;
            }
            let i = ((ms.len() as f64 - 1.0) * q).round() as usize;
            ms[i.min(ms.len() - 1)]
        };
        Self {
            count: ms.len(),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceUsage {
    pub name: String,
    pub pid: u32,
    pub cpu_seconds: f64,
    pub peak_rss_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: String,
    pub value: f64,
    pub target: String,
    pub met: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub generated_at: String,
    pub machine: serde_json::Value,
    pub config: serde_json::Value,
    pub limits: serde_json::Value,
    pub ingress: serde_json::Value,
    pub worker: serde_json::Value,
    pub end_to_end: serde_json::Value,
    pub services: Vec<ServiceUsage>,
    pub targets: Vec<Target>,
    pub clean_exits: bool,
}

pub(super) struct Inputs {
    pub cfg: BenchConfig,
    pub publish_limit: f64,
    pub txn_limit: f64,
    pub ingress_rate: f64,
    pub ingress_latency: Percentiles,
    pub worker_rate: f64,
    pub lifecycles: usize,
    pub lifecycle_failures: usize,
    pub lifecycle_rate: f64,
    pub e2e: Percentiles,
    pub services: Vec<ServiceUsage>,
    pub clean_exits: bool,
}

fn machine() -> serde_json::Value {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    serde_json::json!({"cores": cores, "memory_bytes": mem, "cpu": cpu})
}

impl Report {
    pub(super) fn new(i: Inputs) -> Self {
        let ingress_ratio = i.ingress_rate / i.publish_limit.max(1e-9);
        let worker_ratio = i.worker_rate / i.txn_limit.max(1e-9);
        let mut targets = vec![
            Target {
                name: "ingress events/s ÷ raw confirmed publishes/s".into(),
                value: ingress_ratio,
                target: "≥ 0.8".into(),
                met: ingress_ratio >= 0.8,
            },
            Target {
                name: "worker transitions/s ÷ single-event transactions/s".into(),
                value: worker_ratio,
                target: "≥ 1.0".into(),
                met: worker_ratio >= 1.0,
            },
            Target {
                name: format!("end-to-end p99 ms at {} lifecycles/s", i.cfg.rate),
                value: i.e2e.p99_ms,
                target: "≤ 100".into(),
                met: i.e2e.p99_ms <= 100.0 && i.lifecycle_failures == 0,
            },
        ];
        for s in &i.services {
            let mb = s.peak_rss_bytes as f64 / 1_048_576.0;
            targets.push(Target {
                name: format!("{} (pid {}) peak RSS MB", s.name, s.pid),
                value: mb,
                target: "≤ 64".into(),
                met: mb <= 64.0,
            });
        }
        Self {
            generated_at: chrono::Utc::now().to_rfc3339(),
            machine: machine(),
            config: serde_json::json!({
                "orders": i.cfg.orders, "concurrency": i.cfg.concurrency, "rate": i.cfg.rate,
                "duration_secs": i.cfg.duration.as_secs_f64(), "workers": i.cfg.workers,
            }),
            limits: serde_json::json!({"confirmed_publishes_per_sec": i.publish_limit, "transactions_per_sec": i.txn_limit}),
            ingress: serde_json::json!({"events_per_sec": i.ingress_rate, "ratio_to_publish_limit": ingress_ratio, "latency": i.ingress_latency}),
            worker: serde_json::json!({"transitions_per_sec": i.worker_rate, "ratio_to_transaction_limit": worker_ratio}),
            end_to_end: serde_json::json!({
                "target_rate": i.cfg.rate, "lifecycles": i.lifecycles, "failures": i.lifecycle_failures,
                "lifecycles_per_sec": i.lifecycle_rate, "latency": i.e2e,
            }),
            services: i.services,
            targets,
            clean_exits: i.clean_exits,
        }
    }

    pub fn summary(&self) -> String {
        let mut s = String::new();
        let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(0.0);
        let _ = writeln!(
            s,
            "machine: {} cores, {}",
            self.machine["cores"],
            self.machine["cpu"].as_str().unwrap_or("")
        );
        let _ = writeln!(
            s,
            "limits:  {:>8.0} confirmed publishes/s   {:>8.0} worker-shaped transactions/s",
            f(&self.limits, "confirmed_publishes_per_sec"),
            f(&self.limits, "transactions_per_sec")
        );
        let l = &self.ingress["latency"];
        let _ = writeln!(
            s,
            "ingress: {:>8.0} events/s  (×{:.2} of the publish limit)  202 latency p50 {:.1} / p95 {:.1} / p99 {:.1} ms",
            f(&self.ingress, "events_per_sec"),
            f(&self.ingress, "ratio_to_publish_limit"),
            f(l, "p50_ms"),
            f(l, "p95_ms"),
            f(l, "p99_ms")
        );
        let _ = writeln!(
            s,
            "worker:  {:>8.0} transitions/s (×{:.2} of the transaction limit)",
            f(&self.worker, "transitions_per_sec"),
            f(&self.worker, "ratio_to_transaction_limit")
        );
        let e = &self.end_to_end;
        let el = &e["latency"];
        let _ = writeln!(
            s,
            "e2e:     {} lifecycles at {}/s → {:.0}/s completed, {} failed; PATCH→webhook p50 {:.1} / p95 {:.1} / p99 {:.1} / max {:.1} ms",
            e["lifecycles"],
            e["target_rate"],
            f(e, "lifecycles_per_sec"),
            e["failures"],
            f(el, "p50_ms"),
            f(el, "p95_ms"),
            f(el, "p99_ms"),
            f(el, "max_ms")
        );
        for u in &self.services {
            let _ = writeln!(
                s,
                "         {:<9} pid {:<7} cpu {:>6.1} s   peak RSS {:>5.1} MB",
                u.name,
                u.pid,
                u.cpu_seconds,
                u.peak_rss_bytes as f64 / 1_048_576.0
            );
        }
        let _ = writeln!(s, "targets:");
        for t in &self.targets {
            let _ = writeln!(
                s,
                "  [{}] {:<55} {:>8.2}  (target {})",
                if t.met { "met" } else { "NOT met" },
                t.name,
                t.value,
                t.target
            );
        }
        s
    }
}

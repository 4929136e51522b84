//! The real binaries as processes: ingress, workers, the notifier and `kyte-sim serve`, wired to
//! one database and topology. Used by the end-to-end tests and by `kyte-sim bench`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// Where the binaries are and how to reach the broker and the database.
#[derive(Debug, Clone)]
pub struct StackConfig {
    pub bin_dir: PathBuf,
    pub database_url: String,
    pub amqp_url: String,
    pub prefix: String,
    pub staff_token: String,
    pub inbound_secret: String,
    pub webhook_secret: String,
    /// Where the notifier sends webhooks.
    pub webhook_url: String,
    /// Extra environment for every service (e.g. `RUST_LOG`, `WORKER_PREFETCH`).
    pub env: Vec<(String, String)>,
    /// Show the services' logs on stderr.
    pub logs: bool,
    /// Or write each process's logs to `<dir>/<name>-<n>.log`.
    pub log_dir: Option<PathBuf>,
}

pub struct Stack {
    config: StackConfig,
    pub ingress_url: String,
    children: Vec<(String, Child)>,
}

/// A free loopback port (bound then released; the service binds it a moment later).
pub fn free_port() -> std::io::Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
}

impl Stack {
    pub fn new(config: StackConfig) -> anyhow::Result<Self> {
        let port = free_port()?;
        Ok(Self {
            config,
            ingress_url: format!("http://127.0.0.1:{port}"),
            children: Vec::new(),
        })
    }

    fn command(&self, binary: &str) -> Command {
        let c = &self.config;
        let mut cmd = Command::new(c.bin_dir.join(binary));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &c.database_url)
            .env("AMQP_URL", &c.amqp_url)
            .env("TOPOLOGY_PREFIX", &c.prefix)
            .env("RUST_LOG", "warn")
            .env("METRICS_ADDR", "127.0.0.1:0")
            .envs(c.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(if c.logs {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true);
        cmd
    }

    fn spawn(&mut self, name: &str, mut cmd: Command) -> anyhow::Result<u32> {
        if let Some(dir) = &self.config.log_dir {
            let file =
                std::fs::File::create(dir.join(format!("{name}-{}.log", self.children.len())))?;
            cmd.stderr(file);
        }
        let child = cmd
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {name}: {e}"))?;
        let pid = child.id().unwrap_or_default();
        self.children.push((name.to_owned(), child));
        Ok(pid)
    }

    pub fn start_ingress(&mut self) -> anyhow::Result<u32> {
        let addr = self.ingress_url.trim_start_matches("http://").to_owned();
        let mut cmd = self.command("ingress");
        cmd.env("INGRESS_ADDR", addr)
            .env("STAFF_TOKENS", format!("alice:{}", self.config.staff_token))
            .env("KYTE_INBOUND_SECRET", &self.config.inbound_secret);
        self.spawn("ingress", cmd)
    }

    pub fn start_worker(&mut self) -> anyhow::Result<u32> {
        let cmd = self.command("worker");
        self.spawn("worker", cmd)
    }

    pub fn start_notifier(&mut self) -> anyhow::Result<u32> {
        let mut cmd = self.command("notifier");
        cmd.env("KYTE_WEBHOOK_URL", &self.config.webhook_url)
            .env("KYTE_WEBHOOK_SECRET", &self.config.webhook_secret);
        self.spawn("notifier", cmd)
    }

    pub fn start_kyte_sim(&mut self, addr: &str) -> anyhow::Result<u32> {
        let mut cmd = self.command("kyte-sim");
        cmd.args(["serve", "--addr", addr])
            .env("KYTE_WEBHOOK_SECRET", &self.config.webhook_secret);
        self.spawn("kyte-sim", cmd)
    }

    /// SIGKILLs the `index`-th process called `name` (a crash: nothing is finished or closed).
    pub async fn kill(&mut self, name: &str, index: usize) -> anyhow::Result<()> {
        let (_, child) = self
            .children
            .iter_mut()
            .filter(|(n, _)| n == name)
            .nth(index)
            .ok_or_else(|| anyhow::anyhow!("no {name} #{index}"))?;
        child.kill().await?;
        Ok(())
    }

    /// (name, pid) of every process started.
    pub fn processes(&self) -> Vec<(String, u32)> {
        self.children
            .iter()
            .map(|(n, c)| (n.clone(), c.id().unwrap_or_default()))
            .collect()
    }

    /// Waits until `url` answers 2xx (a process's readiness), failing if a process died.
    pub async fn wait_ready(&mut self, url: &str, within: Duration) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if http
                .get(url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            for (name, child) in &mut self.children {
                if let Ok(Some(status)) = child.try_wait() {
                    anyhow::bail!("{name} exited early with {status}");
                }
            }
            anyhow::ensure!(
                started.elapsed() < within,
                "{url} not ready within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM to every process; returns each one's name and whether it exited 0.
    pub async fn terminate(mut self) -> Vec<(String, bool)> {
        for (_, child) in &self.children {
            if let Some(pid) = child.id() {
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .await;
            }
        }
        let mut out = Vec::new();
        for (name, child) in &mut self.children {
            let ok = matches!(tokio::time::timeout(Duration::from_secs(30), child.wait()).await, Ok(Ok(s)) if s.success());
            out.push((name.clone(), ok));
        }
        out
    }
}

/// The directory of the workspace's binaries next to a test executable (`target/<profile>`),
/// building ingress, worker, notifier and kyte-sim there first if they are missing (`cargo test`
/// builds only the tested package's binaries; `scripts/test.sh` builds them all beforehand).
pub async fn workspace_binaries(cargo: &str) -> anyhow::Result<PathBuf> {
    static BUILT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(std::path::Path::to_path_buf)
        .ok_or_else(|| anyhow::anyhow!("cannot tell the target directory"))?;
    let missing = ["ingress", "worker", "notifier", "kyte-sim"]
        .iter()
        .any(|b| !dir.join(b).exists());
    if missing {
        BUILT
            .get_or_try_init(|| async {
                let status = Command::new(cargo)
                    .args([
                        "build", "--bins", "-p", "ingress", "-p", "worker", "-p", "notifier", "-p",
                        "kyte-sim",
                    ])
                    .status()
                    .await?;
                anyhow::ensure!(status.success(), "building the service binaries failed");
                Ok(())
            })
            .await?;
    }
    Ok(dir)
}

/// CPU seconds used and peak resident memory (bytes) of a live process, from /proc.
pub fn process_usage(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((ticks / 100.0, hwm_kb * 1024))
}

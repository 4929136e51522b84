//! The staff console in a real headless Chromium (Debian's chromium + chromedriver), against
//! the real services: an order from kyte-sim appears, Accept and Done change it and reach Kyte,
//! and a refused action shows the API's error in words.

use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use kyte_relay_tests::harness::{STAFF_TOKEN, TestEnv, WEBHOOK_SECRET, wait_until};
use kyte_sim::{KyteClient, Receiver};
use serde_json::json;
use tokio::process::{Child, Command};

use crate::helpers::{order_json, unique_order_id, wait_for_status};

struct Browser {
    client: Client,
    _driver: Child,
    profile: std::path::PathBuf,
}

impl Browser {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let driver_bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {driver_bin} (install chromium and chromium-driver): {e}")
            });
        let status = format!("http://127.0.0.1:{port}/status");
        wait_until("chromedriver to start", Duration::from_secs(20), || async {
            reqwest::get(&status)
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        })
        .await;
        let profile =
            std::env::temp_dir().join(format!("kyte-console-{}", uuid::Uuid::new_v4().simple()));
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": chromium, "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-quic", "--window-size=1024,900",
                format!("--user-data-dir={}", profile.display()),
            ]}),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        Self {
            client,
            _driver: driver,
            profile,
        }
    }

    async fn wait_css(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
    }

    /// Clicks `css`, finding it again if the page re-rendered it between finding and clicking.
    async fn click(&self, css: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            match self.wait_css(css).await.click().await {
                Ok(()) => return,
                Err(e)
                    if std::time::Instant::now() < deadline && e.to_string().contains("stale") =>
                {
                    continue;
                }
                Err(e) => panic!("click {css}: {e}"),
            }
        }
    }

    async fn close(self) {
        let _ = self.client.close().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

async fn error_text(browser: &Browser) -> String {
    let element = browser.wait_css("#action-error").await;
    wait_until("an error message", Duration::from_secs(10), || async {
        element.text().await.ok().filter(|t| !t.is_empty())
    })
    .await
}

#[tokio::test]
async fn the_kitchen_accepts_and_completes_an_order_in_the_console() {
    let env = TestEnv::new().await;
    let receiver = Receiver::new(Some(WEBHOOK_SECRET)).expect("receiver");
    let (addr, _) = receiver
        .serve(([127, 0, 0, 1], 0).into())
        .await
        .expect("receiver");
    let ingress = env.start_ingress(|_| {}).await;
    let worker = env.start_worker(|_| {}).await;
    let notifier = env
        .start_notifier(&format!("http://{addr}/webhooks"), WEBHOOK_SECRET, |_| {})
        .await;
    let kyte = KyteClient::new(&ingress.url(), None).expect("client");
    let browser = Browser::start().await;

    browser
        .client
        .goto(&format!("{}/", ingress.url()))
        .await
        .expect("open the console");
    browser
        .wait_css("#token")
        .await
        .send_keys(STAFF_TOKEN)
        .await
        .expect("type the token");
    browser.click("#signin-form button[type=submit]").await;
    browser.wait_css("#app:not([hidden])").await;

    // A new order appears without a reload.
    let order_id = unique_order_id();
    kyte.order_created(&format!("evt-{order_id}"), &order_json(&order_id))
        .await
        .expect("post");
    browser
        .click(&format!("li[data-order-id='{order_id}'] button"))
        .await;
    browser
        .wait_css("#detail-status[data-status='pending']")
        .await;

    browser.click("#action-accept").await;
    browser
        .wait_css("#detail-status[data-status='accepted']")
        .await;
    browser.click("#action-done").await;
    browser
        .wait_css("#detail-status[data-status='completed']")
        .await;
    browser
        .wait_css("#notifications li[data-type='preparation_done'][data-state='delivered']")
        .await;
    let kinds: Vec<String> =
        wait_until("both webhooks at Kyte", Duration::from_secs(15), || async {
            let got: Vec<String> = receiver
                .delivered_for(&order_id)
                .iter()
                .map(|r| r.kind().to_owned())
                .collect();
            (got.len() >= 2).then_some(got)
        })
        .await;
    assert_eq!(kinds, ["preparation_accepted", "preparation_done"]);
    if let Ok(path) = std::env::var("KYTE_CONSOLE_SCREENSHOT") {
        let png = browser.client.screenshot().await.expect("screenshot");
        std::fs::write(path, png).expect("write screenshot");
    }

    // Refusals are shown in words. A validation error first: a delay over four hours.
    let late = unique_order_id();
    kyte.order_created(&format!("evt-{late}"), &order_json(&late))
        .await
        .expect("post");
    browser
        .click(&format!("li[data-order-id='{late}'] button"))
        .await;
    browser.click("#action-accept").await;
    browser
        .wait_css("#detail-status[data-status='accepted']")
        .await;
    let minutes = browser.wait_css("#delay-minutes").await;
    minutes.clear().await.expect("clear");
    minutes.send_keys("500").await.expect("type");
    browser.click("#action-delay").await;
    assert!(
        error_text(&browser)
            .await
            .contains("delay_minutes must be from 1 to 240")
    );

    // Then a state-machine refusal: Kyte cancels while the kitchen still sees the order
    // accepted (the page's refresh is paused so the stale view is certain).
    browser
        .client
        .execute("clearInterval(state.timer);", vec![])
        .await
        .expect("pause refresh");
    kyte.order_cancelled(&format!("evt-cancel-{late}"), &late, "customer_request")
        .await
        .expect("cancel");
    wait_for_status(&env, &late, "cancelled", 3).await;
    browser.click("#action-done").await;
    let error = wait_until("the refusal in words", Duration::from_secs(15), || async {
        let text = error_text(&browser).await;
        text.contains("cancelled").then_some(text)
    })
    .await;
    assert_eq!(error, "order is cancelled");

    browser.close().await;
    notifier.stop().await.expect("clean stop");
    worker.stop().await.expect("clean stop");
    ingress.stop().await.expect("clean stop");
    env.cleanup().await;
}

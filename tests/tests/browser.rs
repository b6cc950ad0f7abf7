//! The demo page in a real browser: Debian's Chromium, headless, driven over WebDriver by
//! ChromeDriver. `.ci/run` installs both; where they are absent this test says so and skips.

mod support;

use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::Host;
use support::tls::{Protocol, TestCert, TlsHost};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The demo page shows live stock through the source document's `EventSource` client code,
/// and an order's checkpoints through a stream that resumes from `Last-Event-ID`. The
/// host ends every stream after 4 s (its maximum lifetime), so the browser reconnects on its
/// own while events keep being published, and must still see each exactly once, in order.
#[tokio::test(flavor = "multi_thread")]
async fn the_demo_page_shows_live_stock_and_resumes_after_the_server_cuts_the_stream() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let host = Host::demo_with(&[(
        "sluice.yaml",
        "store: sluice.db\nmaxStreamLifetimeSeconds: 4\n",
    )])
    .await;
    browser.goto(&host.url("/")).await;

    // init (PROD-001: physical 150, reserved 5 → available 145), then a click → stockUpdated.
    let init = browser.wait_for_log_entry("init", 0).await;
    assert_eq!(available(&init), 145, "{init}");
    assert_eq!(browser.text("#available").await, "145");
    browser.click("#reserve").await;
    let update = browser.wait_for_log_entry("stockUpdated", 0).await;
    assert_eq!(available(&update), 144, "{update}");
    assert_eq!(browser.text("#available").await, "144");

    // The order stream is subscribed once its `init` has arrived. Publish every 100 ms until
    // the browser has reconnected and seen a few more, noting when each was published.
    browser.wait_for_log_entry("order init", 0).await;
    let mut published = Vec::new();
    let mut published_after_reconnect = 0;
    while published_after_reconnect < 5 {
        assert!(published.len() < 200, "the browser never reconnected");
        let seq = published.len() + 1;
        let at = now_millis();
        let id = host
            .publish("actors/order/ORD-123", "checkpoint", json!({ "seq": seq }))
            .await;
        published.push((id, at));
        if browser.log_entries("order open").await.len() >= 2 {
            published_after_reconnect += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    browser
        .wait_for_log_entry("order updated", published.len() - 1)
        .await;
    let updates = browser.log_entries("order updated").await;
    let seen: Vec<(u64, u64)> = updates
        .iter()
        .map(|entry| {
            let event: Value =
                serde_json::from_str(entry["data"].as_str().expect("data")).expect("JSON data");
            let id = entry["lastEventId"]
                .as_str()
                .expect("id")
                .parse()
                .expect("numeric id");
            (event["data"]["seq"].as_u64().expect("seq"), id)
        })
        .collect();
    let expected: Vec<(u64, u64)> = published
        .iter()
        .enumerate()
        .map(|(index, (id, _))| (index as u64 + 1, *id))
        .collect();
    assert_eq!(
        seen, expected,
        "every event once, in order, with its bus id"
    );

    // The reconnection sent Last-Event-ID: a fresh connection would have had another init,
    // and a lost event a gap.
    assert_eq!(browser.log_entries("order init").await.len(), 1);
    assert!(browser.log_entries("order gap").await.is_empty());

    // And some events were published while the browser was away: they came by replay.
    let reopened = browser.log_entries("order open").await[1]["at"]
        .as_u64()
        .expect("time");
    let replayed = published
        .iter()
        .zip(&updates)
        .filter(|((_, published_at), update)| {
            *published_at + 100 < reopened && update["at"].as_u64() >= Some(reopened)
        })
        .count();
    assert!(
        replayed > 0,
        "nothing was published during the reconnection"
    );
}

/// A page with ten `EventSource`s to one origin. Over HTTP/1.1 Chromium opens at most six
/// connections per origin, so four would wait forever; over https the host offers HTTP/2 by
/// ALPN, and all ten share one connection. Every one gets an event published once all are
/// open.
#[tokio::test(flavor = "multi_thread")]
async fn ten_event_sources_on_one_https_origin_are_all_live_at_once() {
    // The certificate is self-signed at test time, so Chromium is told to accept it.
    let Some(browser) = Browser::start_with(&["--ignore-certificate-errors"]).await else {
        return;
    };
    let cert = TestCert::generate();
    let host = TlsHost::start(&cert, "", &[("public/index.html", TEN_STREAMS_PAGE)]).await;
    browser.goto(&host.url("/")).await;

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while browser.log_entries("open").await.len() < STREAMS {
        assert!(
            std::time::Instant::now() < deadline,
            "not every stream opened within 30 s; the page logged {}",
            browser.script("return window.sluiceLog").await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let protocol = browser
        .script("return performance.getEntriesByType('navigation')[0].nextHopProtocol")
        .await;
    assert_eq!(protocol, "h2", "the page came over HTTP/2");

    let client = TlsHost::client(&[&cert], Protocol::Any);
    host.wait_for_subscribers(&client, STREAMS as u64).await;
    host.publish(&client, "actors/order/ORD-123", json!({ "seq": 1 }))
        .await;
    browser.wait_for_log_entry("updated", STREAMS - 1).await;
    let mut streams: Vec<u64> = browser
        .log_entries("updated")
        .await
        .iter()
        .map(|entry| {
            let (stream, data) = entry["data"]
                .as_str()
                .and_then(|data| data.split_once(' '))
                .expect("`<stream> <data>`");
            let event: Value = serde_json::from_str(data).expect("JSON data");
            assert_eq!(event["data"]["seq"], 1, "{entry}");
            stream.parse().expect("stream number")
        })
        .collect();
    streams.sort_unstable();
    assert_eq!(streams, (0..STREAMS as u64).collect::<Vec<_>>());
    assert!(browser.log_entries("error").await.is_empty());
}

const STREAMS: usize = 10;

/// Ten streams of one order; each logs when it opens and what it receives.
const TEN_STREAMS_PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>Ten streams</title>
<script>
  window.sluiceLog = []
  const log = (type, data) => window.sluiceLog.push({ type, data, lastEventId: '', at: Date.now() })
  for (let stream = 0; stream < 10; stream++) {
    const source = new EventSource('/ingress/api/orders/ORD-123/events')
    source.onopen = () => log('open', String(stream))
    source.onerror = () => log('error', String(stream))
    source.addEventListener('updated', (e) => log('updated', `${stream} ${e.data}`))
  }
</script>
"#;

fn available(entry: &Value) -> u64 {
    let stock: Value = serde_json::from_str(entry["data"].as_str().expect("data")).expect("JSON");
    stock["data"]["calculateAvailableStock"]["available"]
        .as_u64()
        .expect("available")
}

fn now_millis() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    since_epoch.as_millis() as u64
}

/// A headless Chromium session behind its own ChromeDriver, driven through `fantoccini`.
struct Browser {
    client: fantoccini::Client,
    driver_port: u16,
    /// `/session/<id>`, under the driver's address.
    session: String,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Start ChromeDriver and a session, or `None` (with a message) where either is missing.
    async fn start() -> Option<Self> {
        Self::start_with(&[]).await
    }

    /// Like [`Browser::start`], with more Chromium flags.
    async fn start_with(extra_args: &[&str]) -> Option<Self> {
        for program in [CHROMIUM, CHROMEDRIVER] {
            if !std::path::Path::new(program).exists() {
                eprintln!(
                    "SKIPPED: {program} is not installed \
                     (apt-get install chromium chromium-driver; .ci/run does this)"
                );
                return None;
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let ready = async {
            let status = reqwest::Client::new();
            loop {
                if let Ok(response) = status.get(format!("{base}/status")).send().await
                    && let Ok(status) = response.json::<Value>().await
                    && status["value"]["ready"] == true
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), ready)
            .await
            .expect("chromedriver ready within 20 s");

        // Flags from this machine's notes: no sandbox as root, and no background networking,
        // which a closed network refuses.
        let profile = tempfile::tempdir().expect("profile dir");
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let args: Vec<String> = args
            .into_iter()
            .chain(extra_args.iter().map(|&arg| arg.to_owned()))
            .collect();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({ "binary": CHROMIUM, "args": args }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = tokio::time::timeout(
            Duration::from_secs(60),
            fantoccini::ClientBuilder::new(connector)
                .capabilities(capabilities)
                .connect(&base),
        )
        .await
        .expect("a session within 60 s")
        .expect("a WebDriver session");
        let session = client
            .session_id()
            .await
            .expect("session id")
            .expect("a session id");
        Some(Self {
            driver_port: port,
            session: format!("/session/{session}"),
            client,
            _driver: driver,
            _profile: profile,
        })
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    async fn script(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .expect("script runs")
    }

    /// The page's log entries of one type, each `{type, data, lastEventId, at}`.
    async fn log_entries(&self, kind: &str) -> Vec<Value> {
        let log = self.script("return window.sluiceLog || []").await;
        log.as_array()
            .expect("sluiceLog is an array")
            .iter()
            .filter(|entry| entry["type"] == kind)
            .cloned()
            .collect()
    }

    /// Wait up to 10 s for the `index`th log entry of a type.
    async fn wait_for_log_entry(&self, kind: &str, index: usize) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Some(entry) = self.log_entries(kind).await.get(index) {
                return entry.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no '{kind}' entry #{index} within 10 s; the page logged {}",
            self.script("return window.sluiceLog").await
        );
    }

    async fn text(&self, css: &str) -> String {
        let element = self
            .client
            .find(fantoccini::Locator::Css(css))
            .await
            .expect("the element");
        element.text().await.expect("its text")
    }

    /// A real click, through WebDriver's element API.
    async fn click(&self, css: &str) {
        let element = self
            .client
            .find(fantoccini::Locator::Css(css))
            .await
            .expect("the element");
        element.click().await.expect("click");
    }
}

impl Drop for Browser {
    /// End the session, which closes Chromium, even when the test panics: killing only the
    /// driver would leave the browser running. A plain blocking request, as there is no
    /// runtime to await on in `drop`.
    fn drop(&mut self) {
        use std::io::{Read as _, Write as _};
        let end_session = || -> std::io::Result<()> {
            let mut driver = std::net::TcpStream::connect(("127.0.0.1", self.driver_port))?;
            driver.set_read_timeout(Some(Duration::from_secs(10)))?;
            write!(
                driver,
                "DELETE {} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            )?;
            // The answer comes once Chromium has quit; the driver may keep the connection.
            driver.read(&mut [0; 512]).map(drop)
        };
        if let Err(err) = end_session() {
            eprintln!("could not end the browser session: {err}");
        }
    }
}

//! Components that break the instance limits (SPEC S7): an infinite loop is cut at the CPU
//! budget, a memory bomb traps at the memory limit, and cap exhaustion is refused, all
//! while a healthy stream on the same host keeps delivering on time.

mod cluster_support;
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{Value, json};
use support::Host;

const HOSTILE: &str = "uri: /resources/ingresses/hostile\nspec:\n  type: http\n  componentId: limits-hostile\n  properties:\n    route: api/hostile/{attack}\n    httpMethod: get\n    isPublic: true\n";

const FAILED_JSON: &str =
    r#"{"error":{"code":"COMPONENT_FAILED","message":"the component failed"}}"#;
const FIRST_THEN_FAILED_SSE: &str = "event: first\n\nevent: error\ndata: {\"code\":\"COMPONENT_FAILED\",\"message\":\"the component failed\"}\n\n";

/// The healthy stream gets one event every this long.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// The largest gap between two healthy events that counts as on time. Events are due every
/// 100 ms; a loop may hold a worker for the 100 ms CPU budget, so 1 s is generous.
const ON_TIME: Duration = Duration::from_secs(1);

/// An order-events stream fed by one publish every 100 ms, recording when each event
/// arrives.
struct Healthy {
    stop: Arc<AtomicBool>,
    publisher: tokio::task::JoinHandle<u64>,
    arrivals: Arc<Mutex<Vec<(u64, Instant)>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Healthy {
    async fn start(host: &Host) -> Self {
        let topic = "actors/order/HEALTHY";
        let mut events = host.stream("/ingress/api/orders/HEALTHY/events").await;
        host.wait_for_subscribers(1).await;
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let reader = tokio::spawn({
            let arrivals = arrivals.clone();
            async move {
                while let Some(event) = events.try_next_within(Duration::from_secs(30)).await {
                    let data: Value = serde_json::from_str(&event.data).expect("json");
                    let n = data["data"]["n"].as_u64().expect("n");
                    arrivals.lock().expect("arrivals").push((n, Instant::now()));
                }
            }
        });
        let stop = Arc::new(AtomicBool::new(false));
        let publisher = tokio::spawn({
            let (stop, url, client) = (
                stop.clone(),
                host.admin_url("/_sluice/publish"),
                host.client.clone(),
            );
            async move {
                let mut ticks = tokio::time::interval(PUBLISH_EVERY);
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    ticks.tick().await;
                    let body = json!({ "topic": topic, "event": "checkpoint", "data": { "n": n } });
                    let response = client.post(&url).json(&body).send().await.expect("publish");
                    assert_eq!(response.status(), 202);
                    n += 1;
                }
                n
            }
        });
        let healthy = Self {
            stop,
            publisher,
            arrivals,
            reader,
        };
        healthy.wait_for(3).await;
        healthy
    }

    fn received(&self) -> usize {
        self.arrivals.lock().expect("arrivals").len()
    }

    /// Wait until `more` further events have arrived.
    async fn wait_for(&self, more: usize) {
        let target = self.received() + more;
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.received() < target {
            assert!(Instant::now() < deadline, "the healthy stream stalled");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stop publishing; check that every event arrived, in order; the largest gap between
    /// two arrivals.
    async fn finish(self) -> Duration {
        let Self {
            stop,
            publisher,
            arrivals,
            reader,
        } = self;
        stop.store(true, Ordering::Relaxed);
        let published = publisher.await.expect("publisher");
        let received = || arrivals.lock().expect("arrivals").len() as u64;
        let deadline = Instant::now() + Duration::from_secs(5);
        while received() < published {
            assert!(Instant::now() < deadline, "healthy events were lost");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        reader.abort();
        let arrivals = arrivals.lock().expect("arrivals").clone();
        let order: Vec<u64> = arrivals.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            order,
            (0..published).collect::<Vec<_>>(),
            "every event, in order"
        );
        arrivals
            .windows(2)
            .map(|pair| pair[1].1 - pair[0].1)
            .max()
            .unwrap_or_default()
    }
}

/// Send `attack`; the status, content type, body and how long it took.
async fn attack(host: &Host, attack: &str, accept: &str) -> (u16, String, String, Duration) {
    let started = Instant::now();
    let response = host
        .client
        .get(host.url(&format!("/ingress/api/hostile/{attack}")))
        .header("accept", accept)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("text")
        .to_owned();
    let body = tokio::time::timeout(Duration::from_secs(5), response.text())
        .await
        .expect("the response ends")
        .expect("body");
    (status, content_type, body, started.elapsed())
}

/// Wait until only `live` instances are left.
async fn wait_for_live_instances(host: &Host, live: u64) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while host.live_instances().await != live {
        assert!(
            Instant::now() < deadline,
            "instances not released within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// With `config`, run `before` (pre-stream) and `after_first` (mid-stream) attacks, in JSON
/// and SSE mode, three rounds of five at once (more than the runtime has workers), beside a
/// healthy stream; the healthy stream's largest gap.
async fn attack_beside_a_healthy_stream(config: &str, before: &str, after_first: &str) -> Duration {
    let host = Host::demo_with_fixtures(
        &[sluice_e2e::fixtures::LIMITS_HOSTILE],
        &[("sluice.yaml", config), ("ingresses/hostile.yaml", HOSTILE)],
    )
    .await;
    let healthy = Healthy::start(&host).await;
    for _round in 0..3 {
        let attacks = [
            (before, "application/json"),
            (before, "application/json"),
            (before, "text/event-stream"),
            (after_first, "text/event-stream"),
            (after_first, "application/json"),
        ];
        let results = join_all(
            attacks
                .iter()
                .map(|(name, accept)| attack(&host, name, accept)),
        )
        .await;
        for ((name, accept), (status, content_type, body, took)) in attacks.iter().zip(results) {
            eprintln!("{name} ({accept}): {status} in {took:?}");
            assert!(took < Duration::from_secs(3), "{name} took {took:?}");
            match (*name == before, *accept == "text/event-stream") {
                // Failed before the stream started: an ordinary HTTP error, SSE or not.
                (true, _) => {
                    assert_eq!(status, 500, "{name} {accept}");
                    assert_eq!(content_type, "application/json");
                    assert_eq!(body, FAILED_JSON);
                }
                // Failed after `first`: the stream ends with a COMPONENT_FAILED event.
                (false, true) => {
                    assert_eq!(status, 200);
                    assert_eq!(content_type, "text/event-stream");
                    assert_eq!(body, FIRST_THEN_FAILED_SSE);
                }
                // JSON mode ends with the first value; the attack never runs.
                (false, false) => {
                    assert_eq!(status, 200);
                    assert_eq!(body, r#"{"event":"first"}"#);
                }
            }
        }
    }
    wait_for_live_instances(&host, 1).await;
    healthy.wait_for(3).await;
    let gap = healthy.finish().await;
    host.assert_instances_released().await;
    gap
}

#[tokio::test(flavor = "multi_thread")]
async fn an_infinite_loop_is_cut_at_the_cpu_budget_and_a_healthy_stream_stays_on_time() {
    let gap = attack_beside_a_healthy_stream("", "spin", "spin-after-first").await;
    eprintln!("beside spin: healthy stream, largest gap: {gap:?}");
    assert!(gap < ON_TIME, "the healthy stream stalled for {gap:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loop_runs_for_the_cpu_budget_before_it_is_cut() {
    let host = Host::demo_with_fixtures(
        &[sluice_e2e::fixtures::LIMITS_HOSTILE],
        &[
            ("sluice.yaml", "cpuPerCallMs: 300\n"),
            ("ingresses/hostile.yaml", HOSTILE),
        ],
    )
    .await;
    let (status, _, body, took) = attack(&host, "spin", "application/json").await;
    assert_eq!((status, body.as_str()), (500, FAILED_JSON));
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "cut after {took:?}, budget 300 ms"
    );
    host.assert_instances_released().await;
}

/// The OS may take the CPU from the host's thread, or stop the whole process, while a guest
/// computes. The budget counts the guest's CPU, not that time. Twelve `work` requests (about
/// 20 ms of computing each) while `sluice serve` is stopped for 150 ms at a time, longer than
/// the 100 ms budget: before the budget's clock stopped charging such time, a stop in a
/// call's first tick cut the healthy guest off with a 500.
#[tokio::test(flavor = "multi_thread")]
async fn a_guest_is_not_charged_for_the_time_its_process_was_stopped() {
    const REQUESTS: usize = 12;
    let mut node = cluster_support::Node::spawn_with("maxInstances: 50\n", |dir| {
        sluice_e2e::fixtures::LIMITS_HOSTILE
            .write_to(dir)
            .expect("fixture");
        std::fs::write(dir.join("ingresses/hostile.yaml"), HOSTILE).expect("ingress");
    });
    node.wait_ready().await;
    let pid = node.pid().expect("running").to_string();
    let signal = move |name: &str| {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), pid.as_str()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name}");
    };
    let done = Arc::new(AtomicBool::new(false));
    let stopper = tokio::spawn({
        let done = done.clone();
        async move {
            let (mut stops, mut running) = (0u32, 3u64);
            while !done.load(Ordering::Relaxed) {
                signal("STOP");
                tokio::time::sleep(Duration::from_millis(150)).await;
                signal("CONT");
                stops += 1;
                // Run for 3 to 25 ms, varied, so stops fall at every point of a call.
                tokio::time::sleep(Duration::from_millis(running)).await;
                running = 3 + (running * 7) % 23;
            }
            stops
        }
    });
    let client = reqwest::Client::new();
    let mut failed = Vec::new();
    for n in 0..REQUESTS {
        let response = client
            .get(node.url("/ingress/api/hostile/work"))
            .header("accept", "application/json")
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body = response.text().await.expect("body");
        if status != 200 || !body.starts_with(r#"{"event":"worked","data":"#) {
            failed.push((n, status, body));
        }
    }
    done.store(true, Ordering::Relaxed);
    let stops = stopper.await.expect("stopper");
    assert!(
        failed.is_empty(),
        "{} of {REQUESTS} failed while the host was stopped {stops} times: {failed:?}\n{}",
        failed.len(),
        node.log()
    );
    assert!(stops as usize >= REQUESTS, "only {stops} stops");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_bomb_traps_at_the_memory_limit_and_a_healthy_stream_stays_on_time() {
    // A CPU budget far above the 3 s the attacks may take: only the memory limit can have
    // stopped them. 16 MiB keeps each bomb short, so four at once on two workers cannot
    // stall the healthy stream for long.
    let config = "memoryPerInstanceMiB: 16\ncpuPerCallMs: 60000\n";
    let gap = attack_beside_a_healthy_stream(config, "hoard", "hoard-after-first").await;
    eprintln!("beside hoard: healthy stream, largest gap: {gap:?}");
    assert!(gap < ON_TIME, "the healthy stream stalled for {gap:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_memory_limit_stops_a_memory_bomb() {
    let host = Host::demo_with_fixtures(
        &[sluice_e2e::fixtures::LIMITS_HOSTILE],
        &[
            ("sluice.yaml", "cpuPerCallMs: 60000\n"),
            ("ingresses/hostile.yaml", HOSTILE),
        ],
    )
    .await;
    let (status, content_type, body, took) = attack(&host, "hoard", "application/json").await;
    eprintln!("hoard to 64 MiB: {status} in {took:?}");
    assert_eq!((status, content_type.as_str()), (500, "application/json"));
    assert_eq!(body, FAILED_JSON);
    assert!(took < Duration::from_secs(3), "{took:?}");
    let (status, _, body, _) = attack(&host, "hoard-after-first", "text/event-stream").await;
    assert_eq!(status, 200);
    assert_eq!(body, FIRST_THEN_FAILED_SSE);
    host.assert_instances_released().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cap_exhaustion_is_refused_with_503_and_a_healthy_stream_stays_on_time() {
    let host = Host::demo_with(&[("sluice.yaml", "maxInstances: 4\n")]).await;
    let healthy = Healthy::start(&host).await;
    let mut fillers = Vec::new();
    for n in 0..3 {
        let filler = host.sse(&format!("/ingress/api/orders/FILL-{n}/events"));
        let filler = filler.send().await.expect("request");
        assert_eq!(filler.status(), 200);
        fillers.push(filler);
    }
    for _round in 0..5 {
        let refused = join_all((0..10).map(|_| host.sse("/ingress/api/hello").send())).await;
        for response in refused {
            let response = response.expect("request");
            assert_eq!(response.status(), 503);
            assert_eq!(response.headers()["retry-after"], "1");
            assert_eq!(response.headers()["content-type"], "application/json");
            let body: Value = response.json().await.expect("json");
            assert_eq!(body["error"]["code"], "UNAVAILABLE");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(host.live_instances().await, 4);
    drop(fillers);
    wait_for_live_instances(&host, 1).await;
    let hello = host
        .sse("/ingress/api/hello")
        .send()
        .await
        .expect("request");
    assert_eq!(hello.status(), 200);
    assert_eq!(
        hello.text().await.expect("body"),
        "data: \"Hello world\"\n\n"
    );
    healthy.wait_for(3).await;
    let gap = healthy.finish().await;
    eprintln!("beside cap exhaustion: healthy stream, largest gap: {gap:?}");
    assert!(gap < ON_TIME, "the healthy stream stalled for {gap:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_attack_is_a_400_not_a_failure() {
    let host = Host::demo_with_fixtures(
        &[sluice_e2e::fixtures::LIMITS_HOSTILE],
        &[("ingresses/hostile.yaml", HOSTILE)],
    )
    .await;
    let (status, _, body, _) = attack(&host, "nope", "application/json").await;
    assert_eq!(status, 400);
    let body: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body["error"]["code"], "INVALID_PARAMETER");
}

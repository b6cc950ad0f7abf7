//! Prometheus metrics on the wire: the demo driven over HTTP, then `/metrics` scraped and
//! read by a Prometheus text parser that is not ours (`prometheus-parse`).
//!
//! prometheus-parse reads the Prometheus text format; prometheus-client writes OpenMetrics,
//! whose counter family `x` has its sample named `x_total`. The parser finds no `# TYPE`
//! for `x_total` and so reads counters as untyped values: the values and labels are
//! parsed all the same, and the declared types are checked on the `# TYPE` lines.

mod support;

use std::time::{Duration, Instant};

use prometheus_parse::{Sample, Scrape, Value as Parsed};
use serde_json::json;
use support::Host;

const STATIC_TOKEN: &str = "sluice_static-token-for-the-metrics-tests";

/// Where the host serves its metrics: the admin listener.
fn metrics_url(host: &Host) -> String {
    host.admin_url("/metrics")
}

/// The demo with auth on, and `whoami` at `api/whoami`, not public; the static token may
/// call only another ingress.
async fn host() -> Host {
    let tokens = format!(
        "- sha256: {}\n  subject: metrics-bot\n  scope: ingresses/api/hello:http\n",
        sluice::auth::hex(&sluice::auth::sha256(STATIC_TOKEN))
    );
    Host::demo_with_fixtures(
        &[sluice_e2e::fixtures::WHOAMI],
        &[
        (
            "sluice.yaml",
            "store: sluice.db\n\
             auth:\n  audience: sluice\n  tokensFile: tokens.yaml\n  keys:\n\
             \x20   - { algorithm: HS256, secretFile: keys/hs256.key }\n",
        ),
        ("keys/hs256.key", include_str!("../fixtures/auth/hs256.key")),
        ("tokens.yaml", &tokens),
        (
            "ingresses/whoami.yaml",
            "uri: /resources/ingresses/api/whoami\nspec:\n  type: http\n  componentId: whoami\n  \
             acl: []\n  properties:\n    route: api/whoami\n    httpMethod: get\n    isPublic: false\n",
        ),
    ],
    )
    .await
}

/// One scrape: the text, checked for its content type and `# EOF`, and its parse.
async fn scrape(host: &Host) -> (String, Scrape) {
    let response = host
        .client
        .get(metrics_url(host))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = response.text().await.expect("text");
    assert!(
        text.ends_with("# EOF\n"),
        "an OpenMetrics exposition ends with # EOF"
    );
    let lines = text.lines().map(|line| Ok(line.to_owned()));
    let parsed = Scrape::parse(lines).expect("the scrape parses");
    (text, parsed)
}

/// The sample `name` whose labels are exactly `labels`.
fn sample<'a>(scrape: &'a Scrape, name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    scrape.samples.iter().find(|sample| {
        sample.metric == name
            && sample.labels.len() == labels.len()
            && labels
                .iter()
                .all(|(key, value)| sample.labels.get(key) == Some(*value))
    })
}

/// The value of a counter, gauge or untyped sample.
fn single(sample: &Sample) -> f64 {
    match &sample.value {
        Parsed::Counter(v) | Parsed::Gauge(v) | Parsed::Untyped(v) => *v,
        other => panic!("{} is not a single value: {other:?}", sample.metric),
    }
}

/// The value of the series `name` with exactly `labels`; `None` when there is none.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    sample(scrape, name, labels).map(single)
}

/// Like [`value`], for a series that must exist.
fn must(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(scrape, name, labels)
        .unwrap_or_else(|| panic!("no series {name}{labels:?} in the scrape"))
}

/// Scrape until `done` holds, for at most 10 s (the condition settles in milliseconds;
/// the margin is for a loaded machine). Returns the scrape that satisfied it.
async fn scrape_until(host: &Host, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, scrape) = scrape(host).await;
        if done(&scrape) {
            return scrape;
        }
        assert!(Instant::now() < deadline, "never saw: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scrape_counts_what_the_demo_was_asked_and_how_its_streams_ended() {
    let host = host().await;

    // A JSON request, a route that matches nothing, and callers turned away three ways.
    let lookup = host
        .json("/ingress/api/skus/PROD-001")
        .send()
        .await
        .expect("lookup");
    assert_eq!(lookup.status(), 200);
    let missing = host
        .json("/ingress/no/such/route")
        .send()
        .await
        .expect("404");
    assert_eq!(missing.status(), 404);
    let no_token = host.json("/ingress/api/whoami").send().await.expect("401");
    assert_eq!(no_token.status(), 401);
    let bad_token = host
        .json("/ingress/api/whoami")
        .bearer_auth("not-a-token")
        .send()
        .await
        .expect("401");
    assert_eq!(bad_token.status(), 401);
    let wrong_scope = host
        .json("/ingress/api/whoami")
        .bearer_auth(STATIC_TOKEN)
        .send()
        .await
        .expect("403");
    assert_eq!(wrong_scope.status(), 403);

    // An actor call through a component, and one to an actor type that does not exist.
    let reserved = host
        .client
        .post(host.url("/ingress/api/skus/PROD-001/stock"))
        .json(&json!({"commands": [{"type": "reserve", "quantity": 1}]}))
        .send()
        .await
        .expect("reserve");
    assert_eq!(reserved.status(), 200);
    let unknown = host
        .client
        .post(host.admin_url("/_sluice/actors/no-such-type/x"))
        .json(&json!({"type": "hello"}))
        .send()
        .await
        .expect("admin actor call");
    assert_eq!(unknown.status(), 404);

    // An SSE stream that receives two events, then its client leaves.
    let (_, before) = scrape(&host).await;
    let published_before =
        value(&before, "sluice_bus_publishes_total", &[("result", "ok")]).unwrap_or(0.0);
    let mut events = host.stream("/ingress/api/orders/ORD-M/events").await;
    scrape_until(&host, "one bus subscriber", |s| {
        value(s, "sluice_bus_subscribers", &[]) == Some(1.0)
    })
    .await;
    let stream = [("ingress", "api/orders/events")];
    let (_, open) = scrape(&host).await;
    assert_eq!(must(&open, "sluice_sse_streams_open", &stream), 1.0);
    host.publish("actors/order/ORD-M", "checkpoint", json!({"n": 1}))
        .await;
    host.publish("actors/order/ORD-M", "checkpoint", json!({"n": 2}))
        .await;
    assert_eq!(events.next().await.event, "updated");
    assert_eq!(events.next().await.event, "updated");
    drop(events);

    let ended = [("ingress", "api/orders/events"), ("reason", "client_gone")];
    scrape_until(&host, "the stream ended with its client gone", |s| {
        value(s, "sluice_sse_streams_open", &stream) == Some(0.0)
            && value(s, "sluice_sse_stream_ends_total", &ended) == Some(1.0)
    })
    .await;
    scrape_until(&host, "every instance released", |s| {
        value(s, "sluice_instances_live", &[]) == Some(0.0)
    })
    .await;
    let (text, after) = scrape(&host).await;

    // Requests, by ingress, mode and status class; a 404 has no ingress.
    let request = |ingress, mode, status| {
        must(
            &after,
            "sluice_requests_total",
            &[("ingress", ingress), ("mode", mode), ("status", status)],
        )
    };
    assert_eq!(request("api/skus/lookup", "json", "2xx"), 1.0);
    assert_eq!(request("", "json", "4xx"), 1.0);
    assert_eq!(request("api/whoami", "json", "4xx"), 3.0);
    assert_eq!(request("api/skus/stock-commands", "json", "2xx"), 1.0);
    assert_eq!(request("api/orders/events", "sse", "2xx"), 1.0);
    assert_eq!(
        value(
            &after,
            "sluice_requests_total",
            &[
                ("ingress", "api/whoami"),
                ("mode", "json"),
                ("status", "2xx")
            ]
        ),
        None,
        "no whoami call got through"
    );

    // Callers turned away, by reason.
    for reason in ["missing", "invalid", "insufficient_scope"] {
        assert_eq!(
            must(
                &after,
                "sluice_auth_refusals_total",
                &[("ingress", "api/whoami"), ("reason", reason)]
            ),
            1.0,
            "{reason}"
        );
    }

    // The stream: two events, bytes, one first event, one duration, ended by its client.
    assert_eq!(must(&after, "sluice_sse_events_sent_total", &stream), 2.0);
    assert!(must(&after, "sluice_sse_sent_bytes_total", &stream) > 0.0);
    assert_eq!(
        must(
            &after,
            "sluice_sse_time_to_first_event_seconds_count",
            &stream
        ),
        1.0
    );
    assert_eq!(
        must(&after, "sluice_sse_stream_duration_seconds_count", &stream),
        1.0
    );
    for reason in [
        "slow_consumer",
        "lifetime",
        "drain",
        "component_failed",
        "component_ended",
    ] {
        assert_eq!(
            value(
                &after,
                "sluice_sse_stream_ends_total",
                &[("ingress", "api/orders/events"), ("reason", reason)]
            ),
            None,
            "{reason}"
        );
    }
    let histogram = after
        .samples
        .iter()
        .find(|s| {
            s.metric == "sluice_sse_time_to_first_event_seconds"
                && s.labels.get("ingress") == Some("api/orders/events")
        })
        .expect("the time-to-first-event histogram, with its labels");
    assert!(matches!(histogram.value, Parsed::Histogram(_)));

    // Instances: each request instantiated once, and its guest ran for some CPU time.
    let lookup = [("ingress", "api/skus/lookup")];
    assert_eq!(
        must(&after, "sluice_instantiation_seconds_count", &lookup),
        1.0
    );
    assert!(must(&after, "sluice_guest_cpu_seconds_total", &lookup) > 0.0);
    assert_eq!(must(&after, "sluice_instances_live", &[]), 0.0);
    assert!(must(&after, "sluice_instances_capacity", &[]) > 0.0);
    assert_eq!(must(&after, "sluice_capacity_refusals_total", &[]), 0.0);

    // The bus: the two publishes, no subscriber left.
    assert_eq!(
        must(&after, "sluice_bus_publishes_total", &[("result", "ok")]) - published_before,
        2.0
    );
    assert_eq!(must(&after, "sluice_bus_subscribers", &[]), 0.0);
    assert!(value(&after, "sluice_bus_topics", &[]).is_some());

    // Actors: one call to `sku`, one to a type that is not deployed (not a label value).
    let sku = [("actor_type", "sku")];
    assert_eq!(must(&after, "sluice_actor_calls_total", &sku), 1.0);
    assert_eq!(
        must(&after, "sluice_actor_call_duration_seconds_count", &sku),
        1.0
    );
    assert_eq!(
        must(
            &after,
            "sluice_actor_rejections_total",
            &[("actor_type", "(unknown)"), ("reason", "unknown_type")]
        ),
        1.0
    );
    assert!(
        !text.contains("no-such-type"),
        "a caller's actor type is never a label"
    );
    assert!(
        !text.contains("ORD-M"),
        "a route parameter is never a label"
    );

    // The boot is the first deploy load.
    assert_eq!(
        must(&after, "sluice_deploy_reloads_total", &[("result", "ok")]),
        1.0
    );

    // The declared types (the parser reads OpenMetrics counters as untyped).
    for declared in [
        "# TYPE sluice_requests counter",
        "# TYPE sluice_sse_streams_open gauge",
        "# TYPE sluice_sse_time_to_first_event_seconds histogram",
        "# TYPE sluice_sse_stream_duration_seconds histogram",
        "# TYPE sluice_sse_stream_ends counter",
        "# TYPE sluice_guest_cpu_seconds counter",
        "# TYPE sluice_instances_live gauge",
        "# TYPE sluice_capacity_refusals counter",
        "# UNIT sluice_sse_sent_bytes bytes",
    ] {
        assert!(text.lines().any(|line| line == declared), "{declared}");
    }
}

/// A client that stops reading is cut off after `dispatchTimeoutSeconds`; its stream ends
/// as `slow_consumer`, not as a client that left.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_cut_off_for_not_reading_ends_as_a_slow_consumer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let host = Host::demo_with(&[(
        "sluice.yaml",
        "store: sluice.db\ndispatchTimeoutSeconds: 1\n",
    )])
    .await;
    let mut slow = tokio::net::TcpStream::connect(host.addr)
        .await
        .expect("connect");
    slow.write_all(
        b"GET /ingress/api/orders/ORD-S/events HTTP/1.1\r\nhost: t\r\naccept: text/event-stream\r\n\r\n",
    )
    .await
    .expect("request");
    let mut head = [0u8; 512];
    let n = slow.read(&mut head).await.expect("head");
    assert!(head[..n].starts_with(b"HTTP/1.1 200"));
    scrape_until(&host, "one bus subscriber", |s| {
        value(s, "sluice_bus_subscribers", &[]) == Some(1.0)
    })
    .await;

    // Events of 64 KiB until the host gives up on the client: the socket buffers, then
    // the stream's own buffer fill up, and a burst waits longer than the dispatch timeout.
    let slow_consumer = [
        ("ingress", "api/orders/events"),
        ("reason", "slow_consumer"),
    ];
    let payload = "x".repeat(64 * 1024);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = 0;
    loop {
        let (_, scrape) = scrape(&host).await;
        if value(&scrape, "sluice_sse_stream_ends_total", &slow_consumer) == Some(1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slow client was never cut off"
        );
        for _ in 0..8 {
            host.publish(
                "actors/order/ORD-S",
                "checkpoint",
                json!({"n": n, "pad": payload}),
            )
            .await;
            n += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let scrape = scrape_until(&host, "the stream closed", |s| {
        value(
            s,
            "sluice_sse_streams_open",
            &[("ingress", "api/orders/events")],
        ) == Some(0.0)
    })
    .await;
    assert_eq!(
        value(
            &scrape,
            "sluice_sse_stream_ends_total",
            &[("ingress", "api/orders/events"), ("reason", "client_gone")]
        ),
        None,
        "cut off by the host, not gone by itself"
    );
    assert!(
        must(
            &scrape,
            "sluice_sse_events_sent_total",
            &[("ingress", "api/orders/events")]
        ) > 0.0
    );
}

/// Streams that the component ends, that it fails, and that outlive
/// `maxStreamLifetimeSeconds` are each counted under their own reason.
#[tokio::test(flavor = "multi_thread")]
async fn streams_ended_by_the_component_a_failure_or_their_lifetime_are_told_apart() {
    let host = Host::demo_with_fixtures(
        &[sluice_e2e::fixtures::SSE_FAILS_AFTER],
        &[
            (
                "sluice.yaml",
                "store: sluice.db\nmaxStreamLifetimeSeconds: 2\n",
            ),
            (
                "ingresses/fails-after.yaml",
                sluice_e2e::SSE_FAILS_AFTER_INGRESS,
            ),
        ],
    )
    .await;
    let read_to_end = |path: &'static str| {
        let request = host.sse(path);
        async move {
            let response = request.send().await.expect("request");
            assert_eq!(response.status(), 200, "{path}");
            response.text().await.expect("body")
        }
    };
    assert_eq!(
        read_to_end("/ingress/api/hello").await,
        "data: \"Hello world\"\n\n"
    );
    let failed = read_to_end("/ingress/api/test/fails-after/2").await;
    assert!(
        failed.ends_with("\"code\":\"COMPONENT_FAILED\",\"message\":\"the component failed\"}\n\n")
    );
    let outlived = read_to_end("/ingress/api/orders/ORD-L/events").await;
    assert!(
        outlived.ends_with(":stream ended by the server; reconnect\n\n"),
        "{outlived}"
    );

    let ends = |ingress, reason| [("ingress", ingress), ("reason", reason)];
    let scrape = scrape_until(&host, "three streams ended", |s| {
        value(
            s,
            "sluice_sse_stream_ends_total",
            &ends("api/hello", "component_ended"),
        ) == Some(1.0)
            && value(
                s,
                "sluice_sse_stream_ends_total",
                &ends("test/fails-after", "component_failed"),
            ) == Some(1.0)
            && value(
                s,
                "sluice_sse_stream_ends_total",
                &ends("api/orders/events", "lifetime"),
            ) == Some(1.0)
    })
    .await;
    let series: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "sluice_sse_stream_ends_total")
        .collect();
    assert_eq!(series.len(), 3, "no other end was counted: {series:?}");
    let events = |ingress| {
        must(
            &scrape,
            "sluice_sse_events_sent_total",
            &[("ingress", ingress)],
        )
    };
    assert_eq!(events("api/hello"), 1.0);
    assert_eq!(
        events("test/fails-after"),
        3.0,
        "two ticks and the error event"
    );
    assert_eq!(events("api/orders/events"), 0.0);
    assert_eq!(
        value(
            &scrape,
            "sluice_sse_time_to_first_event_seconds_count",
            &[("ingress", "api/orders/events")]
        ),
        Some(0.0),
        "a stream with no event has no time to its first"
    );
}

/// A stream open when the host drains ends as `drain`. The listener is closed by then, so
/// the registry is read from the host itself.
#[tokio::test(flavor = "multi_thread")]
async fn a_stream_open_when_the_host_drains_ends_as_drain() {
    let dir = tempfile::tempdir().expect("temp dir");
    sluice::deploy::demo::write_languages(dir.path(), &[sluice::deploy::demo::Language::Rust])
        .expect("demo written");
    sluice_e2e::pin_max_instances(dir.path()).expect("sluice.yaml");
    let booted = sluice::boot(dir.path(), sluice::Listen::ephemeral())
        .await
        .expect("host boots");
    let addr = booted.server.local_addr().expect("bound");
    let metrics = booted.server.app().metrics.clone();
    let (trigger, triggered) = tokio::sync::oneshot::channel::<()>();
    let stopped = tokio::spawn(booted.server.run(async {
        let _ = triggered.await;
    }));
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/ingress/api/orders/ORD-D/events"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    trigger.send(()).expect("the host is running");
    let body = response.text().await.expect("body");
    assert!(
        body.ends_with(":stream ended by the server; reconnect\n\n"),
        "{body}"
    );
    stopped.await.expect("the host stopped");

    let text = metrics.encode();
    let parsed = Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("parses");
    let ends: Vec<_> = parsed
        .samples
        .iter()
        .filter(|s| s.metric == "sluice_sse_stream_ends_total")
        .map(|s| (s.labels.get("reason").map(str::to_owned), single(s)))
        .collect();
    assert_eq!(ends, [(Some("drain".to_owned()), 1.0)]);
    let open = [("ingress", "api/orders/events")];
    assert_eq!(must(&parsed, "sluice_sse_streams_open", &open), 0.0);
}

/// Streams idle between events hold no fiber stack: each instance waits outside any call
/// into its guest, so the pool needs stacks only for calls that run, not one per connection
/// (the `after-batch.wait` contract in the WIT). Every stream still gets its own events.
#[tokio::test(flavor = "multi_thread")]
async fn idle_streams_hold_no_fiber_stack_and_each_still_gets_its_events() {
    const STREAMS: usize = 20;
    let host = host().await;
    let mut streams = Vec::with_capacity(STREAMS);
    for n in 0..STREAMS {
        streams.push(
            host.stream(&format!("/ingress/api/orders/ORD-F{n}/events"))
                .await,
        );
    }
    let idle = |s: &Scrape| {
        value(s, "sluice_instances_live", &[]) == Some(STREAMS as f64)
            && value(s, "sluice_fiber_stacks_in_use", &[]) == Some(0.0)
    };
    scrape_until(&host, "every stream subscribed", |s| {
        value(s, "sluice_bus_subscribers", &[]) == Some(STREAMS as f64)
    })
    .await;
    scrape_until(&host, "20 live instances holding no stack", idle).await;

    for round in 0..2 {
        for n in 0..STREAMS {
            host.publish(
                &format!("actors/order/ORD-F{n}"),
                "checkpoint",
                json!({ "n": n, "round": round }),
            )
            .await;
        }
        for (n, events) in streams.iter_mut().enumerate() {
            let event = events.next().await;
            assert_eq!(event.event, "updated");
            let data: serde_json::Value = serde_json::from_str(&event.data).expect("JSON data");
            assert_eq!(data["topic"], format!("actors/order/ORD-F{n}"));
            assert_eq!(data["data"], json!({ "n": n, "round": round }));
        }
        scrape_until(&host, "the streams idle again without a stack", idle).await;
    }
}

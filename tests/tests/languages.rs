//! The source document's examples in every guest language, from one table of cases: the
//! same requests against `/ingress/api/…` (Rust), `/ingress/api/py/…` (Python) and
//! `/ingress/api/js/…` (JavaScript) must give the same statuses, bodies and events, and
//! streams must carry the same bytes. Plus what only another language can get wrong: an
//! uncaught exception, and an actor.

mod support;

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use support::{Host, Language};

/// Each language's examples, by the prefix of their routes.
const LANGUAGES: [(&str, &str); 3] = [
    ("Rust", "/ingress/api"),
    ("Python", "/ingress/api/py"),
    ("JavaScript", "/ingress/api/js"),
];

const ORDER: &str = "6f1c8f2e-3b7a-4d2c-9a51-0c7e5b8d1a11";
const PAYMENT: &str = "9b2d4e6f-8a1c-4e3b-b5d7-1f2a3c4e5d6f";

/// One host serves every language's examples: each Python or JavaScript component takes
/// seconds to compile, so they are compiled once for the whole table.
#[tokio::test(flavor = "multi_thread")]
async fn every_language_passes_the_same_cases() {
    let languages = [Language::Rust, Language::Python, Language::JavaScript];
    let host = Host::demo_in(&languages, &[], &[]).await;
    for (language, base) in LANGUAGES {
        hello_is_one_data_line_or_one_json_value(&host, language, base).await;
        a_checkpoint_arrives_as_an_updated_event(&host, language, base).await;
        two_topics_merge_in_arrival_order(&host, language, base).await;
        a_mistyped_parameter_is_a_400_naming_it(&host, language, base).await;
        an_unknown_sku_is_a_404_before_the_stream(&host, language, base).await;
        stock_streams_init_then_stock_updated(&host, language, base).await;
        disconnecting_releases_the_instance(&host, language, base).await;
    }
    streams_carry_the_same_bytes_in_every_language(&host).await;
}

async fn hello_is_one_data_line_or_one_json_value(host: &Host, language: &str, base: &str) {
    let path = format!("{base}/hello");
    let response = host.sse(&path).send().await.expect("request");
    assert_eq!(response.status(), 200, "{language}");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = response.text().await.expect("body");
    assert_eq!(body, "data: \"Hello world\"\n\n", "{language}");

    let response = host.json(&path).send().await.expect("request");
    assert_eq!(response.status(), 200, "{language}");
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = response.text().await.expect("body");
    assert_eq!(body, r#""Hello world""#, "{language}");
}

async fn a_checkpoint_arrives_as_an_updated_event(host: &Host, language: &str, base: &str) {
    let order = format!("ORD-{language}");
    let mut events = host.stream(&format!("{base}/orders/{order}/events")).await;
    host.wait_for_subscribers(1).await;
    let data = json!({"orderId": order, "status": "shipped"});
    let id = host
        .publish(&format!("actors/order/{order}"), "checkpoint", data.clone())
        .await;
    let event = events.next().await;
    assert_eq!(event.event, "updated", "{language}");
    let payload: Value = serde_json::from_str(&event.data).expect("json");
    assert_eq!(
        payload["topic"],
        format!("actors/order/{order}"),
        "{language}"
    );
    assert_eq!(payload["eventType"], "checkpoint", "{language}");
    assert_eq!(payload["id"], id, "{language}");
    assert_eq!(payload["data"], data, "{language}");
    drop(events);
    host.wait_for_subscribers(0).await;
}

async fn two_topics_merge_in_arrival_order(host: &Host, language: &str, base: &str) {
    let path = format!("{base}/orders/{ORDER}/payments/{PAYMENT}/events");
    let mut events = host.stream(&path).await;
    let init = events.next().await;
    assert_eq!(init.event, "init", "{language}");
    assert_eq!(
        serde_json::from_str::<Value>(&init.data).expect("json"),
        json!({"orderId": ORDER, "paymentId": PAYMENT}),
        "{language}"
    );
    host.wait_for_subscribers(2).await;
    let sequence = [("order", 1), ("payment", 2), ("payment", 3), ("order", 4)];
    for (kind, n) in sequence {
        let id = if kind == "order" { ORDER } else { PAYMENT };
        host.publish(
            &format!("actors/{kind}/{id}"),
            "checkpoint",
            json!({ "n": n }),
        )
        .await;
    }
    for (kind, n) in sequence {
        let event = events.next().await;
        assert_eq!(event.event, format!("{kind}Updated"), "{language}");
        let payload: Value = serde_json::from_str(&event.data).expect("json");
        assert_eq!(payload["data"]["n"], n, "{language}");
    }
    drop(events);
    host.wait_for_subscribers(0).await;
}

async fn a_mistyped_parameter_is_a_400_naming_it(host: &Host, language: &str, base: &str) {
    let path = format!("{base}/orders/ORD-123/payments/{PAYMENT}/events");
    let response = host.sse(&path).send().await.expect("request");
    assert_eq!(response.status(), 400, "{language}");
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        json!({"error": {
            "code": "INVALID_PARAMETER",
            "message": "parameter 'orderId' must be a UUID, got \"ORD-123\"",
            "details": {"parameter": "orderId"},
        }}),
        "{language}"
    );
}

async fn an_unknown_sku_is_a_404_before_the_stream(host: &Host, language: &str, base: &str) {
    let hostile = format!("{base}/skus/x'%20or%201==1%20or%20skuNumber%20==%20'y/stock");
    for path in [format!("{base}/skus/NOPE-404/stock"), hostile] {
        for response in [
            host.sse(&path).send().await.expect("request"),
            host.json(&path).send().await.expect("request"),
        ] {
            assert_eq!(response.status(), 404, "{language} {path}");
            assert_eq!(response.headers()["content-type"], "application/json");
            let body = response.text().await.expect("body");
            assert_eq!(
                body, r#"{"error":{"code":"NOT_FOUND","message":"SKU not found"}}"#,
                "{language} {path}"
            );
        }
    }
}

async fn stock_streams_init_then_stock_updated(host: &Host, language: &str, base: &str) {
    let path = format!("{base}/skus/PROD-001/stock");
    let mut events = host.stream(&path).await;
    let init = events.next().await;
    assert_eq!(init.event, "init", "{language}");
    let init: Value = serde_json::from_str(&init.data).expect("json");
    let stock = &init["data"]["calculateAvailableStock"];
    assert_eq!(
        stock["available"],
        stock["physical"].as_i64().expect("physical")
            - stock["reserved"].as_i64().expect("reserved"),
        "{language}: {init}"
    );
    let sku_id = init["actorId"].as_str().expect("actorId").to_owned();
    host.wait_for_subscribers(1).await;
    host.publish(&format!("actors/sku/{sku_id}"), "checkpoint", json!({}))
        .await;
    let update = events.next().await;
    assert_eq!(update.event, "stockUpdated", "{language}");
    let update: Value = serde_json::from_str(&update.data).expect("json");
    assert_eq!(
        update["data"], init["data"],
        "{language}: nothing changed the stock"
    );

    let response = host.json(&path).send().await.expect("request");
    assert_eq!(response.status(), 200, "{language}");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["event"], "init", "{language}");
    assert_eq!(body["data"]["actorId"], sku_id.as_str(), "{language}");
    drop(events);
    host.wait_for_subscribers(0).await;
}

async fn disconnecting_releases_the_instance(host: &Host, language: &str, base: &str) {
    host.assert_instances_released().await;
    let response = host
        .sse(&format!("{base}/orders/ORD-123/events"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "{language}");
    host.wait_for_subscribers(1).await;
    assert_eq!(host.live_instances().await, 1, "{language}");
    drop(response);
    host.assert_instances_released().await;
    host.wait_for_subscribers(0).await;
}

/// Both languages' order streams, open at once, receive the same checkpoints (with text
/// and numbers that JSON libraries like to write differently) as the same bytes.
async fn streams_carry_the_same_bytes_in_every_language(host: &Host) {
    let mut streams = Vec::new();
    for (_, base) in LANGUAGES {
        let response = host
            .sse(&format!("{base}/orders/ORD-BYTES/events"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        streams.push(response.bytes_stream());
    }
    host.wait_for_subscribers(LANGUAGES.len() as u64).await;
    let awkward = [
        json!({"note": "naïve café ☕ \u{1F600}", "quote": "\"<&>\"", "ctl": "\u{1}\t"}),
        json!({"big": 1.5e300, "small": 1e-7, "third": 0.1, "int": 9007199254740993_u64}),
        json!([]),
    ];
    for data in &awkward {
        host.publish("actors/order/ORD-BYTES", "checkpoint", data.clone())
            .await;
    }
    let mut received = Vec::new();
    for stream in &mut streams {
        let mut bytes = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while bytes.windows(2).filter(|w| w == b"\n\n").count() < awkward.len() {
            let chunk = tokio::time::timeout_at(deadline, stream.next())
                .await
                .expect("every event within 30 s")
                .expect("the stream stays open")
                .expect("a chunk");
            bytes.extend_from_slice(&chunk);
        }
        received.push(String::from_utf8(bytes).expect("UTF-8"));
    }
    assert!(received[0].contains("naïve café ☕"), "{}", received[0]);
    for (index, (language, _)) in LANGUAGES.iter().enumerate().skip(1) {
        assert_eq!(received[index], received[0], "{language} and Rust differ");
    }
}

/// `py-fails` and `js-fails` (see their sources), on `api/<id>/{when}`: an uncaught
/// exception is `COMPONENT_FAILED`, after the values before it; an SDK error is an answer.
#[tokio::test(flavor = "multi_thread")]
async fn an_uncaught_exception_is_component_failed_after_the_values_before_it() {
    let fixtures = [
        sluice_e2e::fixtures::PY_FAILS,
        sluice_e2e::fixtures::JS_FAILS,
    ];
    let host = demo_with_fixtures(&fixtures, |id| {
        (format!("ingresses/{id}.yaml"), failing_ingress(id))
    })
    .await;
    for fixture in fixtures {
        let id = fixture.id;
        let response = host
            .sse(&format!("/ingress/api/{id}/before"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 500, "{id}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "COMPONENT_FAILED", "{id}: {body}");

        let mut events = host.stream(&format!("/ingress/api/{id}/after")).await;
        let tick = events.next().await;
        assert_eq!(
            (tick.event.as_str(), tick.data.as_str()),
            ("tick", r#"{"i":1}"#),
            "{id}"
        );
        let failed = events.next().await;
        assert_eq!(failed.event, "error", "{id}");
        let error: Value = serde_json::from_str(&failed.data).expect("json");
        assert_eq!(error["code"], "COMPONENT_FAILED", "{id}: {error}");

        let response = host
            .sse(&format!("/ingress/api/{id}/error"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 409, "{id}");
        assert_eq!(
            response.text().await.expect("body"),
            format!(r#"{{"error":{{"code":"CONFLICT","message":"{id}: a conflict, as asked"}}}}"#)
        );
    }
    host.assert_instances_released().await;
}

/// The Rust demo with `fixtures` deployed, each by the (path, contents) `file_of` its id
/// gives.
async fn demo_with_fixtures(
    fixtures: &[sluice_e2e::Fixture],
    file_of: impl Fn(&str) -> (String, String),
) -> Host {
    let files: Vec<(String, String)> = fixtures.iter().map(|fixture| file_of(fixture.id)).collect();
    let extra: Vec<(&str, &str)> = files
        .iter()
        .map(|(path, contents)| (path.as_str(), contents.as_str()))
        .collect();
    Host::demo_in(&[Language::Rust], fixtures, &extra).await
}

/// The ingress of a `*-fails` fixture: `api/<id>/{when}`.
pub fn failing_ingress(id: &str) -> String {
    format!(
        "uri: /resources/ingresses/{id}\nspec:\n  type: http\n  componentId: {id}\n  \
         properties:\n    route: api/{id}/{{when}}\n    httpMethod: get\n    isPublic: true\n"
    )
}

/// `py-counter` and `js-counter` as actor types `py-counter` and `js-counter`.
#[tokio::test(flavor = "multi_thread")]
async fn an_actor_in_any_language_keeps_its_state_and_applies_a_batch_all_or_nothing() {
    let fixtures = [
        sluice_e2e::fixtures::PY_COUNTER,
        sluice_e2e::fixtures::JS_COUNTER,
    ];
    let host = demo_with_fixtures(&fixtures, |id| {
        (
            format!("actors/{id}.yaml"),
            format!("uri: /resources/actors/{id}\nspec:\n  componentId: {id}\n"),
        )
    })
    .await;
    for fixture in fixtures {
        let id = fixture.id;
        let send = |messages: Value| {
            host.client
                .post(host.admin_url(&format!("/_sluice/actors/{id}/c1")))
                .json(&messages)
                .send()
        };
        let response =
            send(json!([{"type": "add", "body": 2}, {"type": "add", "body": 3, "alias": "total"}]))
                .await
                .expect("request");
        assert_eq!(response.status(), 200, "{id}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["data"], json!({"add": 2, "total": 5}), "{id}: {body}");

        // The second message is rejected, so the first is not applied either.
        let response = send(json!([{"type": "add", "body": 1}, {"type": "add", "body": -100}]))
            .await
            .expect("request");
        let body: Value = response.json().await.expect("json");
        assert!(
            body.to_string()
                .contains(&format!("{id}/c1 cannot go below zero")),
            "{id}: {body}"
        );
        let response = send(json!([{"type": "get"}])).await.expect("request");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["data"]["get"], 5, "{id}: {body}");

        let response = send(json!([{"type": "explode"}])).await.expect("request");
        let body: Value = response.json().await.expect("json");
        assert!(
            body.to_string().contains("unknown message type 'explode'"),
            "{id}: {body}"
        );
    }
}

/// A Python instance takes 14 core instances from the pool (Rust: 3), so counting
/// connections alone once let the pool run out at 93 of 100: those got a 500. Now every
/// connection reserves its component's needs, all 100 are served, and the 101st is the
/// ordinary 503 of a full host.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_host_of_python_connections_is_served_and_the_next_is_a_503() {
    let config = "store: sluice.db\nmaxInstances: 100\n";
    let host = Host::demo_in(&[Language::Python], &[], &[("sluice.yaml", config)]).await;
    let mut open = Vec::new();
    for n in 0..100 {
        let response = host
            .sse(&format!("/ingress/api/py/orders/ORD-{n}/events"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "connection {n}");
        open.push(response);
    }
    let refused = host
        .sse("/ingress/api/py/hello")
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "UNAVAILABLE", "{body}");
    drop(open);
    host.assert_instances_released().await;
    let served = host
        .sse("/ingress/api/py/hello")
        .send()
        .await
        .expect("request");
    assert_eq!(
        served.text().await.expect("body"),
        "data: \"Hello world\"\n\n"
    );
}

/// What each language's hello takes from the pool, as counted at deploy.
#[test]
fn each_languages_component_is_counted_at_deploy() {
    let runtime = sluice::runtime::Runtime::new(sluice::runtime::RuntimeConfig {
        max_instances: Some(2),
        ..Default::default()
    })
    .expect("runtime");
    // Counted at their data, at least 1 MiB: Rust's 16 KB, JavaScript's 2.8 MB, Python's
    // 11.5 MB (as built today; the ranges leave the SDKs room to change).
    for (id, core_instances, memory_kib) in [
        ("hello", 3, 1024..=1024),
        ("py-hello", 14, 8 << 10..=16 << 10),
        ("js-hello", 4, 2 << 10..=4 << 10),
    ] {
        let wasm = sluice::deploy::demo::COMPONENTS
            .iter()
            .find(|(component, _)| *component == id)
            .map(|(_, wasm)| *wasm)
            .expect("in the demo");
        let needs = runtime.prepare(wasm).expect("prepares").needs;
        assert!(memory_kib.contains(&needs.memory_kib), "{id}: {needs:?}");
        assert_eq!(
            needs,
            sluice::runtime::Needs {
                core_instances,
                memories: 1,
                tables: 2,
                memory_kib: needs.memory_kib,
            },
            "{id}"
        );
        let held: Vec<_> = (0..2)
            .map(|_| runtime.reserve(needs).expect("fits a slot"))
            .collect();
        assert!(runtime.reserve(needs).is_none(), "{id}: two slots");
        drop(held);
    }
}

/// The examples in the Python SDK's docstrings run (doctest, on the machine's CPython: the
/// parts that need no host), so the documentation cannot drift from the code.
#[test]
fn the_python_sdks_doc_examples_run() {
    let sdk = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk/python");
    let script = "import doctest, importlib, pkgutil, sys, sluice\n\
        failed = 0\n\
        for module in pkgutil.iter_modules(sluice.__path__):\n    \
            m = importlib.import_module('sluice.' + module.name)\n    \
            result = doctest.testmod(m, extraglobs=vars(sluice))\n    \
            print(module.name, result)\n    \
            failed += result.failed + (result.attempted == 0)\n\
        sys.exit(1 if failed else 0)\n";
    let output = std::process::Command::new("python3")
        .args(["-B", "-c", script])
        .current_dir(&sdk)
        .output()
        .expect("python3 runs");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(said.contains("_stream TestResults(failed=0"), "{said}");
}

/// The JavaScript SDK's own tests (`guest-sdk/js/test`), on the machine's Node.js with the
/// host's interfaces stubbed.
#[test]
fn the_javascript_sdks_tests_pass() {
    let sdk = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk/js");
    let output = std::process::Command::new("node")
        .args(["--test", "test/"])
        .current_dir(&sdk)
        .output()
        .expect("node runs");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        said.contains("# pass 10") && said.contains("# fail 0"),
        "{said}"
    );
}

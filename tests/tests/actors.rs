//! Actors as components, end to end: the source document's SKU stock example driven over
//! HTTP, persistence across a restart, serialization under concurrency, preview, traps.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Events, Host};

const PROD_001: &str = "/ingress/api/skus/PROD-001/stock";
const PROD_002: &str = "/ingress/api/skus/PROD-002/stock";

async fn stock(host: &Host, path: &str) -> Value {
    let response = host.json(path).send().await.expect("request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    body["data"]["data"]["calculateAvailableStock"].clone()
}

async fn command(host: &Host, path: &str, commands: Value) -> reqwest::Response {
    host.client
        .post(host.url(path))
        .json(&json!({ "commands": commands }))
        .send()
        .await
        .expect("request")
}

/// The skuId of a seeded SKU, through the lookup ingress.
async fn sku_id(host: &Host, sku_number: &str) -> String {
    let path = format!("/ingress/api/skus/{sku_number}");
    let body: Value = host
        .json(&path)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    body["data"]["skuId"].as_str().expect("skuId").to_owned()
}

async fn next_stock(events: &mut Events) -> Value {
    let event = events.next().await;
    assert_eq!(event.event, "stockUpdated");
    let data: Value = serde_json::from_str(&event.data).expect("json");
    data["data"]["calculateAvailableStock"].clone()
}

async fn actor(host: &Host, target: &str, messages: Value) -> reqwest::Response {
    host.client
        .post(host.admin_url(&format!("/_sluice/actors/{target}")))
        .json(&messages)
        .send()
        .await
        .expect("request")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_posted_change_arrives_as_stock_updated_with_the_new_figure() {
    let host = Host::demo().await;
    let mut events = host.stream(PROD_001).await;
    let init = events.next().await;
    assert_eq!(init.event, "init");
    let before: Value = serde_json::from_str(&init.data).expect("json");
    let before = before["data"]["calculateAvailableStock"].clone();
    let physical = before["physical"].as_i64().expect("physical");
    let reserved = before["reserved"].as_i64().expect("reserved");
    assert_eq!(before["available"], physical - reserved);

    let response = command(
        &host,
        PROD_001,
        json!([{"type": "setPhysicalStock", "value": physical + 10}]),
    )
    .await;
    assert_eq!(response.status(), 200);
    let answered: Value = response.json().await.expect("json");
    assert_eq!(answered["available"], physical + 10 - reserved);

    let updated = tokio::time::timeout(Duration::from_secs(1), next_stock(&mut events))
        .await
        .expect("within 1 s");
    assert_eq!(updated["available"], physical + 10 - reserved);
    assert_eq!(updated["physical"], physical + 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_on_two_skus_see_only_their_own_changes() {
    let host = Host::demo().await;
    let mut one = host.stream(PROD_001).await;
    let mut two = host.stream(PROD_002).await;
    one.next().await;
    two.next().await;
    host.wait_for_subscribers(2).await;
    assert_eq!(
        command(&host, PROD_002, json!([{"type": "reserve", "quantity": 1}]))
            .await
            .status(),
        200
    );
    assert_eq!(
        command(&host, PROD_001, json!([{"type": "reserve", "quantity": 2}]))
            .await
            .status(),
        200
    );
    let first_for_two = next_stock(&mut two).await;
    let first_for_one = next_stock(&mut one).await;
    let base_two = stock(&host, "/ingress/api/skus/PROD-002/stock").await;
    assert_eq!(first_for_two["reserved"], base_two["reserved"]);
    let base_one = stock(&host, PROD_001).await;
    assert_eq!(first_for_one["reserved"], base_one["reserved"]);
    assert_ne!(first_for_one["reserved"], first_for_two["reserved"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_command_is_a_clear_error_and_changes_nothing() {
    let host = Host::demo().await;
    let before = stock(&host, PROD_001).await;
    let too_many = before["available"].as_i64().expect("available") + 1;
    let response = command(
        &host,
        PROD_001,
        json!([{"type": "reserve", "quantity": too_many}]),
    )
    .await;
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "INSUFFICIENT_STOCK");
    assert_eq!(stock(&host, PROD_001).await, before);
    let unknown = command(&host, "/ingress/api/skus/NOPE/stock", json!([])).await;
    assert_eq!(unknown.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn actor_state_survives_a_host_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    sluice::deploy::demo::write_languages(dir.path(), &[sluice::deploy::demo::Language::Rust])
        .expect("demo");
    let boot = || async {
        sluice_e2e::pin_max_instances(dir.path()).expect("sluice.yaml");
        let booted = sluice::boot(dir.path(), sluice::Listen::ephemeral())
            .await
            .expect("boots");
        assert!(booted.problems.is_empty(), "{:?}", booted.problems);
        let addr = booted.server.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(booted.server.run(async {
            let _ = stopped.await;
        }));
        (addr, stop, task)
    };
    let client = reqwest::Client::new();
    let (addr, stop, task) = boot().await;
    let response = client
        .post(format!("http://{addr}{PROD_001}"))
        .json(&json!({"commands": [{"type": "setPhysicalStock", "value": 4242}]}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let _ = stop.send(());
    task.await.expect("stopped");

    let (addr, _stop, _task) = boot().await;
    let body: Value = client
        .get(format!("http://{addr}{PROD_001}"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(
        body["data"]["data"]["calculateAvailableStock"]["physical"],
        4242
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_reservations_are_serialized_and_none_is_lost() {
    let host = Host::demo().await;
    let before = stock(&host, PROD_001).await;
    let reserved_before = before["reserved"].as_i64().expect("reserved");
    let sku_id = sku_id(&host, "PROD-001").await;
    let mut events = host.stream(PROD_001).await;
    events.next().await;
    host.wait_for_subscribers(1).await;
    let checkpoints_before = checkpoint_count(&host, &sku_id).await;

    // 10 clients (connections), each sending 10 reservations at once.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let client = reqwest::Client::new();
        let url = host.url(PROD_001);
        for _ in 0..10 {
            let (client, url) = (client.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                client
                    .post(url)
                    .json(&json!({"commands": [{"type": "reserve", "quantity": 1}]}))
                    .send()
                    .await
                    .expect("request")
                    .status()
            }));
        }
    }
    for task in tasks {
        assert_eq!(task.await.expect("task"), 200);
    }
    assert_eq!(
        stock(&host, PROD_001).await["reserved"],
        reserved_before + 100
    );
    assert_eq!(
        checkpoint_count(&host, &sku_id).await,
        checkpoints_before + 100
    );
    for _ in 0..100 {
        next_stock(&mut events).await;
    }
}

/// Checkpoints of actor sku/<id>, read from the host's own SQLite file.
async fn checkpoint_count(host: &Host, sku_id: &str) -> u64 {
    use sluice::backends::actors::ActorStateStore;
    let store = sluice::backends::store::sqlite::SqliteStore::open(host.dir().join("sluice.db"))
        .expect("store");
    store.checkpoint_count("sku", sku_id).await.expect("count")
}

#[tokio::test(flavor = "multi_thread")]
async fn preview_changes_nothing_and_publishes_nothing() {
    let host = Host::demo().await;
    let before = stock(&host, PROD_001).await;
    let sku_id = sku_id(&host, "PROD-001").await;
    let mut events = host.stream(PROD_001).await;
    events.next().await;
    host.wait_for_subscribers(1).await;
    let messages = json!([
        {"type": "applyCommands", "body": {"commands": [{"type": "reserve", "quantity": 1}]}},
        {"type": "calculateAvailableStock", "alias": "after"}
    ]);
    let response = actor(&host, &format!("sku/{sku_id}?preview=true"), messages).await;
    assert_eq!(response.status(), 200);
    let previewed: Value = response.json().await.expect("json");
    assert_eq!(
        previewed["data"]["after"]["reserved"],
        before["reserved"].as_i64().expect("n") + 1
    );
    assert_eq!(stock(&host, PROD_001).await, before, "nothing was stored");
    assert!(
        events
            .try_next_within(Duration::from_millis(300))
            .await
            .is_none(),
        "nothing was published"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_actor_that_traps_leaves_state_untouched_and_the_caller_gets_an_error() {
    let host = Host::demo_with_fixtures(
        &[sluice_e2e::fixtures::ACTOR_CRASH],
        &[(
            "actors/crash.yaml",
            "uri: /resources/actors/crash\nspec:\n  componentId: actor-crash\n",
        )],
    )
    .await;
    let increment = json!({"type": "increment"});
    assert_eq!(
        actor(&host, "crash/c1", json!([increment])).await.status(),
        200
    );
    let response = actor(&host, "crash/c1", json!([increment, {"type": "crash"}])).await;
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "ACTOR_FAILED");
    let got: Value = actor(&host, "crash/c1", json!({"type": "get"}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        got["data"]["get"], 1,
        "the trapped batch changed nothing: {got}"
    );
    // The host and other streams carry on.
    assert_eq!(
        host.sse("/ingress/api/hello")
            .send()
            .await
            .expect("request")
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_actor_type_is_a_clear_error() {
    let host = Host::demo().await;
    let response = actor(&host, "nope/1", json!({"type": "get"})).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("unknown actor type 'nope'")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_virtual_id_new_creates_an_actor_and_returns_its_id() {
    let host = Host::demo().await;
    let response = actor(
        &host,
        "sku/new",
        json!([{"type": "create", "body": {"physicalStock": 7}}, {"type": "calculateAvailableStock"}]),
    )
    .await;
    assert_eq!(response.status(), 200);
    let created: Value = response.json().await.expect("json");
    let id = created["actorId"].as_str().expect("actorId");
    assert_eq!(id.len(), 36, "a uuid: {id}");
    assert_eq!(created["data"]["calculateAvailableStock"]["available"], 7);
    assert_eq!(created["errors"], json!([]));
    let again: Value = actor(
        &host,
        &format!("sku/{id}"),
        json!({"type": "calculateAvailableStock"}),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(again["data"]["calculateAvailableStock"]["physical"], 7);
    let missing: Value = actor(
        &host,
        "sku/does-not-exist",
        json!({"type": "calculateAvailableStock"}),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(missing["errors"][0]["code"], "NOT_FOUND", "{missing}");
}

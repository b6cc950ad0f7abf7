//! Actor queries (`spec.queries`), end to end: the demo declares `calculateAvailableStock`
//! a query of actor type `sku`, so the live-stock page's viewers share one run per state
//! version, never read a state older than the checkpoint that woke them, and a query that
//! tries to write is refused.

mod support;

use futures::future::join_all;
use serde_json::{Value, json};
use support::{Events, Host};

const PROD_002: &str = "/ingress/api/skus/PROD-002/stock";

/// `sluice_actor_query_answers_total{actor_type, answer}` from a scrape of `/metrics`.
async fn query_answers(host: &Host, actor_type: &str, answer: &str) -> f64 {
    let text = host
        .client
        .get(host.admin_url("/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("the scrape parses");
    scrape
        .samples
        .iter()
        .find(|sample| {
            sample.metric == "sluice_actor_query_answers_total"
                && sample.labels.get("actor_type") == Some(actor_type)
                && sample.labels.get("answer") == Some(answer)
        })
        .map_or(0.0, |sample| match sample.value {
            // The parser reads an OpenMetrics `_total` sample as untyped.
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("not a counter: {other:?}"),
        })
}

/// The `calculateAvailableStock` figures of a stock event.
fn figures(event: &eventsource_stream::Event) -> Value {
    let data: Value = serde_json::from_str(&event.data).expect("json");
    data["data"]["calculateAvailableStock"].clone()
}

/// `viewers` stock streams on `path`, each past its `init`; returns them and the init figures.
async fn viewers(host: &Host, path: &str, viewers: usize) -> (Vec<Events>, Value) {
    let mut streams = join_all((0..viewers).map(|_| host.stream(path))).await;
    let mut first = None;
    for events in &mut streams {
        let init = events.next().await;
        assert_eq!(init.event, "init", "{init:?}");
        let init = figures(&init);
        assert_eq!(first.get_or_insert_with(|| init.clone()), &init);
    }
    (streams, first.expect("at least one viewer"))
}

async fn reserve_one(host: &Host, path: &str) {
    let response = host
        .client
        .post(host.url(path))
        .json(&json!({"commands": [{"type": "reserve", "quantity": 1}]}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
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
async fn viewers_of_one_state_version_share_one_run_of_the_query() {
    let host = Host::demo().await;
    let (mut streams, init) = viewers(&host, PROD_002, 20).await;
    assert_eq!(
        query_answers(&host, "sku", "ran").await,
        1.0,
        "one run for 20 inits"
    );
    assert_eq!(query_answers(&host, "sku", "shared").await, 19.0);

    reserve_one(&host, PROD_002).await;
    let reserved = init["reserved"].as_i64().expect("reserved") + 1;
    for events in &mut streams {
        let update = events.next().await;
        assert_eq!(update.event, "stockUpdated", "{update:?}");
        assert_eq!(figures(&update)["reserved"], reserved);
    }
    assert_eq!(
        query_answers(&host, "sku", "ran").await,
        2.0,
        "one run for the new version, whatever the number of viewers"
    );
    assert_eq!(query_answers(&host, "sku", "shared").await, 38.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn readers_see_rising_versions_never_older_than_the_checkpoint_that_woke_them() {
    const WRITES: i64 = 30;
    let host = Host::demo().await;
    let path = "/ingress/api/skus/PROD-001/stock";
    let (mut streams, init) = viewers(&host, path, 10).await;
    let base = init["reserved"].as_i64().expect("reserved");
    let sku_id = {
        let lookup: Value = host
            .json("/ingress/api/skus/PROD-001")
            .send()
            .await
            .expect("lookup")
            .json()
            .await
            .expect("json");
        lookup["data"]["skuId"].as_str().expect("skuId").to_owned()
    };

    // Three writers at once, each checking that a query made after its write returned sees
    // at least that write.
    let writers = (0..3).map(|_| {
        let (host, sku_id) = (&host, &sku_id);
        async move {
            for mine in 1..=WRITES / 3 {
                reserve_one(host, path).await;
                let written: Value = {
                    let query = json!([{"type": "calculateAvailableStock"}]);
                    let response = actor(host, &format!("sku/{sku_id}"), query).await;
                    assert_eq!(response.status(), 200);
                    response.json().await.expect("json")
                };
                let seen = written["data"]["calculateAvailableStock"]["reserved"].as_i64();
                assert!(
                    seen.expect("reserved") >= base + mine,
                    "a query made after this writer's {mine}th write returned sees it"
                );
            }
        }
    });
    let readers = streams.iter_mut().map(|events| async move {
        let mut seen = Vec::new();
        for k in 1..=WRITES {
            let update = events.next().await;
            assert_eq!(update.event, "stockUpdated", "{update:?}");
            let reserved = figures(&update)["reserved"].as_i64().expect("reserved");
            // The k-th checkpoint is the actor's k-th commit since `init`: a state read
            // after it has at least k more reservations.
            assert!(
                reserved >= base + k,
                "update {k} shows {reserved}, older than its checkpoint (base {base})"
            );
            seen.push(reserved);
        }
        seen
    });
    let (_, seen) = tokio::join!(join_all(writers), join_all(readers));
    for figures in seen {
        assert!(figures.is_sorted(), "versions only rise: {figures:?}");
        assert_eq!(figures.last(), Some(&(base + WRITES)));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_that_changes_the_state_is_refused_and_changes_nothing() {
    let host = Host::demo_with_fixtures(
        &[sluice_e2e::fixtures::ACTOR_CRASH],
        &[(
            "actors/crash.yaml",
            "uri: /resources/actors/crash\nspec:\n  componentId: actor-crash\n  \
             queries: [increment]\n",
        )],
    )
    .await;
    let count = async |host: &Host| -> Value {
        let got: Value = actor(host, "crash/c1", json!({"type": "get"}))
            .await
            .json()
            .await
            .expect("json");
        got["data"]["get"].clone()
    };
    assert_eq!(
        count(&host).await,
        0,
        "a write (`get` is no query) creates the counter"
    );
    let checkpoints = checkpoint_count(&host, "c1").await;

    // `increment` is declared a query but writes: refused, nothing stored.
    let refused = actor(&host, "crash/c1", json!([{"type": "increment"}])).await;
    assert_eq!(refused.status(), 500);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "ACTOR_FAILED", "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("may only read"), "{message}");
    assert_eq!(count(&host).await, 0, "nothing was stored");
    assert_eq!(checkpoint_count(&host, "c1").await, checkpoints);

    // A batch that is not only queries (`get` is not declared) takes the write path.
    let written = actor(
        &host,
        "crash/c1",
        json!([{"type": "increment"}, {"type": "get", "alias": "after"}]),
    )
    .await;
    assert_eq!(written.status(), 200);
    assert_eq!(count(&host).await, 1);
    assert_eq!(
        checkpoint_count(&host, "c1").await,
        checkpoints + 1,
        "only the write checkpointed"
    );
}

/// Checkpoints of actor crash/<id>, read from the host's own SQLite file.
async fn checkpoint_count(host: &Host, id: &str) -> u64 {
    use sluice::backends::actors::ActorStateStore;
    let store = sluice::backends::store::sqlite::SqliteStore::open(host.dir().join("sluice.db"))
        .expect("store");
    store.checkpoint_count("crash", id).await.expect("count")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_on_a_missing_actor_answers_like_the_actor_does() {
    let host = Host::demo().await;
    let response = actor(
        &host,
        "sku/no-such-sku",
        json!([{"type": "calculateAvailableStock"}]),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], "NOT_FOUND", "{body}");
    assert_eq!(body["data"], json!({}));
}

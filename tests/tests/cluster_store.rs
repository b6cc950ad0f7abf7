//! Several real `sluice serve` nodes on one PostgreSQL schema: seeding at once, actor
//! messages serialized across nodes (their checkpoints reaching a stream on another
//! connection through JetStream), a node that cannot reach its store, and a PostgreSQL
//! restart under a running node.
//!
//! See `cluster_support` for how services are found (`SLUICE_TEST_POSTGRES_URL`) and what
//! happens when they are not there.

mod cluster_support;

use std::time::{Duration, Instant};

use cluster_support::{Cluster, Node, PrivatePostgres, Schema, reserve_one};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use futures::future::join_all;
use serde_json::{Value, json};

const PROD_001_ACTOR: &str = "6f1c2a4e-3b5d-4c7e-8f90-1a2b3c4d5e6f";

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.expect(sql).get(0)
}

async fn reserved(client: &tokio_postgres::Client) -> i64 {
    let row = client
        .query_one(
            "SELECT (state->>'reservedStock')::bigint FROM actor_state \
             WHERE actor_type = 'sku' AND actor_id = $1",
            &[&PROD_001_ACTOR],
        )
        .await
        .expect("state");
    row.get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_at_once_seed_each_edge_and_actor_once_and_all_serve() {
    let Some(schema) = Schema::shared("nodes_starting_at_once").await else {
        return;
    };
    let mut nodes: Vec<Node> = (0..3).map(|_| Node::spawn(&schema.config())).collect();
    for node in &mut nodes {
        node.wait_ready().await;
    }
    let db = schema.client().await;
    let seeded: Vec<Value> =
        serde_json::from_str(include_str!("../../components/demo/seed/skus.json")).expect("seed");
    assert_eq!(
        count(&db, "SELECT count(*) FROM edge_skus").await,
        seeded.len() as i64
    );
    let actors: Vec<Value> =
        serde_json::from_str(include_str!("../../components/demo/seed/actors/sku.json"))
            .expect("seed");
    assert_eq!(
        count(&db, "SELECT count(*) FROM actor_state").await,
        actors.len() as i64
    );
    let client = reqwest::Client::new();
    for node in &nodes {
        let sku: Value = client
            .get(node.url("/ingress/api/skus/PROD-001"))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        assert_eq!(sku["data"]["skuNumber"], "PROD-001", "{sku}");
    }
}

/// An SSE stream on `node`, parsed by an independent parser.
async fn sse(
    client: &reqwest::Client,
    node: &Node,
    path: &str,
) -> impl futures::Stream<Item = eventsource_stream::Event> + Unpin {
    let response = client
        .get(node.url(path))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("stream");
    assert_eq!(response.status(), 200, "{path}");
    response
        .bytes_stream()
        .eventsource()
        .map(|event| event.expect("well-formed SSE"))
}

/// The next event within 60 s.
async fn next_event(
    stream: &mut (impl futures::Stream<Item = eventsource_stream::Event> + Unpin),
) -> eventsource_stream::Event {
    tokio::time::timeout(Duration::from_secs(60), stream.next())
        .await
        .expect("an event within 60 s")
        .expect("the stream stays open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_on_node_a_see_events_published_through_b_and_checkpoints_of_messages_sent_through_c()
 {
    let Some(cluster) = Cluster::start("streams_on_node_a", 3).await else {
        return;
    };
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!("three nodes")
    };
    let client = reqwest::Client::new();
    let mut orders = sse(&client, a, "/ingress/api/orders/ORD-ABC/resumable-events").await;
    let init = next_event(&mut orders).await;
    assert_eq!(init.event, "init", "{init:?}");
    let mut stock = sse(&client, a, "/ingress/api/skus/PROD-001/stock").await;
    let init = next_event(&mut stock).await;
    assert_eq!(init.event, "init", "{init:?}");
    let init: Value = serde_json::from_str(&init.data).expect("json");
    let reserved_before = init["data"]["calculateAvailableStock"]["reserved"]
        .as_i64()
        .expect("reserved");

    let published = client
        .post(b.admin_url("/_sluice/publish"))
        .json(
            &json!({"topic": "actors/order/ORD-ABC", "event": "checkpoint", "data": {"via": "B"}}),
        )
        .send()
        .await
        .expect("publish");
    assert_eq!(published.status(), 202);
    let published: Value = published.json().await.expect("json");
    let event = next_event(&mut orders).await;
    assert_eq!(event.event, "updated", "{event:?}");
    assert_eq!(event.id, published["id"].to_string(), "the bus id from B");
    assert!(event.data.contains("\"via\":\"B\""), "{event:?}");

    assert_eq!(reserve_one(&client, c.addr).await.status(), 200);
    let update = next_event(&mut stock).await;
    assert_eq!(update.event, "stockUpdated", "{update:?}");
    let update: Value = serde_json::from_str(&update.data).expect("json");
    assert_eq!(
        update["data"]["calculateAvailableStock"]["reserved"].as_i64(),
        Some(reserved_before + 1),
        "{update}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_serialize_300_concurrent_reservations_on_one_sku() {
    let Some(cluster) = Cluster::start("three_nodes_serialize_300", 3).await else {
        return;
    };
    let (nodes, schema) = (&cluster.nodes, &cluster.schema);
    let client = reqwest::Client::new();
    let raise = client
        .post(nodes[0].url("/ingress/api/skus/PROD-001/stock"))
        .json(&json!({"commands": [{"type": "setPhysicalStock", "value": 100000}]}))
        .send()
        .await
        .expect("request");
    assert_eq!(raise.status(), 200, "{:?}", raise.text().await);
    let db = schema.client().await;
    let reserved_before = reserved(&db).await;
    let checkpoints_before = count(&db, "SELECT count(*) FROM actor_checkpoint").await;

    // A fourth connection: PROD-001's stock stream on node 0, fed through JetStream by the
    // checkpoints of all three nodes.
    let mut stream = sse(&client, &nodes[0], "/ingress/api/skus/PROD-001/stock").await;
    let init = next_event(&mut stream).await;
    assert_eq!(init.event, "init", "{init:?}");

    // 3 nodes × 10 clients × 10 concurrent requests each.
    let clients = nodes.iter().flat_map(|node| {
        let addr = node.addr;
        (0..10).map(move |_| async move {
            let client = reqwest::Client::new();
            let answers = join_all((0..10).map(|_| reserve_one(&client, addr))).await;
            answers
                .into_iter()
                .map(|r| r.status().as_u16())
                .collect::<Vec<_>>()
        })
    });
    let statuses: Vec<u16> = join_all(clients).await.into_iter().flatten().collect();
    assert_eq!(statuses.len(), 300);
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");

    assert_eq!(reserved(&db).await - reserved_before, 300, "no update lost");

    // One `stockUpdated` per checkpoint, each read after its checkpoint, so the figures never
    // go down and the last one has every reservation.
    let mut figures = Vec::new();
    while figures.len() < 300 {
        let event = next_event(&mut stream).await;
        assert_eq!(event.event, "stockUpdated", "{event:?}");
        let data: Value = serde_json::from_str(&event.data).expect("json");
        let reserved = data["data"]["calculateAvailableStock"]["reserved"].as_i64();
        let reserved = reserved.unwrap_or_else(|| panic!("a reserved figure: {data}"));
        // `calculateAvailableStock` is a query answered per version on each node: the k-th
        // checkpoint (whichever node committed it) is at least the k-th commit, and the
        // state read after it never older.
        let k = figures.len() as i64 + 1;
        assert!(
            reserved >= reserved_before + k,
            "update {k} shows {reserved}, older than its checkpoint"
        );
        figures.push(reserved);
    }
    assert!(figures.is_sorted(), "{figures:?}");
    assert_eq!(figures.last(), Some(&(reserved_before + 300)));
    let extra = tokio::time::timeout(Duration::from_secs(2), stream.next()).await;
    assert!(extra.is_err(), "nothing more than 300: {extra:?}");
    assert_eq!(
        count(&db, "SELECT count(*) FROM actor_checkpoint").await - checkpoints_before,
        300,
        "one checkpoint row per message"
    );
    // Each node published and marked its own checkpoints.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let unpublished = count(
            &db,
            "SELECT count(*) FROM actor_checkpoint WHERE NOT published",
        )
        .await;
        if unpublished == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{unpublished} checkpoints never marked published"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Versions are consecutive: every commit saw the one before it.
    let versions: Vec<i64> = db
        .query(
            "SELECT version FROM actor_checkpoint WHERE actor_id = $1 ORDER BY version",
            &[&PROD_001_ACTOR],
        )
        .await
        .expect("versions")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let expected: Vec<i64> = (1..=versions.len() as i64).collect();
    assert_eq!(versions, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_cannot_reach_postgres_says_which_and_why_and_exits_non_zero() {
    let url = "postgres://postgres@127.0.0.1:1/test";
    let mut node = Node::spawn(&format!(
        "store: \"{url}\"\nstoreConnectTimeoutSeconds: 2\n"
    ));
    let status = node.exit_status().await;
    assert!(!status.success(), "{status}");
    let log = node.log();
    assert!(log.contains(url), "the store is named: {log}");
    assert!(
        log.contains("unavailable") && log.contains("PostgreSQL"),
        "the reason is given: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_is_a_503_unavailable_and_the_node_serves_again_after_it() {
    let test = "a_postgres_restart";
    let Some(pg) = PrivatePostgres::start(test) else {
        return;
    };
    let Some(schema) = Schema::on(test, &pg.url()).await else {
        return;
    };
    let mut node = Node::start(&schema.config()).await;
    let client = reqwest::Client::new();
    assert_eq!(reserve_one(&client, node.addr).await.status(), 200);

    pg.stop();
    for _ in 0..3 {
        let response = reserve_one(&client, node.addr).await;
        assert_eq!(response.status(), 503);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "UNAVAILABLE", "{body}");
        let lookup = client
            .get(node.url("/ingress/api/skus/PROD-001"))
            .send()
            .await
            .expect("request");
        assert_eq!(lookup.status(), 503);
    }
    assert!(node.is_running(), "the host lives:\n{}", node.log());

    pg.start_again();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = reserve_one(&client, node.addr).await.status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "only unavailable while reconnecting");
        assert!(
            Instant::now() < deadline,
            "never recovered:\n{}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let db = schema.client().await;
    assert_eq!(
        count(&db, "SELECT count(*) FROM actor_checkpoint").await,
        2,
        "nothing was stored while PostgreSQL was down"
    );
    assert!(node.is_running());
    drop(schema); // before the server it lives on
}

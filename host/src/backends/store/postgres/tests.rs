//! The store and actor-state conformance suites on a real PostgreSQL, plus what only a
//! cluster engine must do: concurrent seeding by several nodes, serialization across nodes,
//! the outbox claim, and outage errors.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::testing::TestSchema;
use super::*;
use crate::backends::actors::{ActorStateStore, ActorStoreError, conformance as actor_cases};
use crate::backends::store::{StoreErrorKind, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_store_conformance_suite() {
    let Some(schema) = TestSchema::new("postgres_passes_the_store_conformance_suite").await else {
        return;
    };
    conformance::suite(&schema.store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_actor_state_passes_the_conformance_suite() {
    for case in actor_cases::CASES {
        let Some(schema) = TestSchema::new(case.name).await else {
            return;
        };
        eprintln!("case: {}", case.name);
        (case.run)(&schema.store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_increments_from_two_nodes_lose_no_update() {
    let Some(schema) = TestSchema::new("concurrent_increments_from_two_nodes").await else {
        return;
    };
    let first: Arc<dyn ActorStateStore> = Arc::new(schema.store.clone());
    actor_cases::concurrent_increments_lose_no_update(first, 20).await;
    // Two pools (two nodes) on one actor: the row lock alone serializes them.
    let second = schema.another_node().await;
    let mut handles = Vec::new();
    for (node, store) in [schema.store.clone(), second].into_iter().enumerate() {
        handles.push(tokio::spawn(async move {
            for i in 0..15 {
                let txn = store.begin("sku", "hot").await.expect("begin");
                let n = txn.state().and_then(|s| s["n"].as_u64()).expect("n");
                tokio::time::sleep(Duration::from_millis(1)).await;
                txn.commit(
                    &json!({"n": n + 1}),
                    &actor_cases::checkpoint(&format!("node{node}-{i}")),
                )
                .await
                .expect("an existing actor never conflicts");
            }
        }));
    }
    for handle in handles {
        handle.await.expect("node");
    }
    let txn = schema.store.begin("sku", "hot").await.expect("begin");
    assert_eq!(txn.state(), Some(&json!({"n": 50})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_node_waits_for_the_first_to_release_an_actor() {
    let Some(schema) = TestSchema::new("a_second_node_waits").await else {
        return;
    };
    assert!(
        schema
            .store
            .seed_actor("sku", "a", &json!({"n": 0}))
            .await
            .expect("seed")
    );
    let held = schema.store.begin("sku", "a").await.expect("begin");
    let other = schema.another_node().await;
    let waiting = tokio::spawn(async move {
        let txn = other.begin("sku", "a").await.expect("begin");
        txn.state().cloned()
    });
    // It cannot finish while the first holds the row; a short wait shows it is blocked.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the second node did not wait");
    held.commit(&json!({"n": 1}), &actor_cases::checkpoint("c1"))
        .await
        .expect("commit");
    let seen = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("released")
        .expect("task");
    assert_eq!(seen, Some(json!({"n": 1})), "it read the committed state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_seeding_at_once_load_each_edge_exactly_once() {
    let Some(schema) = TestSchema::new("nodes_seeding_at_once").await else {
        return;
    };
    let mut nodes = vec![schema.store.clone()];
    for _ in 0..5 {
        nodes.push(schema.another_node().await);
    }
    let records: Vec<_> = (0..50).map(|i| json!({"n": i})).collect();
    let handles: Vec<_> = nodes
        .into_iter()
        .map(|node| {
            let records = records.clone();
            tokio::spawn(async move { node.seed("skus", records).await })
        })
        .collect();
    let mut inserted = Vec::new();
    for handle in handles {
        inserted.push(handle.await.expect("task").expect("no node fails"));
    }
    inserted.sort_unstable();
    assert_eq!(inserted, [0, 0, 0, 0, 0, 50]);
    let rows = schema
        .store
        .query(&Query {
            limit: 100,
            ..Query::new("skus")
        })
        .await
        .expect("query");
    assert_eq!(rows.len(), 50);
    assert_eq!(rows[49]["n"], 49, "in seed order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_connects_to_a_new_schema_all_succeed() {
    let Some(schema) = TestSchema::new("concurrent_connects").await else {
        return;
    };
    let mut config = schema.config.clone();
    config.schema = format!("{}_b", schema.config.schema);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let config = config.clone();
            tokio::spawn(async move { PostgresStore::connect(&config).await.map(|_| ()) })
        })
        .collect();
    for handle in handles {
        handle.await.expect("task").expect("connect");
    }
    let client = schema.store.client().await.expect("client");
    client
        .batch_execute(&format!("DROP SCHEMA \"{}\" CASCADE", config.schema))
        .await
        .expect("drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_relay_pass_at_a_time_claims_the_oldest_unpublished_checkpoints() {
    let Some(schema) = TestSchema::new("two_relays_never_claim").await else {
        return;
    };
    for i in 0..5 {
        let txn = schema.store.begin("sku", "a").await.expect("begin");
        txn.commit(&json!({"n": i}), &actor_cases::checkpoint(&format!("c{i}")))
            .await
            .expect("commit");
    }
    schema.store.mark_published("c0").await.expect("mark");
    let other = schema.another_node().await;
    let first = schema
        .store
        .claim_unpublished(3, Duration::ZERO)
        .await
        .expect("claim");
    let second = other
        .claim_unpublished(10, Duration::ZERO)
        .await
        .expect("claim");
    let ids = |batch: &dyn crate::backends::actors::OutboxBatch| -> Vec<String> {
        batch
            .checkpoints()
            .iter()
            .map(|c| c.checkpoint.checkpoint_id.clone())
            .collect()
    };
    assert_eq!(
        ids(first.as_ref()),
        ["c1", "c2", "c3"],
        "oldest first, c0 was published"
    );
    assert_eq!(
        ids(second.as_ref()),
        Vec::<String>::new(),
        "another relay claims nothing while a pass is open"
    );
    assert_eq!(first.checkpoints()[0].topic(), "actors/sku/a");
    first
        .finish(&["c1".into(), "c2".into()])
        .await
        .expect("finish");
    second.finish(&[]).await.expect("finish");
    let again = other
        .claim_unpublished(1, Duration::ZERO)
        .await
        .expect("claim");
    assert_eq!(ids(again.as_ref()), ["c3"], "the pass is over: c3 is next");
    drop(again); // a relay that died: its claim is released, nothing marked
    let again = other
        .claim_unpublished(10, Duration::ZERO)
        .await
        .expect("claim");
    assert_eq!(ids(again.as_ref()), ["c3", "c4"]);
    again.finish(&[]).await.expect("finish");
    let young = schema
        .store
        .claim_unpublished(10, Duration::from_secs(3600))
        .await
        .expect("claim");
    assert!(young.checkpoints().is_empty(), "too young for a relay");
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_and_named() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let mut config = PostgresConfig::new("postgres://postgres@127.0.0.1:1/test");
    config.connect_timeout = Duration::from_secs(2);
    let err = PostgresStore::connect(&config).await.expect_err("refused");
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("PostgreSQL"), "{err}");
    let err: ActorStoreError = err.into();
    assert!(err.is_unavailable());
}

#[tokio::test]
async fn bad_urls_and_schemas_are_invalid_config() {
    for (url, schema) in [
        ("postgres://x@127.0.0.1:5432/test?sslmode=bogus", "public"),
        ("postgres://x@127.0.0.1/test", "Bad-Schema"),
        ("postgres://x@127.0.0.1/test", "a\"; DROP"),
    ] {
        let mut config = PostgresConfig::new(url);
        config.schema = schema.into();
        let err = PostgresStore::connect(&config).await.expect_err(url);
        assert_eq!(err.kind(), StoreErrorKind::Store, "{url} {schema}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_edge_names_and_nul_strings_behave_as_documented() {
    let Some(schema) = TestSchema::new("long_edge_names").await else {
        return;
    };
    let long = "e".repeat(MAX_POSTGRES_EDGE_NAME_LEN + 1);
    assert!(matches!(
        schema.store.seed(&long, vec![]).await,
        Err(StoreError::InvalidEdgeName(_))
    ));
    let ok = "e".repeat(MAX_POSTGRES_EDGE_NAME_LEN);
    assert_eq!(
        schema
            .store
            .seed(&ok, vec![json!({"a": 1})])
            .await
            .expect("seed"),
        1
    );
    assert_eq!(schema.store.edges().await.expect("edges"), [ok]);
    schema
        .store
        .seed("skus", vec![json!({"s": "x"})])
        .await
        .expect("seed");
    let ordering = Query {
        filter: Some(crate::backends::store::filter::parse("s < ?").expect("valid")),
        arguments: vec![json!("a\0b")],
        ..Query::new("skus")
    };
    let err = schema.store.query(&ordering).await.expect_err("NUL");
    assert_eq!(err.kind(), StoreErrorKind::Invalid, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_arrays_and_objects_after_every_string() {
    let Some(schema) = TestSchema::new("orders_arrays_and_objects").await else {
        return;
    };
    schema
        .store
        .seed("skus", conformance::skus())
        .await
        .expect("seed");
    let by = |text: &str| Query {
        order_by: crate::backends::store::parse_order_by(text).expect("valid"),
        ..Query::new("skus")
    };
    let ids = |rows: Vec<crate::backends::store::Document>| -> Vec<String> {
        rows.iter()
            .map(|r| r["skuId"].as_str().unwrap_or("?").to_owned())
            .collect()
    };
    // c3's string first, then the arrays by their jsonb text.
    let rows = schema.store.query(&by("tags")).await.expect("query");
    assert_eq!(ids(rows), ["c3", "b2", "a1", "d4"]);
    let rows = schema
        .store
        .query(&by("address desc"))
        .await
        .expect("query");
    assert_eq!(ids(rows), ["a1", "d4", "b2", "c3"]);
}

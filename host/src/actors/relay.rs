//! The outbox relay: publishes checkpoints that were committed but never published.
//!
//! Every checkpoint row is stored unpublished in the same transaction as the actor's state
//! (the transactional outbox). The node that committed it publishes it at once and marks it
//! published; if it dies in between (or the bus is down), the row stays unpublished. Each node
//! of a cluster runs [`spawn`]: every [`RELAY_EVERY`] it claims unpublished rows older than
//! [`RELAY_GRACE`] in commit order (one relay pass at a time per store, so two relays never
//! take the same row or reorder one actor's rows), publishes each with its checkpoint id as the
//! de-duplication key, and marks them. A checkpoint that was published but not marked (the node died after publishing) is
//! published again with the same key, and the bus drops the duplicate (JetStream `Nats-Msg-Id`
//! within the stream's duplicate window, which must exceed `RELAY_EVERY + RELAY_GRACE`), so
//! subscribers see each checkpoint exactly once.

use std::sync::Arc;
use std::time::Duration;

use crate::backends::actors::{ActorStateStore, ActorStoreError, StoredCheckpoint};
use crate::backends::bus::{BusError, EventBus};

/// How often a relay looks for unpublished checkpoints.
pub const RELAY_EVERY: Duration = Duration::from_secs(1);
/// How old an unpublished checkpoint must be before a relay takes it, so the node that
/// committed it normally publishes it first.
pub const RELAY_GRACE: Duration = Duration::from_secs(2);
/// Most checkpoints one relay pass publishes.
pub const RELAY_BATCH: u32 = 500;

/// Publish one checkpoint on `actors/<type>/<id>`, de-duplicated by its checkpoint id.
pub async fn publish_checkpoint(
    bus: &dyn EventBus,
    stored: &StoredCheckpoint,
) -> Result<(), BusError> {
    let published = bus
        .publish(
            &stored.topic(),
            "checkpoint",
            &stored.event(),
            Some(&stored.checkpoint.checkpoint_id),
        )
        .await?;
    if published.duplicate {
        tracing::debug!(checkpoint = %stored.checkpoint.checkpoint_id, "the bus already had it");
    }
    Ok(())
}

/// One relay pass: claim up to `limit` checkpoints older than `older_than`, publish them in
/// order, and mark the ones the bus took. Returns how many were published.
pub async fn relay_once(
    store: &dyn ActorStateStore,
    bus: &dyn EventBus,
    limit: u32,
    older_than: Duration,
) -> Result<usize, ActorStoreError> {
    let batch = store.claim_unpublished(limit, older_than).await?;
    let mut published = Vec::new();
    for stored in batch.checkpoints() {
        match publish_checkpoint(bus, stored).await {
            Ok(()) => published.push(stored.checkpoint.checkpoint_id.clone()),
            Err(err) => {
                // Keep the order per actor: stop at the first failure, retry next pass.
                tracing::warn!(topic = %stored.topic(), %err, "relay could not publish a checkpoint");
                break;
            }
        }
    }
    let count = published.len();
    batch.finish(&published).await?;
    if count > 0 {
        tracing::info!(
            count,
            "relay published checkpoints that were not published at commit"
        );
    }
    Ok(count)
}

/// Run the relay in the background until the returned handle is aborted.
pub fn spawn(
    store: Arc<dyn ActorStateStore>,
    bus: Arc<dyn EventBus>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(RELAY_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(err) =
                relay_once(store.as_ref(), bus.as_ref(), RELAY_BATCH, RELAY_GRACE).await
            {
                tracing::warn!(%err, "outbox relay pass failed; retrying");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;
    use crate::backends::actors::Checkpoint;
    use crate::backends::bus::{InMemoryBus, InMemoryBusConfig};
    use crate::backends::store::postgres::testing::TestSchema;

    /// What a node that died between commit and publish leaves behind: committed checkpoint
    /// rows that nobody published.
    async fn commit_without_publishing(store: &dyn ActorStateStore, actor: &str, count: usize) {
        for i in 0..count {
            let txn = store.begin("sku", actor).await.expect("begin");
            let checkpoint = Checkpoint {
                checkpoint_id: format!("{actor}-{i}"),
                timestamp_ms: 1_000 + i as u64,
                metadata: Some(json!({"i": i})),
            };
            txn.commit(&json!({"n": i}), &checkpoint)
                .await
                .expect("commit");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn relays_on_two_nodes_publish_each_unpublished_checkpoint_exactly_once() {
        let Some(schema) = TestSchema::new("relays_on_two_nodes").await else {
            return;
        };
        let node_a: Arc<dyn ActorStateStore> = Arc::new(schema.store.clone());
        let node_b: Arc<dyn ActorStateStore> = Arc::new(schema.another_node().await);
        commit_without_publishing(node_a.as_ref(), "a", 40).await;
        commit_without_publishing(node_a.as_ref(), "b", 40).await;
        let bus = Arc::new(InMemoryBus::new(InMemoryBusConfig::default()));
        let mut sub = bus
            .subscribe(&["actors/sku/a".into(), "actors/sku/b".into()], &[], None)
            .await
            .expect("subscribe");
        // Both relays at once, in small batches so they interleave.
        let relay = |store: Arc<dyn ActorStateStore>, bus: Arc<InMemoryBus>| {
            tokio::spawn(async move {
                let mut total = 0;
                loop {
                    let n = relay_once(store.as_ref(), bus.as_ref(), 7, Duration::ZERO)
                        .await
                        .expect("relay");
                    if n == 0 {
                        return total;
                    }
                    total += n;
                }
            })
        };
        let a = relay(node_a.clone(), bus.clone());
        let b = relay(node_b.clone(), bus.clone());
        let (a, b) = (a.await.expect("relay a"), b.await.expect("relay b"));
        // A relay that finds the other one's pass running claims nothing and stops here, so
        // one of them may have done all the work; together they publish each row once.
        assert_eq!(a + b, 80, "every checkpoint published, none twice");
        let mut seen: HashMap<String, Vec<usize>> = HashMap::new();
        while let Some(event) = sub.try_recv() {
            let data: serde_json::Value = serde_json::from_str(&event.data).expect("json");
            assert_eq!(&*event.event_type, "checkpoint");
            let id = data["checkpointId"].as_str().expect("id");
            let (actor, n) = id.split_once('-').expect("<actor>-<n>");
            seen.entry(actor.to_owned())
                .or_default()
                .push(n.parse().expect("n"));
        }
        // Each actor's leftovers reach the bus once each, in commit order.
        let in_order: Vec<usize> = (0..40).collect();
        assert_eq!(seen.get("a"), Some(&in_order));
        assert_eq!(seen.get("b"), Some(&in_order));
        // Nothing is left: a third pass from either node publishes nothing.
        for node in [&node_a, &node_b] {
            let n = relay_once(node.as_ref(), bus.as_ref(), 100, Duration::ZERO)
                .await
                .expect("relay");
            assert_eq!(n, 0);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_checkpoint_published_at_commit_is_not_relayed_again() {
        let Some(schema) = TestSchema::new("published_at_commit").await else {
            return;
        };
        commit_without_publishing(&schema.store, "a", 3).await;
        schema.store.mark_published("a-0").await.expect("mark");
        schema.store.mark_published("a-2").await.expect("mark");
        let bus = InMemoryBus::new(InMemoryBusConfig::default());
        let mut sub = bus
            .subscribe(&["actors/sku/a".into()], &[], None)
            .await
            .expect("subscribe");
        let n = relay_once(&schema.store, &bus, 100, Duration::ZERO)
            .await
            .expect("relay");
        assert_eq!(n, 1);
        let event = sub.try_recv().expect("one event");
        assert!(
            event.data.contains("\"checkpointId\":\"a-1\""),
            "{}",
            event.data
        );
        assert!(sub.try_recv().is_none());
    }

    /// A JetStream bus on a stream of this test's own, or `None` (said loudly; under CI a
    /// failure naming the server) when NATS is unreachable.
    async fn jetstream(test: &str, stream: &str) -> Option<crate::backends::bus::JetStreamBus> {
        let url = std::env::var("SLUICE_TEST_NATS_URL")
            .unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
        let mut config = crate::backends::bus::JetStreamConfig::new(url.clone(), stream);
        config.subject_prefix = stream.to_lowercase();
        config.storage = crate::backends::bus::jetstream::config::Storage::Memory;
        match crate::backends::bus::JetStreamBus::connect(config).await {
            Ok(bus) => Some(bus),
            Err(err) if std::env::var_os("CI").is_some() => {
                panic!("{test}: NATS at {url} is unreachable: {err}")
            }
            Err(err) => {
                eprintln!("\n!!! SKIPPED {test}: no NATS at {url} ({err})\n");
                None
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jetstream_stores_each_relayed_checkpoint_once_even_when_published_twice() {
        let test = "jetstream_stores_each_relayed_checkpoint_once";
        let Some(schema) = TestSchema::new(test).await else {
            return;
        };
        let stream = format!("T{}", uuid::Uuid::new_v4().simple());
        let Some(bus_a) = jetstream(test, &stream).await else {
            return;
        };
        let Some(bus_b) = jetstream(test, &stream).await else {
            return;
        };
        let node_a: Arc<dyn ActorStateStore> = Arc::new(schema.store.clone());
        let node_b: Arc<dyn ActorStateStore> = Arc::new(schema.another_node().await);
        commit_without_publishing(node_a.as_ref(), "a", 20).await;
        // A node that published two checkpoints and died before marking them.
        let claimed = node_a
            .claim_unpublished(2, Duration::ZERO)
            .await
            .expect("claim");
        for stored in claimed.checkpoints() {
            publish_checkpoint(&bus_a, stored).await.expect("publish");
        }
        drop(claimed);
        let watcher = bus_a
            .subscribe(&["actors/sku/a".into()], &[], Some(0))
            .await
            .expect("subscribe");
        // Relays on two nodes, each with its own NATS connection, at once.
        let (bus_a, bus_b) = (Arc::new(bus_a), Arc::new(bus_b));
        let relay = |store: Arc<dyn ActorStateStore>,
                     bus: Arc<crate::backends::bus::JetStreamBus>| {
            tokio::spawn(async move {
                let mut total = 0;
                loop {
                    match relay_once(store.as_ref(), bus.as_ref(), 3, Duration::ZERO)
                        .await
                        .expect("relay")
                    {
                        0 => return total,
                        n => total += n,
                    }
                }
            })
        };
        let a = relay(node_a.clone(), bus_a.clone());
        let b = relay(node_b.clone(), bus_b.clone());
        assert_eq!(a.await.expect("a") + b.await.expect("b"), 20);
        let mut watcher = watcher;
        let mut ids = Vec::new();
        while ids.len() < 20 {
            let event = tokio::time::timeout(Duration::from_secs(30), watcher.recv())
                .await
                .expect("all 20 arrive")
                .expect("open");
            let data: serde_json::Value = serde_json::from_str(&event.data).expect("json");
            ids.push(data["checkpointId"].as_str().expect("id").to_owned());
        }
        // Nothing more: the two re-published checkpoints were dropped as duplicates.
        let extra = tokio::time::timeout(Duration::from_millis(500), watcher.recv()).await;
        assert!(extra.is_err(), "a duplicate arrived: {extra:?}");
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 20, "{ids:?}");
        bus_a.delete_stream().await.expect("delete stream");
    }
}

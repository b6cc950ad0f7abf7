//! The conformance suite of [`ActorStateStore`]: each case takes `&dyn ActorStateStore` (a
//! fresh, empty store) and is run against SQLite and PostgreSQL alike.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::json;

use super::{ActorStateStore, ActorStoreError, Checkpoint};

/// One case: its name and its body.
pub struct Case {
    pub name: &'static str,
    pub run: for<'a> fn(&'a dyn ActorStateStore) -> BoxFuture<'a, ()>,
}

pub const CASES: &[Case] = &[
    Case {
        name: "a commit stores state and one checkpoint",
        run: |store| Box::pin(a_commit_stores_state_and_one_checkpoint(store)),
    },
    Case {
        name: "a dropped transaction changes nothing",
        run: |store| Box::pin(a_dropped_transaction_changes_nothing(store)),
    },
    Case {
        name: "a failed commit changes nothing",
        run: |store| Box::pin(a_failed_commit_changes_nothing(store)),
    },
    Case {
        name: "seeding never overwrites an existing actor",
        run: |store| Box::pin(seeding_never_overwrites_an_existing_actor(store)),
    },
    Case {
        name: "the loser of a creation race gets a conflict",
        run: |store| Box::pin(the_loser_of_a_creation_race_gets_a_conflict(store)),
    },
    Case {
        name: "a read sees the latest commit and its version and waits for no transaction",
        run: |store| {
            Box::pin(a_read_sees_the_latest_commit_and_waits_for_no_transaction(
                store,
            ))
        },
    },
];

pub fn checkpoint(id: &str) -> Checkpoint {
    Checkpoint {
        checkpoint_id: id.into(),
        timestamp_ms: 1,
        metadata: Some(json!({"why": "test"})),
    }
}

async fn state_of(store: &dyn ActorStateStore, id: &str) -> Option<serde_json::Value> {
    store
        .begin("sku", id)
        .await
        .expect("begin")
        .state()
        .cloned()
}

async fn a_commit_stores_state_and_one_checkpoint(store: &dyn ActorStateStore) {
    assert_eq!(state_of(store, "a").await, None);
    let txn = store.begin("sku", "a").await.expect("begin");
    txn.commit(&json!({"n": 1}), &checkpoint("c1"))
        .await
        .expect("commit");
    let txn = store.begin("sku", "a").await.expect("begin");
    assert_eq!(txn.state(), Some(&json!({"n": 1})));
    txn.commit(&json!({"n": 2, "b": [1]}), &checkpoint("c2"))
        .await
        .expect("commit");
    assert_eq!(state_of(store, "a").await, Some(json!({"n": 2, "b": [1]})));
    assert_eq!(store.checkpoint_count("sku", "a").await.expect("count"), 2);
    assert_eq!(store.checkpoint_count("sku", "b").await.expect("count"), 0);
}

async fn a_dropped_transaction_changes_nothing(store: &dyn ActorStateStore) {
    assert!(
        store
            .seed_actor("sku", "a", &json!({"n": 0}))
            .await
            .expect("seed")
    );
    drop(store.begin("sku", "a").await.expect("begin"));
    // The actor is free again (a held lock would make this wait forever).
    let txn = store.begin("sku", "a").await.expect("begin");
    assert_eq!(txn.state(), Some(&json!({"n": 0})));
    drop(txn);
    assert_eq!(store.checkpoint_count("sku", "a").await.expect("count"), 0);
}

async fn a_failed_commit_changes_nothing(store: &dyn ActorStateStore) {
    let txn = store.begin("sku", "a").await.expect("begin");
    txn.commit(&json!({"n": 1}), &checkpoint("c1"))
        .await
        .expect("commit");
    // The same checkpoint id again violates the primary key after the state update: the
    // transaction must roll the state back too.
    let txn = store.begin("sku", "a").await.expect("begin");
    let err = txn.commit(&json!({"n": 2}), &checkpoint("c1")).await;
    assert!(matches!(err, Err(ActorStoreError::Failed(_))), "{err:?}");
    assert_eq!(state_of(store, "a").await, Some(json!({"n": 1})));
    assert_eq!(store.checkpoint_count("sku", "a").await.expect("count"), 1);
}

async fn seeding_never_overwrites_an_existing_actor(store: &dyn ActorStateStore) {
    assert!(
        store
            .seed_actor("sku", "a", &json!({"n": 1}))
            .await
            .expect("seed")
    );
    assert!(
        !store
            .seed_actor("sku", "a", &json!({"n": 9}))
            .await
            .expect("seed")
    );
    assert_eq!(state_of(store, "a").await, Some(json!({"n": 1})));
    assert_eq!(store.checkpoint_count("sku", "a").await.expect("count"), 0);
}

async fn the_loser_of_a_creation_race_gets_a_conflict(store: &dyn ActorStateStore) {
    // Both find no actor: there is no row to lock yet.
    let first = store.begin("sku", "new-one").await.expect("begin");
    let second = store.begin("sku", "new-one").await.expect("begin");
    assert!(first.state().is_none() && second.state().is_none());
    first
        .commit(&json!({"by": "first"}), &checkpoint("c1"))
        .await
        .expect("commit");
    let err = second
        .commit(&json!({"by": "second"}), &checkpoint("c2"))
        .await
        .expect_err("lost the race");
    assert!(matches!(err, ActorStoreError::Conflict(_)), "{err}");
    assert_eq!(
        state_of(store, "new-one").await,
        Some(json!({"by": "first"}))
    );
    assert_eq!(
        store
            .checkpoint_count("sku", "new-one")
            .await
            .expect("count"),
        1
    );
}

/// `tasks` concurrent read-increment-commit loops on one actor, each retrying on a
/// conflict: the final count is exact, whatever the engine's way of serializing.
pub async fn concurrent_increments_lose_no_update(store: Arc<dyn ActorStateStore>, tasks: usize) {
    assert!(
        store
            .seed_actor("sku", "hot", &json!({"n": 0}))
            .await
            .expect("seed")
    );
    let mut handles = Vec::new();
    for task in 0..tasks {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            loop {
                let txn = store.begin("sku", "hot").await.expect("begin");
                let n = txn.state().and_then(|s| s["n"].as_u64()).expect("n");
                tokio::task::yield_now().await;
                match txn
                    .commit(&json!({"n": n + 1}), &checkpoint(&format!("inc-{task}")))
                    .await
                {
                    Ok(()) => break,
                    Err(ActorStoreError::Conflict(_)) => continue,
                    Err(err) => panic!("{err}"),
                }
            }
        }));
    }
    for handle in handles {
        handle.await.expect("task");
    }
    let txn = store.begin("sku", "hot").await.expect("begin");
    assert_eq!(txn.state(), Some(&json!({"n": tasks})));
    drop(txn);
    assert_eq!(
        store.checkpoint_count("sku", "hot").await.expect("count"),
        tasks as u64
    );
}

async fn a_read_sees_the_latest_commit_and_waits_for_no_transaction(store: &dyn ActorStateStore) {
    use super::VersionedState;
    let read = |id: &'static str| async move {
        tokio::time::timeout(std::time::Duration::from_secs(10), store.read("sku", id))
            .await
            .expect("a read never waits for the actor's lock")
            .expect("read")
    };
    assert_eq!(read("r").await, None);
    assert!(
        store
            .seed_actor("sku", "r", &json!({"n": 0}))
            .await
            .expect("seed")
    );
    assert_eq!(
        read("r").await,
        Some(VersionedState {
            state: json!({"n": 0}),
            version: 0
        })
    );
    let held = store.begin("sku", "r").await.expect("begin");
    assert_eq!(
        read("r").await.map(|r| r.version),
        Some(0),
        "an open transaction neither blocks a read nor shows through"
    );
    held.commit(&json!({"n": 1}), &checkpoint("r1"))
        .await
        .expect("commit");
    let txn = store.begin("sku", "r").await.expect("begin");
    txn.commit(&json!({"n": 2}), &checkpoint("r2"))
        .await
        .expect("commit");
    assert_eq!(
        read("r").await,
        Some(VersionedState {
            state: json!({"n": 2}),
            version: 2
        })
    );
    let created = store.begin("sku", "fresh").await.expect("begin");
    created
        .commit(&json!({"n": 9}), &checkpoint("f1"))
        .await
        .expect("commit");
    assert_eq!(read("fresh").await.map(|r| r.version), Some(1));
}

//! Actor state and checkpoints in the same SQLite file as the edges.

use futures::future::BoxFuture;
use rusqlite::{OptionalExtension, params};
use serde_json::Value;

use super::SqliteStore;
use crate::backends::actors::{
    ActorStateStore, ActorStoreError, ActorTransaction, Checkpoint, NoOutbox, OutboxBatch,
    VersionedState,
};
use crate::backends::store::StoreError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS actor_state (
    actor_type TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    state TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (actor_type, actor_id)
);
CREATE TABLE IF NOT EXISTS actor_checkpoint (
    checkpoint_id TEXT PRIMARY KEY,
    actor_type TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    metadata TEXT
);
CREATE INDEX IF NOT EXISTS actor_checkpoint_by_actor ON actor_checkpoint (actor_type, actor_id);
";

fn failed(err: rusqlite::Error) -> ActorStoreError {
    match StoreError::from(err) {
        StoreError::Unavailable(reason) => ActorStoreError::Unavailable(reason),
        other => ActorStoreError::Failed(other.to_string()),
    }
}

/// Called once when the store opens.
pub(super) fn create_tables(connection: &rusqlite::Connection) -> rusqlite::Result<()> {
    connection.execute_batch(SCHEMA)
}

/// One actor read by [`SqliteStore::begin`]. SQLite needs no lock held across the call: the
/// runtime serializes messages per actor inside the process, and the commit checks the
/// version it read (compare-and-swap), so another process writing the same file in between
/// makes the commit a [`ActorStoreError::Conflict`] instead of a lost update.
struct SqliteTransaction {
    store: SqliteStore,
    actor_type: String,
    actor_id: String,
    state: Option<Value>,
    /// The version read; `None` when the actor did not exist.
    version: Option<i64>,
}

impl ActorTransaction for SqliteTransaction {
    fn state(&self) -> Option<&Value> {
        self.state.as_ref()
    }

    fn commit<'a>(
        self: Box<Self>,
        state: &'a Value,
        checkpoint: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<(), ActorStoreError>> {
        let state = state.to_string();
        let metadata = checkpoint.metadata.as_ref().map(Value::to_string);
        let checkpoint_id = checkpoint.checkpoint_id.clone();
        let timestamp = checkpoint.timestamp_ms;
        Box::pin(async move {
            let timestamp =
                i64::try_from(timestamp).map_err(|err| ActorStoreError::Failed(err.to_string()))?;
            let this = *self;
            let name = format!("{}/{}", this.actor_type, this.actor_id);
            let (actor_type, actor_id, read) = (this.actor_type, this.actor_id, this.version);
            this.store
                .blocking(move |connection| {
                    let transaction = connection.transaction().map_err(failed)?;
                    let changed = match read {
                        Some(version) => transaction.execute(
                            "UPDATE actor_state SET state = ?3, version = version + 1 \
                             WHERE actor_type = ?1 AND actor_id = ?2 AND version = ?4",
                            params![actor_type, actor_id, state, version],
                        ),
                        None => transaction.execute(
                            "INSERT INTO actor_state (actor_type, actor_id, state, version) \
                             VALUES (?1, ?2, ?3, 1) ON CONFLICT DO NOTHING",
                            params![actor_type, actor_id, state],
                        ),
                    }
                    .map_err(failed)?;
                    if changed != 1 {
                        return Err(ActorStoreError::Conflict(name));
                    }
                    let version = read.map_or(1, |v| v + 1);
                    transaction
                        .execute(
                            "INSERT INTO actor_checkpoint \
                             (checkpoint_id, actor_type, actor_id, version, timestamp_ms, metadata) \
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                            params![checkpoint_id, actor_type, actor_id, version, timestamp, metadata],
                        )
                        .map_err(failed)?;
                    transaction.commit().map_err(failed)
                })
                .await
        })
    }
}

impl ActorStateStore for SqliteStore {
    fn begin<'a>(
        &'a self,
        actor_type: &'a str,
        actor_id: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn ActorTransaction>, ActorStoreError>> {
        Box::pin(async move {
            let read = self.read(actor_type, actor_id).await?;
            let (state, version) = match read {
                Some(read) => (Some(read.state), Some(read.version)),
                None => (None, None),
            };
            Ok(Box::new(SqliteTransaction {
                store: self.clone(),
                actor_type: actor_type.to_owned(),
                actor_id: actor_id.to_owned(),
                state,
                version,
            }) as Box<dyn ActorTransaction>)
        })
    }

    fn read<'a>(
        &'a self,
        actor_type: &'a str,
        actor_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<VersionedState>, ActorStoreError>> {
        Box::pin(async move {
            let (t, i) = (actor_type.to_owned(), actor_id.to_owned());
            let row: Option<(String, i64)> = self
                .blocking(move |connection| {
                    connection
                        .prepare_cached(
                            "SELECT state, version FROM actor_state WHERE actor_type = ?1 AND actor_id = ?2",
                        )
                        .and_then(|mut statement| {
                            statement
                                .query_row(params![t, i], |row| Ok((row.get(0)?, row.get(1)?)))
                                .optional()
                        })
                        .map_err(failed)
                })
                .await?;
            row.map(|(text, version)| {
                let state = serde_json::from_str(&text).map_err(|err| {
                    ActorStoreError::Failed(format!(
                        "the state of {actor_type}/{actor_id} is not JSON: {err}"
                    ))
                })?;
                Ok(VersionedState { state, version })
            })
            .transpose()
        })
    }

    /// The embedded store's file belongs to one `sluice` process.
    fn is_shared(&self) -> bool {
        false
    }

    fn seed_actor<'a>(
        &'a self,
        actor_type: &'a str,
        actor_id: &'a str,
        state: &'a Value,
    ) -> BoxFuture<'a, Result<bool, ActorStoreError>> {
        let (t, i, state) = (
            actor_type.to_owned(),
            actor_id.to_owned(),
            state.to_string(),
        );
        Box::pin(async move {
            let inserted = self
                .blocking(move |connection| {
                    connection
                        .execute(
                            "INSERT OR IGNORE INTO actor_state (actor_type, actor_id, state, version) \
                             VALUES (?1, ?2, ?3, 0)",
                            params![t, i, state],
                        )
                        .map_err(failed)
                })
                .await?;
            Ok(inserted == 1)
        })
    }

    fn checkpoint_count<'a>(
        &'a self,
        actor_type: &'a str,
        actor_id: &'a str,
    ) -> BoxFuture<'a, Result<u64, ActorStoreError>> {
        let (t, i) = (actor_type.to_owned(), actor_id.to_owned());
        Box::pin(async move {
            let count: i64 = self
                .blocking(move |connection| {
                    connection
                        .query_row(
                            "SELECT COUNT(*) FROM actor_checkpoint WHERE actor_type = ?1 AND actor_id = ?2",
                            params![t, i],
                            |row| row.get(0),
                        )
                        .map_err(failed)
                })
                .await?;
            u64::try_from(count).map_err(|err| ActorStoreError::Failed(err.to_string()))
        })
    }

    /// The embedded store has no outbox: its bus lives and dies with the process, so there
    /// is no one to publish to after a crash.
    fn mark_published<'a>(
        &'a self,
        _checkpoint_id: &'a str,
    ) -> BoxFuture<'a, Result<(), ActorStoreError>> {
        Box::pin(async { Ok(()) })
    }

    fn claim_unpublished(
        &self,
        _limit: u32,
        _older_than: std::time::Duration,
    ) -> BoxFuture<'_, Result<Box<dyn OutboxBatch>, ActorStoreError>> {
        Box::pin(async { Ok(Box::new(NoOutbox) as Box<dyn OutboxBatch>) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::actors::conformance;

    #[tokio::test]
    async fn sqlite_actor_state_passes_the_conformance_suite() {
        for case in conformance::CASES {
            eprintln!("case: {}", case.name);
            let store = SqliteStore::open_in_memory().expect("store");
            (case.run)(&store).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_concurrent_increments_lose_no_update() {
        let store = SqliteStore::open_in_memory().expect("store");
        conformance::concurrent_increments_lose_no_update(std::sync::Arc::new(store), 20).await;
    }

    #[tokio::test]
    async fn another_process_writing_in_between_is_a_conflict_not_a_lost_update() {
        let store = SqliteStore::open_in_memory().expect("store");
        let state = serde_json::json!({"n": 0});
        assert!(store.seed_actor("sku", "a", &state).await.expect("seed"));
        let first = store.begin("sku", "a").await.expect("begin");
        // What a second process on the same file would do while the first runs its actor.
        store.with_connection(|c| {
            c.execute("UPDATE actor_state SET version = version + 1", [])
                .expect("update")
        });
        let err = first
            .commit(&serde_json::json!({"n": 1}), &conformance::checkpoint("c1"))
            .await
            .expect_err("stale version");
        assert!(matches!(err, ActorStoreError::Conflict(_)), "{err}");
        assert_eq!(store.checkpoint_count("sku", "a").await.expect("count"), 0);
    }
}

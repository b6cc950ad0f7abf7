//! Actor state and checkpoints in the same SQLite file as the edges.

use rusqlite::{OptionalExtension, params};
use serde_json::Value;

use super::SqliteStore;
use crate::backends::actors::{ActorStateStore, ActorStoreError, Checkpoint};

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

fn failed(err: impl std::fmt::Display) -> ActorStoreError {
    ActorStoreError(err.to_string())
}

/// Called once when the store opens.
pub(super) fn create_tables(connection: &rusqlite::Connection) -> rusqlite::Result<()> {
    connection.execute_batch(SCHEMA)
}

impl SqliteStore {
    fn with_actor_tables<R>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<R>,
    ) -> Result<R, ActorStoreError> {
        self.with_connection(f).map_err(failed)
    }
}

impl ActorStateStore for SqliteStore {
    fn load_actor(
        &self,
        actor_type: &str,
        actor_id: &str,
    ) -> Result<Option<Value>, ActorStoreError> {
        let text: Option<String> = self.with_actor_tables(|connection| {
            connection
                .query_row(
                    "SELECT state FROM actor_state WHERE actor_type = ?1 AND actor_id = ?2",
                    params![actor_type, actor_id],
                    |row| row.get(0),
                )
                .optional()
        })?;
        text.map(|text| serde_json::from_str(&text).map_err(failed))
            .transpose()
    }

    fn commit_actor(
        &self,
        actor_type: &str,
        actor_id: &str,
        state: &Value,
        checkpoint: &Checkpoint,
    ) -> Result<(), ActorStoreError> {
        let state = state.to_string();
        let metadata = checkpoint.metadata.as_ref().map(Value::to_string);
        let timestamp = i64::try_from(checkpoint.timestamp_ms).map_err(failed)?;
        self.with_actor_tables(|connection| {
            let transaction = connection.transaction()?;
            transaction.execute(
                "INSERT INTO actor_state (actor_type, actor_id, state, version) VALUES (?1, ?2, ?3, 1)
                 ON CONFLICT (actor_type, actor_id) DO UPDATE SET state = excluded.state, version = version + 1",
                params![actor_type, actor_id, state],
            )?;
            let version: i64 = transaction.query_row(
                "SELECT version FROM actor_state WHERE actor_type = ?1 AND actor_id = ?2",
                params![actor_type, actor_id],
                |row| row.get(0),
            )?;
            transaction.execute(
                "INSERT INTO actor_checkpoint (checkpoint_id, actor_type, actor_id, version, timestamp_ms, metadata)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![checkpoint.checkpoint_id, actor_type, actor_id, version, timestamp, metadata],
            )?;
            transaction.commit()
        })
    }

    fn seed_actor(
        &self,
        actor_type: &str,
        actor_id: &str,
        state: &Value,
    ) -> Result<bool, ActorStoreError> {
        let state = state.to_string();
        let inserted = self.with_actor_tables(|connection| {
            connection.execute(
                "INSERT OR IGNORE INTO actor_state (actor_type, actor_id, state, version) VALUES (?1, ?2, ?3, 0)",
                params![actor_type, actor_id, state],
            )
        })?;
        Ok(inserted == 1)
    }

    fn checkpoint_count(&self, actor_type: &str, actor_id: &str) -> Result<u64, ActorStoreError> {
        let count: i64 = self.with_actor_tables(|connection| {
            connection.query_row(
                "SELECT COUNT(*) FROM actor_checkpoint WHERE actor_type = ?1 AND actor_id = ?2",
                params![actor_type, actor_id],
                |row| row.get(0),
            )
        })?;
        u64::try_from(count).map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn checkpoint(id: &str) -> Checkpoint {
        Checkpoint {
            checkpoint_id: id.into(),
            timestamp_ms: 1,
            metadata: Some(json!({"why": "test"})),
        }
    }

    #[test]
    fn a_commit_stores_state_and_one_checkpoint() {
        let store = SqliteStore::open_in_memory().expect("store");
        assert_eq!(store.load_actor("sku", "a").expect("load"), None);
        store
            .commit_actor("sku", "a", &json!({"n": 1}), &checkpoint("c1"))
            .expect("commit");
        store
            .commit_actor("sku", "a", &json!({"n": 2}), &checkpoint("c2"))
            .expect("commit");
        assert_eq!(
            store.load_actor("sku", "a").expect("load"),
            Some(json!({"n": 2}))
        );
        assert_eq!(store.checkpoint_count("sku", "a").expect("count"), 2);
        assert_eq!(store.checkpoint_count("sku", "b").expect("count"), 0);
    }

    #[test]
    fn a_failed_commit_changes_nothing() {
        let store = SqliteStore::open_in_memory().expect("store");
        store
            .commit_actor("sku", "a", &json!({"n": 1}), &checkpoint("c1"))
            .expect("commit");
        // The same checkpoint id again violates the primary key after the state update:
        // the transaction must roll the state back too.
        let err = store.commit_actor("sku", "a", &json!({"n": 2}), &checkpoint("c1"));
        assert!(err.is_err());
        assert_eq!(
            store.load_actor("sku", "a").expect("load"),
            Some(json!({"n": 1}))
        );
        assert_eq!(store.checkpoint_count("sku", "a").expect("count"), 1);
    }

    #[test]
    fn seeding_never_overwrites_an_existing_actor() {
        let store = SqliteStore::open_in_memory().expect("store");
        assert!(
            store
                .seed_actor("sku", "a", &json!({"n": 1}))
                .expect("seed")
        );
        assert!(
            !store
                .seed_actor("sku", "a", &json!({"n": 9}))
                .expect("seed")
        );
        assert_eq!(
            store.load_actor("sku", "a").expect("load"),
            Some(json!({"n": 1}))
        );
    }
}

//! Actor state and checkpoints on PostgreSQL, serialized across every node.
//!
//! - `actor_state (actor_type, actor_id) → state json, version bigint`;
//! - `actor_checkpoint (checkpoint_id PRIMARY KEY, actor_type, actor_id, version,
//!   timestamp_ms, metadata json, published bool, committed_at timestamptz)`: the outbox.
//!
//! [`ActorStateStore::begin`] opens a transaction and reads the state with
//! `SELECT … FOR UPDATE`: a second node messaging the same actor waits on the row lock until
//! the first commits or rolls back, so no update is lost. An actor that does not exist yet
//! has no row to lock; its creation is an `INSERT … ON CONFLICT DO NOTHING`, and the loser of
//! a creation race gets [`ActorStoreError::Conflict`] and starts over (then it finds the row).
//!
//! The relay's claim is `SELECT … FOR UPDATE SKIP LOCKED`, so two relays never take the same
//! checkpoint, and a node publishing normally waits for a relay holding its row.

use std::time::Duration;

use deadpool_postgres::Object;
use futures::future::BoxFuture;
use serde_json::Value;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{PostgresStore, pg_error};
use crate::backends::actors::{
    ActorStateStore, ActorStoreError, ActorTransaction, Checkpoint, OutboxBatch, StoredCheckpoint,
    VersionedState,
};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS actor_state (
    actor_type text NOT NULL,
    actor_id text NOT NULL,
    state json NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (actor_type, actor_id)
);
CREATE TABLE IF NOT EXISTS actor_checkpoint (
    checkpoint_id text PRIMARY KEY,
    actor_type text NOT NULL,
    actor_id text NOT NULL,
    version bigint NOT NULL,
    timestamp_ms bigint NOT NULL,
    metadata json,
    published boolean NOT NULL DEFAULT false,
    committed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS actor_checkpoint_by_actor ON actor_checkpoint (actor_type, actor_id);
CREATE INDEX IF NOT EXISTS actor_checkpoint_unpublished ON actor_checkpoint (committed_at)
    WHERE NOT published;
";

fn failed(err: tokio_postgres::Error) -> ActorStoreError {
    pg_error(err).into()
}

/// Run `sql`, prepared once per pooled connection. Given as text, tokio-postgres prepares a
/// statement on every call: a round trip more for each statement of each actor message.
async fn execute(
    client: &Object,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, ActorStoreError> {
    let statement = client.prepare_cached(sql).await.map_err(failed)?;
    client.execute(&statement, params).await.map_err(failed)
}

/// [`execute`] for a query of at most one row.
async fn query_opt(
    client: &Object,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, ActorStoreError> {
    let statement = client.prepare_cached(sql).await.map_err(failed)?;
    client.query_opt(&statement, params).await.map_err(failed)
}

/// A connection inside an open transaction. Dropped without [`Open::close`], it rolls back
/// on a spawned task before the connection goes back to the pool.
struct Open {
    client: Option<Object>,
}

impl Open {
    async fn begin(store: &PostgresStore) -> Result<Self, ActorStoreError> {
        let client = store.client().await?;
        client.batch_execute("BEGIN").await.map_err(failed)?;
        Ok(Self {
            client: Some(client),
        })
    }

    fn client(&self) -> &Object {
        self.client.as_ref().expect("open until closed")
    }

    /// Commit, or roll back when `commit` is false.
    async fn close(mut self, commit: bool) -> Result<(), ActorStoreError> {
        let client = self.client.take().expect("open until closed");
        let statement = if commit { "COMMIT" } else { "ROLLBACK" };
        client.batch_execute(statement).await.map_err(failed)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Without a runtime (process exit) the connection just closes, which rolls back.
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    if client.batch_execute("ROLLBACK").await.is_err() {
                        // Broken: keep it out of the pool.
                        drop(Object::take(client));
                    }
                });
            }
        }
    }
}

struct PostgresTransaction {
    open: Open,
    name: String,
    actor_type: String,
    actor_id: String,
    state: Option<Value>,
    version: Option<i64>,
}

impl ActorTransaction for PostgresTransaction {
    fn state(&self) -> Option<&Value> {
        self.state.as_ref()
    }

    fn commit<'a>(
        self: Box<Self>,
        state: &'a Value,
        checkpoint: &'a Checkpoint,
    ) -> BoxFuture<'a, Result<(), ActorStoreError>> {
        Box::pin(async move {
            let this = *self;
            let client = this.open.client();
            let timestamp = i64::try_from(checkpoint.timestamp_ms)
                .map_err(|err| ActorStoreError::Failed(err.to_string()))?;
            let version = match this.version {
                Some(version) => {
                    execute(
                        client,
                        "UPDATE actor_state SET state = $3, version = $4 \
                         WHERE actor_type = $1 AND actor_id = $2",
                        &[&this.actor_type, &this.actor_id, state, &(version + 1)],
                    )
                    .await?;
                    version + 1
                }
                None => {
                    let inserted = execute(
                        client,
                        "INSERT INTO actor_state (actor_type, actor_id, state, version) \
                         VALUES ($1, $2, $3, 1) ON CONFLICT DO NOTHING",
                        &[&this.actor_type, &this.actor_id, state],
                    )
                    .await?;
                    if inserted != 1 {
                        return Err(ActorStoreError::Conflict(this.name));
                    }
                    1
                }
            };
            execute(
                client,
                "INSERT INTO actor_checkpoint \
                 (checkpoint_id, actor_type, actor_id, version, timestamp_ms, metadata) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &checkpoint.checkpoint_id,
                    &this.actor_type,
                    &this.actor_id,
                    &version,
                    &timestamp,
                    &checkpoint.metadata,
                ],
            )
            .await?;
            this.open.close(true).await
        })
    }
}

/// Checkpoints claimed by one relay, inside an open transaction holding their row locks.
struct PostgresOutbox {
    open: Open,
    checkpoints: Vec<StoredCheckpoint>,
}

impl OutboxBatch for PostgresOutbox {
    fn checkpoints(&self) -> &[StoredCheckpoint] {
        &self.checkpoints
    }

    fn finish<'a>(
        self: Box<Self>,
        published: &'a [String],
    ) -> BoxFuture<'a, Result<(), ActorStoreError>> {
        Box::pin(async move {
            let this = *self;
            execute(
                this.open.client(),
                "UPDATE actor_checkpoint SET published = true WHERE checkpoint_id = ANY($1)",
                &[&published],
            )
            .await?;
            this.open.close(true).await
        })
    }
}

impl ActorStateStore for PostgresStore {
    fn begin<'a>(
        &'a self,
        actor_type: &'a str,
        actor_id: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn ActorTransaction>, ActorStoreError>> {
        Box::pin(async move {
            let open = Open::begin(self).await?;
            let row = query_opt(
                open.client(),
                "SELECT state, version FROM actor_state \
                 WHERE actor_type = $1 AND actor_id = $2 FOR UPDATE",
                &[&actor_type, &actor_id],
            )
            .await?;
            let (state, version) = match row {
                Some(row) => (Some(row.get::<_, Value>(0)), Some(row.get::<_, i64>(1))),
                None => (None, None),
            };
            Ok(Box::new(PostgresTransaction {
                open,
                name: format!("{actor_type}/{actor_id}"),
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
            // A plain read sees the latest commit and waits for no `FOR UPDATE` lock.
            let row = query_opt(
                &self.client().await?,
                "SELECT state, version FROM actor_state WHERE actor_type = $1 AND actor_id = $2",
                &[&actor_type, &actor_id],
            )
            .await?;
            Ok(row.map(|row| VersionedState {
                state: row.get(0),
                version: row.get(1),
            }))
        })
    }

    /// Every node of a cluster commits to the same database.
    fn is_shared(&self) -> bool {
        true
    }

    fn seed_actor<'a>(
        &'a self,
        actor_type: &'a str,
        actor_id: &'a str,
        state: &'a Value,
    ) -> BoxFuture<'a, Result<bool, ActorStoreError>> {
        Box::pin(async move {
            let inserted = self
                .client()
                .await?
                .execute(
                    "INSERT INTO actor_state (actor_type, actor_id, state, version) \
                     VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING",
                    &[&actor_type, &actor_id, state],
                )
                .await
                .map_err(failed)?;
            Ok(inserted == 1)
        })
    }

    fn checkpoint_count<'a>(
        &'a self,
        actor_type: &'a str,
        actor_id: &'a str,
    ) -> BoxFuture<'a, Result<u64, ActorStoreError>> {
        Box::pin(async move {
            let row = self
                .client()
                .await?
                .query_one(
                    "SELECT count(*) FROM actor_checkpoint WHERE actor_type = $1 AND actor_id = $2",
                    &[&actor_type, &actor_id],
                )
                .await
                .map_err(failed)?;
            u64::try_from(row.get::<_, i64>(0)).map_err(|e| ActorStoreError::Failed(e.to_string()))
        })
    }

    fn mark_published<'a>(
        &'a self,
        checkpoint_id: &'a str,
    ) -> BoxFuture<'a, Result<(), ActorStoreError>> {
        Box::pin(async move {
            execute(
                &self.client().await?,
                "UPDATE actor_checkpoint SET published = true \
                 WHERE checkpoint_id = $1 AND NOT published",
                &[&checkpoint_id],
            )
            .await?;
            Ok(())
        })
    }

    fn claim_unpublished(
        &self,
        limit: u32,
        older_than: Duration,
    ) -> BoxFuture<'_, Result<Box<dyn OutboxBatch>, ActorStoreError>> {
        Box::pin(async move {
            let open = Open::begin(self).await?;
            // One relay pass at a time per schema, cluster-wide: two relays publishing
            // disjoint batches at once could reorder one actor's leftovers. A relay that
            // finds the lock taken claims nothing and tries again on its next pass.
            let exclusive: bool = open
                .client()
                .query_one(
                    "SELECT pg_try_advisory_xact_lock(hashtextextended('sluice relay ' || current_schema(), 0))",
                    &[],
                )
                .await
                .map_err(failed)?
                .get(0);
            if !exclusive {
                return Ok(Box::new(PostgresOutbox {
                    open,
                    checkpoints: Vec::new(),
                }) as Box<dyn OutboxBatch>);
            }
            let older_ms = i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX);
            let rows = open
                .client()
                .query(
                    "SELECT checkpoint_id, actor_type, actor_id, timestamp_ms, metadata \
                     FROM actor_checkpoint \
                     WHERE NOT published AND committed_at <= clock_timestamp() - $1::float8 * interval '1 millisecond' \
                     ORDER BY committed_at, version LIMIT $2 FOR UPDATE SKIP LOCKED",
                    &[&(older_ms as f64), &i64::from(limit)],
                )
                .await
                .map_err(failed)?;
            let checkpoints = rows
                .iter()
                .map(|row| StoredCheckpoint {
                    actor_type: row.get(1),
                    actor_id: row.get(2),
                    checkpoint: Checkpoint {
                        checkpoint_id: row.get(0),
                        timestamp_ms: u64::try_from(row.get::<_, i64>(3)).unwrap_or_default(),
                        metadata: row.get(4),
                    },
                })
                .collect();
            Ok(Box::new(PostgresOutbox { open, checkpoints }) as Box<dyn OutboxBatch>)
        })
    }
}

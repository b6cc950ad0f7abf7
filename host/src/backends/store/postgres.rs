//! [`PostgresStore`]: the document store and actor state of a cluster, on PostgreSQL.
//!
//! Chosen stack: `tokio-postgres` with a `deadpool-postgres` pool. Every statement here is
//! built at run time from a filter tree, so `sqlx`'s compile-time checked queries would not
//! apply, and the pair is a much smaller dependency tree to build.
//!
//! Layout, all in one schema (`storeSchema`, default `public`; created if missing):
//! - edge `<name>`: table `edge_<name>` (`id bigint identity PRIMARY KEY, doc jsonb NOT NULL`,
//!   a `CHECK` that `doc` is an object); queries compile in `compile` with every path and
//!   value bound. Edge names are at most 58 bytes here (PostgreSQL identifiers have 63);
//! - `actor_state` and `actor_checkpoint` (see `actors`), the checkpoint rows doubling as the
//!   transactional outbox.
//!
//! Differences from SQLite that the conformance suite allows for, and users may notice:
//! - documents come back with their keys in `jsonb` order (shorter keys first), not as written;
//! - no string can hold a NUL character (see `compile`);
//! - ordering by a field that holds arrays or objects puts them after every string.
//!
//! Outages: a refused or lost connection, an exhausted pool (waiting longer than the connect
//! timeout), or the server shutting down is [`StoreError::Unavailable`]. The pool replaces
//! broken connections by itself, so service resumes when the server is back.

mod actors;
// Public only for the fuzz targets and tests, which check that no user text reaches the SQL.
#[doc(hidden)]
pub mod compile;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

use std::time::{Duration, SystemTime};

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod};
use futures::future::BoxFuture;
use serde_json::{Map, Value};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::project::{parse_fields, project, seed_documents, unix_seconds};
use super::{Document, Query, Store, StoreError, validate_edge_name};
use compile::Param;

/// Longest edge name PostgreSQL can hold as `edge_<name>` (identifiers have 63 bytes).
pub const MAX_POSTGRES_EDGE_NAME_LEN: usize = 63 - "edge_".len();

/// How to reach PostgreSQL (`store:` and the `store*` keys of `sluice.yaml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// A `postgres://` or `postgresql://` URL, as libpq takes it.
    pub url: String,
    /// The schema holding every table; created if missing.
    pub schema: String,
    /// Most connections this node opens.
    pub pool_size: usize,
    /// How long to wait for a connection (to open one, or for one to be free) before the
    /// call fails as unavailable.
    pub connect_timeout: Duration,
}

impl PostgresConfig {
    /// Defaults for `url`: schema `public`, 16 connections, 5 s.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: "public".into(),
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// True when `store` names a PostgreSQL URL rather than a SQLite file.
pub fn is_postgres_url(store: &str) -> bool {
    store.starts_with("postgres://") || store.starts_with("postgresql://")
}

/// A [`Store`] (and [`ActorStateStore`](crate::backends::actors::ActorStateStore)) on
/// PostgreSQL. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    schema: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .field("status", &self.pool.status())
            .finish()
    }
}

/// Why a PostgreSQL error is an outage rather than a failure of the request.
fn is_outage(err: &tokio_postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    match err.code() {
        // No SQLSTATE: the connection itself failed (refused, reset, timed out).
        None => true,
        Some(code) => {
            code.code().starts_with("08") // connection exception
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                    SqlState::TOO_MANY_CONNECTIONS,
                    SqlState::QUERY_CANCELED,
                ]
                .contains(code)
        }
    }
}

/// A PostgreSQL error as a store error; the message keeps PostgreSQL's own reason.
pub(crate) fn pg_error(err: tokio_postgres::Error) -> StoreError {
    let text = match err.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => format!("{err}"),
    };
    if is_outage(&err) {
        StoreError::Unavailable(format!("PostgreSQL: {text}"))
    } else {
        StoreError::Postgres(text)
    }
}

pub(crate) fn pool_error(err: PoolError) -> StoreError {
    match err {
        PoolError::Backend(err) => pg_error(err),
        other => StoreError::Unavailable(format!("PostgreSQL: no connection: {other}")),
    }
}

impl PostgresStore {
    /// Connect, create the schema and the actor tables if missing. Fails (as
    /// [`StoreError::Unavailable`] when the server cannot be reached) without retrying: a
    /// node that cannot reach its store at start should say so and stop.
    pub async fn connect(config: &PostgresConfig) -> Result<Self, StoreError> {
        if !is_identifier(&config.schema) {
            return Err(StoreError::Postgres(format!(
                "storeSchema {:?} must be lower-case letters, digits and '_', not starting with a digit",
                config.schema
            )));
        }
        let mut pg: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|err| StoreError::Postgres(format!("invalid PostgreSQL URL: {err}")))?;
        pg.connect_timeout(config.connect_timeout);
        pg.options(format!("-c search_path={}", config.schema));
        pg.application_name("sluice");
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(config.connect_timeout))
            .create_timeout(Some(config.connect_timeout))
            .recycle_timeout(Some(config.connect_timeout))
            .build()
            .map_err(|err| StoreError::Postgres(format!("cannot build the pool: {err}")))?;
        let store = Self {
            pool,
            schema: config.schema.clone(),
        };
        let client = store.client().await?;
        // Nodes starting at once would race on CREATE … IF NOT EXISTS (it is not atomic in
        // PostgreSQL); one transaction-scoped advisory lock per schema orders them.
        let setup = format!(
            "BEGIN;
             SELECT pg_advisory_xact_lock(hashtextextended('sluice schema {schema}', 0));
             CREATE SCHEMA IF NOT EXISTS \"{schema}\";
             {actors}
             COMMIT;",
            schema = config.schema,
            actors = actors::SCHEMA,
        );
        if let Err(err) = client.batch_execute(&setup).await {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(pg_error(err));
        }
        tracing::info!(schema = %config.schema, "connected to the PostgreSQL store");
        Ok(store)
    }

    /// The schema this store uses.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    pub(crate) async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    async fn run_query(&self, query: &Query, now: SystemTime) -> Result<Vec<Document>, StoreError> {
        let table = table_name(&query.edge)?;
        let fields = parse_fields(&query.fields)?;
        let sql = compile::select(&table, query, unix_seconds(now))?;
        let client = self.client().await?;
        // An edge without a table is a table PostgreSQL does not know (42P01) when the
        // statement is prepared: asking the catalog first cost every query two round trips
        // more. The search path is the store's schema alone, so no other table can answer.
        let unknown_edge = |err: tokio_postgres::Error| {
            if err.code() == Some(&SqlState::UNDEFINED_TABLE) {
                StoreError::UnknownEdge(query.edge.clone())
            } else {
                pg_error(err)
            }
        };
        let params: Vec<&(dyn ToSql + Sync)> = sql.params.iter().map(as_sql).collect();
        let statement = client
            .prepare_cached(&sql.text)
            .await
            .map_err(unknown_edge)?;
        let rows = client
            .query(&statement, &params)
            .await
            .map_err(unknown_edge)?;
        rows.iter()
            .map(|row| document(&query.edge, row).map(|doc| project(doc, &fields)))
            .collect()
    }

    async fn edge_names(&self) -> Result<Vec<String>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() \
                 AND tablename LIKE 'edge\\_%' ORDER BY tablename COLLATE \"C\"",
                &[],
            )
            .await
            .map_err(pg_error)?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                row.get::<_, String>(0)
                    .strip_prefix("edge_")
                    .map(str::to_owned)
            })
            .filter(|edge| validate_edge_name(edge).is_ok())
            .collect())
    }

    async fn seed_edge(&self, edge: &str, records: Vec<Value>) -> Result<usize, StoreError> {
        let table = table_name(edge)?;
        // Checked as SQLite checks them; sent as one jsonb array.
        seed_documents(edge, &records)?;
        let count = records.len();
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(pg_error)?;
        // Serializes nodes seeding the same edge at once: the second waits, then sees rows.
        transaction
            .execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('sluice seed ' || current_schema() || '.' || $1, 0))",
                &[&edge],
            )
            .await
            .map_err(pg_error)?;
        transaction
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS \"{table}\" (\
                 id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
                 doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'))"
            ))
            .await
            .map_err(pg_error)?;
        let has_rows = transaction
            .query_opt(&format!("SELECT 1 FROM \"{table}\" LIMIT 1"), &[])
            .await
            .map_err(pg_error)?
            .is_some();
        if has_rows {
            return Ok(0);
        }
        // One statement for all records, in order: the identity follows array order.
        transaction
            .execute(
                &format!(
                    "INSERT INTO \"{table}\" (doc) \
                     SELECT value FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS r(value, n) ORDER BY n"
                ),
                &[&Value::Array(records)],
            )
            .await
            .map_err(|err| match err.code() {
                Some(code) if *code == SqlState::UNTRANSLATABLE_CHARACTER => {
                    StoreError::Postgres(format!("seed data of edge {edge:?}: {err}"))
                }
                _ => pg_error(err),
            })?;
        transaction.commit().await.map_err(pg_error)?;
        tracing::info!(edge, inserted = count, "seeded edge");
        Ok(count)
    }
}

impl Store for PostgresStore {
    fn query_at<'a>(
        &'a self,
        query: &'a Query,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Vec<Document>, StoreError>> {
        Box::pin(self.run_query(query, now))
    }

    fn edges(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(self.edge_names())
    }

    fn seed<'a>(
        &'a self,
        edge: &'a str,
        records: Vec<Value>,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(self.seed_edge(edge, records))
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let client = self.client().await?;
            client.simple_query("SELECT 1").await.map_err(pg_error)?;
            Ok(())
        })
    }
}

fn as_sql(param: &Param) -> &(dyn ToSql + Sync) {
    match param {
        Param::Path(segments) => segments,
        Param::Text(text) => text,
        Param::Json(json) => json,
        Param::Limit(n) => n,
    }
}

fn document(edge: &str, row: &Row) -> Result<Map<String, Value>, StoreError> {
    let id: i64 = row.get(0);
    match row.try_get::<_, Value>(1) {
        Ok(Value::Object(doc)) => Ok(doc),
        Ok(_) => Err(StoreError::CorruptDocument {
            edge: edge.to_owned(),
            id,
            reason: "not an object".into(),
        }),
        Err(err) => Err(StoreError::CorruptDocument {
            edge: edge.to_owned(),
            id,
            reason: err.to_string(),
        }),
    }
}

/// The table of edge `edge`, after checking the name (also against PostgreSQL's limit).
fn table_name(edge: &str) -> Result<String, StoreError> {
    validate_edge_name(edge)?;
    if edge.len() > MAX_POSTGRES_EDGE_NAME_LEN {
        return Err(StoreError::InvalidEdgeName(edge.to_owned()));
    }
    Ok(format!("edge_{edge}"))
}

/// A schema name safe to splice unquoted and quoted alike.
fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 63
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

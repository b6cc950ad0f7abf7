//! [`SqliteStore`]: the embedded document store of the default deployment.
//!
//! Each edge `<name>` is a table `edge_<name>` holding one JSON object per row
//! (`id INTEGER PRIMARY KEY, doc TEXT NOT NULL`). Queries read fields with `json_extract` and
//! `json_each`, every path and value bound as a parameter (see `compile`).
//!
//! - **Timestamps.** `now` in a filter becomes an RFC 3339 UTC string such as
//!   `2026-01-11T19:30:00Z`, compared as text. Write timestamps in documents the same way (UTC,
//!   `Z`, whole seconds) so text order is time order; fractional seconds only matter within the
//!   same second.
//! - **Strings** compare by byte (SQLite `BINARY`), so case-sensitively.
//! - **Concurrency.** One connection behind a mutex, used from blocking threads: calls run one
//!   at a time. The database is in WAL mode, so other connections to the same file can read
//!   while one writes; a read-connection pool is the next step if queries become a bottleneck.
//! - **Outages.** A database locked past the busy timeout, a full disk or an I/O error is
//!   [`StoreError::Unavailable`].

mod actors;
// Public only for the fuzz targets in fuzz/, which check that no user text reaches the SQL.
#[doc(hidden)]
pub mod compile;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params_from_iter};
use serde_json::{Map, Value};

use super::project::{parse_fields, project, seed_documents, unix_seconds};
use super::{Document, Query, Store, StoreError, validate_edge_name};

/// How long a call waits for another connection's write lock on the same file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`] on SQLite. The async methods run SQLite's blocking calls on a blocking thread;
/// the `*_blocking` ones are for callers already on one.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
}

impl From<rusqlite::Error> for StoreError {
    /// A busy or locked database (another process holds the write lock past the busy
    /// timeout), a full disk or an I/O error are outages; anything else is a failure.
    fn from(err: rusqlite::Error) -> Self {
        match err.sqlite_error_code() {
            Some(
                ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::CannotOpen,
            ) => StoreError::Unavailable(err.to_string()),
            _ => StoreError::Sqlite(err),
        }
    }
}

impl SqliteStore {
    /// Open (or create) the database file at `path`, in WAL mode.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let opened = Connection::open(path).and_then(|connection| {
            let mode: String =
                connection
                    .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(path = %path.display(), mode, "SQLite store is not in WAL mode");
            }
            // In WAL mode NORMAL is durable against application crashes; it may lose the last
            // commits on power loss, which is acceptable for this store.
            connection.pragma_update(None, "synchronous", "NORMAL")?;
            Ok(connection)
        });
        let connection = opened.map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        tracing::info!(path = %path.display(), "opened the SQLite store");
        Self::with(connection)
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::with(Connection::open_in_memory()?)
    }

    fn with(connection: Connection) -> Result<Self, StoreError> {
        connection.busy_timeout(BUSY_TIMEOUT)?;
        actors::create_tables(&connection)?;
        Ok(SqliteStore {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// Run `f` with the store's connection, e.g. for an actor runtime that keeps its tables in
    /// the same database. Blocks; other calls wait until `f` returns, so keep it short.
    pub fn with_connection<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> R {
        // A panic inside `f` poisons the lock, but any transaction it had open was rolled back
        // when it unwound, so the connection is still usable.
        let mut connection = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut connection)
    }

    /// [`with_connection`](Self::with_connection) on a blocking thread.
    pub(crate) async fn blocking<R, E>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.with_connection(f))
            .await
            .unwrap_or_else(|join| {
                Err(
                    StoreError::Unavailable(format!("the SQLite call did not finish: {join}"))
                        .into(),
                )
            })
    }

    /// [`Store::seed`], blocking.
    pub fn seed_blocking(&self, edge: &str, records: Vec<Value>) -> Result<usize, StoreError> {
        validate_edge_name(edge)?;
        let docs = seed_documents(edge, &records)?;
        let table = table_name(edge);
        let inserted = self.with_connection(|connection| {
            // IMMEDIATE takes the write lock up front, so two hosts seeding the same file
            // cannot both see an empty table.
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            transaction.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS \"{table}\" (\
                 id INTEGER PRIMARY KEY, \
                 doc TEXT NOT NULL CHECK (json_valid(doc) AND json_type(doc) = 'object'))"
            ))?;
            let has_rows = transaction
                .query_row(
                    &format!("SELECT 1 FROM \"{table}\" LIMIT 1"),
                    [],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if has_rows {
                return Ok(0);
            }
            {
                let mut insert =
                    transaction.prepare(&format!("INSERT INTO \"{table}\" (doc) VALUES (?1)"))?;
                for doc in &docs {
                    insert.execute([doc])?;
                }
            }
            transaction.commit()?;
            Ok::<_, StoreError>(docs.len())
        })?;
        tracing::info!(edge, inserted, "seeded edge");
        Ok(inserted)
    }

    /// [`Store::query_at`], blocking.
    pub fn query_blocking(
        &self,
        query: &Query,
        now: SystemTime,
    ) -> Result<Vec<Map<String, Value>>, StoreError> {
        validate_edge_name(&query.edge)?;
        let fields = parse_fields(&query.fields)?;
        let table = table_name(&query.edge);
        let sql = compile::select(&table, query, unix_seconds(now))?;

        self.with_connection(|connection| {
            // Cached like the query itself: it runs before every query, and compiling it
            // each time showed in the live-stock page's connect profile.
            let exists: bool = connection
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
                )?
                .query_row([&table], |row| row.get(0))?;
            if !exists {
                return Err(StoreError::UnknownEdge(query.edge.clone()));
            }
            let mut statement = connection.prepare_cached(&sql.text)?;
            let rows = statement.query_map(params_from_iter(&sql.params), |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })?;
            let mut records = Vec::new();
            for row in rows {
                let (id, doc) = row?;
                let doc: Map<String, Value> =
                    serde_json::from_str(&doc).map_err(|e| StoreError::CorruptDocument {
                        edge: query.edge.clone(),
                        id,
                        reason: e.to_string(),
                    })?;
                records.push(project(doc, &fields));
            }
            Ok(records)
        })
    }

    /// [`Store::edges`], blocking.
    pub fn edges_blocking(&self) -> Result<Vec<String>, StoreError> {
        self.with_connection(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'edge\\_%' \
                 ESCAPE '\\' ORDER BY name",
            )?;
            let names = statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(names
                .into_iter()
                .filter_map(|name| name.strip_prefix("edge_").map(str::to_owned))
                .filter(|edge| validate_edge_name(edge).is_ok())
                .collect())
        })
    }
}

impl Store for SqliteStore {
    fn query_at<'a>(
        &'a self,
        query: &'a Query,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Vec<Document>, StoreError>> {
        let store = self.clone();
        let query = query.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || store.query_blocking(&query, now))
                .await
                .unwrap_or_else(|join| Err(StoreError::Unavailable(join.to_string())))
        })
    }

    fn edges(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        let store = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || store.edges_blocking())
                .await
                .unwrap_or_else(|join| Err(StoreError::Unavailable(join.to_string())))
        })
    }

    fn seed<'a>(
        &'a self,
        edge: &'a str,
        records: Vec<Value>,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        let store = self.clone();
        let edge = edge.to_owned();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || store.seed_blocking(&edge, records))
                .await
                .unwrap_or_else(|join| Err(StoreError::Unavailable(join.to_string())))
        })
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.blocking(|connection| {
            connection.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))?;
            Ok::<_, StoreError>(())
        }))
    }
}

/// The table of edge `edge`. Only called with validated names, so it is a plain identifier.
fn table_name(edge: &str) -> String {
    format!("edge_{edge}")
}

#[cfg(test)]
mod tests;

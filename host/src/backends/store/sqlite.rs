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
//! - **Concurrency.** One thread owns the connection and runs calls one at a time, in the order
//!   they were made. Callers wait on a channel, so a burst of queries (10,000 live-stock
//!   viewers connecting) keeps that one thread busy instead of waking a blocking thread per
//!   query that then queues on a mutex. The database is in WAL mode, so other connections to
//!   the same file can read while one writes; a read-connection pool is the next step if
//!   queries become a bottleneck.
//! - **Outages.** A database locked past the busy timeout, a full disk or an I/O error is
//!   [`StoreError::Unavailable`].

mod actors;
// Public only for the fuzz targets in fuzz/, which check that no user text reaches the SQL.
#[doc(hidden)]
pub mod compile;

use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params_from_iter};
use serde_json::{Map, Value};
use tokio::sync::oneshot;

use super::project::{parse_fields, project, seed_documents, unix_seconds};
use super::{Document, Query, Store, StoreError, validate_edge_name};
use crate::backends::store::filter::FieldPath;

/// How long a call waits for another connection's write lock on the same file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`] on SQLite. Its connection lives on a thread of its own (see the module docs);
/// the async methods wait for that thread, the `*_blocking` ones block on it, for callers
/// that are not on an async worker.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    connection: Arc<ConnectionThread>,
}

/// One call on the connection.
type Call = Box<dyn FnOnce(&mut Connection) + Send>;

/// The thread that owns the connection. Dropping the last handle ends it, which closes the
/// database.
#[derive(Debug)]
struct ConnectionThread {
    calls: Option<mpsc::Sender<Call>>,
    thread: Option<JoinHandle<()>>,
}

impl ConnectionThread {
    fn start(mut connection: Connection) -> Result<Self, StoreError> {
        let (calls, queue) = mpsc::channel::<Call>();
        let thread = thread::Builder::new()
            .name("sluice-sqlite".into())
            .spawn(move || {
                for call in queue {
                    // A panicking call rolled back its transaction as it unwound, so the
                    // connection serves the next one; its caller sees the call unfinished.
                    let _ = panic::catch_unwind(AssertUnwindSafe(|| call(&mut connection)));
                }
            })
            .map_err(|err| {
                StoreError::Unavailable(format!("cannot start SQLite's thread: {err}"))
            })?;
        Ok(ConnectionThread {
            calls: Some(calls),
            thread: Some(thread),
        })
    }

    /// Queue `call`; false if the thread is gone.
    fn send(&self, call: Call) -> bool {
        self.calls
            .as_ref()
            .is_some_and(|calls| calls.send(call).is_ok())
    }
}

impl Drop for ConnectionThread {
    fn drop(&mut self) {
        self.calls.take();
        if let Some(thread) = self.thread.take() {
            // A call may hold the last handle, and a thread cannot wait for itself.
            if thread.thread().id() != thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// Why a caller got no answer: the call panicked.
fn unfinished() -> StoreError {
    StoreError::Unavailable("the SQLite call did not finish".into())
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
            connection: Arc::new(ConnectionThread::start(connection)?),
        })
    }

    /// Run `f` on the connection, after the calls made before it, e.g. for an actor runtime
    /// that keeps its tables in the same database. Other calls wait until `f` returns, so
    /// keep it short.
    pub(crate) async fn call<R, E>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let call = Box::new(move |connection: &mut Connection| {
            // The caller may have stopped waiting (its client left); the call still ran.
            let _ = answer.send(f(connection));
        });
        if !self.connection.send(call) {
            return Err(unfinished().into());
        }
        answered.await.unwrap_or_else(|_| Err(unfinished().into()))
    }

    /// [`call`](Self::call), blocking until it has run: for callers that are not on an async
    /// worker, such as tests.
    pub fn call_blocking<R, E>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (answer, answered) = mpsc::sync_channel(1);
        let call = Box::new(move |connection: &mut Connection| {
            let _ = answer.send(f(connection));
        });
        if !self.connection.send(call) {
            return Err(unfinished().into());
        }
        answered.recv().unwrap_or_else(|_| Err(unfinished().into()))
    }

    /// [`Store::seed`], blocking.
    pub fn seed_blocking(&self, edge: &str, records: Vec<Value>) -> Result<usize, StoreError> {
        let (table, docs) = seed_rows(edge, &records)?;
        let inserted = self.call_blocking(move |connection| seed(connection, &table, &docs))?;
        tracing::info!(edge, inserted, "seeded edge");
        Ok(inserted)
    }

    /// [`Store::query_at`], blocking.
    pub fn query_blocking(
        &self,
        query: &Query,
        now: SystemTime,
    ) -> Result<Vec<Document>, StoreError> {
        let select = Select::compile(query, now)?;
        self.call_blocking(move |connection| select.run(connection))
    }

    /// [`Store::edges`], blocking.
    pub fn edges_blocking(&self) -> Result<Vec<String>, StoreError> {
        self.call_blocking(edges)
    }
}

/// The table and the documents [`Store::seed`] writes.
fn seed_rows(edge: &str, records: &[Value]) -> Result<(String, Vec<String>), StoreError> {
    validate_edge_name(edge)?;
    Ok((table_name(edge), seed_documents(edge, records)?))
}

/// Create `table` and insert `docs` unless it already has rows; how many were inserted.
fn seed(connection: &mut Connection, table: &str, docs: &[String]) -> Result<usize, StoreError> {
    // IMMEDIATE takes the write lock up front, so two hosts seeding the same file cannot both
    // see an empty table.
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
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
        for doc in docs {
            insert.execute([doc])?;
        }
    }
    transaction.commit()?;
    Ok(docs.len())
}

/// A query compiled off the connection's thread, ready to run on it.
struct Select {
    edge: String,
    table: String,
    sql: compile::Sql,
    fields: Vec<FieldPath>,
}

impl Select {
    fn compile(query: &Query, now: SystemTime) -> Result<Self, StoreError> {
        validate_edge_name(&query.edge)?;
        let table = table_name(&query.edge);
        Ok(Select {
            edge: query.edge.clone(),
            sql: compile::select(&table, query, unix_seconds(now))?,
            fields: parse_fields(&query.fields)?,
            table,
        })
    }

    fn run(&self, connection: &mut Connection) -> Result<Vec<Document>, StoreError> {
        // Cached like the query itself: it runs before every query, and compiling it each
        // time showed in the live-stock page's connect profile.
        let exists: bool = connection
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            )?
            .query_row([&self.table], |row| row.get(0))?;
        if !exists {
            return Err(StoreError::UnknownEdge(self.edge.clone()));
        }
        let mut statement = connection.prepare_cached(&self.sql.text)?;
        let rows = statement.query_map(params_from_iter(&self.sql.params), |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut records = Vec::new();
        for row in rows {
            let (id, doc) = row?;
            let doc: Map<String, Value> =
                serde_json::from_str(&doc).map_err(|e| StoreError::CorruptDocument {
                    edge: self.edge.clone(),
                    id,
                    reason: e.to_string(),
                })?;
            records.push(project(doc, &self.fields));
        }
        Ok(records)
    }
}

/// [`Store::edges`] on the connection.
fn edges(connection: &mut Connection) -> Result<Vec<String>, StoreError> {
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
}

impl Store for SqliteStore {
    fn query_at<'a>(
        &'a self,
        query: &'a Query,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Vec<Document>, StoreError>> {
        Box::pin(async move {
            let select = Select::compile(query, now)?;
            self.call(move |connection| select.run(connection)).await
        })
    }

    fn edges(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(self.call(edges))
    }

    fn seed<'a>(
        &'a self,
        edge: &'a str,
        records: Vec<Value>,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(async move {
            let (table, docs) = seed_rows(edge, &records)?;
            let inserted = self
                .call(move |connection| seed(connection, &table, &docs))
                .await?;
            tracing::info!(edge, inserted, "seeded edge");
            Ok(inserted)
        })
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.call(|connection| {
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

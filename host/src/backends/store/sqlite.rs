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
//! - **Concurrency.** One connection behind a mutex: calls run one at a time. The database is
//!   in WAL mode, so other connections to the same file (an actor runtime, say) can read while
//!   one writes; a read-connection pool is the next step if queries become a bottleneck.

mod actors;
// Public only for the fuzz targets in fuzz/, which check that no user text reaches the SQL.
#[doc(hidden)]
pub mod compile;

use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params_from_iter};
use serde_json::{Map, Value};

use super::filter::FieldPath;
use super::{Query, Store, StoreError, validate_edge_name};

/// How long a call waits for another connection's write lock on the same file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`] on SQLite. All methods block; call them from a blocking thread.
#[derive(Debug)]
pub struct SqliteStore {
    connection: Mutex<Connection>,
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
            connection: Mutex::new(connection),
        })
    }

    /// Run `f` with the store's connection, e.g. for an actor runtime that keeps its tables in
    /// the same database. Other calls wait until `f` returns, so keep it short.
    pub fn with_connection<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> R {
        // A panic inside `f` poisons the lock, but any transaction it had open was rolled back
        // when it unwound, so the connection is still usable.
        let mut connection = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut connection)
    }

    /// Create edge `edge` if needed and load `records` into it, but only when it has no rows
    /// yet, so restarting a host does not duplicate seed data. Returns how many records were
    /// inserted (0 when the edge already had data). Every record must be a JSON object.
    pub fn seed(&self, edge: &str, records: Vec<Value>) -> Result<usize, StoreError> {
        validate_edge_name(edge)?;
        let docs = records
            .iter()
            .enumerate()
            .map(|(index, record)| {
                let invalid = || StoreError::InvalidRecord {
                    edge: edge.to_owned(),
                    index,
                };
                if !record.is_object() {
                    return Err(invalid());
                }
                serde_json::to_string(record).map_err(|_| invalid())
            })
            .collect::<Result<Vec<String>, StoreError>>()?;
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

    /// [`Store::query`] with `now` given, for filters that use `now`.
    pub fn query_at(
        &self,
        query: &Query,
        now: SystemTime,
    ) -> Result<Vec<Map<String, Value>>, StoreError> {
        validate_edge_name(&query.edge)?;
        let fields = query
            .fields
            .iter()
            .map(|field| {
                FieldPath::parse(field).map_err(|e| StoreError::InvalidField {
                    field: field.chars().take(80).collect(),
                    reason: e.message,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let now_unix_seconds = match now.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
        };
        let table = table_name(&query.edge);
        let sql = compile::select(&table, query, now_unix_seconds)?;

        self.with_connection(|connection| {
            let exists: bool = connection.query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
                [&table],
                |row| row.get(0),
            )?;
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

    fn edge_names(&self) -> Result<Vec<String>, StoreError> {
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
    fn query(&self, query: &Query) -> Result<Vec<Map<String, Value>>, StoreError> {
        self.query_at(query, SystemTime::now())
    }

    fn edges(&self) -> Vec<String> {
        self.edge_names().unwrap_or_else(|error| {
            tracing::warn!(%error, "could not list the store's edges");
            Vec::new()
        })
    }
}

/// The table of edge `edge`. Only called with validated names, so it is a plain identifier.
fn table_name(edge: &str) -> String {
    format!("edge_{edge}")
}

/// Keep only `fields` of `doc`, nested as in the document (`a.b` gives `{"a": {"b": …}}`),
/// in the order asked. No fields = the whole document.
fn project(doc: Map<String, Value>, fields: &[FieldPath]) -> Map<String, Value> {
    if fields.is_empty() {
        return doc;
    }
    let mut projected = Map::new();
    for field in fields {
        let mut value = None;
        let mut current = &doc;
        for (i, segment) in field.segments().iter().enumerate() {
            match (current.get(segment), i + 1 == field.segments().len()) {
                (Some(found), true) => value = Some(found),
                (Some(Value::Object(inner)), false) => current = inner,
                _ => break,
            }
        }
        if let Some(value) = value {
            insert_at(&mut projected, field.segments(), value.clone());
        }
    }
    projected
}

fn insert_at(target: &mut Map<String, Value>, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            target.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let slot = target
                .entry(first.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(inner) = slot {
                insert_at(inner, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests;

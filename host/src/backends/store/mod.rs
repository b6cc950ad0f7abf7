//! The document store behind the `query` capability (WIT `sluice:ingress/query`).
//!
//! A store holds named collections (*edges*) of JSON objects. [`Store`] is the backend trait,
//! async and engine-neutral; [`SqliteStore`] is the embedded implementation and
//! [`PostgresStore`] the networked one. A request is parsed into a [`Query`] first (filter with
//! [`filter::parse`], order-by with [`parse_order_by`]), then run by the store with bound
//! parameters only. Both engines pass the same conformance suite (`conformance.rs`), so a
//! filter means the same on either.
//!
//! ```
//! use sluice::backends::store::{filter, parse_order_by, Query, SqliteStore, Store};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = SqliteStore::open_in_memory()?;
//! store.seed("skus", vec![serde_json::json!({"skuNumber": "PROD-001", "stock": 3})]).await?;
//! let query = Query {
//!     filter: Some(filter::parse("skuNumber == ? and stock > 0").expect("valid")),
//!     arguments: vec!["PROD-001".into()],
//!     order_by: parse_order_by("stock desc")?,
//!     fields: vec!["stock".into()],
//!     ..Query::new("skus")
//! };
//! let rows = store.query(&query).await?;
//! assert_eq!(serde_json::Value::Object(rows[0].clone()), serde_json::json!({"stock": 3}));
//! # Ok::<(), sluice::backends::store::StoreError>(())
//! # }).unwrap();
//! ```

#[cfg(test)]
pub(crate) mod conformance;
pub mod filter;
pub mod postgres;
mod project;
mod sql;
pub mod sqlite;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use std::time::SystemTime;

use filter::FieldPath;
use futures::future::BoxFuture;
use serde_json::{Map, Value};

/// One document as a query returns it.
pub type Document = Map<String, Value>;

/// Most records one query returns; larger limits are capped to it.
pub const MAX_LIMIT: u32 = 100;
/// Longest edge name, in bytes.
pub const MAX_EDGE_NAME_LEN: usize = 64;
/// Most `order-by` terms.
pub const MAX_ORDER_BY_TERMS: usize = 16;

/// A document store backend. Every method is async and never blocks the caller's thread
/// (an engine with blocking calls runs them on a blocking thread itself).
///
/// What every engine must do (checked by the conformance suite):
/// - comparisons are typed: a string literal matches only JSON strings, a number only JSON
///   numbers (booleans are not numbers), `== null` matches JSON null and a missing field;
/// - `now ± n unit` is an RFC 3339 UTC text (`2026-01-11T19:30:00Z`) compared as text;
/// - `anyof` matches an array holding any of the values or a scalar equal to one of them,
///   `allof` an array holding all of them;
/// - `order-by` sorts missing and `null` first, then numbers and booleans (as 0 and 1) by
///   value, then strings by byte, then arrays and objects; ties end in insertion order;
/// - an outage of the engine is [`StoreErrorKind::Unavailable`], a request that cannot run
///   [`StoreErrorKind::Invalid`] or [`StoreErrorKind::UnknownEdge`].
pub trait Store: Send + Sync + 'static {
    /// Run `query` with `now` as the time that `now` in its filter means.
    fn query_at<'a>(
        &'a self,
        query: &'a Query,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Vec<Document>, StoreError>>;

    /// Run `query` now.
    fn query<'a>(&'a self, query: &'a Query) -> BoxFuture<'a, Result<Vec<Document>, StoreError>> {
        self.query_at(query, SystemTime::now())
    }

    /// The names of the edges the store holds, sorted.
    fn edges(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>>;

    /// Create edge `edge` if needed and load `records` into it, but only when it has no rows
    /// yet, so restarting a host (or several hosts starting at once) never duplicates seed
    /// data. Returns how many records were inserted (0 when the edge already had data). Every
    /// record must be a JSON object.
    fn seed<'a>(
        &'a self,
        edge: &'a str,
        records: Vec<Value>,
    ) -> BoxFuture<'a, Result<usize, StoreError>>;

    /// Whether the store answers a trivial query right now: for `GET /readyz`.
    fn ready(&self) -> BoxFuture<'_, Result<(), StoreError>>;
}

/// One read of one edge.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub edge: String,
    /// Field paths to return (`a` or `a.b`); empty = whole documents. Fields a document lacks
    /// are absent from its result.
    pub fields: Vec<String>,
    pub filter: Option<filter::Expr>,
    /// Values for the filter's `?` placeholders, in order; the count must match.
    pub arguments: Vec<serde_json::Value>,
    /// Applied in order; ties end in insertion order.
    pub order_by: Vec<OrderBy>,
    /// Capped at [`MAX_LIMIT`]; 0 returns nothing. [`Query::new`] sets [`MAX_LIMIT`].
    pub limit: u32,
}

impl Query {
    /// Every whole document of `edge`, up to [`MAX_LIMIT`], in insertion order.
    pub fn new(edge: impl Into<String>) -> Self {
        Query {
            edge: edge.into(),
            fields: Vec::new(),
            filter: None,
            arguments: Vec::new(),
            order_by: Vec::new(),
            limit: MAX_LIMIT,
        }
    }
}

/// One `order-by` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    pub field: FieldPath,
    pub direction: Direction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ascending,
    Descending,
}

/// Parse `order-by` text: comma-separated field paths, each optionally followed by `asc` or
/// `desc` (any case), e.g. `createdAt desc, skuNumber`. Empty text means no ordering.
///
/// Values of different JSON types sort as SQLite orders them: missing and `null` first, then
/// numbers (and booleans, as 0 and 1), then strings, then objects and arrays.
pub fn parse_order_by(text: &str) -> Result<Vec<OrderBy>, StoreError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let invalid = |reason: String| StoreError::InvalidOrderBy(reason);
    let terms: Vec<&str> = text.split(',').collect();
    if terms.len() > MAX_ORDER_BY_TERMS {
        return Err(invalid(format!(
            "at most {MAX_ORDER_BY_TERMS} terms, got {}",
            terms.len()
        )));
    }
    terms
        .into_iter()
        .enumerate()
        .map(|(index, term)| {
            let words: Vec<&str> = term.split_whitespace().collect();
            let (field, direction) = match words.as_slice() {
                [field] => (*field, Direction::Ascending),
                [field, dir] if dir.eq_ignore_ascii_case("asc") => (*field, Direction::Ascending),
                [field, dir] if dir.eq_ignore_ascii_case("desc") => (*field, Direction::Descending),
                [] => return Err(invalid(format!("term {} is empty", index + 1))),
                _ => {
                    return Err(invalid(format!(
                        "term {} should be a field optionally followed by asc or desc, got {:?}",
                        index + 1,
                        term.trim()
                    )));
                }
            };
            let field = FieldPath::parse(field)
                .map_err(|e| invalid(format!("term {}: {}", index + 1, e.message)))?;
            Ok(OrderBy { field, direction })
        })
        .collect()
}

/// Check an edge name: an ASCII identifier (`[A-Za-z_][A-Za-z0-9_]*`) of at most
/// [`MAX_EDGE_NAME_LEN`] bytes.
pub fn validate_edge_name(name: &str) -> Result<(), StoreError> {
    let mut bytes = name.bytes();
    let valid = name.len() <= MAX_EDGE_NAME_LEN
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(StoreError::InvalidEdgeName(name.chars().take(80).collect()))
    }
}

/// Why a query or a store operation failed. [`StoreError::kind`] sorts them into the WIT
/// `query-error` cases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("invalid edge name {0:?}: use letters, digits and '_', not starting with a digit")]
    InvalidEdgeName(String),
    #[error("no such edge {0:?}")]
    UnknownEdge(String),
    #[error("invalid field {field:?}: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("invalid order-by: {0}")]
    InvalidOrderBy(String),
    #[error("the filter has {expected} '?' placeholders but {given} arguments were given")]
    ArgumentCount { expected: usize, given: usize },
    #[error("argument {number} {reason}")]
    InvalidArgument {
        /// 1-based, as a person counts the `?`s.
        number: usize,
        reason: String,
    },
    /// A well-formed filter that cannot be run, e.g. `flag < true`.
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    #[error("seed record {index} of edge {edge:?} is not a JSON object")]
    InvalidRecord { edge: String, index: usize },
    #[error("document {id} of edge {edge:?} is not a JSON object: {reason}")]
    CorruptDocument {
        edge: String,
        id: i64,
        reason: String,
    },
    #[error("could not open the store at {path}: {source}")]
    Open {
        path: std::path::PathBuf,
        source: rusqlite::Error,
    },
    /// The engine cannot be reached or is overloaded right now; the same request may succeed
    /// later.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("the store failed: {0}")]
    Sqlite(rusqlite::Error),
    #[error("the store failed: {0}")]
    Postgres(String),
}

/// How a [`StoreError`] maps onto the WIT `query-error` cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// `unknown-edge`.
    UnknownEdge,
    /// `invalid`: the request was well-formed text but cannot be run as asked.
    Invalid,
    /// `store`: the store itself failed.
    Store,
    /// `unavailable`: the store cannot be reached right now; retrying later may succeed.
    Unavailable,
}

impl StoreError {
    pub fn kind(&self) -> StoreErrorKind {
        match self {
            StoreError::UnknownEdge(_) => StoreErrorKind::UnknownEdge,
            StoreError::InvalidEdgeName(_)
            | StoreError::InvalidField { .. }
            | StoreError::InvalidOrderBy(_)
            | StoreError::ArgumentCount { .. }
            | StoreError::InvalidArgument { .. }
            | StoreError::InvalidFilter(_)
            | StoreError::InvalidRecord { .. } => StoreErrorKind::Invalid,
            StoreError::CorruptDocument { .. }
            | StoreError::Open { .. }
            | StoreError::Sqlite(_)
            | StoreError::Postgres(_) => StoreErrorKind::Store,
            StoreError::Unavailable(_) => StoreErrorKind::Unavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(text: &str) -> Vec<(String, Direction)> {
        parse_order_by(text)
            .expect("parses")
            .into_iter()
            .map(|o| (o.field.to_string(), o.direction))
            .collect()
    }

    #[test]
    fn parses_order_by_terms_with_optional_directions() {
        assert_eq!(
            order("createdAt desc, skuNumber"),
            [
                ("createdAt".to_owned(), Direction::Descending),
                ("skuNumber".to_owned(), Direction::Ascending)
            ]
        );
        assert_eq!(
            order(" a.b ASC ,c DESC"),
            [
                ("a.b".to_owned(), Direction::Ascending),
                ("c".to_owned(), Direction::Descending)
            ]
        );
        assert!(order("").is_empty());
        assert!(order("   ").is_empty());
    }

    #[test]
    fn rejects_malformed_order_by() {
        for text in [
            "a,",
            ",a",
            "a desc desc",
            "a up",
            "a-b",
            "a; drop table x",
            "1a",
        ] {
            let err = parse_order_by(text).expect_err(text);
            assert!(
                matches!(err, StoreError::InvalidOrderBy(_)),
                "{text}: {err}"
            );
            assert_eq!(err.kind(), StoreErrorKind::Invalid);
        }
        let many = vec!["a"; MAX_ORDER_BY_TERMS + 1].join(",");
        assert!(parse_order_by(&many).is_err());
    }

    #[test]
    fn validates_edge_names() {
        for name in ["skus", "_x", "Order_Lines2"] {
            assert!(validate_edge_name(name).is_ok(), "{name}");
        }
        let long = "e".repeat(MAX_EDGE_NAME_LEN + 1);
        for name in ["", "1abc", "a-b", "a b", "skus\"; drop", "ä", &long] {
            assert!(validate_edge_name(name).is_err(), "{name}");
        }
    }
}

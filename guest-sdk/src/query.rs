//! Reading the store (WIT interface `query`): [`query`] builds a [`Query`], which returns
//! [`Row`]s. Edge `<edge>` needs `<edge>:read` in the ingress `acl`.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::error::Error;
use crate::row::Row;
use crate::sys;

/// Start a query on `edge` (a named collection of the store, e.g. `skus`): the platform's
/// `query skus(skuId, skuNumber) filter …`.
///
/// # Examples
///
/// The document's SKU lookup, with the SKU number bound as a parameter instead of spliced
/// into the filter text (so no quoting or escaping is needed):
///
/// ```no_run
/// use sluice_sdk::{Error, query};
///
/// # fn main() -> Result<(), Error> {
/// let sku = query("skus")
///     .fields(["skuId", "skuNumber"])
///     .filter("skuNumber == ?", ["PROD-001"])
///     .first()?
///     .ok_or_else(|| Error::not_found("SKU not found"))?;
/// let sku_id = sku.text("skuId")?;
/// # let _ = sku_id;
/// # Ok(())
/// # }
/// ```
pub fn query(edge: impl Into<String>) -> Query {
    Query {
        edge: edge.into(),
        fields: Vec::new(),
        filter: None,
        arguments: Vec::new(),
        order_by: None,
        limit: None,
        invalid: None,
    }
}

/// A query under construction; [`run`](Query::run) or [`first`](Query::first) executes it.
///
/// Default is every field, no filter, the store's order, and at most 100 records (the
/// host's cap).
///
/// # Examples
///
/// ```no_run
/// use sluice_sdk::query;
///
/// # fn main() -> Result<(), sluice_sdk::Error> {
/// let recent = query("orders")
///     .fields(["orderId", "status", "createdAt"])
///     .filter("status != ? and createdAt > now - 7 days", ["cancelled"])
///     .order_by("createdAt desc")
///     .limit(20)
///     .run()?;
/// # let _ = recent;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    edge: String,
    fields: Vec<String>,
    filter: Option<String>,
    arguments: Vec<Value>,
    order_by: Option<String>,
    limit: Option<u32>,
    /// Set when an argument could not be serialized; `run` then fails with it.
    invalid: Option<String>,
}

/// The request sent to the host (`query.query-request`), with arguments as JSON text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QueryRequest {
    pub(crate) edge: String,
    pub(crate) fields: Vec<String>,
    pub(crate) filter: Option<String>,
    pub(crate) arguments: Vec<String>,
    pub(crate) order_by: Option<String>,
    pub(crate) limit: Option<u32>,
}

impl Query {
    /// Return only these fields (default: all).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = sluice_sdk::query("skus").fields(["skuId", "skuNumber"]);
    /// # let _ = q;
    /// ```
    pub fn fields(mut self, fields: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.fields.extend(fields.into_iter().map(Into::into));
        self
    }

    /// Keep only records matching `filter`, whose `?` placeholders take `args` in order.
    ///
    /// The grammar: `== != < <= > >=`, `and or not ( )`, `anyof [..]`, `allof [..]`,
    /// string/number/bool/null literals and `now - 7 days`. The host parses it and binds
    /// the arguments, so their values can never change the query's shape. `args` is any
    /// [`Args`]: an array or `Vec` of one type, a tuple of mixed types, or `()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_sdk::query;
    ///
    /// let in_stock = query("skus").filter("stock > 0", ());
    /// let by_number = query("skus").filter("skuNumber == ?", ["PROD-001"]);
    /// let mixed = query("skus").filter("category == ? and stock >= ?", ("shoes", 3));
    /// # let _ = (in_stock, by_number, mixed);
    /// ```
    pub fn filter(mut self, filter: impl Into<String>, args: impl Args) -> Self {
        self.filter = Some(filter.into());
        match args.into_values() {
            Ok(values) => self.arguments = values,
            Err(err) => {
                self.invalid = Some(format!("a filter argument could not be serialized: {err}"))
            }
        }
        self
    }

    /// Append one more `?` argument.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = sluice_sdk::query("skus").filter("skuNumber == ? or skuNumber == ?", ["PROD-001"]).arg("PROD-002");
    /// # let _ = q;
    /// ```
    pub fn arg(mut self, arg: impl Serialize) -> Self {
        match serde_json::to_value(arg) {
            Ok(value) => self.arguments.push(value),
            Err(err) => {
                self.invalid = Some(format!("a filter argument could not be serialized: {err}"))
            }
        }
        self
    }

    /// Order the records, e.g. `createdAt desc, skuNumber`.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = sluice_sdk::query("skus").order_by("skuNumber");
    /// # let _ = q;
    /// ```
    pub fn order_by(mut self, order_by: impl Into<String>) -> Self {
        self.order_by = Some(order_by.into());
        self
    }

    /// Return at most `limit` records (the host caps it at 100).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = sluice_sdk::query("skus").limit(10);
    /// # let _ = q;
    /// ```
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Run the query.
    ///
    /// # Errors
    ///
    /// [`QueryError`]: the edge is not granted or unknown, the filter has a syntax error
    /// (with its position), or the store rejected or failed the request.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), sluice_sdk::Error> {
    /// for sku in sluice_sdk::query("skus").run()? {
    ///     sluice_sdk::info!("{}", sku.text("skuNumber")?);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn run(&self) -> Result<Vec<Row>, QueryError> {
        self.run_with_limit(self.limit)
    }

    /// Run the query for its first record only; `None` when nothing matches.
    ///
    /// # Errors
    ///
    /// As for [`run`](Query::run).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sluice_sdk::{Error, query};
    ///
    /// # fn main() -> Result<(), Error> {
    /// let sku = query("skus").filter("skuNumber == ?", ["PROD-001"]).first()?;
    /// if sku.is_none() {
    ///     return Err(Error::not_found("SKU not found"));
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn first(&self) -> Result<Option<Row>, QueryError> {
        Ok(self.run_with_limit(Some(1))?.into_iter().next())
    }

    fn run_with_limit(&self, limit: Option<u32>) -> Result<Vec<Row>, QueryError> {
        if let Some(reason) = &self.invalid {
            return Err(QueryError::new(
                QueryErrorKind::Invalid,
                reason.clone(),
                None,
            ));
        }
        let request = QueryRequest {
            edge: self.edge.clone(),
            fields: self.fields.clone(),
            filter: self.filter.clone(),
            arguments: self.arguments.iter().map(Value::to_string).collect(),
            order_by: self.order_by.clone(),
            limit,
        };
        sys::run_query(&request)?
            .into_iter()
            .map(|json| match serde_json::from_str(&json) {
                Ok(Value::Object(fields)) => Ok(Row(fields)),
                _ => Err(QueryError::new(
                    QueryErrorKind::Store,
                    "the store returned a record that is not a JSON object",
                    None,
                )),
            })
            .collect()
    }
}

/// The `?` arguments of a [`Query::filter`]: `()`, an array, slice or `Vec` of one
/// [`Serialize`] type, or a tuple of up to eight of mixed types.
///
/// # Examples
///
/// ```
/// use sluice_sdk::{json, query};
///
/// let tuple = query("orders").filter("status == ? and total > ?", ("open", 100));
/// let values = query("orders").filter("status == ? and total > ?", vec![json!("open"), json!(100)]);
/// let none = query("orders").filter("total > 100", ());
/// # let _ = (tuple, values, none);
/// ```
pub trait Args {
    /// The arguments as JSON values, in order.
    ///
    /// # Errors
    ///
    /// When an argument does not serialize to JSON.
    fn into_values(self) -> Result<Vec<Value>, serde_json::Error>;
}

impl Args for () {
    fn into_values(self) -> Result<Vec<Value>, serde_json::Error> {
        Ok(Vec::new())
    }
}

impl<T: Serialize, const N: usize> Args for [T; N] {
    fn into_values(self) -> Result<Vec<Value>, serde_json::Error> {
        self.iter().map(serde_json::to_value).collect()
    }
}

impl<T: Serialize> Args for Vec<T> {
    fn into_values(self) -> Result<Vec<Value>, serde_json::Error> {
        self.iter().map(serde_json::to_value).collect()
    }
}

impl<T: Serialize> Args for &[T] {
    fn into_values(self) -> Result<Vec<Value>, serde_json::Error> {
        self.iter().map(serde_json::to_value).collect()
    }
}

macro_rules! tuple_args {
    ($(($($name:ident),+)),+ $(,)?) => {$(
        impl<$($name: Serialize),+> Args for ($($name,)+) {
            #[allow(non_snake_case)]
            fn into_values(self) -> Result<Vec<Value>, serde_json::Error> {
                let ($($name,)+) = self;
                Ok(vec![$(serde_json::to_value($name)?),+])
            }
        }
    )+};
}

tuple_args!(
    (A),
    (A, B),
    (A, B, C),
    (A, B, C, D),
    (A, B, C, D, E),
    (A, B, C, D, E, F),
    (A, B, C, D, E, F, G),
    (A, B, C, D, E, F, G, H),
);

/// What kind of [`QueryError`] happened (WIT `query-error` cases).
///
/// # Examples
///
/// ```
/// use sluice_sdk::{QueryError, QueryErrorKind};
///
/// fn is_bad_filter(err: &QueryError) -> bool {
///     err.kind() == QueryErrorKind::Syntax
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryErrorKind {
    /// The ingress `acl` does not grant `<edge>:read`.
    Forbidden,
    /// No such edge in the store.
    UnknownEdge,
    /// The filter text is not valid; see [`QueryError::position`].
    Syntax,
    /// A well-formed request the store rejected (bad field, bad order-by, …).
    Invalid,
    /// The store failed.
    Store,
    /// The store cannot be reached right now (e.g. PostgreSQL is restarting); the same
    /// query may succeed later. Converts to `UNAVAILABLE` (HTTP 503).
    Unavailable,
}

/// Why a query failed: the platform's `QueryError`.
///
/// With `?` it converts into an [`Error`] with code `QUERY_ERROR` (HTTP 500) and the query
/// error's message, as in the document's `{ error = { code = 'QUERY_ERROR', message =
/// e.message } }`; a forbidden edge gives `FORBIDDEN` (403) and an unreachable store
/// `UNAVAILABLE` (503) instead. A syntax error adds `details: {"position": n}`.
///
/// # Examples
///
/// ```no_run
/// use sluice_sdk::{Error, QueryErrorKind, query};
///
/// # fn main() -> Result<(), Error> {
/// match query("skus").filter("skuNumber = ?", ["PROD-001"]).run() {
///     Ok(rows) => sluice_sdk::info!("{} rows", rows.len()),
///     Err(err) if err.kind() == QueryErrorKind::Syntax => {
///         sluice_sdk::warn!("bad filter at byte {:?}: {}", err.position(), err.message());
///     }
///     Err(err) => return Err(err.into()),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    kind: QueryErrorKind,
    message: String,
    position: Option<u32>,
}

impl QueryError {
    pub(crate) fn new(
        kind: QueryErrorKind,
        message: impl Into<String>,
        position: Option<u32>,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            position,
        }
    }

    /// What went wrong.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let err = sluice_sdk::query("nope").run().unwrap_err();
    /// assert_eq!(err.kind(), sluice_sdk::QueryErrorKind::UnknownEdge);
    /// ```
    pub fn kind(&self) -> QueryErrorKind {
        self.kind
    }

    /// The host's message (for a syntax error, the reason without the position).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let err = sluice_sdk::query("nope").run().unwrap_err();
    /// sluice_sdk::warn!("{}", err.message());
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// For a syntax error, the byte offset into the filter text where it was found.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let err = sluice_sdk::query("skus").filter("skuNumber ==", ()).run().unwrap_err();
    /// assert_eq!(err.position(), Some(12));
    /// ```
    pub fn position(&self) -> Option<u32> {
        self.position
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(position) => write!(f, "{} (at byte {position})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for QueryError {}

impl From<QueryError> for Error {
    fn from(err: QueryError) -> Self {
        let code = match err.kind {
            QueryErrorKind::Forbidden => "FORBIDDEN",
            QueryErrorKind::Unavailable => "UNAVAILABLE",
            _ => "QUERY_ERROR",
        };
        let error = Error::new(code, err.message);
        match err.position {
            Some(position) => error.with_details(serde_json::json!({ "position": position })),
            None => error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake;
    use serde_json::json;

    #[test]
    fn a_query_sends_fields_filter_arguments_order_and_limit() {
        let _ = query("skus")
            .fields(["skuId", "skuNumber"])
            .filter("skuNumber == ? and stock > ?", ("PROD-001", 3))
            .arg(true)
            .order_by("skuNumber desc")
            .limit(5)
            .run();
        assert_eq!(
            fake::queries(),
            [QueryRequest {
                edge: "skus".into(),
                fields: vec!["skuId".into(), "skuNumber".into()],
                filter: Some("skuNumber == ? and stock > ?".into()),
                arguments: vec![r#""PROD-001""#.into(), "3".into(), "true".into()],
                order_by: Some("skuNumber desc".into()),
                limit: Some(5),
            }]
        );
    }

    #[test]
    fn user_text_travels_as_a_bound_argument_not_as_filter_text() {
        let _ = query("skus")
            .filter("skuNumber == ?", ["x' or 1 == 1 or '"])
            .run();
        let sent = fake::queries().remove(0);
        assert_eq!(sent.filter.as_deref(), Some("skuNumber == ?"));
        assert_eq!(sent.arguments, [r#""x' or 1 == 1 or '""#]);
    }

    #[test]
    fn first_asks_for_one_record() {
        fake::answer_queries(Ok(vec![json!({"skuId": "a", "skuNumber": "PROD-001"})]));
        let row = query("skus").limit(50).first().unwrap().unwrap();
        assert_eq!(row.text("skuId").unwrap(), "a");
        assert_eq!(fake::queries()[0].limit, Some(1));
    }

    #[test]
    fn first_is_none_when_nothing_matches() {
        fake::answer_queries(Ok(vec![]));
        assert_eq!(query("skus").first().unwrap(), None);
    }

    #[test]
    fn rows_keep_field_order_and_serialize_as_objects() {
        fake::answer_queries(Ok(vec![
            json!({"skuNumber": "PROD-001", "skuId": "a", "stock": 4}),
        ]));
        let row = query("skus").first().unwrap().unwrap();
        assert_eq!(
            serde_json::to_string(&row).unwrap(),
            r#"{"skuNumber":"PROD-001","skuId":"a","stock":4}"#
        );
        assert_eq!(row.integer("stock").unwrap(), 4);
        assert_eq!(row.number("stock").unwrap(), 4.0);
        assert_eq!(row.len(), 3);
    }

    #[test]
    fn reading_a_missing_or_mistyped_field_names_it() {
        fake::answer_queries(Ok(vec![json!({"skuId": 7})]));
        let row = query("skus").first().unwrap().unwrap();
        let err = row.text("skuId").unwrap_err();
        assert_eq!(
            (err.code(), err.message()),
            ("DATA_ERROR", "field 'skuId' must be text, got 7")
        );
        assert_eq!(
            row.text("name").unwrap_err().message(),
            "field 'name' is missing from the row"
        );
    }

    #[test]
    fn query_errors_become_query_error_with_the_message() {
        fake::answer_queries(Err(QueryError::new(
            QueryErrorKind::Store,
            "disk on fire",
            None,
        )));
        let err = Error::from(query("skus").run().unwrap_err());
        assert_eq!(
            err.to_json(),
            json!({"error": {"code": "QUERY_ERROR", "message": "disk on fire"}})
        );
    }

    #[test]
    fn syntax_errors_keep_their_position() {
        fake::answer_queries(Err(QueryError::new(
            QueryErrorKind::Syntax,
            "expected a value",
            Some(12),
        )));
        let err = query("skus").filter("skuNumber ==", ()).run().unwrap_err();
        assert_eq!(err.position(), Some(12));
        assert_eq!(err.to_string(), "expected a value (at byte 12)");
        let err = Error::from(err);
        assert_eq!(err.code(), "QUERY_ERROR");
        assert_eq!(err.details(), Some(&json!({"position": 12})));
    }

    #[test]
    fn a_forbidden_edge_becomes_forbidden() {
        fake::answer_queries(Err(QueryError::new(
            QueryErrorKind::Forbidden,
            "'orders:read' is not granted",
            None,
        )));
        assert_eq!(
            Error::from(query("orders").run().unwrap_err()).code(),
            "FORBIDDEN"
        );
    }

    #[test]
    fn an_unavailable_store_becomes_a_503_unavailable() {
        fake::answer_queries(Err(QueryError::new(
            QueryErrorKind::Unavailable,
            "the store is unavailable; try again later",
            None,
        )));
        let err = query("skus").run().unwrap_err();
        assert_eq!(err.kind(), QueryErrorKind::Unavailable);
        let err = Error::from(err);
        assert_eq!(
            err.to_json(),
            json!({"error": {"code": "UNAVAILABLE", "message": "the store is unavailable; try again later"}})
        );
        // No explicit status: the host maps UNAVAILABLE to 503.
        assert_eq!(err.status(), None);
    }

    #[test]
    fn an_unserializable_argument_fails_before_reaching_the_host() {
        let mut bad = std::collections::HashMap::new();
        bad.insert(vec![1], 1);
        let err = query("skus").filter("x == ?", [bad]).run().unwrap_err();
        assert_eq!(err.kind(), QueryErrorKind::Invalid);
        assert!(fake::queries().is_empty());
    }

    #[test]
    fn a_row_that_is_not_an_object_is_a_store_error() {
        fake::answer_queries(Ok(vec![json!([1, 2])]));
        assert_eq!(
            query("skus").run().unwrap_err().kind(),
            QueryErrorKind::Store
        );
    }
}

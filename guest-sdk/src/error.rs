//! [`Error`]: what a component returns before its stream starts, or yields inside it.

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

/// An application error: a `code`, a human-readable `message`, and optionally an HTTP
/// `status` and JSON `details`. This is the WIT `types.error` record.
///
/// - Returned from the handler (before the stream starts) it becomes an ordinary HTTP error
///   response with body `{"error":{"code":…,"message":…}}`. The status is the explicit
///   [`status`](Error::with_status) when set, else it follows from the code: `BAD_REQUEST`,
///   `INVALID_*`, `MISSING_*` → 400, `UNAUTHORIZED` → 401, `FORBIDDEN` → 403,
///   `NOT_FOUND` → 404, `CONFLICT`/`ALREADY_EXISTS` → 409, `TOO_MANY_REQUESTS` → 429,
///   `UNAVAILABLE` → 503, anything else → 500.
/// - Yielded inside a stream (see [`Record::error`](crate::Record::error)) it becomes the
///   record `{"error":{"code":…,"message":…}}`, sent as an SSE `error` event.
///
/// Errors of the host capabilities convert with `?`: [`QueryError`](crate::QueryError),
/// [`ActorError`](crate::ActorError), [`EventsError`](crate::EventsError).
///
/// # Examples
///
/// ```
/// use sluice_sdk::Error;
///
/// let err = Error::not_found("SKU not found");
/// assert_eq!(err.code(), "NOT_FOUND");
/// assert_eq!(
///     err.to_json().to_string(),
///     r#"{"error":{"code":"NOT_FOUND","message":"SKU not found"}}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Error(Box<Inner>);

/// Boxed so that `Result<T, Error>` stays small.
#[derive(Debug, Clone, PartialEq)]
struct Inner {
    code: String,
    message: String,
    status: Option<u16>,
    details: Option<Value>,
}

impl Error {
    /// An error with any `code` (by convention `UPPER_SNAKE_CASE`) and `message`.
    ///
    /// Default is no explicit status (it follows from the code) and no details.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_sdk::Error;
    ///
    /// let err = Error::new("STOCK_LOCKED", "stock is being recounted");
    /// assert_eq!(err.code(), "STOCK_LOCKED");
    /// assert_eq!(err.status(), None); // → HTTP 500
    /// ```
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            code: code.into(),
            message: message.into(),
            status: None,
            details: None,
        }))
    }

    /// Code `BAD_REQUEST` (HTTP 400).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sluice_sdk::Error::bad_request("no items").code(), "BAD_REQUEST");
    /// ```
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new("BAD_REQUEST", message)
    }

    /// Code `UNAUTHORIZED` (HTTP 401).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sluice_sdk::Error::unauthorized("log in").code(), "UNAUTHORIZED");
    /// ```
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new("UNAUTHORIZED", message)
    }

    /// Code `FORBIDDEN` (HTTP 403).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sluice_sdk::Error::forbidden("not your order").code(), "FORBIDDEN");
    /// ```
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new("FORBIDDEN", message)
    }

    /// Code `NOT_FOUND` (HTTP 404).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sluice_sdk::Error::not_found("SKU not found").code(), "NOT_FOUND");
    /// ```
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("NOT_FOUND", message)
    }

    /// Code `CONFLICT` (HTTP 409).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sluice_sdk::Error::conflict("already shipped").code(), "CONFLICT");
    /// ```
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new("CONFLICT", message)
    }

    /// Code `TOO_MANY_REQUESTS` (HTTP 429).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = sluice_sdk::Error::too_many_requests("slow down");
    /// assert_eq!(err.code(), "TOO_MANY_REQUESTS");
    /// ```
    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Self::new("TOO_MANY_REQUESTS", message)
    }

    /// Code `UNAVAILABLE` (HTTP 503).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sluice_sdk::Error::unavailable("try later").code(), "UNAVAILABLE");
    /// ```
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new("UNAVAILABLE", message)
    }

    /// Code `INTERNAL_ERROR` (HTTP 500).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sluice_sdk::Error::internal("oops").code(), "INTERNAL_ERROR");
    /// ```
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new("INTERNAL_ERROR", message)
    }

    /// Code `MISSING_PARAMETER`, status 400, details `{"parameter": name}`: what
    /// [`Request::param`](crate::Request::param) returns for a parameter that is absent.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = sluice_sdk::Error::missing_parameter("orderId");
    /// assert_eq!(err.message(), "parameter 'orderId' is required");
    /// assert_eq!(err.status(), Some(400));
    /// ```
    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            "MISSING_PARAMETER",
            format!("parameter '{name}' is required"),
        )
        .with_status(400)
        .with_details(parameter_details(name))
    }

    /// Code `INVALID_PARAMETER`, status 400, details `{"parameter": name}`: what
    /// [`Request::param`](crate::Request::param) returns for a parameter of the wrong type.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = sluice_sdk::Error::invalid_parameter("limit", "parameter 'limit' must be positive");
    /// assert_eq!(err.code(), "INVALID_PARAMETER");
    /// assert_eq!(err.details().unwrap()["parameter"], "limit");
    /// ```
    pub fn invalid_parameter(name: &str, message: impl Into<String>) -> Self {
        Self::new("INVALID_PARAMETER", message)
            .with_status(400)
            .with_details(parameter_details(name))
    }

    /// Set the HTTP status explicitly; it wins over the status derived from the code.
    ///
    /// # Examples
    ///
    /// ```
    /// let gone = sluice_sdk::Error::not_found("order archived").with_status(410);
    /// assert_eq!(gone.status(), Some(410));
    /// ```
    pub fn with_status(mut self, status: u16) -> Self {
        self.0.status = Some(status);
        self
    }

    /// Attach JSON `details`, sent under `details` in the error object. A value that does
    /// not serialize to JSON (a map with non-string keys, say) leaves the details unset.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_sdk::{Error, json};
    ///
    /// let err = Error::conflict("stock changed").with_details(json!({ "available": 3 }));
    /// assert_eq!(
    ///     err.to_json().to_string(),
    ///     r#"{"error":{"code":"CONFLICT","message":"stock changed","details":{"available":3}}}"#
    /// );
    /// ```
    pub fn with_details(mut self, details: impl Serialize) -> Self {
        self.0.details = serde_json::to_value(details).ok();
        self
    }

    /// The error code, e.g. `NOT_FOUND`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sluice_sdk::Error::new("X", "y").code(), "X");
    /// ```
    pub fn code(&self) -> &str {
        &self.0.code
    }

    /// The human-readable message.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sluice_sdk::Error::new("X", "y").message(), "y");
    /// ```
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The explicit HTTP status, if one was set.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sluice_sdk::Error::not_found("gone").status(), None);
    /// ```
    pub fn status(&self) -> Option<u16> {
        self.0.status
    }

    /// The JSON details, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = sluice_sdk::Error::missing_parameter("feed");
    /// assert_eq!(err.details().unwrap().to_string(), r#"{"parameter":"feed"}"#);
    /// ```
    pub fn details(&self) -> Option<&Value> {
        self.0.details.as_ref()
    }

    /// The error as the record a stream yields:
    /// `{"error":{"code","message","status"?,"details"?}}`.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = sluice_sdk::Error::new("STREAM_ERROR", "feed broke").with_status(502);
    /// assert_eq!(
    ///     err.to_json().to_string(),
    ///     r#"{"error":{"code":"STREAM_ERROR","message":"feed broke","status":502}}"#
    /// );
    /// ```
    pub fn to_json(&self) -> Value {
        let mut error = Map::new();
        let inner = &self.0;
        error.insert("code".into(), Value::String(inner.code.clone()));
        error.insert("message".into(), Value::String(inner.message.clone()));
        if let Some(status) = inner.status {
            error.insert("status".into(), Value::from(status));
        }
        if let Some(details) = &inner.details {
            error.insert("details".into(), details.clone());
        }
        let mut record = Map::new();
        record.insert("error".into(), Value::Object(error));
        Value::Object(record)
    }

    /// Split into `(code, message, status, details)`.
    pub(crate) fn into_parts(self) -> (String, String, Option<u16>, Option<Value>) {
        let Inner {
            code,
            message,
            status,
            details,
        } = *self.0;
        (code, message, status, details)
    }
}

fn parameter_details(name: &str) -> Value {
    let mut details = Map::new();
    details.insert("parameter".into(), Value::String(name.to_owned()));
    Value::Object(details)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0.code, self.0.message)
    }
}

impl std::error::Error for Error {}

/// Code `JSON_ERROR` (HTTP 500): a value could not be serialized or parsed.
impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Self::new("JSON_ERROR", err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_record_keeps_code_message_status_details_order() {
        let err = Error::new("C", "m")
            .with_details(json!({"x": 1}))
            .with_status(418);
        assert_eq!(
            err.to_json().to_string(),
            r#"{"error":{"code":"C","message":"m","status":418,"details":{"x":1}}}"#
        );
    }

    #[test]
    fn display_shows_code_and_message() {
        assert_eq!(
            Error::not_found("SKU not found").to_string(),
            "NOT_FOUND: SKU not found"
        );
    }

    #[test]
    fn unserializable_details_are_left_unset() {
        let mut map = std::collections::HashMap::new();
        map.insert(vec![1u8], 1);
        assert_eq!(Error::new("C", "m").with_details(map).details(), None);
    }
}

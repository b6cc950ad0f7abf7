//! [`Record`]: a JSON object built field by field, in order, the way the platform's
//! `{ event = …, data = … }` records are written.

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::Error;

/// A record: a JSON object whose fields keep the order they were added in.
///
/// In SSE mode the host sends a record as one event: `event`, then `id`, then `retry`, then
/// every other field as `name: value`, then `data` as compact JSON. In JSON mode the first
/// record is the response body. Any other [`Serialize`] value can be yielded too (a plain
/// string becomes `data: "Hello world"`).
///
/// Setting a field that is already set replaces its value and keeps its place.
///
/// # Examples
///
/// The document's "Example with All Fields":
///
/// ```
/// use sluice_sdk::{Record, json};
///
/// let record = Record::event("heartbeat")
///     .id("hb-42")
///     .retry(5000)
///     .data(json!({ "timestamp": "2026-01-11T19:30:00Z" }));
/// assert_eq!(
///     record.to_json().to_string(),
///     r#"{"event":"heartbeat","id":"hb-42","retry":5000,"data":{"timestamp":"2026-01-11T19:30:00Z"}}"#
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    fields: Map<String, Value>,
    /// Set when a field could not be serialized; the record then yields this error.
    invalid: Option<Error>,
}

impl Record {
    /// An empty record. Default is no fields.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_sdk::Record;
    ///
    /// let record = Record::new().field("orderId", "ORD-123").field("status", "shipped");
    /// assert_eq!(record.to_json().to_string(), r#"{"orderId":"ORD-123","status":"shipped"}"#);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// A record whose first field is `event = name`: the SSE event type, which browsers
    /// listen for with `addEventListener(name, …)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_sdk::{Record, json};
    ///
    /// let record = Record::event("orderUpdated")
    ///     .data(json!({ "orderId": "ORD-123", "status": "shipped" }));
    /// assert_eq!(
    ///     record.to_json().to_string(),
    ///     r#"{"event":"orderUpdated","data":{"orderId":"ORD-123","status":"shipped"}}"#
    /// );
    /// ```
    pub fn event(name: impl Into<String>) -> Self {
        Self::new().field("event", name.into())
    }

    /// The error record `{"error":{"code":…,"message":…}}`. Yielded mid-stream it reaches
    /// the browser as an SSE `error` event; as the first value in JSON mode it becomes an
    /// HTTP error response. Accepts an [`Error`] or any capability error.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_sdk::{Error, Record};
    ///
    /// let record = Record::error(Error::new("STREAM_ERROR", "feed broke"));
    /// assert_eq!(
    ///     record.to_json().to_string(),
    ///     r#"{"error":{"code":"STREAM_ERROR","message":"feed broke"}}"#
    /// );
    /// ```
    pub fn error(error: impl Into<Error>) -> Self {
        match error.into().to_json() {
            Value::Object(fields) => Self {
                fields,
                invalid: None,
            },
            _ => unreachable!("Error::to_json always returns an object"),
        }
    }

    /// Set `id`, the SSE event id the browser sends back as `Last-Event-ID` when it
    /// reconnects. Bus event ids ([`Event::id`](crate::Event::id)) make good ids.
    ///
    /// # Examples
    ///
    /// ```
    /// let record = sluice_sdk::Record::event("updated").id(42);
    /// assert_eq!(record.to_json().to_string(), r#"{"event":"updated","id":"42"}"#);
    /// ```
    pub fn id(self, id: impl fmt::Display) -> Self {
        self.field("id", id.to_string())
    }

    /// Set `retry`, the browser's reconnection delay in milliseconds.
    ///
    /// # Examples
    ///
    /// ```
    /// let record = sluice_sdk::Record::new().retry(5000);
    /// assert_eq!(record.to_json().to_string(), r#"{"retry":5000}"#);
    /// ```
    pub fn retry(self, milliseconds: u64) -> Self {
        self.field("retry", milliseconds)
    }

    /// Set `data`, the event's payload, sent as compact JSON.
    ///
    /// # Examples
    ///
    /// ```
    /// let record = sluice_sdk::Record::event("init").data([1, 2, 3]);
    /// assert_eq!(record.to_json().to_string(), r#"{"event":"init","data":[1,2,3]}"#);
    /// ```
    pub fn data(self, data: impl Serialize) -> Self {
        self.field("data", data)
    }

    /// Set any field. Fields other than `event`, `id`, `retry` and `data` are sent as
    /// `name: value` lines (strings raw, other values as compact JSON).
    ///
    /// A value that does not serialize to JSON (a map with non-string keys, say) turns the
    /// whole record into an `INVALID_RECORD` error record (status 500) naming the field.
    ///
    /// # Examples
    ///
    /// ```
    /// let record = sluice_sdk::Record::event("tick").field("source", "clock").field("n", 1);
    /// assert_eq!(
    ///     record.to_json().to_string(),
    ///     r#"{"event":"tick","source":"clock","n":1}"#
    /// );
    /// ```
    pub fn field(mut self, name: impl Into<String>, value: impl Serialize) -> Self {
        let name = name.into();
        match serde_json::to_value(value) {
            Ok(value) => {
                self.fields.insert(name, value);
            }
            Err(err) => {
                if self.invalid.is_none() {
                    self.invalid = Some(
                        Error::new(
                            "INVALID_RECORD",
                            format!("field '{name}' could not be serialized: {err}"),
                        )
                        .with_status(500),
                    );
                }
            }
        }
        self
    }

    /// The value of field `name`, if set.
    ///
    /// # Examples
    ///
    /// ```
    /// let record = sluice_sdk::Record::event("init");
    /// assert_eq!(record.get("event").and_then(|v| v.as_str()), Some("init"));
    /// ```
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }

    /// The record as a JSON value (the error record if a field failed to serialize).
    ///
    /// # Examples
    ///
    /// ```
    /// let value = sluice_sdk::Record::event("init").to_json();
    /// assert!(value.is_object());
    /// ```
    pub fn to_json(&self) -> Value {
        match &self.invalid {
            Some(error) => error.to_json(),
            None => Value::Object(self.fields.clone()),
        }
    }

    /// The record as a JSON value, without copying.
    pub(crate) fn into_json(self) -> Value {
        match self.invalid {
            Some(error) => error.to_json(),
            None => Value::Object(self.fields),
        }
    }
}

/// `value` as JSON, or an `INVALID_RECORD` error record when it does not serialize.
pub(crate) fn json_of<T: Serialize>(value: T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|err| {
        Error::new(
            "INVALID_RECORD",
            format!("the value could not be serialized: {err}"),
        )
        .with_status(500)
        .to_json()
    })
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.invalid {
            Some(error) => error.to_json().serialize(serializer),
            None => self.fields.serialize(serializer),
        }
    }
}

impl From<Record> for Value {
    fn from(record: Record) -> Self {
        record.into_json()
    }
}

impl From<Error> for Record {
    fn from(error: Error) -> Self {
        Self::error(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    #[test]
    fn fields_keep_insertion_order() {
        let record = Record::new()
            .field("z", 1)
            .field("a", 2)
            .data("d")
            .field("m", 3);
        assert_eq!(
            record.to_json().to_string(),
            r#"{"z":1,"a":2,"data":"d","m":3}"#
        );
    }

    #[test]
    fn the_all_fields_example_keeps_event_id_retry_data_order() {
        let record = Record::event("heartbeat")
            .id("hb-42")
            .retry(5000)
            .data(json!({"timestamp": "t"}));
        let keys: Vec<_> = record
            .to_json()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, ["event", "id", "retry", "data"]);
    }

    #[test]
    fn setting_a_field_again_replaces_it_in_place() {
        let record = Record::event("a").data(1).field("event", "b");
        assert_eq!(record.to_json().to_string(), r#"{"event":"b","data":1}"#);
    }

    #[test]
    fn nested_objects_keep_their_order_too() {
        let record = Record::event("init").data(json!({"orderId": 1, "paymentId": 2, "a": 3}));
        assert_eq!(
            serde_json::to_string(&record).unwrap(),
            r#"{"event":"init","data":{"orderId":1,"paymentId":2,"a":3}}"#
        );
    }

    #[test]
    fn an_unserializable_field_turns_the_record_into_an_error_record() {
        let mut bad = HashMap::new();
        bad.insert((1, 2), "x");
        let record = Record::event("x").field("bad", bad).data(1);
        let value = record.to_json();
        assert_eq!(value["error"]["code"], "INVALID_RECORD");
        assert_eq!(value["error"]["status"], 500);
        assert!(
            value["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("field 'bad'")
        );
        assert_eq!(serde_json::to_value(&record).unwrap(), value);
    }

    #[test]
    fn error_records_have_the_documented_shape() {
        let record = Record::error(Error::not_found("SKU not found"));
        assert_eq!(
            serde_json::to_string(&record).unwrap(),
            r#"{"error":{"code":"NOT_FOUND","message":"SKU not found"}}"#
        );
    }

    #[test]
    fn ids_are_strings_and_retry_is_a_number() {
        let record = Record::new().id(7u64).retry(3000);
        assert_eq!(record.to_json(), json!({"id": "7", "retry": 3000}));
    }
}

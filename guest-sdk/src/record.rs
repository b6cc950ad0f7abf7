//! [`Record`]: a JSON object built field by field, in order, the way the platform's
//! `{ event = …, data = … }` records are written.

use std::fmt;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
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
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// Each field's value as compact JSON text, serialized once when it is set: a record is
    /// written out by copying text, never by building and copying a `Value` tree.
    fields: Vec<(String, Box<RawValue>)>,
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
        let mut record = error.into().to_json();
        Self::new().field("error", record["error"].take())
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
        match serde_json::value::to_raw_value(&value) {
            Ok(value) => match self.fields.iter_mut().find(|(field, _)| *field == name) {
                Some((_, slot)) => *slot = value,
                None => self.fields.push((name, value)),
            },
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
    /// assert_eq!(record.get("event"), Some(sluice_sdk::json!("init")));
    /// ```
    pub fn get(&self, name: &str) -> Option<Value> {
        let (_, value) = self.fields.iter().find(|(field, _)| field == name)?;
        serde_json::from_str(value.get()).ok()
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
        if let Some(error) = &self.invalid {
            return error.to_json();
        }
        let fields: Map<String, Value> = self
            .fields
            .iter()
            .map(|(name, value)| {
                let value = serde_json::from_str(value.get()).unwrap_or(Value::Null);
                (name.clone(), value)
            })
            .collect();
        Value::Object(fields)
    }
}

impl PartialEq for Record {
    /// Equal when the same fields hold the same JSON text, in the same order.
    fn eq(&self, other: &Self) -> bool {
        self.invalid == other.invalid
            && self.fields.len() == other.fields.len()
            && self
                .fields
                .iter()
                .zip(&other.fields)
                .all(|((a, x), (b, y))| a == b && x.get() == y.get())
    }
}

/// `value` as compact JSON text, serialized once (what `poll-batch` hands the host), or an
/// `INVALID_RECORD` error record when it does not serialize.
pub(crate) fn json_text<T: Serialize>(value: T) -> String {
    serde_json::to_string(&value).unwrap_or_else(|err| {
        Error::new(
            "INVALID_RECORD",
            format!("the value could not be serialized: {err}"),
        )
        .with_status(500)
        .to_json()
        .to_string()
    })
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Some(error) = &self.invalid {
            return error.to_json().serialize(serializer);
        }
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        for (name, value) in &self.fields {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl From<Record> for Value {
    fn from(record: Record) -> Self {
        record.to_json()
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

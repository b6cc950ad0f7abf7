//! [`Json`]: JSON the host sent, kept as its text until the component looks inside.

use std::cell::OnceCell;
use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// A JSON value that arrived as text (an event's `data`, an actor's response): it is parsed
/// the first time it is read, and passed on unparsed when it is only forwarded.
///
/// It dereferences to a [`Value`], so it reads like one (`e.data["status"]`,
/// `e.data.get("error")`). Serialized, it writes the text it arrived as, unless it was
/// changed through `&mut`, so `Record::event("updated").data(e)` copies an event's payload
/// instead of parsing it and writing it again: most of a forwarded event's cost.
///
/// # Examples
///
/// ```
/// use sluice_sdk::{Json, Record, json};
///
/// let data = Json::from(json!({ "status": "shipped", "items": 3 }));
/// assert_eq!(data["status"], "shipped");
/// assert_eq!(data.get("items"), Some(&json!(3)));
///
/// let mut edited = data.clone();
/// edited["status"] = json!("delivered");
/// assert_eq!(json!(edited), json!({ "status": "delivered", "items": 3 }));
/// ```
#[derive(Clone)]
pub struct Json {
    /// The text as it arrived; `None` once the value was changed through `&mut`.
    text: Option<Box<RawValue>>,
    value: OnceCell<Value>,
}

impl Json {
    /// Keeps `text` if it is JSON; `Err` gives it back when it is not.
    pub(crate) fn from_text(text: String) -> Result<Self, String> {
        match serde_json::from_str::<Box<RawValue>>(&text) {
            Ok(raw) => Ok(Self {
                text: Some(raw),
                value: OnceCell::new(),
            }),
            Err(_) => Err(text),
        }
    }

    /// The parsed value, taken out.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_sdk::{Json, Value, json};
    ///
    /// let value: Value = Json::from(json!([1, 2])).into_value();
    /// assert_eq!(value, json!([1, 2]));
    /// ```
    pub fn into_value(mut self) -> Value {
        std::mem::take(&mut *self)
    }
}

impl Deref for Json {
    type Target = Value;

    fn deref(&self) -> &Value {
        // The text was checked to be JSON when it was kept (and a `Json` without text was
        // made from a value), so this parse cannot fail: `Null` rather than a panic.
        self.value.get_or_init(|| {
            self.text
                .as_deref()
                .and_then(|text| serde_json::from_str(text.get()).ok())
                .unwrap_or(Value::Null)
        })
    }
}

impl DerefMut for Json {
    fn deref_mut(&mut self) -> &mut Value {
        let _ = Deref::deref(self);
        // The text no longer says what the value holds.
        self.text = None;
        self.value
            .get_mut()
            .unwrap_or_else(|| unreachable!("parsed above"))
    }
}

impl From<Value> for Json {
    fn from(value: Value) -> Self {
        Self {
            text: None,
            value: OnceCell::from(value),
        }
    }
}

impl From<Json> for Value {
    fn from(json: Json) -> Self {
        json.into_value()
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.text {
            Some(text) => text.serialize(serializer),
            None => self.deref().serialize(serializer),
        }
    }
}

impl PartialEq for Json {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl PartialEq<Value> for Json {
    fn eq(&self, other: &Value) -> bool {
        **self == *other
    }
}

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The JSON text, compact: the text as it arrived when that was compact, else written anew.
impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn arrived(text: &str) -> Json {
        Json::from_text(text.to_owned()).expect("JSON")
    }

    #[test]
    fn forwarded_text_is_written_as_it_arrived() {
        let text = r#"{"b":1,"a":[true,null,"x"],"n":1.5e3}"#;
        let json = arrived(text);
        assert_eq!(serde_json::to_string(&json).expect("serializes"), text);
        assert!(json.value.get().is_none(), "forwarding parses nothing");
    }

    #[test]
    fn reading_parses_once_and_keeps_the_text() {
        let json = arrived(r#"{"status":"shipped"}"#);
        assert_eq!(json["status"], "shipped");
        assert_eq!(json.get("status"), Some(&json!("shipped")));
        assert_eq!(
            serde_json::to_string(&json).expect("serializes"),
            r#"{"status":"shipped"}"#
        );
    }

    #[test]
    fn a_change_through_mut_is_what_gets_written() {
        let mut json = arrived(r#"{"status":"shipped"}"#);
        json["status"] = json!("delivered");
        assert_eq!(
            serde_json::to_string(&json).expect("serializes"),
            r#"{"status":"delivered"}"#
        );
        assert_eq!(json.into_value(), json!({"status": "delivered"}));
    }

    #[test]
    fn text_that_is_not_json_is_given_back() {
        assert_eq!(
            Json::from_text("not json".into()).err().as_deref(),
            Some("not json")
        );
        assert!(Json::from_text(r#"{"a":1} trailing"#.into()).is_err());
    }

    #[test]
    fn equality_and_conversions_see_the_value() {
        let spaced = arrived(r#"{ "a" : 1 }"#);
        assert_eq!(spaced, Json::from(json!({"a": 1})));
        assert_eq!(spaced, json!({"a": 1}));
        assert_eq!(spaced.to_string(), r#"{"a":1}"#);
        assert_eq!(format!("{spaced:?}"), format!("{:?}", json!({"a": 1})));
        assert_eq!(Value::from(spaced), json!({"a": 1}));
        assert_eq!(json!(arrived("[1,2]")), json!([1, 2]));
    }
}

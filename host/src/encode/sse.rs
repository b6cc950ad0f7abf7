//! The Server-Sent-Events encoder (SPEC S4): yielded JSON values in, exact event bytes out.
//!
//! Pure: no I/O, no async, no time. Keep-alive timing lives with the stream, not here.
//!
//! # Mapping
//! - A **record** (JSON object) becomes one event. Lines go out in this order, whatever the
//!   record's order: `event`, `id`, `retry`, every other field in the record's order (kept by
//!   serde_json's `preserve_order`), then `data`. Each line is `name: value` (one space after the
//!   colon) and a blank line ends the event. Line endings are `\n`.
//! - Values: strings go out raw; numbers and booleans as their JSON text; objects and arrays as
//!   compact JSON. `data` is always compact JSON, so `"data": "x"` gives `data: "x"` and
//!   `"data": null` gives `data: null`. A record that arrives as text ([`encode_text`]) and
//!   whose `data` is already written that way has it copied, not parsed and written again;
//!   the one visible difference is that a name given twice inside such `data` is passed on
//!   as written (`JSON.parse` keeps the last, as a parse would).
//! - A `null` field other than `data` is **omitted**, as if absent (a `null` id would otherwise
//!   reset the client's last event id by accident).
//! - No `data` field means no data line: `EventSource` then dispatches nothing, but `id` and
//!   `retry` still take effect (a record can set the reconnection delay on its own).
//! - `retry` is normalised to its integer, so `"retry": "05000"` gives `retry: 5000`.
//! - Exactly `{"error": {…}}` (a single `error` key holding an object) becomes `event: error` with
//!   that object as `data`, matching the SSE ingress document's application-level errors.
//! - Any other value (string, number, bool, array, null) becomes `data: <compact JSON>`.
//!
//! # Framing is unbreakable
//! One call writes exactly one well-formed event, or nothing. A record is rejected with
//! [`InvalidEvent`] (and nothing is appended) when:
//! - a field name is empty, contains `:`, CR or LF, or starts with U+FEFF (a parser strips a BOM
//!   at the start of a stream, which would turn `\u{FEFF}data` into `data`);
//! - a string value contains CR or LF (compact JSON escapes them, so only raw strings can);
//! - `id` contains NUL (`EventSource` would silently ignore it);
//! - `retry` is not a non-negative integer: a JSON integer `0..=u64::MAX` or a non-empty string
//!   of ASCII digits in that range;
//! - the record has no non-null field (`{}`): it would encode to a bare blank line, which
//!   dispatches nothing, so the component's mistake would be invisible.
//!
//! The caller then sends `encode_error("INVALID_EVENT", err.reason())` in its place.
//! Events are validated completely before any byte is written, following the builder pattern
//! of axum's `Event` (STYLE 10): each field is checked as it is set.

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};
use serde::de::{Deserializer as _, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// Why a value cannot be sent as an event; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid event: {reason}")]
pub struct InvalidEvent {
    reason: String,
}

impl InvalidEvent {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// A human-readable reason, fit to send to the client as the `INVALID_EVENT` message.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Appends exactly one event for `value` to `out`, mapped as the module docs describe.
///
/// # Errors
/// [`InvalidEvent`] when the value could break the framing or would dispatch nothing (see the
/// module docs); `out` is then left exactly as it was.
pub fn encode(value: &Value, out: &mut BytesMut) -> Result<(), InvalidEvent> {
    Event::from_value(value)?.write_to(out);
    Ok(())
}

/// Appends exactly one event for `text`, a value as JSON text (what a component yields):
/// the same bytes as parsing it and calling [`encode`]. A record's `data` that is already
/// written as serde_json writes compact JSON is copied as it is, not parsed into a tree and
/// written again (see [`is_compact_as_written`]).
///
/// # Errors
/// [`InvalidEvent`] when `text` is not JSON, or when [`encode`] would refuse its value;
/// `out` is then left exactly as it was.
pub fn encode_text(text: &str, out: &mut BytesMut) -> Result<(), InvalidEvent> {
    if let Some(fields) = top_level_fields(text) {
        let parsed: Option<Vec<(&str, Field<'_>)>> = fields
            .iter()
            .map(|&(name, raw)| Field::of(name, raw).map(|field| (name, field)))
            .collect();
        if let Some(fields) = parsed
            && !has_duplicate_names(&fields)
            && !is_error_record(&fields)
        {
            let fields = fields.iter().map(|(name, field)| (*name, field.as_item()));
            Event::from_fields(fields)?.write_to(out);
            return Ok(());
        }
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|err| InvalidEvent::new(format!("the record is not JSON: {err}")))?;
    encode(&value, out)
}

/// A top-level field of a record given as text: `data` kept as its text when it is compact,
/// any other field parsed (they are short: an event name, an id).
enum Field<'a> {
    Data(&'a str),
    Other(Value),
}

impl<'a> Field<'a> {
    /// `None` when the field needs the slow path: `data` not in compact form.
    fn of(name: &str, raw: &'a RawValue) -> Option<Self> {
        if name == "data" {
            return is_compact_as_written(raw.get()).then(|| Field::Data(raw.get()));
        }
        serde_json::from_str(raw.get()).ok().map(Field::Other)
    }

    fn as_item(&self) -> Item<'_> {
        match self {
            Field::Data(text) => Item::CompactData(text),
            Field::Other(value) => Item::Value(value),
        }
    }
}

/// A record's value for the event builder: parsed, or `data` as compact JSON text.
#[derive(Debug, Clone, Copy)]
enum Item<'a> {
    Value(&'a Value),
    CompactData(&'a str),
}

/// A record with a name twice keeps the last value at the first place in a parsed tree;
/// such rare text takes the slow path, which does exactly that.
fn has_duplicate_names(fields: &[(&str, Field<'_>)]) -> bool {
    fields
        .iter()
        .enumerate()
        .any(|(i, (name, _))| fields[..i].iter().any(|(other, _)| other == name))
}

/// `{"error": {…}}`, which becomes `event: error`: left to [`encode`].
fn is_error_record(fields: &[(&str, Field<'_>)]) -> bool {
    matches!(fields, [("error", Field::Other(Value::Object(_)))])
}

/// The fields of `text` in order when it is a JSON object whose names need no unescaping,
/// each value as its raw text; `None` otherwise (the slow path then decides).
fn top_level_fields(text: &str) -> Option<Vec<(&str, &RawValue)>> {
    struct Fields;
    impl<'de> Visitor<'de> for Fields {
        type Value = Vec<(&'de str, &'de RawValue)>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(4));
            while let Some(field) = map.next_entry::<&'de str, &'de RawValue>()? {
                fields.push(field);
            }
            Ok(fields)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let fields = deserializer.deserialize_map(Fields).ok()?;
    deserializer.end().ok()?;
    Some(fields)
}

/// Whether `text` (valid JSON) is exactly what serde_json writes for the value it parses
/// to, so it can be sent as it is: no whitespace between tokens, no number a parse could
/// rewrite (fractions, exponents, `-0`, integers too long for 64 bits), and no string escape
/// serde_json would write differently (`\/`, `\u…`). Nested duplicate names pass: a browser's
/// `JSON.parse` keeps the last, as a parsed tree would.
pub fn is_compact_as_written(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                loop {
                    match bytes.get(i) {
                        Some(b'"') => break,
                        Some(b'\\') => {
                            if !matches!(
                                bytes.get(i + 1),
                                Some(b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't')
                            ) {
                                return false;
                            }
                            i += 2;
                        }
                        Some(_) => i += 1,
                        None => return false,
                    }
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                let number = &bytes[start..i];
                let digits = number.strip_prefix(b"-").unwrap_or(number);
                // 18 digits always fit in an i64 or a u64; "-0" parses to 0.
                if digits.len() > 18 || number == b"-0" {
                    return false;
                }
                if matches!(bytes.get(i), Some(b'.' | b'e' | b'E')) {
                    return false;
                }
            }
            b'{' | b'}' | b'[' | b']' | b':' | b',' | b't' | b'r' | b'u' | b'e' | b'f' | b'a'
            | b'l' | b's' | b'n' => i += 1,
            _ => return false,
        }
    }
    true
}

/// Appends `event: error` with `data: {"code":…,"message":…}`. JSON escaping keeps any CR, LF or
/// NUL in `code` or `message` from breaking the framing.
pub fn encode_error(code: &str, message: &str, out: &mut BytesMut) {
    let mut error = serde_json::Map::new();
    error.insert("code".into(), Value::from(code));
    error.insert("message".into(), Value::from(message));
    let error = Value::Object(error);
    Event {
        event: Some(Cow::Borrowed("error")),
        data: Some(Item::Value(&error)),
        ..Event::default()
    }
    .write_to(out);
}

/// Appends a comment block, e.g. `:keepalive\n\n`. Each line of `text` (split at CR, LF or CRLF)
/// becomes its own `:` line, so the text can never end the block or start a field.
pub fn encode_comment(text: &str, out: &mut BytesMut) {
    let mut rest = text;
    loop {
        let end = rest.find(['\r', '\n']).unwrap_or(rest.len());
        out.extend_from_slice(b":");
        out.extend_from_slice(&rest.as_bytes()[..end]);
        out.extend_from_slice(b"\n");
        let Some(tail) = rest.get(end..).filter(|t| !t.is_empty()) else {
            break;
        };
        // CRLF is one line break, not two.
        let skip = if tail.starts_with("\r\n") { 2 } else { 1 };
        rest = &tail[skip..];
    }
    out.extend_from_slice(b"\n");
}

/// Appends `retry: <ms>\n\n`, setting the client's reconnection delay.
pub fn encode_retry(ms: u64, out: &mut BytesMut) {
    Event {
        retry: Some(ms),
        ..Event::default()
    }
    .write_to(out);
}

/// One event, each field validated as it is set, so writing it cannot fail.
#[derive(Debug, Default)]
struct Event<'a> {
    event: Option<Cow<'a, str>>,
    id: Option<Cow<'a, str>>,
    retry: Option<u64>,
    fields: Vec<(&'a str, Cow<'a, str>)>,
    /// Written as compact JSON.
    data: Option<Item<'a>>,
}

impl<'a> Event<'a> {
    fn from_value(value: &'a Value) -> Result<Self, InvalidEvent> {
        let Value::Object(record) = value else {
            return Ok(Event::default().data(value));
        };
        if let (1, Some(error @ Value::Object(_))) = (record.len(), record.get("error")) {
            return Ok(Event {
                event: Some(Cow::Borrowed("error")),
                ..Event::default()
            }
            .data(error));
        }
        let fields = record
            .iter()
            .map(|(name, value)| (name.as_str(), Item::Value(value)));
        Self::from_fields(fields)
    }

    /// The event for a record's fields, in the record's order.
    fn from_fields(
        fields: impl Iterator<Item = (&'a str, Item<'a>)>,
    ) -> Result<Self, InvalidEvent> {
        let mut event = Event::default();
        for (name, item) in fields {
            let value = match item {
                Item::CompactData(_) => {
                    event.data = Some(item);
                    continue;
                }
                Item::Value(value) => value,
            };
            event = match (name, value) {
                ("data", value) => event.data(value),
                (_, Value::Null) => event,
                ("event", value) => event.event(value)?,
                ("id", value) => event.id(value)?,
                ("retry", value) => event.retry(value)?,
                (name, value) => event.field(name, value)?,
            };
        }
        if event.is_empty() {
            return Err(InvalidEvent::new(
                "the record has no non-null field, so it would dispatch nothing",
            ));
        }
        Ok(event)
    }

    fn event(mut self, value: &'a Value) -> Result<Self, InvalidEvent> {
        self.event = Some(line_value("event", value)?);
        Ok(self)
    }

    fn id(mut self, value: &'a Value) -> Result<Self, InvalidEvent> {
        let id = line_value("id", value)?;
        if id.contains('\0') {
            return Err(InvalidEvent::new(
                "field \"id\" contains NUL, which EventSource ignores",
            ));
        }
        self.id = Some(id);
        Ok(self)
    }

    fn retry(mut self, value: &Value) -> Result<Self, InvalidEvent> {
        let ms = match value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().ok()
            }
            _ => None,
        };
        let ms = ms.ok_or_else(|| {
            InvalidEvent::new(format!(
                "field \"retry\" must be a non-negative integer of milliseconds (at most {}), not {}",
                u64::MAX,
                shorten(&value.to_string())
            ))
        })?;
        self.retry = Some(ms);
        Ok(self)
    }

    fn field(mut self, name: &'a str, value: &'a Value) -> Result<Self, InvalidEvent> {
        let problem = if name.is_empty() {
            Some("is empty")
        } else if name.contains(':') {
            Some("contains ':'")
        } else if name.contains(['\r', '\n']) {
            Some("contains a line break")
        } else if name.starts_with('\u{feff}') {
            Some("starts with a byte order mark")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(InvalidEvent::new(format!(
                "field name {} {problem}",
                shorten(&format!("{name:?}"))
            )));
        }
        let value = line_value(name, value)?;
        self.fields.push((name, value));
        Ok(self)
    }

    fn data(mut self, value: &'a Value) -> Self {
        self.data = Some(Item::Value(value));
        self
    }

    fn is_empty(&self) -> bool {
        self.event.is_none()
            && self.id.is_none()
            && self.retry.is_none()
            && self.fields.is_empty()
            && self.data.is_none()
    }

    fn write_to(&self, out: &mut BytesMut) {
        let mut line = |name: &str, value: &str| {
            out.reserve(name.len() + value.len() + 3);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\n");
        };
        if let Some(event) = &self.event {
            line("event", event);
        }
        if let Some(id) = &self.id {
            line("id", id);
        }
        if let Some(retry) = self.retry {
            line("retry", &retry.to_string());
        }
        for (name, value) in &self.fields {
            line(name, value);
        }
        if let Some(data) = self.data {
            // Straight into `out`: no string per event, grown from empty. Compact JSON
            // escapes every control character, so data can never break a line; and a
            // `Value` written to memory cannot fail.
            out.extend_from_slice(b"data: ");
            match data {
                Item::Value(value) => {
                    let _ = serde_json::to_writer((&mut *out).writer(), value);
                }
                Item::CompactData(text) => out.extend_from_slice(text.as_bytes()),
            }
            out.extend_from_slice(b"\n");
        }
        out.extend_from_slice(b"\n");
    }
}

/// The text of a non-data field: raw string, else compact JSON; a raw CR or LF is refused.
fn line_value<'a>(name: &str, value: &'a Value) -> Result<Cow<'a, str>, InvalidEvent> {
    match value {
        Value::String(s) if s.contains(['\r', '\n']) => Err(InvalidEvent::new(format!(
            "the value of field {} contains a line break",
            shorten(&format!("{name:?}"))
        ))),
        Value::String(s) => Ok(Cow::Borrowed(s)),
        other => Ok(Cow::Owned(other.to_string())),
    }
}

/// Keeps reasons short: they echo user input back to logs and clients.
fn shorten(text: &str) -> Cow<'_, str> {
    const MAX_CHARS: usize = 64;
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &text[..cut])),
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventsource_stream::{Event as Parsed, EventStream};
    use futures::StreamExt;
    use proptest::prelude::*;
    use serde_json::json;
    use std::time::Duration;

    const PREFIX: &[u8] = b"retry: 1\n\n";

    /// Encodes after some existing bytes and checks they are kept, and that an error adds nothing.
    fn enc(value: Value) -> Result<String, InvalidEvent> {
        let mut out = BytesMut::from(PREFIX);
        let result = encode(&value, &mut out);
        assert_eq!(&out[..PREFIX.len()], PREFIX);
        match result {
            Ok(()) => Ok(String::from_utf8(out[PREFIX.len()..].to_vec()).unwrap()),
            Err(e) => {
                assert_eq!(&out[..], PREFIX, "an error must append nothing");
                Err(e)
            }
        }
    }

    #[track_caller]
    fn assert_bytes(value: Value, expected: &str) {
        assert_eq!(enc(value).as_deref(), Ok(expected));
    }

    #[track_caller]
    fn assert_rejected(value: Value, reason: &str) {
        assert_eq!(
            enc(value).map_err(|e| e.reason().to_owned()),
            Err(reason.to_owned())
        );
    }

    /// Runs the independent parser over `bytes`, cut into chunks at `cuts`.
    fn parse(bytes: &[u8], cuts: &[usize]) -> Vec<Parsed> {
        let mut chunks = Vec::new();
        let mut start = 0;
        for &cut in cuts.iter().filter(|&&c| c < bytes.len()) {
            chunks.push(Ok::<_, std::convert::Infallible>(
                bytes[start..cut.max(start)].to_vec(),
            ));
            start = cut.max(start);
        }
        chunks.push(Ok(bytes[start..].to_vec()));
        let events = EventStream::new(futures::stream::iter(chunks)).collect::<Vec<_>>();
        futures::executor::block_on(events)
            .into_iter()
            .map(|e| e.unwrap())
            .collect()
    }

    fn parsed(event: &str, id: &str, retry: Option<u64>, data: &str) -> Parsed {
        Parsed {
            event: event.into(),
            id: id.into(),
            retry: retry.map(Duration::from_millis),
            data: data.into(),
        }
    }

    #[test]
    fn encodes_the_source_documents_examples_exactly() {
        let order = json!({"event":"orderUpdated","data":{"orderId":"ORD-123","status":"shipped"}});
        let order_bytes =
            "event: orderUpdated\ndata: {\"orderId\":\"ORD-123\",\"status\":\"shipped\"}\n\n";
        assert_bytes(order, order_bytes);
        let heartbeat = json!({"event":"heartbeat","id":"hb-42","retry":5000,"data":{"timestamp":"2026-01-11T19:30:00Z"}});
        let heartbeat_bytes = "event: heartbeat\nid: hb-42\nretry: 5000\ndata: {\"timestamp\":\"2026-01-11T19:30:00Z\"}\n\n";
        assert_bytes(heartbeat, heartbeat_bytes);
        assert_bytes(json!("Hello world"), "data: \"Hello world\"\n\n");

        let all = format!("{order_bytes}{heartbeat_bytes}data: \"Hello world\"\n\n");
        assert_eq!(
            parse(all.as_bytes(), &[]),
            [
                parsed(
                    "orderUpdated",
                    "",
                    None,
                    r#"{"orderId":"ORD-123","status":"shipped"}"#
                ),
                parsed(
                    "heartbeat",
                    "hb-42",
                    Some(5000),
                    r#"{"timestamp":"2026-01-11T19:30:00Z"}"#
                ),
                parsed("message", "hb-42", None, "\"Hello world\""),
            ]
        );
    }

    #[test]
    fn writes_event_id_retry_others_then_data_whatever_the_input_order() {
        assert_bytes(
            json!({"data":1,"b":"2","retry":3,"a":"4","id":"5","event":"6"}),
            "event: 6\nid: 5\nretry: 3\nb: 2\na: 4\ndata: 1\n\n",
        );
    }

    #[test]
    fn writes_strings_raw_and_everything_else_as_compact_json() {
        assert_bytes(
            json!({"s":"raw \"text\" é🦀","i":-7,"f":1.5,"b":false,"o":{"k":[1,{"n":null}]},"a":[],"e":{},
                   "nl":{"x":"l1\nl2\r\0"},"big":1e300,"max":u64::MAX,"min":i64::MIN}),
            "s: raw \"text\" é🦀\ni: -7\nf: 1.5\nb: false\no: {\"k\":[1,{\"n\":null}]}\na: []\ne: {}\n\
             nl: {\"x\":\"l1\\nl2\\r\\u0000\"}\nbig: 1e+300\nmax: 18446744073709551615\nmin: -9223372036854775808\n\n",
        );
        assert_bytes(
            json!({"event":7,"id":true,"data":"x"}),
            "event: 7\nid: true\ndata: \"x\"\n\n",
        );
        assert_bytes(
            json!({"event":{"a":1},"id":[2]}),
            "event: {\"a\":1}\nid: [2]\n\n",
        );
    }

    #[test]
    fn omits_null_fields_except_data() {
        assert_bytes(
            json!({"event":null,"id":null,"retry":null,"x":null,"data":1}),
            "data: 1\n\n",
        );
        assert_bytes(json!({"data":null}), "data: null\n\n");
        assert_bytes(json!({"x":null,"y":"1"}), "y: 1\n\n");
    }

    #[test]
    fn writes_no_data_line_without_a_data_field() {
        assert_bytes(json!({"event":"e","id":"1"}), "event: e\nid: 1\n\n");
        assert_bytes(json!({"retry":10}), "retry: 10\n\n");
    }

    #[test]
    fn wraps_non_records_in_data() {
        for (value, line) in [
            (json!(42), "42"),
            (json!(-1.25), "-1.25"),
            (json!(true), "true"),
            (json!(null), "null"),
            (json!([1, "a", {"b": []}]), "[1,\"a\",{\"b\":[]}]"),
            (json!(""), "\"\""),
            (json!(" lead"), "\" lead\""),
            (json!("two\nlines\r\n"), "\"two\\nlines\\r\\n\""),
            (json!("nul\0"), "\"nul\\u0000\""),
            (json!("é🦀\u{2028}"), "\"é🦀\u{2028}\""),
        ] {
            assert_bytes(value, &format!("data: {line}\n\n"));
        }
    }

    #[test]
    fn sends_an_error_record_as_an_error_event() {
        let error = json!({"code":"STREAM_ERROR","message":"boom"});
        let data = r#"{"code":"STREAM_ERROR","message":"boom"}"#;
        assert_bytes(
            json!({"error": error}),
            &format!("event: error\ndata: {data}\n\n"),
        );
        assert_bytes(json!({"error": {}}), "event: error\ndata: {}\n\n");
        // Only a lone `error` holding an object is special; anything else is an ordinary record.
        assert_bytes(json!({"error":"text"}), "error: text\n\n");
        assert_rejected(json!({"error":null}), EMPTY);
        assert_bytes(
            json!({"id":"1","error":error}),
            &format!("id: 1\nerror: {data}\n\n"),
        );
        assert_bytes(
            json!({"event":"error","data":error}),
            &format!("event: error\ndata: {data}\n\n"),
        );
    }

    const EMPTY: &str = "the record has no non-null field, so it would dispatch nothing";

    #[test]
    fn rejects_a_record_without_fields() {
        assert_rejected(json!({}), EMPTY);
        assert_rejected(json!({"event":null,"x":null}), EMPTY);
    }

    #[test]
    fn keeps_leading_spaces_and_empty_values() {
        // The parser strips exactly one space after the colon, so the value's own space survives.
        assert_bytes(
            json!({"event":" x","id":"","x":"  ","data":" y"}),
            "event:  x\nid: \nx:   \ndata: \" y\"\n\n",
        );
        assert_eq!(
            parse(b"event:  x\nid: \ndata: 1\n\n", &[]),
            [parsed(" x", "", None, "1")]
        );
        assert_bytes(json!({"event":""}), "event: \n\n");
    }

    #[test]
    fn rejects_line_breaks_in_values() {
        for text in ["a\nb", "a\rb", "a\r\nb", "\n", "end\r"] {
            for name in ["event", "id", "x"] {
                assert_rejected(
                    json!({ name: text, "data": 1 }),
                    &format!("the value of field \"{name}\" contains a line break"),
                );
            }
        }
    }

    #[test]
    fn rejects_nul_in_id_only() {
        assert_rejected(
            json!({"id":"a\0b"}),
            "field \"id\" contains NUL, which EventSource ignores",
        );
        assert_bytes(json!({"event":"a\0b","x":"\0"}), "event: a\0b\nx: \0\n\n");
        assert_bytes(json!({"id":{"k":"\0"}}), "id: {\"k\":\"\\u0000\"}\n\n");
    }

    #[test]
    fn rejects_field_names_that_could_break_framing() {
        for (name, problem) in [
            ("", "\"\" is empty"),
            (":", "\":\" contains ':'"),
            ("a:b", "\"a:b\" contains ':'"),
            ("a\nb", "\"a\\nb\" contains a line break"),
            ("a\rb", "\"a\\rb\" contains a line break"),
            ("\r\n", "\"\\r\\n\" contains a line break"),
            (
                "\u{feff}data",
                "\"\\u{feff}data\" starts with a byte order mark",
            ),
        ] {
            assert_rejected(json!({ name: "v" }), &format!("field name {problem}"));
        }
        let long = "n:".repeat(50);
        let reason = enc(json!({ long: 1 })).unwrap_err().reason().to_owned();
        assert_eq!(
            reason,
            format!("field name \"{}… contains ':'", &"n:".repeat(32)[..63])
        );
    }

    #[test]
    fn passes_other_field_names_through_unchanged() {
        assert_bytes(
            json!({" data":"x","Data":"y","é🦀":"z","a\0b":"w","a b":"v"}),
            " data: x\nData: y\né🦀: z\na\0b: w\na b: v\n\n",
        );
        assert_eq!(parse(b" data: x\nData: y\n\n", &[]), []);
    }

    #[test]
    fn accepts_only_non_negative_integer_retries() {
        for (value, ms) in [
            (json!(0), 0),
            (json!(5000), 5000),
            (json!(u64::MAX), u64::MAX),
            (json!("5000"), 5000),
            (json!("05000"), 5000),
            (json!("18446744073709551615"), u64::MAX),
        ] {
            assert_bytes(json!({ "retry": value }), &format!("retry: {ms}\n\n"));
        }
        for (value, shown) in [
            (json!(-1), "-1"),
            (json!(1.5), "1.5"),
            (json!(5000.0), "5000.0"),
            (serde_json::from_str::<Value>("1e3").unwrap(), "1000.0"),
            (
                serde_json::from_str::<Value>("18446744073709551616").unwrap(),
                "1.8446744073709552e+19",
            ),
            (json!(""), "\"\""),
            (json!(" 5"), "\" 5\""),
            (json!("+5"), "\"+5\""),
            (json!("5a"), "\"5a\""),
            (json!("١"), "\"١\""),
            (json!("18446744073709551616"), "\"18446744073709551616\""),
            (json!(true), "true"),
            (json!({}), "{}"),
            (json!([1]), "[1]"),
        ] {
            assert_rejected(
                json!({ "retry": value, "data": 1 }),
                &format!(
                    "field \"retry\" must be a non-negative integer of milliseconds (at most {}), not {shown}",
                    u64::MAX
                ),
            );
        }
    }

    #[test]
    fn explains_itself_in_display() {
        let err = enc(json!({"id":"\0"})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid event: field \"id\" contains NUL, which EventSource ignores"
        );
    }

    #[test]
    fn encodes_error_events_with_escaped_text() {
        let mut out = BytesMut::from(PREFIX);
        encode_error("INVALID_EVENT", "a\r\nb\"\0\\ é\n\ndata: x", &mut out);
        assert_eq!(
            &out[PREFIX.len()..],
            b"event: error\ndata: {\"code\":\"INVALID_EVENT\",\"message\":\"a\\r\\nb\\\"\\u0000\\\\ \xc3\xa9\\n\\ndata: x\"}\n\n"
        );
        let events = parse(&out, &[]);
        assert_eq!(events.len(), 1);
        let data: Value = serde_json::from_str(&events[0].data).unwrap();
        assert_eq!(
            data,
            json!({"code":"INVALID_EVENT","message":"a\r\nb\"\0\\ é\n\ndata: x"})
        );

        let mut out = BytesMut::new();
        encode_error("X\n", "", &mut out);
        assert_eq!(
            &out[..],
            b"event: error\ndata: {\"code\":\"X\\n\",\"message\":\"\"}\n\n"
        );
    }

    #[test]
    fn splits_comments_at_every_line_break() {
        for (text, expected) in [
            ("keepalive", ":keepalive\n\n"),
            ("", ":\n\n"),
            (" x", ": x\n\n"),
            ("a\nb", ":a\n:b\n\n"),
            ("a\rb", ":a\n:b\n\n"),
            ("a\r\nb", ":a\n:b\n\n"),
            ("a\n\nb", ":a\n:\n:b\n\n"),
            ("a\r\rb", ":a\n:\n:b\n\n"),
            ("a\n", ":a\n:\n\n"),
            ("\r\n", ":\n:\n\n"),
            ("\n\rdata: x", ":\n:\n:data: x\n\n"),
        ] {
            let mut out = BytesMut::from(PREFIX);
            encode_comment(text, &mut out);
            assert_eq!(
                std::str::from_utf8(&out[PREFIX.len()..]),
                Ok(expected),
                "{text:?}"
            );
            assert_eq!(parse(&out[PREFIX.len()..], &[]), [], "{text:?}");
        }
    }

    #[test]
    fn encodes_retry_lines() {
        for ms in [0, 3000, u64::MAX] {
            let mut out = BytesMut::from(PREFIX);
            encode_retry(ms, &mut out);
            assert_eq!(
                std::str::from_utf8(&out[PREFIX.len()..]),
                Ok(&*format!("retry: {ms}\n\n"))
            );
        }
    }

    // ---- Property tests against the independent parser (`eventsource-stream`). ----

    /// What one value should become, worked out from SPEC S4 without the encoder's code.
    #[derive(Debug, Clone, Default, PartialEq)]
    struct Expected {
        event: Option<String>,
        id: Option<String>,
        retry: Option<u64>,
        others: Vec<(String, String)>,
        data: Option<String>,
    }

    fn text_of(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            other => serde_json::to_string(other).unwrap(),
        }
    }

    /// `None` when SPEC S4 says the value must be rejected.
    fn model(value: &Value) -> Option<Expected> {
        let mut e = Expected::default();
        let Value::Object(map) = value else {
            e.data = Some(serde_json::to_string(value).unwrap());
            return Some(e);
        };
        if map.len() == 1 && map.get("error").is_some_and(Value::is_object) {
            e.event = Some("error".into());
            e.data = Some(serde_json::to_string(&map["error"]).unwrap());
            return Some(e);
        }
        let breaks = |s: &str| s.contains('\n') || s.contains('\r');
        for (k, v) in map {
            if k == "data" {
                e.data = Some(serde_json::to_string(v).unwrap());
                continue;
            }
            if v.is_null() {
                continue;
            }
            let t = text_of(v);
            if breaks(&t) {
                return None;
            }
            match k.as_str() {
                "event" => e.event = Some(t),
                "id" if t.contains('\0') => return None,
                "id" => e.id = Some(t),
                "retry" => {
                    let digits =
                        v.is_string() && !t.is_empty() && t.chars().all(|c| c.is_ascii_digit());
                    e.retry = Some(if digits { t.parse().ok()? } else { v.as_u64()? });
                }
                _ if k.is_empty() || k.contains(':') || breaks(k) || k.starts_with('\u{feff}') => {
                    return None;
                }
                _ => e.others.push((k.clone(), t)),
            }
        }
        (e != Expected::default()).then_some(e)
    }

    fn exact_bytes(e: &Expected) -> String {
        let mut s = String::new();
        let mut line = |n: &str, v: &str| s.push_str(&format!("{n}: {v}\n"));
        e.event.iter().for_each(|v| line("event", v));
        e.id.iter().for_each(|v| line("id", v));
        e.retry.iter().for_each(|v| line("retry", &v.to_string()));
        e.others.iter().for_each(|(n, v)| line(n, v));
        e.data.iter().for_each(|v| line("data", v));
        s + "\n"
    }

    /// `encode_text` on `text` writes what `encode` writes for its parsed value.
    #[track_caller]
    fn assert_text_like_value(text: &str) {
        let value: Value = serde_json::from_str(text).unwrap();
        let mut by_value = BytesMut::new();
        let by_value_result = encode(&value, &mut by_value);
        let mut by_text = BytesMut::new();
        assert_eq!(encode_text(text, &mut by_text), by_value_result, "{text}");
        assert_eq!(by_text, by_value, "{text}");
    }

    #[test]
    fn data_a_parse_would_rewrite_is_written_as_serde_json_writes_it() {
        for data in [
            r#"{"a": 1}"#,
            r#"[1, 2]"#,
            "1.50",
            "1e5",
            "1E5",
            "-0",
            "123456789012345678901",
            r#""a\/b""#,
            r#""\u00e9""#,
            r#""\u001F""#,
        ] {
            assert!(!is_compact_as_written(data), "{data}");
            assert_text_like_value(&format!(r#"{{"event":"e","data":{data}}}"#));
        }
    }

    #[test]
    fn compact_data_is_copied_as_it_is() {
        for data in [
            r#"{"a":1,"b":[true,false,null],"c":"x\"y\\z\n\t"}"#,
            "-12",
            "123456789012345678",
            r#""é🦀""#,
            "null",
            "[]",
        ] {
            assert!(is_compact_as_written(data), "{data}");
            let text = format!(r#"{{"event":"e","id":"7","data":{data}}}"#);
            assert_text_like_value(&text);
            let mut out = BytesMut::new();
            encode_text(&text, &mut out).unwrap();
            assert_eq!(out, format!("event: e\nid: 7\ndata: {data}\n\n"));
        }
    }

    #[test]
    fn a_name_twice_inside_data_is_passed_on_as_written() {
        // `JSON.parse` keeps the last, as a parsed tree would.
        let mut out = BytesMut::new();
        encode_text(r#"{"data":{"a":1,"a":2}}"#, &mut out).unwrap();
        assert_eq!(out, "data: {\"a\":1,\"a\":2}\n\n");
    }

    #[test]
    fn records_the_fast_path_leaves_alone_encode_as_before() {
        for text in [
            r#"{"data":1,"data":2}"#,
            r#"{"error":{"code":"X","message":"m"}}"#,
            r#"{"error":"plain"}"#,
            r#"{"ev\u0065nt":"e","data":1}"#,
            r#"{}"#,
            r#"{"event":null,"data":null}"#,
            r#"{"retry":"05000"}"#,
            r#"{"id":"a\u0000b","data":1}"#,
            r#""Hello world""#,
            "[1,2]",
            "42",
        ] {
            assert_text_like_value(text);
        }
    }

    #[test]
    fn text_that_is_not_json_is_refused_and_nothing_is_written() {
        let mut out = BytesMut::from(PREFIX);
        let err = encode_text(r#"{"data":1"#, &mut out).unwrap_err();
        assert!(
            err.reason().starts_with("the record is not JSON: "),
            "{err}"
        );
        assert_eq!(&out[..], PREFIX);
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9 ]{0,6}",
            "[a:\r\n\0 \u{feff}é🦀\"\\\\{}]{0,6}",
            "[0-9]{1,21}",
            any::<String>(),
        ]
    }

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => prop::sample::select(vec!["event", "id", "retry", "data", "error", "", ":", " data", "\u{feff}data", "data:"])
                .prop_map(String::from),
            1 => text(),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
                .map(Value::Number)),
            text().prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::vec((name(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// Records that are mostly valid, so ids and retries get exercised too.
    fn plausible_record() -> impl Strategy<Value = Value> {
        let retry = prop_oneof![
            any::<u64>().prop_map(Value::from),
            "[0-9]{1,21}".prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            Just(json!(1.5)),
        ];
        let safe = "[a-zA-Z0-9 _-]{0,8}";
        let fields = prop::collection::vec(("[a-z]{1,4}", json_value()), 0..3);
        let parts = (
            prop::option::of(safe),
            prop::option::of(safe),
            prop::option::of(retry),
        );
        (parts, prop::option::of(json_value()), fields).prop_map(
            |((event, id, retry), data, fields)| {
                let mut map = serde_json::Map::new();
                map.extend(fields);
                let named = [
                    ("retry", retry),
                    ("id", id.map(Value::from)),
                    ("event", event.map(Value::from)),
                    ("data", data),
                ];
                map.extend(
                    named
                        .into_iter()
                        .filter_map(|(k, v)| Some((k.to_owned(), v?))),
                );
                Value::Object(map)
            },
        )
    }

    /// Top-level values, biased towards records and the error form.
    fn yielded() -> impl Strategy<Value = Value> {
        prop_oneof![
            1 => json_value(),
            2 => plausible_record(),
            3 => prop::collection::vec((name(), json_value()), 0..7).prop_map(|kv| Value::Object(kv.into_iter().collect())),
            1 => json_value().prop_map(|v| json!({"error": v})),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn encodes_exactly_the_intended_event_or_nothing(value in yielded()) {
            let expected = model(&value);
            match (enc(value.clone()), &expected) {
                (Ok(bytes), Some(e)) => {
                    prop_assert_eq!(&bytes, &exact_bytes(e));
                    let events = parse(bytes.as_bytes(), &[]);
                    let want: Vec<Parsed> = e.data.iter().map(|data| parsed(
                        e.event.as_deref().filter(|t| !t.is_empty()).unwrap_or("message"),
                        e.id.as_deref().unwrap_or(""), e.retry, data,
                    )).collect();
                    prop_assert_eq!(events, want);
                }
                (Err(_), None) => {}
                (got, _) => prop_assert!(false, "{value:?}: got {got:?}, model {expected:?}"),
            }
        }

        #[test]
        fn text_encodes_to_the_same_bytes_as_the_parsed_value(
            value in yielded(),
            spaced in any::<bool>(),
        ) {
            // As a component writes it (compact), or pretty-printed (the slow path).
            let text = if spaced {
                serde_json::to_string_pretty(&value).unwrap()
            } else {
                value.to_string()
            };
            let mut by_value = BytesMut::from(PREFIX);
            let by_value_result = encode(&value, &mut by_value);
            let mut by_text = BytesMut::from(PREFIX);
            let by_text_result = encode_text(&text, &mut by_text);
            prop_assert_eq!(by_text_result, by_value_result);
            prop_assert_eq!(by_text, by_value);
        }

        #[test]
        fn compact_text_is_what_serde_json_writes_for_it(value in json_value()) {
            let text = value.to_string();
            if is_compact_as_written(&text) {
                let reparsed: Value = serde_json::from_str(&text).unwrap();
                prop_assert_eq!(reparsed.to_string(), text);
            }
        }

        #[test]
        fn concatenated_encodes_parse_as_the_same_events(
            values in prop::collection::vec((yielded(), prop::option::of(text())), 0..8),
            cuts in prop::collection::vec(0usize..4000, 0..6),
        ) {
            let mut out = BytesMut::new();
            encode_retry(3000, &mut out);
            let (mut want, mut last_id) = (Vec::new(), String::new());
            for (value, comment) in &values {
                if let Some(text) = comment {
                    encode_comment(text, &mut out);
                }
                let e = match encode(value, &mut out) {
                    Ok(()) => model(value).unwrap(),
                    Err(err) => {
                        prop_assert_eq!(model(value), None);
                        encode_error("INVALID_EVENT", err.reason(), &mut out);
                        let data = json!({"code": "INVALID_EVENT", "message": err.reason()});
                        Expected { event: Some("error".into()), data: Some(data.to_string()), ..Expected::default() }
                    }
                };
                // An id sticks until the next one, even on blocks that dispatch nothing.
                if let Some(id) = &e.id {
                    last_id = id.clone();
                }
                if let Some(data) = &e.data {
                    let event = e.event.as_deref().filter(|t| !t.is_empty()).unwrap_or("message");
                    want.push(parsed(event, &last_id, e.retry, data));
                }
            }
            let mut cuts = cuts;
            cuts.sort_unstable();
            prop_assert_eq!(parse(&out, &cuts), want);
        }
    }
}

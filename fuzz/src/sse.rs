//! What the SSE encoder should write, worked out from SPEC S4 and the encoder's module docs
//! without its code, and what an independent parser (`eventsource-stream`) reads back.

use std::time::Duration;

use eventsource_stream::{Event, EventStream};
use futures::StreamExt;
use serde_json::Value;

/// One event as SPEC S4 maps a yielded value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expected {
    pub event: Option<String>,
    pub id: Option<String>,
    pub retry: Option<u64>,
    pub others: Vec<(String, String)>,
    pub data: Option<String>,
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).expect("a Value always serializes")
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => compact(other),
    }
}

/// The event for `value`, or `None` when it must be rejected as `INVALID_EVENT`.
#[must_use]
pub fn model(value: &Value) -> Option<Expected> {
    let mut e = Expected::default();
    let Value::Object(map) = value else {
        e.data = Some(compact(value));
        return Some(e);
    };
    if map.len() == 1 && map.get("error").is_some_and(Value::is_object) {
        e.event = Some("error".into());
        e.data = Some(compact(&map["error"]));
        return Some(e);
    }
    let breaks = |s: &str| s.contains('\n') || s.contains('\r');
    for (name, v) in map {
        if name == "data" {
            e.data = Some(compact(v));
            continue;
        }
        if v.is_null() {
            continue;
        }
        let text = text_of(v);
        if breaks(&text) {
            return None;
        }
        match name.as_str() {
            "event" => e.event = Some(text),
            "id" if text.contains('\0') => return None,
            "id" => e.id = Some(text),
            "retry" => {
                let digits =
                    v.is_string() && !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
                e.retry = Some(if digits {
                    text.parse().ok()?
                } else {
                    v.as_u64()?
                });
            }
            _ if name.is_empty()
                || name.contains(':')
                || breaks(name)
                || name.starts_with('\u{feff}') =>
            {
                return None;
            }
            _ => e.others.push((name.clone(), text)),
        }
    }
    (e != Expected::default()).then_some(e)
}

/// The exact bytes of `e`: `event`, `id`, `retry`, the other fields in record order, `data`.
#[must_use]
pub fn exact_bytes(e: &Expected) -> String {
    let mut s = String::new();
    let mut line = |name: &str, value: &str| {
        s.push_str(name);
        s.push_str(": ");
        s.push_str(value);
        s.push('\n');
    };
    e.event.iter().for_each(|v| line("event", v));
    e.id.iter().for_each(|v| line("id", v));
    e.retry.iter().for_each(|v| line("retry", &v.to_string()));
    e.others.iter().for_each(|(n, v)| line(n, v));
    e.data.iter().for_each(|v| line("data", v));
    s + "\n"
}

/// What `EventSource` dispatches for one event, given the last id seen before it.
#[must_use]
pub fn dispatched(e: &Expected, last_id: &str) -> Option<Event> {
    let data = e.data.as_ref()?;
    Some(Event {
        event: e
            .event
            .clone()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "message".into()),
        id: last_id.into(),
        retry: e.retry.map(Duration::from_millis),
        data: data.clone(),
    })
}

/// Runs the independent parser over `bytes`, fed in chunks cut at `cuts` (ascending).
///
/// # Panics
/// When the parser reports an error: the encoder only ever writes UTF-8 events.
#[must_use]
pub fn parse(bytes: &[u8], cuts: &[usize]) -> Vec<Event> {
    let mut chunks: Vec<Result<Vec<u8>, std::convert::Infallible>> = Vec::new();
    let mut start = 0;
    for &cut in cuts {
        let cut = cut.clamp(start, bytes.len());
        chunks.push(Ok(bytes[start..cut].to_vec()));
        start = cut;
    }
    chunks.push(Ok(bytes[start..].to_vec()));
    let events = EventStream::new(futures::stream::iter(chunks)).collect::<Vec<_>>();
    futures::executor::block_on(events)
        .into_iter()
        .map(|e| e.expect("the parser reads every encoded byte"))
        .collect()
}

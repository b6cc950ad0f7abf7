//! `resumable-order-events`: the order's checkpoints as an SSE stream that a reconnecting
//! `EventSource` resumes without losing anything.
//!
//! Route `api/orders/{orderId}/resumable-events`, `param orderId: text`; the ingress needs
//! `actors/order:read`.
//!
//! Every checkpoint of actor `order/{orderId}` is sent as
//! `{"event":"updated","id":"<bus event id>","data":<the bus event>}`. The `id` is what the
//! browser sends back as `Last-Event-ID` when it reconnects; the stream then starts right
//! after that event, replaying whatever the bus published in between.
//!
//! - **Fresh connection** (no `Last-Event-ID`, or an empty one, which `EventSource` treats
//!   as none): first `{"event":"init","data":{"orderId":…}}`, then the checkpoints
//!   from now on. The init record has no `id`, so it does not move the browser's last id.
//! - **Resumed connection** (`Last-Event-ID: <bus event id>`): no `init`. The client
//!   already has the state up to that event, and the replay brings it up to date, so a
//!   fresh `init` would only repeat (or, worse, reorder) what it knows.
//! - **Resumed, but the bus no longer holds every event after that id** (its history limit
//!   evicted some, or the id is not one this bus issued, say from before a restart): first
//!   `{"event":"gap","data":{"lastEventId":"<the id as sent>","message":"some events were
//!   lost; reload the state"}}`, then whatever the bus still holds, then live checkpoints.
//!   The gap record has no `id` either, so a reconnection before the next `updated` sends
//!   the same `Last-Event-ID` again.
//! - **`Last-Event-ID` that is not a bus event id** (not a decimal integer): HTTP 400
//!   `INVALID_LAST_EVENT_ID` naming the value, before the stream starts.
//!
//! Surrounding ASCII whitespace in the id is ignored. The id may also come from the
//! `lastEventId` query parameter, for a first connection that cannot set headers.

use sluice_sdk::{Error, Event, Record, Request, Stream, events_after, json};

fn handle(req: Request) -> Result<Stream, Error> {
    let order_id: String = req.param("orderId")?;
    let last_event_id = resume_from(req.last_event_id())?;
    let after = last_event_id.map(|(_, id)| id);
    let source = events_after(format!("actors/order/{order_id}"), "checkpoint", after)?;
    let first = match last_event_id {
        None => Some(init(&order_id)),
        Some((sent, _)) if source.gap() => Some(gap(sent)),
        Some(_) => None,
    };
    Ok(Stream::from_iter(first).chain(source.map(|e| Ok(updated(e)))))
}

/// The id the client sent (trimmed) and the bus event id it names, or `None` for a fresh
/// connection.
fn resume_from(last_event_id: Option<&str>) -> Result<Option<(&str, u64)>, Error> {
    let Some(sent) = last_event_id
        .map(|sent| sent.trim_matches(|c: char| c.is_ascii_whitespace()))
        .filter(|sent| !sent.is_empty())
    else {
        return Ok(None);
    };
    match sent.parse() {
        Ok(id) if sent.bytes().all(|b| b.is_ascii_digit()) => Ok(Some((sent, id))),
        _ => Err(Error::new(
            "INVALID_LAST_EVENT_ID",
            format!(
                "Last-Event-ID must be an event id of this stream (a decimal integer), got {}",
                json!(sent)
            ),
        )
        .with_status(400)
        .with_details(json!({ "lastEventId": sent }))),
    }
}

/// The fresh connection's first record.
fn init(order_id: &str) -> Record {
    Record::event("init").data(json!({ "orderId": order_id }))
}

/// The record that tells a resumed client some events after `sent` are gone.
fn gap(sent: &str) -> Record {
    Record::event("gap").data(json!({
        "lastEventId": sent,
        "message": "some events were lost; reload the state",
    }))
}

/// One checkpoint, with its bus event id as the SSE `id`.
fn updated(event: Event) -> Record {
    Record::event("updated").id(event.id).data(event)
}

sluice_sdk::ingress!(handle);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::Timestamp;

    #[test]
    fn no_or_empty_last_event_id_is_a_fresh_connection() {
        assert_eq!(resume_from(None).unwrap(), None);
        assert_eq!(resume_from(Some("")).unwrap(), None);
        assert_eq!(resume_from(Some("  ")).unwrap(), None);
    }

    #[test]
    fn a_decimal_last_event_id_resumes_after_it() {
        assert_eq!(resume_from(Some("41")).unwrap(), Some(("41", 41)));
        assert_eq!(resume_from(Some(" 7 ")).unwrap(), Some(("7", 7)));
        assert_eq!(resume_from(Some("0")).unwrap(), Some(("0", 0)));
    }

    #[test]
    fn anything_else_is_a_400_naming_the_value() {
        for bad in ["hb-42", "-1", "+5", "4.2", "18446744073709551616", "1 2"] {
            let err = resume_from(Some(bad)).unwrap_err();
            assert_eq!(err.code(), "INVALID_LAST_EVENT_ID", "{bad}");
            assert_eq!(err.status(), Some(400));
            assert!(err.message().contains(&json!(bad).to_string()), "{bad}");
            assert_eq!(err.details(), Some(&json!({ "lastEventId": bad })));
        }
    }

    #[test]
    fn records_have_the_documented_fields_in_order() {
        assert_eq!(
            init("ORD-123").to_json().to_string(),
            r#"{"event":"init","data":{"orderId":"ORD-123"}}"#
        );
        assert_eq!(
            gap("41").to_json().to_string(),
            r#"{"event":"gap","data":{"lastEventId":"41","message":"some events were lost; reload the state"}}"#
        );
        let checkpoint = Event {
            topic: "actors/order/ORD-123".into(),
            event_type: "checkpoint".into(),
            id: 42,
            timestamp: Timestamp::from_millis(1_768_159_800_000),
            data: json!({ "status": "shipped" }).into(),
        };
        assert_eq!(
            updated(checkpoint).to_json().to_string(),
            r#"{"event":"updated","id":"42","data":{"topic":"actors/order/ORD-123","eventType":"checkpoint","id":42,"timestamp":"2026-01-11T19:30:00.000Z","data":{"status":"shipped"}}}"#
        );
    }
}

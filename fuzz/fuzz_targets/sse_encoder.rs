//! The SSE encoder on a whole stream: the first byte picks where the stream is cut into
//! three chunks for the parser; the rest, split at `0xFF`, is records as a component yields them (JSON
//! text; invalid UTF-8 becomes U+FFFD), or, after a leading `0xFE`, a comment.
//!
//! Each record goes through the host's path (`server::respond`: parse the JSON, `encode`, and
//! on failure `encode_error("INVALID_EVENT", reason)`), after a `retry:` line as a stream
//! starts. For every input:
//! - a record the model (SPEC S4, computed without the encoder) accepts is written as exactly
//!   the model's bytes; one it rejects, and any text that is not JSON, appends nothing from
//!   `encode` and is replaced by exactly one `event: error` whose data is
//!   `{"code":"INVALID_EVENT","message":…}`, the message at most 200 characters whatever the
//!   input (it echoes input, shortened);
//! - comments, however many line breaks they hold, stay comments;
//! - an independent parser (`eventsource-stream`) reads the whole stream as exactly the
//!   intended events — type, data, sticky last event id, retry — fed in three chunks cut
//!   anywhere (a cut may fall inside a line or between CR and LF), and never fails.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sluice::encode::sse::{encode, encode_comment, encode_error, encode_retry};
use sluice_fuzz::sse::{Expected, dispatched, exact_bytes, model, parse};

const INVALID_PREFIX: &str = "event: error\ndata: ";

/// `server::respond::encode_record`, which is private: what a record's text becomes.
/// Returns the reason when it was replaced by an `INVALID_EVENT` error event.
fn encode_record(record: &str, out: &mut BytesMut) -> Option<String> {
    let before = out.len();
    let reason = match serde_json::from_str::<Value>(record) {
        Err(err) => format!("the record is not JSON: {err}"),
        Ok(value) => match encode(&value, out) {
            Ok(()) => return None,
            Err(invalid) => {
                assert_eq!(out.len(), before, "a rejected record appends nothing");
                invalid.reason().to_owned()
            }
        },
    };
    encode_error("INVALID_EVENT", &reason, out);
    Some(reason)
}

/// The error event's exact text and message, checked against the documented form.
fn check_invalid_event(written: &str, reason: &str) -> Expected {
    let data = written
        .strip_prefix(INVALID_PREFIX)
        .and_then(|rest| rest.strip_suffix("\n\n"))
        .unwrap_or_else(|| panic!("not one error event: {written:?}"));
    assert!(!data.contains(['\r', '\n']), "one data line: {written:?}");
    let parsed: Value = serde_json::from_str(data).expect("error data is JSON");
    assert_eq!(
        parsed,
        serde_json::json!({"code": "INVALID_EVENT", "message": reason})
    );
    assert!(
        reason.chars().count() <= 200,
        "the reason echoes too much input: {reason:?}"
    );
    Expected {
        event: Some("error".into()),
        data: Some(data.to_owned()),
        ..Expected::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let mut out = BytesMut::new();
    encode_retry(3000, &mut out);
    assert_eq!(&out[..], b"retry: 3000\n\n");
    let (mut want, mut last_id) = (Vec::new(), String::new());
    for segment in rest.split(|&b| b == 0xFF) {
        let before = out.len();
        if let Some(comment) = segment.strip_prefix(&[0xFE]) {
            let comment = String::from_utf8_lossy(comment);
            encode_comment(&comment, &mut out);
            let written = std::str::from_utf8(&out[before..]).expect("UTF-8");
            let lines: Vec<&str> = comment
                .split("\r\n")
                .flat_map(|l| l.split(['\r', '\n']))
                .collect();
            let expected: String =
                lines.iter().map(|l| format!(":{l}\n")).collect::<String>() + "\n";
            assert_eq!(written, expected, "comment {comment:?}");
            continue;
        }
        let record = String::from_utf8_lossy(segment);
        let replaced = encode_record(&record, &mut out);
        let written = std::str::from_utf8(&out[before..]).expect("the encoder writes UTF-8");
        let intended = serde_json::from_str::<Value>(&record)
            .ok()
            .and_then(|v| model(&v));
        let e = match (replaced, intended) {
            (None, Some(e)) => {
                assert_eq!(written, exact_bytes(&e), "record {record:?}");
                e
            }
            (Some(reason), None) => {
                if serde_json::from_str::<Value>(&record).is_err() {
                    assert!(reason.starts_with("the record is not JSON"), "{reason:?}");
                }
                check_invalid_event(written, &reason)
            }
            (got, model) => panic!("record {record:?}: replaced {got:?}, model {model:?}"),
        };
        // An id sticks until the next one, even on blocks that dispatch nothing.
        if let Some(id) = &e.id {
            last_id.clone_from(id);
        }
        want.extend(dispatched(&e, &last_id));
    }
    // One parse, in three chunks: the parser rescans a line on every chunk, so many small
    // ones cost O(n²), and every extra parse halves the executions per second.
    let first_cut = usize::from(first) * out.len() / 256;
    let cuts = [first_cut, first_cut + (out.len() - first_cut) / 2];
    assert_eq!(parse(&out, &cuts), want, "cut at {cuts:?}");
});

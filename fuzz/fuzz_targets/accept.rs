//! `Accept` negotiation: each input line is one `Accept` header line.
//!
//! Beyond never panicking, the mode follows the rule in `sluice::negotiate`'s docs:
//! - no `event-stream` anywhere means JSON (a wildcard never selects SSE);
//! - line order and ASCII case do not matter;
//! - adding `text/event-stream;q=0` changes nothing, adding `text/event-stream` always gives
//!   SSE, and adding `application/json` can only take SSE away.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice::negotiate::{Mode, negotiate};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines: Vec<&str> = text.split('\n').collect();
    let mode = negotiate(lines.iter().copied());

    if !text.to_ascii_lowercase().contains("event-stream") {
        assert_eq!(mode, Mode::Json, "{lines:?}");
    }
    assert_eq!(negotiate(lines.iter().rev().copied()), mode, "order");
    let upper: Vec<String> = lines.iter().map(|l| l.to_ascii_uppercase()).collect();
    assert_eq!(negotiate(upper.iter().map(String::as_str)), mode, "case");
    let lower: Vec<String> = lines.iter().map(|l| l.to_ascii_lowercase()).collect();
    assert_eq!(negotiate(lower.iter().map(String::as_str)), mode, "case");

    let with = |extra: &'static str| negotiate(lines.iter().copied().chain([extra]));
    assert_eq!(with("text/event-stream;q=0"), mode);
    assert_eq!(with("text/event-stream"), Mode::Sse);
    if with("application/json") == Mode::Sse {
        assert_eq!(mode, Mode::Sse);
    }
    assert_eq!(
        negotiate(lines.iter().copied().chain(["*/*", "text/*"])),
        with("*/*")
    );
});

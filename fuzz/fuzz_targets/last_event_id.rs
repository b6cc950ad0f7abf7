//! `Last-Event-ID`. Input: `<query>` alone (no header), or `<values>\0<query>` where
//! `<values>` are `\n`-separated header values, raw bytes (neither NUL nor LF can be in one).
//!
//! - The header wins when present: handed on exactly as sent if UTF-8, else a 400
//!   `INVALID_LAST_EVENT_ID`; without it, the first decoded `lastEventId` query value.
//! - `resolve` reports the same id.
//! - The component sees that id unchanged, and `last_bus_event_id` reads it exactly when it is
//!   ASCII digits that fit a `u64` (checked without parsing it as a number).

#![no_main]

use std::sync::LazyLock;

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use sluice::deploy::IngressSpec;
use sluice::params::{self, ParamError};
use sluice_fuzz::guest_request;

static SPEC: LazyLock<IngressSpec> = LazyLock::new(|| {
    let yaml = "uri: /resources/ingresses/fuzz\nspec:\n  type: http\n  componentId: fuzz\n  \
                properties: { route: x, httpMethod: get }\n";
    IngressSpec::parse(yaml).expect("a valid spec")
});

fuzz_target!(|data: &[u8]| {
    let (values, query) = match data.iter().position(|&b| b == 0) {
        Some(at) => (Some(&data[..at]), &data[at + 1..]),
        None => (None, data),
    };
    let Ok(query_text) = std::str::from_utf8(query) else {
        return;
    };
    let mut headers = HeaderMap::new();
    for value in values
        .into_iter()
        .flat_map(|values| values.split(|&b| b == b'\n'))
    {
        // Anything else never gets past hyper.
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append("last-event-id", value);
        }
    }
    let query: Vec<(String, String)> = form_urlencoded::parse(query).into_owned().collect();
    let got = params::last_event_id(&headers, &query);

    let expected = match headers.get("last-event-id") {
        Some(value) => std::str::from_utf8(value.as_bytes())
            .map(|text| Some(text.to_owned()))
            .map_err(|_| ParamError::LastEventIdNotUtf8),
        None => Ok(query
            .iter()
            .find(|(name, _)| name == "lastEventId")
            .map(|(_, value)| value.clone())),
    };
    assert_eq!(got, expected);
    if let Err(err) = &got {
        assert_eq!(err.code(), "INVALID_LAST_EVENT_ID");
    }

    let resolved = params::resolve(&SPEC, vec![], &headers, Some(query_text), b"");
    assert_eq!(resolved.map(|r| r.last_event_id), got);

    let Ok(id) = got else { return };
    guest_request(vec![], id.clone(), None, |req| {
        assert_eq!(req.last_event_id(), id.as_deref());
        let read = req.last_bus_event_id();
        let expected = id.as_deref().is_some_and(is_bus_event_id);
        assert_eq!(read.is_some(), expected, "{id:?} read as {read:?}");
        if let (Some(n), Some(id)) = (read, id.as_deref()) {
            let digits = id.trim_start_matches('0');
            assert_eq!(n.to_string(), if digits.is_empty() { "0" } else { digits });
        }
    });
});

/// ASCII digits, not more than `u64::MAX` (compared as text, leading zeros aside).
fn is_bus_event_id(id: &str) -> bool {
    const MAX: &str = "18446744073709551615";
    let digits = id.trim_start_matches('0');
    !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && (digits.len() < MAX.len() || (digits.len() == MAX.len() && digits <= MAX))
}

//! Request bodies: the input is the body of a structured and of a raw ingress.
//!
//! - Structured: whitespace is no body; a JSON object's fields become parameters after the
//!   route's, keeping their JSON values (a repeated key keeps its last value); anything else
//!   is `INVALID_BODY`. Deep nesting is an error, never a stack overflow.
//! - Raw: the bytes are kept as they are, and bound as text exactly when they are UTF-8.
//! - Either way every parameter reaches the component unchanged.

#![no_main]

use std::sync::LazyLock;

use http::HeaderMap;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sluice::deploy::IngressSpec;
use sluice::params;
use sluice_fuzz::check_guest_params;

static SPECS: LazyLock<(IngressSpec, IngressSpec)> = LazyLock::new(|| {
    let spec = |body: &str| {
        let yaml = format!(
            "uri: /resources/ingresses/fuzz\nspec:\n  type: http\n  componentId: fuzz\n  \
             properties:\n    route: items/{{id}}\n    httpMethod: post\n    body: {body}\n"
        );
        IngressSpec::parse(&yaml).expect("a valid spec")
    };
    (
        spec("{ mode: structured }"),
        spec("{ mode: raw, parameter: payload }"),
    )
});

fuzz_target!(|body: &[u8]| {
    let (structured, raw) = &*SPECS;
    let route = || vec![("id".to_owned(), "r".to_owned())];
    let headers = HeaderMap::new();

    match params::resolve(structured, route(), &headers, None, body) {
        Ok(resolved) => {
            let fields = &resolved.params;
            assert!(fields.contains_key("id"));
            if body.trim_ascii().is_empty() {
                assert_eq!(fields.len(), 1);
            } else {
                let Ok(Value::Object(parsed)) = serde_json::from_slice::<Value>(body) else {
                    panic!("accepted a body that is not a JSON object");
                };
                for (name, value) in &parsed {
                    assert_eq!(fields.get(name), Some(value), "field {name:?}");
                }
                // Round trip: the fields as JSON text parse back to the same fields.
                let text = Value::Object(parsed.clone()).to_string();
                assert_eq!(
                    serde_json::from_str::<Value>(&text).ok(),
                    Some(Value::Object(parsed))
                );
            }
            assert_eq!(resolved.raw_body, None);
            check_guest_params(fields);
        }
        Err(err) => {
            assert_eq!(err.code(), "INVALID_BODY");
            let is_object = matches!(serde_json::from_slice(body), Ok(Value::Object(_)));
            assert!(
                !is_object && !body.trim_ascii().is_empty(),
                "refused: {err}"
            );
        }
    }

    let resolved = params::resolve(raw, route(), &headers, None, body).expect("raw never fails");
    assert_eq!(resolved.raw_body.as_deref(), Some(body));
    let text = std::str::from_utf8(body).ok();
    assert_eq!(resolved.params.get("payload").and_then(Value::as_str), text);
    check_guest_params(&resolved.params);
});

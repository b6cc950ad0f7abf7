//! Checks shared by the fuzz targets in `fuzz_targets/`.
//!
//! Each target feeds hostile input to one parser and asserts what must hold for every input,
//! not only that nothing panics. See the README's "Fuzzing" section for how to run them.

pub mod head;
pub mod sse;

use http::Method;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};
use sluice::route::{MAX_PARAMS, RouteMatch, RouteTable};
use sluice_sdk::__private::{WitRequest, handle};
use sluice_sdk::bindings::sluice::ingress::types::Mode as WitMode;
use sluice_sdk::{Error, FromParam, Request, Uuid};

/// Runs `check` on the SDK [`Request`] that a component gets for these parts, through the
/// entry point the `ingress!` export uses, so the host's JSON text is parsed as in a guest.
pub fn guest_request<R>(
    params: Vec<(String, String)>,
    last_event_id: Option<String>,
    body: Option<Vec<u8>>,
    check: impl FnOnce(&Request) -> R,
) -> R {
    let request = WitRequest {
        ingress_id: "fuzz".into(),
        method: "GET".into(),
        path: "/ingress/fuzz".into(),
        params,
        mode: WitMode::Json,
        last_event_id,
        body,
        caller: None,
    };
    let mut outcome = None;
    // The handler fails on purpose: a stream would become a WIT resource, which needs a host.
    let _ = handle(request, |req| {
        outcome = Some(check(&req));
        Err(Error::new("FUZZ", "checked"))
    });
    outcome.expect("the SDK calls the handler once")
}

/// The host's parameters as the component sees them: each value crosses as JSON text and must
/// come back as the same value. Then every parameter type reads each of them consistently.
pub fn check_guest_params(params: &Map<String, Value>) {
    let wire = params
        .iter()
        .map(|(name, value)| (name.clone(), value.to_string()))
        .collect();
    guest_request(wire, None, None, |req| {
        assert_eq!(
            req.params(),
            params,
            "parameters change crossing to the guest"
        );
        for (name, value) in params {
            check_typed(req, name, value);
        }
        let missing = "\u{0}not a parameter";
        if params.contains_key(missing) {
            return;
        }
        let err = req.param::<Value>(missing).expect_err("absent");
        assert_eq!(err.code(), "MISSING_PARAMETER");
        assert_eq!(err.status(), Some(400));
        assert_eq!(err.details(), Some(&json!({ "parameter": missing })));
    });
}

/// What each `FromParam` type makes of parameter `name` (holding `value`), checked against
/// the others and against the documented table in the SDK's `FromParam` docs.
fn check_typed(req: &Request, name: &str, value: &Value) {
    let text = typed::<String>(req, name, value);
    let uuid = typed::<Uuid>(req, name, value);
    let i64_ = typed::<i64>(req, name, value);
    let i32_ = typed::<i32>(req, name, value);
    let u64_ = typed::<u64>(req, name, value);
    let u32_ = typed::<u32>(req, name, value);
    let f64_ = typed::<f64>(req, name, value);
    let bool_ = typed::<bool>(req, name, value);
    let any = typed::<Value>(req, name, value);
    assert_eq!(any.as_ref(), (!value.is_null()).then_some(value));

    assert_eq!(
        text.is_some(),
        matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_))
    );
    if let Value::String(s) = value {
        assert_eq!(text.as_deref(), Some(s.as_str()));
        assert_eq!(uuid, Uuid::try_parse(s).ok());
    } else {
        assert_eq!(uuid, None, "only strings are UUIDs");
    }
    if let Some(n) = i32_ {
        assert_eq!(i64_, Some(i64::from(n)));
    }
    if let Some(n) = u32_ {
        assert_eq!(u64_, Some(u64::from(n)));
    }
    if let Some(n) = u64_ {
        assert_eq!(i64_, i64::try_from(n).ok(), "u64 {n} and i64 disagree");
        assert_eq!(u32_, u32::try_from(n).ok());
    }
    if let Some(n) = i64_ {
        assert_eq!(i32_, i32::try_from(n).ok());
        // `"-0"` is an i64 but, with its sign, not a u64.
        if n >= 0 && !matches!(value, Value::String(s) if s.starts_with('-')) {
            assert_eq!(u64_, u64::try_from(n).ok());
        }
        assert!(f64_.is_some(), "the integer {n} is not a number");
    }
    if let Some(x) = f64_ {
        assert!(x.is_finite());
    }
    match bool_ {
        Some(b) => assert!(*value == Value::Bool(b) || *value == json!(b.to_string())),
        None => assert!(
            !matches!(value, Value::Bool(_)) && *value != json!("true") && *value != json!("false")
        ),
    }
}

/// `param::<T>(name)`: `Some` when it reads, `None` after checking the error names the parameter.
fn typed<T: FromParam>(req: &Request, name: &str, value: &Value) -> Option<T> {
    match req.param::<T>(name) {
        Ok(read) => Some(read),
        Err(err) if value.is_null() => {
            assert_eq!(err.code(), "MISSING_PARAMETER", "null is missing");
            None
        }
        Err(err) => {
            assert_eq!(err.code(), "INVALID_PARAMETER");
            assert_eq!(err.status(), Some(400));
            let start = format!("parameter '{name}' must be {}, got ", T::EXPECTED);
            assert!(err.message().starts_with(&start), "{}", err.message());
            assert_eq!(err.details(), Some(&json!({ "parameter": name })));
            None
        }
    }
}

/// The template's parameter names, if it is valid by the rules in `sluice::route`'s docs:
/// written independently of the router, so the two can disagree only through a bug.
pub fn template_params(template: &str) -> Option<Vec<String>> {
    let template = template.strip_prefix('/').unwrap_or(template);
    if template.is_empty() {
        return None;
    }
    let mut names: Vec<String> = Vec::new();
    for segment in template.split('/') {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let mut chars = name.chars();
            let first = chars.next()?;
            let ident = (first.is_ascii_alphabetic() || first == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ident || names.iter().any(|n| n == name) || names.len() == MAX_PARAMS {
                return None;
            }
            names.push(name.to_owned());
        } else if segment.is_empty()
            || segment == "."
            || segment == ".."
            || !segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@".contains(c))
        {
            return None;
        }
    }
    Some(names)
}

/// A request path (after `/ingress/`) that `template` matches, its parameters set to `values`
/// (cycled, percent-encoded), and the parameters the route table must report for it.
pub fn concrete_path(template: &str, values: &[&str]) -> (String, Vec<(String, String)>) {
    let template = template.strip_prefix('/').unwrap_or(template);
    let mut params = Vec::new();
    let segments: Vec<String> = template
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => {
                    // An empty segment never matches, so an empty value becomes one character.
                    let value = match values.get(params.len() % values.len().max(1)) {
                        Some(value) if !value.is_empty() => (*value).to_owned(),
                        _ => format!("v{}", params.len()),
                    };
                    let encoded = utf8_percent_encode(&value, NON_ALPHANUMERIC).to_string();
                    params.push((name.to_owned(), value));
                    encoded
                }
                None => segment.to_owned(),
            },
        )
        .collect();
    (segments.join("/"), params)
}

/// Inserts `template` under GET into an empty table, which must succeed exactly when
/// [`template_params`] says it is valid; then checks that a concrete path finds it with the
/// right parameters and that other methods get a 405 naming GET.
pub fn check_template(template: &str, values: &[&str]) {
    let mut table = RouteTable::new();
    let inserted = table.insert(Method::GET, template, 7_u8);
    let Some(names) = template_params(template) else {
        assert!(
            inserted.is_err(),
            "accepted the invalid template {template:?}"
        );
        return;
    };
    if let Err(err) = inserted {
        panic!("refused the valid template {template:?}: {err}");
    }
    let (path, params) = concrete_path(template, values);
    let names_found: Vec<&String> = params.iter().map(|(name, _)| name).collect();
    assert_eq!(names_found, names.iter().collect::<Vec<_>>());
    assert_eq!(
        table.lookup(&Method::GET, &path),
        RouteMatch::Found { value: &7, params },
        "{template:?} does not match {path:?}"
    );
    assert_eq!(
        table.lookup(&Method::POST, &path),
        RouteMatch::MethodNotAllowed {
            allow: vec![Method::GET]
        }
    );
    assert!(
        table.insert(Method::GET, template, 8).is_err(),
        "the same route twice"
    );
    if !names.is_empty() {
        // Renamed parameters match the same paths: a conflict, not a second route.
        let renamed: String = template.replace('}', "_}");
        assert!(
            table.insert(Method::GET, &renamed, 8).is_err(),
            "{renamed:?}"
        );
    }
    assert!(table.insert(Method::POST, template, 9).is_ok());
}

//! Parameter resolution (SPEC S2) with arbitrary route values, headers, query and body, under
//! each body mode; then typed parameter reads in the SDK.
//!
//! Input: `<mode><route>\0<headers>\0<query>\0<body>`. `<mode>` is one byte (mod 3: no body,
//! structured, raw); `<route>` lines are `name=value`; `<headers>` lines are `<digit><value>`,
//! the digit (mod 4) picking `X-User`, `X-Id` (both mapped), `X-Other` or `Last-Event-ID`;
//! `<body>` is the rest, raw.
//!
//! - The result is exactly what the documented order gives: route, then mapped headers
//!   (joined with `;`), then mapped query parameters (likewise), then the body; errors for a
//!   mapped header that is not UTF-8 and for a structured body that is not a JSON object.
//! - Every value reaches the component unchanged, and each parameter type reads it
//!   consistently with the others (see `sluice_fuzz::check_guest_params`).

#![no_main]

use std::sync::LazyLock;

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use sluice::deploy::{BodyMode, IngressSpec};
use sluice::params::{self, ParamError};
use sluice_fuzz::check_guest_params;

#[derive(Debug)]
struct Input<'a> {
    body_mode: u8,
    route: Vec<(String, String)>,
    headers: Vec<(u8, &'a [u8])>,
    query: Option<&'a str>,
    body: &'a [u8],
}

impl<'a> Input<'a> {
    fn parse(data: &'a [u8]) -> Option<Self> {
        let (&body_mode, data) = data.split_first()?;
        let mut parts = data.splitn(4, |&b| b == 0);
        let route = std::str::from_utf8(parts.next()?).ok()?;
        let headers = parts.next().unwrap_or_default();
        let query = parts.next().map(std::str::from_utf8).transpose().ok()?;
        let body = parts.next().unwrap_or_default();
        Some(Self {
            body_mode,
            route: route
                .lines()
                .map(|line| {
                    let (name, value) = line.split_once('=').unwrap_or((line, ""));
                    (name.to_owned(), value.to_owned())
                })
                .collect(),
            headers: headers
                .split(|&b| b == b'\n')
                .filter_map(|line| line.split_first().map(|(&which, value)| (which, value)))
                .collect(),
            query,
            body,
        })
    }
}

/// Header names the input picks from: two mapped, one not, and `Last-Event-ID`.
const HEADERS: [&str; 4] = ["x-user", "x-id", "x-other", "last-event-id"];

static SPECS: LazyLock<[IngressSpec; 3]> = LazyLock::new(|| {
    let spec = |body: &str| {
        let yaml = format!(
            "uri: /resources/ingresses/fuzz\nspec:\n  type: http\n  componentId: fuzz\n  \
             properties:\n    route: items/{{id}}\n    httpMethod: post\n    \
             headers: {{ user: X-User, id: X-Id }}\n    queryParams: {{ size: limit, id: id }}\n    \
             body: {body}\n"
        );
        IngressSpec::parse(&yaml).expect("a valid spec")
    };
    [
        spec("{ mode: none }"),
        spec("{ mode: structured }"),
        spec("{ mode: raw, parameter: payload }"),
    ]
});

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::parse(data) else {
        return;
    };
    let spec = &SPECS[usize::from(input.body_mode) % 3];
    let mut headers = HeaderMap::new();
    for &(which, value) in &input.headers {
        let name = HeaderName::from_static(HEADERS[usize::from(which) % HEADERS.len()]);
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(name, value);
        }
    }
    let got = params::resolve(spec, input.route.clone(), &headers, input.query, input.body);
    let expected = expected(spec, &input, &headers);
    match (&got, &expected) {
        (Ok(got), Ok(params)) => {
            assert_eq!(&got.params, params);
            let raw = matches!(spec.body, BodyMode::Raw { .. });
            assert_eq!(got.raw_body.as_deref(), raw.then_some(input.body));
            check_guest_params(&got.params);
        }
        // The message is serde_json's; what matters is that both reject the body.
        (Err(ParamError::BodyNotJsonObject(_)), Err(ParamError::BodyNotJsonObject(_))) => {}
        _ => assert_eq!(got.map(|r| r.params), expected),
    }
});

/// SPEC S2 written out plainly.
fn expected(
    spec: &IngressSpec,
    input: &Input<'_>,
    headers: &HeaderMap,
) -> Result<Map<String, Value>, ParamError> {
    let mut params = Map::new();
    for (name, value) in &input.route {
        params.insert(name.clone(), Value::String(value.clone()));
    }
    for (parameter, header) in &spec.headers {
        let mut values = Vec::new();
        for value in headers.get_all(header) {
            match std::str::from_utf8(value.as_bytes()) {
                Ok(text) => values.push(text),
                Err(_) => {
                    return Err(ParamError::HeaderNotUtf8 {
                        parameter: parameter.clone(),
                        header: header.to_string(),
                    });
                }
            }
        }
        if !values.is_empty() {
            params.insert(parameter.clone(), Value::String(values.join(";")));
        }
    }
    let query: Vec<(String, String)> = form_urlencoded::parse(input.query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    for (parameter, key) in &spec.query_params {
        let values: Vec<&str> = query
            .iter()
            .filter(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
            .collect();
        if !values.is_empty() {
            params.insert(parameter.clone(), Value::String(values.join(";")));
        }
    }
    match &spec.body {
        BodyMode::None => {}
        BodyMode::Structured if input.body.trim_ascii().is_empty() => {}
        BodyMode::Structured => match serde_json::from_slice(input.body) {
            Ok(Value::Object(fields)) => {
                for (name, value) in fields {
                    params.insert(name, value);
                }
            }
            _ => return Err(ParamError::BodyNotJsonObject(String::new())),
        },
        BodyMode::Raw { parameter } => {
            if let Ok(text) = std::str::from_utf8(input.body) {
                params.insert(parameter.clone(), Value::String(text.to_owned()));
            }
        }
    }
    if let Some(value) = headers.get("last-event-id")
        && std::str::from_utf8(value.as_bytes()).is_err()
    {
        return Err(ParamError::LastEventIdNotUtf8);
    }
    Ok(params)
}

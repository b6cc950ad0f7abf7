//! Resolve parameters (SPEC S2): route, then mapped headers, then mapped query
//! parameters, then the body; later sources override earlier ones.
//!
//! Route, header and query values become JSON strings; several values of one header or
//! query parameter are joined with `;`. A structured body's fields keep their JSON values.
//! A raw body is bound to its parameter as a JSON string when it is UTF-8 (and is always
//! available to the component as bytes).

use http::{HeaderMap, HeaderValue};
use serde_json::{Map, Value};

use crate::deploy::{BodyMode, IngressSpec};

/// The parameters and reconnection id of one request.
#[derive(Debug, Default, PartialEq)]
pub struct Resolved {
    /// By name, in resolution order, values as JSON.
    pub params: Map<String, Value>,
    /// `Last-Event-ID`, or the `lastEventId` query parameter when the header is absent.
    pub last_event_id: Option<String>,
    /// The body, when the ingress maps it raw.
    pub raw_body: Option<Vec<u8>>,
}

/// A request whose parameters cannot be resolved: a 400 naming the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("parameter '{parameter}': header '{header}' is not valid UTF-8")]
    HeaderNotUtf8 { parameter: String, header: String },
    #[error("the Last-Event-ID header is not valid UTF-8")]
    LastEventIdNotUtf8,
    #[error("the request body is not a JSON object: {0}")]
    BodyNotJsonObject(String),
}

impl ParamError {
    /// The error code the client sees.
    pub fn code(&self) -> &'static str {
        match self {
            Self::HeaderNotUtf8 { .. } => "INVALID_PARAMETER",
            Self::LastEventIdNotUtf8 => "INVALID_LAST_EVENT_ID",
            Self::BodyNotJsonObject(_) => "INVALID_BODY",
        }
    }
}

pub fn resolve(
    spec: &IngressSpec,
    route: Vec<(String, String)>,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Resolved, ParamError> {
    let mut params = Map::new();
    for (name, value) in route {
        params.insert(name, Value::String(value));
    }
    for (parameter, header) in &spec.headers {
        let mut values = Vec::new();
        for value in headers.get_all(header) {
            let value = header_text(value).ok_or_else(|| ParamError::HeaderNotUtf8 {
                parameter: parameter.clone(),
                header: header.to_string(),
            })?;
            values.push(value);
        }
        if !values.is_empty() {
            params.insert(parameter.clone(), Value::String(values.join(";")));
        }
    }
    let query: Vec<(String, String)> = query
        .map(|query| {
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
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
    let mut raw_body = None;
    match &spec.body {
        BodyMode::None => {}
        BodyMode::Structured if body.iter().all(u8::is_ascii_whitespace) => {}
        BodyMode::Structured => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(fields)) => params.extend(fields),
            Ok(other) => {
                let kind = match other {
                    Value::Array(_) => "an array",
                    Value::String(_) => "a string",
                    Value::Number(_) => "a number",
                    Value::Bool(_) => "a boolean",
                    _ => "null",
                };
                return Err(ParamError::BodyNotJsonObject(format!("got {kind}")));
            }
            Err(err) => return Err(ParamError::BodyNotJsonObject(err.to_string())),
        },
        BodyMode::Raw { parameter } => {
            if let Ok(text) = std::str::from_utf8(body) {
                params.insert(parameter.clone(), Value::String(text.to_owned()));
            }
            raw_body = Some(body.to_vec());
        }
    }
    let last_event_id = last_event_id(headers, &query)?;
    Ok(Resolved {
        params,
        last_event_id,
        raw_body,
    })
}

/// A header value as text. Not [`HeaderValue::to_str`], which refuses everything beyond
/// visible ASCII: clients send non-ASCII text UTF-8 encoded (`EventSource` does so for
/// `Last-Event-ID`), and the error for a refused value says "not valid UTF-8".
fn header_text(value: &HeaderValue) -> Option<&str> {
    std::str::from_utf8(value.as_bytes()).ok()
}

/// The id a reconnecting client resumes after: the `Last-Event-ID` header, or, without one,
/// the first `lastEventId` in the decoded `query` pairs (for a first connection, which cannot
/// set headers). Handed on exactly as sent, empty or not: what an id means is the component's
/// business (its SDK reads bus ids with `Request::last_bus_event_id`). Of several headers
/// the first counts, as with the query.
///
/// # Errors
/// [`ParamError::LastEventIdNotUtf8`] when the header is not UTF-8, so it cannot be handed on
/// as text. (`EventSource` sends the id UTF-8 encoded, so non-ASCII ids are fine.)
pub fn last_event_id(
    headers: &HeaderMap,
    query: &[(String, String)],
) -> Result<Option<String>, ParamError> {
    match headers.get("last-event-id") {
        Some(value) => match header_text(value) {
            Some(text) => Ok(Some(text.to_owned())),
            None => Err(ParamError::LastEventIdNotUtf8),
        },
        None => Ok(query
            .iter()
            .find(|(name, _)| name == "lastEventId")
            .map(|(_, value)| value.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue, Method};
    use serde_json::json;

    fn spec(body: BodyMode) -> IngressSpec {
        IngressSpec {
            id: "test".into(),
            component_id: "test".into(),
            acl: Default::default(),
            route: "items/{id}".into(),
            method: Method::POST,
            is_public: true,
            headers: vec![
                ("user".into(), HeaderName::from_static("x-user")),
                ("id".into(), HeaderName::from_static("x-id")),
            ],
            query_params: vec![("size".into(), "limit".into()), ("id".into(), "id".into())],
            body,
            sse_retry: None,
            max_connections: None,
            memory_per_instance_mib: None,
            cors_origins: None,
        }
    }

    fn route(id: &str) -> Vec<(String, String)> {
        vec![("id".into(), id.into())]
    }

    #[test]
    fn later_sources_override_earlier_ones() {
        let mut headers = HeaderMap::new();
        headers.insert("x-id", HeaderValue::from_static("from-header"));
        let resolved = resolve(
            &spec(BodyMode::None),
            route("from-route"),
            &headers,
            None,
            b"",
        )
        .expect("ok");
        assert_eq!(resolved.params["id"], json!("from-header"));
        let resolved = resolve(
            &spec(BodyMode::None),
            route("r"),
            &headers,
            Some("id=from-query"),
            b"",
        )
        .expect("ok");
        assert_eq!(resolved.params["id"], json!("from-query"));
        let body = br#"{"id": 7}"#;
        let resolved = resolve(
            &spec(BodyMode::Structured),
            route("r"),
            &headers,
            Some("id=q"),
            body,
        )
        .expect("ok");
        assert_eq!(
            resolved.params["id"],
            json!(7),
            "the body wins and keeps its JSON type"
        );
    }

    #[test]
    fn repeated_headers_and_query_values_join_with_semicolons() {
        let mut headers = HeaderMap::new();
        headers.append("x-user", HeaderValue::from_static("a"));
        headers.append("x-user", HeaderValue::from_static("b"));
        let resolved = resolve(
            &spec(BodyMode::None),
            route("r"),
            &headers,
            Some("limit=1&limit=2%203"),
            b"",
        )
        .expect("ok");
        assert_eq!(resolved.params["user"], json!("a;b"));
        assert_eq!(resolved.params["size"], json!("1;2 3"));
    }

    #[test]
    fn unmapped_query_parameters_are_ignored() {
        let resolved = resolve(
            &spec(BodyMode::None),
            route("r"),
            &HeaderMap::new(),
            Some("other=1"),
            b"",
        )
        .expect("ok");
        assert_eq!(resolved.params.len(), 1);
    }

    #[test]
    fn structured_body_must_be_an_object() {
        for body in [&b"[1]"[..], b"\"x\"", b"{", b"nul"] {
            let err = resolve(
                &spec(BodyMode::Structured),
                route("r"),
                &HeaderMap::new(),
                None,
                body,
            )
            .expect_err("bad body");
            assert_eq!(err.code(), "INVALID_BODY");
        }
        let empty = resolve(
            &spec(BodyMode::Structured),
            route("r"),
            &HeaderMap::new(),
            None,
            b" \n",
        )
        .expect("empty body is no body");
        assert_eq!(empty.params.len(), 1);
    }

    #[test]
    fn raw_body_binds_text_and_keeps_bytes() {
        let raw = BodyMode::Raw {
            parameter: "payload".into(),
        };
        let resolved = resolve(
            &spec(raw.clone()),
            route("r"),
            &HeaderMap::new(),
            None,
            b"hello",
        )
        .expect("ok");
        assert_eq!(resolved.params["payload"], json!("hello"));
        assert_eq!(resolved.raw_body.as_deref(), Some(&b"hello"[..]));
        let binary = resolve(
            &spec(raw),
            route("r"),
            &HeaderMap::new(),
            None,
            &[0xff, 0xfe],
        )
        .expect("ok");
        assert!(!binary.params.contains_key("payload"));
        assert_eq!(binary.raw_body.as_deref(), Some(&[0xff, 0xfe][..]));
    }

    #[test]
    fn non_utf8_header_names_the_parameter() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-user",
            HeaderValue::from_bytes(&[0xff]).expect("opaque bytes are allowed"),
        );
        let err =
            resolve(&spec(BodyMode::None), route("r"), &headers, None, b"").expect_err("not utf-8");
        assert!(err.to_string().contains("parameter 'user'"), "{err}");
    }

    #[test]
    fn last_event_id_prefers_the_header_over_the_query() {
        let mut headers = HeaderMap::new();
        let query = Some("lastEventId=7");
        let from_query =
            resolve(&spec(BodyMode::None), route("r"), &headers, query, b"").expect("ok");
        assert_eq!(from_query.last_event_id.as_deref(), Some("7"));
        headers.insert("last-event-id", HeaderValue::from_static("9"));
        let from_header =
            resolve(&spec(BodyMode::None), route("r"), &headers, query, b"").expect("ok");
        assert_eq!(from_header.last_event_id.as_deref(), Some("9"));
    }

    #[test]
    fn a_utf8_header_value_is_text_not_an_error() {
        let mut headers = HeaderMap::new();
        let name = HeaderValue::from_bytes("José".as_bytes()).expect("obs-text is allowed");
        headers.insert("x-user", name);
        let resolved = resolve(&spec(BodyMode::None), route("r"), &headers, None, b"").expect("ok");
        assert_eq!(resolved.params["user"], json!("José"));
    }

    fn last_event_id_of(header: Option<&[u8]>, query: &str) -> Result<Option<String>, ParamError> {
        let mut headers = HeaderMap::new();
        if let Some(header) = header {
            let value = HeaderValue::from_bytes(header).expect("a valid header value");
            headers.insert("last-event-id", value);
        }
        let query: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        last_event_id(&headers, &query)
    }

    #[test]
    fn last_event_id_is_handed_on_exactly_as_sent() {
        for sent in [
            "",
            "0",
            "-1",
            "+5",
            "007",
            "18446744073709551616",
            "hb-42",
            " 7 ",
            "a,b;c",
            "café",
        ] {
            let got = last_event_id_of(Some(sent.as_bytes()), "lastEventId=1");
            assert_eq!(got, Ok(Some(sent.to_owned())), "{sent:?}");
        }
    }

    #[test]
    fn last_event_id_that_is_not_utf8_is_a_400() {
        for sent in [&b"\xff"[..], b"\xc3", b"12\xed\xa0\x80"] {
            let err = last_event_id_of(Some(sent), "lastEventId=1").expect_err("not UTF-8");
            assert_eq!(err, ParamError::LastEventIdNotUtf8);
            assert_eq!(err.code(), "INVALID_LAST_EVENT_ID");
        }
    }

    #[test]
    fn last_event_id_comes_from_the_first_query_parameter_without_a_header() {
        for (query, expected) in [
            ("", None),
            ("lastEventId", Some("")),
            ("lastEventId=", Some("")),
            ("lastEventId=%00", Some("\0")),
            ("lastEventId=1&lastEventId=2", Some("1")),
            ("lastEventId=a%20b+c", Some("a b c")),
            ("lastEventId=%FF", Some("\u{fffd}")),
            ("lasteventid=1&last-event-id=2&LastEventId=3", None),
        ] {
            let got = last_event_id_of(None, query);
            assert_eq!(got, Ok(expected.map(str::to_owned)), "{query:?}");
        }
    }

    #[test]
    fn the_first_of_several_last_event_id_headers_counts() {
        let mut headers = HeaderMap::new();
        headers.append("last-event-id", HeaderValue::from_static("3"));
        headers.append("last-event-id", HeaderValue::from_static("4"));
        assert_eq!(last_event_id(&headers, &[]), Ok(Some("3".to_owned())));
    }

    fn structured(body: &[u8]) -> Result<Resolved, ParamError> {
        resolve(
            &spec(BodyMode::Structured),
            route("r"),
            &HeaderMap::new(),
            None,
            body,
        )
    }

    #[test]
    fn a_body_that_is_not_an_object_says_what_it_is() {
        for (body, kind) in [
            (&b"[]"[..], "got an array"),
            (b"\"x\"", "got a string"),
            (b"-1.5e3", "got a number"),
            (b"true", "got a boolean"),
            (b"null", "got null"),
        ] {
            let err = structured(body).expect_err("not an object");
            assert_eq!(err, ParamError::BodyNotJsonObject(kind.into()));
        }
    }

    #[test]
    fn a_malformed_body_is_invalid_body() {
        let deep = |depth: usize| format!("{{\"a\":{}1{}}}", "[".repeat(depth), "]".repeat(depth));
        for body in [
            &b"{"[..],
            b"{\"a\":}",
            b"{\"a\":1,}",
            b"{'a':1}",
            b"{\"a\":1} {}",
            b"{\"a\":1} x",
            b"\xef\xbb\xbf{}",
            b"{\"a\":\"\xff\"}",
            b"{\"a\":\"\\ud800\"}",
            b"{\"a\":\"\0\"}",
            b"{\"a\":1e400}",
            b"{\"a\":NaN}",
            deep(200).as_bytes(),
        ] {
            let err = structured(body).expect_err("malformed");
            assert_eq!(
                err.code(),
                "INVALID_BODY",
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // The recursion limit sits well above what a request needs.
        let nested = structured(deep(100).as_bytes()).expect("100 levels are fine");
        assert!(nested.params["a"].is_array());
    }

    #[test]
    fn a_repeated_body_field_keeps_its_last_value() {
        let resolved = structured(br#"{"a":1,"b":2,"a":{"x":3}}"#).expect("ok");
        assert_eq!(resolved.params["a"], json!({"x": 3}));
        let names: Vec<&str> = resolved.params.keys().map(String::as_str).collect();
        assert_eq!(names, ["id", "a", "b"]);
    }

    #[test]
    fn body_numbers_cross_to_the_component_as_json_text_exactly() {
        // The component parses `value.to_string()` again; without correctly rounded float
        // parsing the second parse could land one bit off.
        let resolved = structured(b"{\"x\":184467440010618446744001067593865}").expect("ok");
        let x = &resolved.params["x"];
        assert_eq!(x.as_f64(), Some(1.8446744001061846e32));
        assert_eq!(
            serde_json::from_str::<Value>(&x.to_string()).ok().as_ref(),
            Some(x)
        );
    }

    #[test]
    fn body_fields_keep_their_json_types_and_unicode() {
        let resolved = structured(
            r#"{"n":-0.5,"big":18446744073709551615,"s":"\u00e9\n","e":{},"z":null}"#.as_bytes(),
        )
        .expect("ok");
        assert_eq!(resolved.params["n"], json!(-0.5));
        assert_eq!(resolved.params["big"], json!(u64::MAX));
        assert_eq!(resolved.params["s"], json!("é\n"));
        assert_eq!(resolved.params["e"], json!({}));
        assert_eq!(resolved.params["z"], Value::Null);
    }
}

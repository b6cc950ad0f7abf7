//! Resolve parameters (SPEC S2): route, then mapped headers, then mapped query
//! parameters, then the body; later sources override earlier ones.
//!
//! Route, header and query values become JSON strings; several values of one header or
//! query parameter are joined with `;`. A structured body's fields keep their JSON values.
//! A raw body is bound to its parameter as a JSON string when it is UTF-8 (and is always
//! available to the component as bytes).

use http::HeaderMap;
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
            let value = value.to_str().map_err(|_| ParamError::HeaderNotUtf8 {
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
    let last_event_id = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| ParamError::LastEventIdNotUtf8)?
                .to_owned(),
        ),
        None => query
            .into_iter()
            .find(|(name, _)| name == "lastEventId")
            .map(|(_, value)| value),
    };
    Ok(Resolved {
        params,
        last_event_id,
        raw_body,
    })
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
}

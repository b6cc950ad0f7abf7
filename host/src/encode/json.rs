//! JSON mode (SPEC S3): the first value a component yields becomes the response.
//!
//! - `{"statusCode": n, "headers"?: {…}, "content"?: …}` is a raw response: any status,
//!   header values may be lists (one header line each), string content is sent as is
//!   (`text/plain` unless a content type is given), other content as JSON.
//! - `{"error": {…}}` maps like a pre-stream error.
//! - Anything else is a 200 `application/json` body.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::Value;

use super::error;

/// A response, ready to send.
#[derive(Debug, PartialEq)]
pub struct JsonResponse {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

impl JsonResponse {
    /// An error response with the documented body.
    pub fn error(code: &str, message: &str, status: Option<u16>, details: Option<Value>) -> Self {
        Self {
            status: error::status_for(code, status),
            headers: vec![(CONTENT_TYPE, APPLICATION_JSON)],
            body: error::body(code, message, details),
        }
    }

    /// The response for the first value a component yielded.
    pub fn from_value(value: Value) -> Self {
        if let Some(response) = raw_response(&value) {
            return response;
        }
        if let Some(response) = error_record(&value) {
            return response;
        }
        Self {
            status: StatusCode::OK,
            headers: vec![(CONTENT_TYPE, APPLICATION_JSON)],
            body: Bytes::from(value.to_string()),
        }
    }
}

/// `{"error": {"code", "message", "status"?, "details"?}}` with nothing else.
pub fn error_record(value: &Value) -> Option<JsonResponse> {
    let record = value.as_object().filter(|record| record.len() == 1)?;
    let error = record.get("error")?.as_object()?;
    let code = error.get("code").and_then(Value::as_str).unwrap_or("ERROR");
    let message = error.get("message").and_then(Value::as_str).unwrap_or("");
    let status = error
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|status| u16::try_from(status).ok());
    Some(JsonResponse::error(
        code,
        message,
        status,
        error.get("details").cloned(),
    ))
}

fn raw_response(value: &Value) -> Option<JsonResponse> {
    let record = value.as_object()?;
    let status = record.get("statusCode")?.as_u64()?;
    let Some(status) = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
    else {
        return Some(invalid_response(format!(
            "statusCode {status} is not an HTTP status"
        )));
    };
    let mut headers = Vec::new();
    if let Some(given) = record.get("headers") {
        let Some(given) = given.as_object() else {
            return Some(invalid_response("headers must be an object".into()));
        };
        for (name, values) in given {
            let Ok(name) = HeaderName::try_from(name.as_str()) else {
                return Some(invalid_response(format!("'{name}' is not a header name")));
            };
            let values = match values {
                Value::Array(values) => values.iter().collect(),
                value => vec![value],
            };
            for value in values {
                let text = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                let Ok(value) = HeaderValue::try_from(text) else {
                    return Some(invalid_response(format!(
                        "header '{name}' has a value that is not allowed"
                    )));
                };
                headers.push((name.clone(), value));
            }
        }
    }
    let has_content_type = headers.iter().any(|(name, _)| name == CONTENT_TYPE);
    let body = match record.get("content") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(text)) => {
            if !has_content_type {
                headers.push((
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ));
            }
            Bytes::from(text.clone())
        }
        Some(other) => {
            if !has_content_type {
                headers.push((CONTENT_TYPE, APPLICATION_JSON));
            }
            Bytes::from(other.to_string())
        }
    };
    Some(JsonResponse {
        status,
        headers,
        body,
    })
}

fn invalid_response(reason: String) -> JsonResponse {
    // The component is at fault, not the client: a 500 despite the INVALID_ prefix.
    let message = format!("the component returned an invalid raw response: {reason}");
    JsonResponse::error("INVALID_RESPONSE", &message, Some(500), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn header<'a>(response: &'a JsonResponse, name: &str) -> Vec<&'a str> {
        response
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.to_str().expect("ascii"))
            .collect()
    }

    #[test]
    fn a_plain_value_is_a_200_json_body() {
        let response = JsonResponse::from_value(json!({"event": "init", "data": {"a": 1}}));
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(header(&response, "content-type"), ["application/json"]);
        assert_eq!(response.body, r#"{"event":"init","data":{"a":1}}"#);
        assert_eq!(
            JsonResponse::from_value(json!("Hello world")).body,
            r#""Hello world""#
        );
    }

    #[test]
    fn an_error_record_maps_like_a_pre_stream_error() {
        let response = JsonResponse::from_value(
            json!({"error": {"code": "NOT_FOUND", "message": "SKU not found"}}),
        );
        assert_eq!(response.status, StatusCode::NOT_FOUND);
        assert_eq!(
            response.body,
            r#"{"error":{"code":"NOT_FOUND","message":"SKU not found"}}"#
        );
        let with_status = JsonResponse::from_value(
            json!({"error": {"code": "X", "message": "m", "status": 418}}),
        );
        assert_eq!(with_status.status.as_u16(), 418);
    }

    #[test]
    fn a_record_with_more_than_error_is_not_an_error() {
        let response = JsonResponse::from_value(json!({"error": {"code": "X"}, "other": 1}));
        assert_eq!(response.status, StatusCode::OK);
    }

    #[test]
    fn a_raw_response_sets_status_headers_and_content() {
        let response = JsonResponse::from_value(json!({
            "statusCode": 201,
            "headers": {"x-a": ["1", "2"], "location": "/x"},
            "content": {"ok": true},
        }));
        assert_eq!(response.status, StatusCode::CREATED);
        assert_eq!(header(&response, "x-a"), ["1", "2"]);
        assert_eq!(header(&response, "location"), ["/x"]);
        assert_eq!(header(&response, "content-type"), ["application/json"]);
        assert_eq!(response.body, r#"{"ok":true}"#);
    }

    #[test]
    fn raw_text_content_is_sent_as_is() {
        let response = JsonResponse::from_value(json!({"statusCode": 200, "content": "plain"}));
        assert_eq!(
            header(&response, "content-type"),
            ["text/plain; charset=utf-8"]
        );
        assert_eq!(response.body, "plain");
        let no_content = JsonResponse::from_value(json!({"statusCode": 304}));
        assert_eq!(no_content.status, StatusCode::NOT_MODIFIED);
        assert!(no_content.body.is_empty());
    }

    #[test]
    fn an_invalid_raw_response_is_a_500_saying_why() {
        for bad in [
            json!({"statusCode": 99}),
            json!({"statusCode": 200, "headers": "x"}),
            json!({"statusCode": 200, "headers": {"bad name": "x"}}),
            json!({"statusCode": 200, "headers": {"x": "a\nb"}}),
        ] {
            let response = JsonResponse::from_value(bad.clone());
            assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR, "{bad}");
            assert!(String::from_utf8_lossy(&response.body).contains("INVALID_RESPONSE"));
        }
    }
}

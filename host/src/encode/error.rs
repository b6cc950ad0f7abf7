//! Error responses (SPEC S3): `{"error":{"code":…,"message":…}}` with the status taken
//! from the explicit status when given, else from the code.

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Map, Value, json};

/// The status for an error `code`, unless `explicit` is a valid status.
pub fn status_for(code: &str, explicit: Option<u16>) -> StatusCode {
    if let Some(status) = explicit.and_then(|status| StatusCode::from_u16(status).ok()) {
        return status;
    }
    match code {
        "BAD_REQUEST" => StatusCode::BAD_REQUEST,
        code if code.starts_with("INVALID_") || code.starts_with("MISSING_") => {
            StatusCode::BAD_REQUEST
        }
        "UNAUTHORIZED" => StatusCode::UNAUTHORIZED,
        "FORBIDDEN" => StatusCode::FORBIDDEN,
        "NOT_FOUND" => StatusCode::NOT_FOUND,
        "CONFLICT" | "ALREADY_EXISTS" => StatusCode::CONFLICT,
        "TOO_MANY_REQUESTS" => StatusCode::TOO_MANY_REQUESTS,
        "UNAVAILABLE" => StatusCode::SERVICE_UNAVAILABLE,
        "TIMEOUT" => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The JSON body of an error response. `details`, when present, is kept under `details`.
pub fn body(code: &str, message: &str, details: Option<Value>) -> Bytes {
    let mut error = Map::new();
    error.insert("code".into(), json!(code));
    error.insert("message".into(), json!(message));
    if let Some(details) = details {
        error.insert("details".into(), details);
    }
    Bytes::from(json!({ "error": error }).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_the_status_table() {
        for (code, status) in [
            ("BAD_REQUEST", 400),
            ("INVALID_PARAMETER", 400),
            ("MISSING_PARAMETER", 400),
            ("UNAUTHORIZED", 401),
            ("FORBIDDEN", 403),
            ("NOT_FOUND", 404),
            ("CONFLICT", 409),
            ("ALREADY_EXISTS", 409),
            ("TOO_MANY_REQUESTS", 429),
            ("UNAVAILABLE", 503),
            ("TIMEOUT", 504),
            ("QUERY_ERROR", 500),
            ("", 500),
            ("not_found", 500),
        ] {
            assert_eq!(status_for(code, None).as_u16(), status, "{code}");
        }
    }

    #[test]
    fn an_explicit_status_wins_unless_it_is_not_a_status() {
        assert_eq!(status_for("NOT_FOUND", Some(410)), StatusCode::GONE);
        assert_eq!(status_for("NOT_FOUND", Some(1000)), StatusCode::NOT_FOUND);
    }

    #[test]
    fn body_has_the_documented_shape() {
        assert_eq!(
            body("NOT_FOUND", "SKU not found", None),
            r#"{"error":{"code":"NOT_FOUND","message":"SKU not found"}}"#
        );
        assert_eq!(
            body("INVALID_PARAMETER", "bad", Some(json!({"parameter": "id"}))),
            r#"{"error":{"code":"INVALID_PARAMETER","message":"bad","details":{"parameter":"id"}}}"#
        );
    }
}

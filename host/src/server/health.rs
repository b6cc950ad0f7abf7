//! `GET /healthz` and `GET /readyz`, on the admin listener, and on the public one too when
//! `publicHealth: true` (there without the admin token, for load balancers and probes).
//!
//! - `/healthz` → `200 {"status":"ok"}` while the process runs: it answers, so it is alive.
//! - `/readyz` → `200 {"status":"ready","checks":{"store":"ok","bus":"ok"}}` when this node
//!   should get traffic. Else `503` with `Retry-After` and the same body with
//!   `"status":"not ready"`, `"notReady": [names]` and each failing check's reason in
//!   `checks`: `store` (a trivial query did not answer), `bus` (the bus cannot publish right
//!   now, e.g. NATS is reconnecting), `draining` (the host is shutting down). The deployment
//!   is loaded before the listeners are bound, so a node that answers has one.

use std::time::Duration;

use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode};
use serde_json::{Map, Value, json};

use super::App;
use super::respond::{self, Body};

/// How long the store may take to answer its readiness query.
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Seconds a prober is told to wait before asking again.
const RETRY_AFTER_SECONDS: &str = "5";

pub fn healthz() -> Response<Body> {
    json(StatusCode::OK, &json!({ "status": "ok" }))
}

pub async fn readyz(app: &App) -> Response<Body> {
    let store = match tokio::time::timeout(STORE_CHECK_TIMEOUT, app.backends.store.ready()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!(
            "no answer within {} s",
            STORE_CHECK_TIMEOUT.as_secs()
        )),
    };
    let bus = app.backends.bus.ready().map_err(|err| err.to_string());
    let draining = if *app.draining.borrow() {
        Err("the host is draining".to_owned())
    } else {
        Ok(())
    };
    let (status, body) = readiness(&[("store", store), ("bus", bus), ("draining", draining)]);
    let mut response = json(status, &body);
    if status != StatusCode::OK {
        response.headers_mut().insert(
            RETRY_AFTER,
            http::HeaderValue::from_static(RETRY_AFTER_SECONDS),
        );
    }
    response
}

/// The public listener's health endpoints, when `publicHealth` is on; `None` for any other
/// request, which the public router then handles.
pub async fn public(app: &App, request: &Request<hyper::body::Incoming>) -> Option<Response<Body>> {
    if !app.config.public_health || request.method() != Method::GET {
        return None;
    }
    match request.uri().path() {
        "/healthz" => Some(healthz()),
        "/readyz" => Some(readyz(app).await),
        _ => None,
    }
}

/// The status and body for the outcome of each named check. `draining` is a state, not a
/// backend: it is listed in `checks` only when it fails.
fn readiness(checks: &[(&str, Result<(), String>)]) -> (StatusCode, Value) {
    let mut reported = Map::new();
    let mut not_ready = Vec::new();
    for (name, outcome) in checks {
        match outcome {
            Ok(()) if *name == "draining" => {}
            Ok(()) => {
                reported.insert((*name).to_owned(), json!("ok"));
            }
            Err(reason) => {
                reported.insert((*name).to_owned(), json!(reason));
                not_ready.push(*name);
            }
        }
    }
    if not_ready.is_empty() {
        let body = json!({ "status": "ready", "checks": reported });
        (StatusCode::OK, body)
    } else {
        let body = json!({ "status": "not ready", "notReady": not_ready, "checks": reported });
        (StatusCode::SERVICE_UNAVAILABLE, body)
    }
}

fn json(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(respond::full(body.to_string().into()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Result<(), String> {
        Ok(())
    }

    fn down(reason: &str) -> Result<(), String> {
        Err(reason.to_owned())
    }

    #[test]
    fn every_check_passing_is_ready() {
        let (status, body) = readiness(&[("store", ok()), ("bus", ok()), ("draining", ok())]);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({"status": "ready", "checks": {"store": "ok", "bus": "ok"}})
        );
    }

    #[test]
    fn each_failing_check_is_named_with_its_reason() {
        let (status, body) = readiness(&[
            ("store", ok()),
            ("bus", down("NATS at nats://x: disconnected")),
            ("draining", ok()),
        ]);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            json!({
                "status": "not ready",
                "notReady": ["bus"],
                "checks": {"store": "ok", "bus": "NATS at nats://x: disconnected"}
            })
        );
        let (status, body) = readiness(&[
            ("store", down("PostgreSQL: connection refused")),
            ("bus", down("b")),
            ("draining", down("the host is draining")),
        ]);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["notReady"], json!(["store", "bus", "draining"]));
        assert_eq!(body["checks"]["draining"], "the host is draining");
    }

    #[test]
    fn draining_alone_makes_a_node_not_ready() {
        let (status, body) = readiness(&[
            ("store", ok()),
            ("bus", ok()),
            ("draining", down("the host is draining")),
        ]);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["notReady"], json!(["draining"]));
    }
}

//! Admin endpoints under `/_sluice/`, answered only to loopback clients:
//!
//! - `GET /_sluice/metrics` → `{"liveInstances": n, "busSubscribers": n, "ingresses": [...]}`
//! - `POST /_sluice/publish` with `{"topic", "event", "data"}` → `202 {"id": <bus id>}`;
//!   this is what `sluice publish` calls.

use std::net::SocketAddr;

use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{Value, json};

use super::App;
use super::respond::{self, Body};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Publish {
    topic: String,
    event: String,
    #[serde(default)]
    data: Value,
}

pub async fn handle(app: &App, request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    if !peer.ip().is_loopback() {
        return respond::error_response(
            "FORBIDDEN",
            "admin endpoints answer loopback clients only",
        );
    }
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/_sluice/metrics") => json_response(
            StatusCode::OK,
            json!({
                "liveInstances": app.runtime.live_instances(),
                "busSubscribers": app.backends.bus.subscriber_count(),
                "ingresses": app.deployment.ingress_ids,
            }),
        ),
        (&Method::POST, "/_sluice/publish") => publish(app, request).await,
        _ => respond::error_response("NOT_FOUND", "no such admin endpoint"),
    }
}

async fn publish(app: &App, request: Request<Incoming>) -> Response<Body> {
    let Ok(body) = Limited::new(request.into_body(), app.config.max_body_bytes)
        .collect()
        .await
    else {
        return respond::error_response("BAD_REQUEST", "the request body could not be read");
    };
    let publish: Publish = match serde_json::from_slice(&body.to_bytes()) {
        Ok(publish) => publish,
        Err(err) => {
            return respond::error_response(
                "INVALID_BODY",
                &format!("expected {{topic, event, data}}: {err}"),
            );
        }
    };
    match app
        .backends
        .bus
        .publish(&publish.topic, &publish.event, &publish.data)
    {
        Ok(event) => json_response(StatusCode::ACCEPTED, json!({ "id": event.id })),
        Err(err) => respond::error_response("INVALID_EVENT", &err.to_string()),
    }
}

fn json_response(status: StatusCode, value: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(respond::full(value.to_string().into()))
        .unwrap_or_default()
}

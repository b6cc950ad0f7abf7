//! Admin endpoints under `/_sluice/`, answered only to loopback clients:
//!
//! - `GET /metrics` → every metric in the OpenMetrics text format (README, Metrics).
//! - `GET /_sluice/metrics` → `{"liveInstances": n, "instanceCap": n, "capacityRefusals": n,
//!   "busSubscribers": n, "ingresses": [...]}`: `instanceCap` is how many instances are
//!   admitted at once, `capacityRefusals` how many requests got a 503 for capacity.
//! - `POST /_sluice/publish` with `{"topic", "event", "data"}` → `202 {"id": <bus id>}`;
//!   this is what `sluice publish` calls.
//! - `POST /_sluice/deploy` reloads the deploy directory: see `super::deploy`.
//! - `POST /_sluice/actors/<type>/<id>[?preview=true]` with a message `{"type", "alias"?,
//!   "body"?}` or a list of them → the `messageActor` response; `sluice actor send` calls it.

use std::net::SocketAddr;

use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{Value, json};

use super::App;
use super::respond::{self, Body};
use crate::backends::actors::ActorMessage;

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
                "instanceCap": app.runtime.instance_cap(),
                "capacityRefusals": app.runtime.refusals(),
                "busSubscribers": app.backends.bus.subscriber_count(),
                "ingresses": app.deployer.current().ingress_ids(),
            }),
        ),
        (&Method::GET, "/metrics") => Response::builder()
            .header(http::header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)
            .body(respond::full(app.metrics.encode().into()))
            .unwrap_or_default(),
        (&Method::POST, "/_sluice/publish") => publish(app, request).await,
        (&Method::POST, "/_sluice/deploy") => super::deploy::handle(app, request).await,
        (&Method::POST, path) if path.starts_with("/_sluice/actors/") => {
            send_to_actor(app, request).await
        }
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
        .publish(&publish.topic, &publish.event, &publish.data, None)
        .await
    {
        Ok(published) => json_response(StatusCode::ACCEPTED, json!({ "id": published.id })),
        Err(err) if err.is_unavailable() => {
            tracing::warn!(%err, "admin publish failed");
            respond::error_response("UNAVAILABLE", &err.to_string())
        }
        Err(err) => respond::error_response("INVALID_EVENT", &err.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageBody {
    #[serde(rename = "type")]
    message_type: String,
    alias: Option<String>,
    body: Option<Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Messages {
    One(MessageBody),
    Many(Vec<MessageBody>),
}

async fn send_to_actor(app: &App, request: Request<Incoming>) -> Response<Body> {
    let path = request
        .uri()
        .path()
        .trim_start_matches("/_sluice/actors/")
        .to_owned();
    let preview = request.uri().query().is_some_and(|query| {
        form_urlencoded::parse(query.as_bytes())
            .any(|(key, value)| key == "preview" && value == "true")
    });
    let Some((actor_type, actor_id)) = path
        .split_once('/')
        .filter(|(t, id)| !t.is_empty() && !id.is_empty())
    else {
        return respond::error_response("NOT_FOUND", "expected /_sluice/actors/<type>/<id>");
    };
    let Ok(body) = Limited::new(request.into_body(), app.config.max_body_bytes)
        .collect()
        .await
    else {
        return respond::error_response("BAD_REQUEST", "the request body could not be read");
    };
    let messages = match serde_json::from_slice::<Messages>(&body.to_bytes()) {
        Ok(Messages::One(message)) => vec![message],
        Ok(Messages::Many(messages)) => messages,
        Err(err) => {
            let message =
                format!("expected a message {{type, alias?, body?}} or a list of them: {err}");
            return respond::error_response("INVALID_BODY", &message);
        }
    };
    let messages = messages
        .into_iter()
        .map(|message| ActorMessage {
            message_type: message.message_type,
            alias: message.alias,
            body: message.body,
        })
        .collect();
    match app
        .backends
        .actors
        .message(actor_type, actor_id, messages, preview)
        .await
    {
        Ok(response) => json_response(StatusCode::OK, response),
        Err(err) => {
            let code = match err {
                crate::backends::actors::ActorError::UnknownType(_)
                | crate::backends::actors::ActorError::NotFound(_) => "NOT_FOUND",
                crate::backends::actors::ActorError::Failed(_) => "ACTOR_FAILED",
                crate::backends::actors::ActorError::Unavailable(_) => "UNAVAILABLE",
            };
            respond::error_response(code, &err.to_string())
        }
    }
}

fn json_response(status: StatusCode, value: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(respond::full(value.to_string().into()))
        .unwrap_or_default()
}

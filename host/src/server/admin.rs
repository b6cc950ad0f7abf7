//! The admin endpoints, on their own listener (`adminListen`, default `127.0.0.1:9090`); the
//! public listener answers none of them. The boundary is the address that listener is bound
//! to, plus the admin token when `adminTokenFile` is set: then every request here needs
//! `Authorization: Bearer <token>`, else 401 with `WWW-Authenticate`.
//!
//! - `GET /healthz` → `200 {"status":"ok"}` while the process runs.
//! - `GET /readyz` → 200 when the store and the bus answer, else 503: see [`super::health`].
//! - `GET /metrics` → every metric in the OpenMetrics text format (README, Metrics).
//! - `GET /_sluice/metrics` → `{"liveInstances": n, "instanceCap": n, "capacityRefusals": n,
//!   "busSubscribers": n, "ingresses": [...]}`: `instanceCap` is how many instances are
//!   admitted at once, `capacityRefusals` how many requests got a 503 for capacity.
//! - `POST /_sluice/publish` with `{"topic", "event", "data"}` → `202 {"id": <bus id>}`;
//!   this is what `sluice publish` calls.
//! - `POST /_sluice/deploy` reloads the deploy directory: see `super::deploy`.
//! - `POST /_sluice/actors/<type>/<id>[?preview=true]` with a message `{"type", "alias"?,
//!   "body"?}` or a list of them → the `messageActor` response; `sluice actor send` calls it.

use std::path::Path;

use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::respond::{self, Body};
use super::{App, health};
use crate::backends::actors::ActorMessage;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Publish {
    topic: String,
    event: String,
    #[serde(default)]
    data: Value,
}

/// Every request on the admin listener. One arm per endpoint.
pub async fn handle(app: &App, request: Request<Incoming>) -> Response<Body> {
    if let Some(token) = &app.admin_token
        && let Err(refusal) = token.check(request.headers())
    {
        return refusal.response();
    }
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/healthz") => health::healthz(),
        (&Method::GET, "/readyz") => health::readyz(app).await,
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

/// The admin token (`adminTokenFile`). Only its SHA-256 is kept; a presented token is hashed
/// too and the two digests compared in constant time, so neither the token's bytes nor its
/// length show in response times.
pub struct AdminToken {
    digest: [u8; 32],
}

/// Why an admin request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Bearer …` header.
    Missing,
    /// A bearer token that is not the admin token.
    Wrong,
}

impl AdminToken {
    /// The token in `file`, its content trimmed; an empty file is refused (it would make
    /// every admin request need an empty token, which is no protection at all).
    pub fn load(file: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(file).map_err(|err| err.to_string())?;
        Self::new(&text)
    }

    pub fn new(text: &str) -> Result<Self, String> {
        let token = text.trim();
        if token.is_empty() {
            return Err("the admin token file is empty".into());
        }
        Ok(Self {
            digest: crate::auth::sha256(token),
        })
    }

    /// Whether `headers` carry this token as `Authorization: Bearer <token>`.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let presented = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(Refusal::Missing)?;
        let matches: bool = crate::auth::sha256(presented).ct_eq(&self.digest).into();
        if matches { Ok(()) } else { Err(Refusal::Wrong) }
    }
}

impl Refusal {
    fn response(self) -> Response<Body> {
        let (message, challenge) = match self {
            Refusal::Missing => (
                "admin endpoints need Authorization: Bearer <admin token>",
                r#"Bearer realm="sluice-admin""#,
            ),
            Refusal::Wrong => (
                "the admin token is wrong",
                r#"Bearer realm="sluice-admin", error="invalid_token""#,
            ),
        };
        let mut response = respond::error_response("UNAUTHORIZED", message);
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        response
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
        Ok(response) => json_text_response(StatusCode::OK, response),
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
    json_text_response(status, value.to_string())
}

fn json_text_response(status: StatusCode, text: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(respond::full(text.into()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert(AUTHORIZATION, HeaderValue::from_str(value).expect("header"));
        }
        headers
    }

    #[test]
    fn the_token_file_is_trimmed_and_an_empty_one_refused() {
        let token = AdminToken::new("  s3cret-admin\n").expect("token");
        assert_eq!(token.check(&headers(Some("Bearer s3cret-admin"))), Ok(()));
        for empty in ["", "\n", "  \t\n "] {
            let err = AdminToken::new(empty).err().expect("refused");
            assert_eq!(err, "the admin token file is empty");
        }
    }

    #[test]
    fn a_missing_or_unreadable_token_file_is_refused_with_the_reason() {
        let err = AdminToken::load(Path::new("/nonexistent/admin.token"))
            .err()
            .expect("refused");
        assert!(err.contains("No such file"), "{err}");
    }

    #[test]
    fn only_the_right_bearer_token_is_admitted() {
        let token = AdminToken::new("s3cret-admin").expect("token");
        for (authorization, expected) in [
            (Some("Bearer s3cret-admin"), Ok(())),
            (Some("bearer s3cret-admin"), Ok(())),
            (Some("BEARER  s3cret-admin "), Ok(())),
            (None, Err(Refusal::Missing)),
            (Some(""), Err(Refusal::Missing)),
            (Some("s3cret-admin"), Err(Refusal::Missing)),
            (Some("Basic s3cret-admin"), Err(Refusal::Missing)),
            (Some("Bearer"), Err(Refusal::Missing)),
            (Some("Bearer "), Err(Refusal::Missing)),
            (Some("Bearer s3cret-admi"), Err(Refusal::Wrong)),
            (Some("Bearer s3cret-admin2"), Err(Refusal::Wrong)),
            (Some("Bearer S3CRET-ADMIN"), Err(Refusal::Wrong)),
        ] {
            assert_eq!(
                token.check(&headers(authorization)),
                expected,
                "{authorization:?}"
            );
        }
    }

    #[test]
    fn a_refusal_is_a_401_with_a_bearer_challenge() {
        for (refusal, challenge) in [
            (Refusal::Missing, r#"Bearer realm="sluice-admin""#),
            (
                Refusal::Wrong,
                r#"Bearer realm="sluice-admin", error="invalid_token""#,
            ),
        ] {
            let response = refusal.response();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(response.headers()[WWW_AUTHENTICATE], challenge);
        }
    }
}

//! Route → CORS → auth → negotiate → resolve parameters → respond, for `/ingress/<route>`.

use http::header::{ACCEPT, ALLOW, ORIGIN, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::App;
use super::respond::{self, Body};
use crate::auth::{Caller, Rejection, ingress_permission};
use crate::cors;
use crate::deploy::{BodyMode, Deployment, Ingress};
use crate::metrics::{AuthRefusal, StreamEnd};
use crate::negotiate::{Mode, negotiate};
use crate::params::{self, Resolved};
use crate::route::RouteMatch;
use crate::runtime::bindings::types;

/// Which ingress answered: set on the response by the handler that found it, taken off
/// again here to count the request.
#[derive(Clone)]
struct AnsweredBy(String);

pub async fn handle(
    app: &App,
    request: Request<Incoming>,
    route: &str,
    stall: std::sync::Arc<super::stall::Stall>,
) -> Response<Body> {
    let mode = mode_of(request.headers());
    let mut response = dispatch(app, request, route, stall).await;
    let answered_by = response.extensions_mut().remove::<AnsweredBy>();
    app.metrics.count_request(
        answered_by.as_ref().map(|by| by.0.as_str()),
        mode,
        response.status(),
    );
    response
}

/// The mode `Accept` asks for.
fn mode_of(headers: &HeaderMap) -> Mode {
    negotiate(
        headers
            .get_all(ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok()),
    )
}

/// Tag `response` as answered by `ingress`.
fn answered_by(ingress: &Ingress, mut response: Response<Body>) -> Response<Body> {
    response
        .extensions_mut()
        .insert(AnsweredBy(ingress.spec.id.clone()));
    response
}

async fn dispatch(
    app: &App,
    request: Request<Incoming>,
    route: &str,
    stall: std::sync::Arc<super::stall::Stall>,
) -> Response<Body> {
    // Once per request: a redeploy while it runs does not change the version it serves.
    let deployment = app.deployer.current();
    // Only browsers send Origin; everyone else skips CORS entirely.
    let Some(origin) = request.headers().get(ORIGIN).cloned() else {
        return serve(app, &deployment, request, route, stall).await;
    };
    if cors::is_preflight(request.method(), request.headers()) {
        return preflight(app, &deployment, &request, route);
    }
    let ingress = match deployment.routes.lookup(request.method(), route) {
        RouteMatch::Found { value, .. } => Some(value.clone()),
        _ => None,
    };
    let mut response = serve(app, &deployment, request, route, stall).await;
    let own_origins = ingress
        .as_ref()
        .and_then(|ingress| ingress.spec.cors_origins.as_ref());
    app.cors
        .decorate(own_origins, &origin, response.headers_mut());
    response
}

/// Answer a CORS preflight for the ingress serving the requested method. It needs no token:
/// browsers never send credentials on a preflight.
fn preflight(
    app: &App,
    deployment: &Deployment,
    request: &Request<Incoming>,
    route: &str,
) -> Response<Body> {
    let Some(method) = cors::requested_method(request.headers()) else {
        return respond::error_response(
            "BAD_REQUEST",
            "Access-Control-Request-Method is not an HTTP method",
        );
    };
    let ingress = match deployment.routes.lookup(&method, route) {
        RouteMatch::Found { value, .. } => value.clone(),
        RouteMatch::MethodNotAllowed { allow } => return method_not_allowed(&allow),
        RouteMatch::NotFound | RouteMatch::InvalidParameter { .. } => {
            return respond::error_response("NOT_FOUND", "no such route");
        }
    };
    let mapped: Vec<HeaderName> = ingress
        .spec
        .headers
        .iter()
        .map(|(_, header)| header.clone())
        .collect();
    let response = match app.cors.preflight(
        ingress.spec.cors_origins.as_ref(),
        request.headers(),
        &method,
        &mapped,
    ) {
        Ok(headers) => {
            let mut response = Response::new(respond::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            *response.headers_mut() = headers;
            response
        }
        Err(refusal) => respond::error_response("FORBIDDEN", &refusal.to_string()),
    };
    answered_by(&ingress, response)
}

/// Route → auth → negotiate → parameters → respond.
async fn serve(
    app: &App,
    deployment: &Deployment,
    request: Request<Incoming>,
    route: &str,
    stall: std::sync::Arc<super::stall::Stall>,
) -> Response<Body> {
    let (ingress, route_params) = match deployment.routes.lookup(request.method(), route) {
        RouteMatch::Found { value, params } => (value.clone(), params),
        RouteMatch::NotFound => return respond::error_response("NOT_FOUND", "no such route"),
        RouteMatch::MethodNotAllowed { allow } => return method_not_allowed(&allow),
        RouteMatch::InvalidParameter { name } => {
            let message = format!("parameter '{name}' is not valid UTF-8 after percent-decoding");
            return respond::error_response("INVALID_PARAMETER", &message);
        }
    };
    let response = serve_ingress(app, &ingress, route_params, request, stall).await;
    answered_by(&ingress, response)
}

/// Auth → negotiate → parameters → respond, for the ingress the route matched.
async fn serve_ingress(
    app: &App,
    ingress: &Ingress,
    route_params: Vec<(String, String)>,
    request: Request<Incoming>,
    stall: std::sync::Arc<super::stall::Stall>,
) -> Response<Body> {
    let caller = match authorize(app, ingress, request.headers()) {
        Ok(caller) => caller,
        Err(TurnedAway::Unauthorized(rejection)) => {
            let reason = match rejection {
                Rejection::Missing => AuthRefusal::Missing,
                Rejection::InvalidToken(_) => AuthRefusal::Invalid,
            };
            app.metrics.count_auth_refusal(&ingress.spec.id, reason);
            return unauthorized(&rejection);
        }
        Err(TurnedAway::Forbidden { permission }) => {
            app.metrics
                .count_auth_refusal(&ingress.spec.id, AuthRefusal::InsufficientScope);
            return forbidden(&permission);
        }
    };
    let mode = mode_of(request.headers());
    let (parts, body) = request.into_parts();
    let body = if ingress.spec.body == BodyMode::None {
        bytes::Bytes::new()
    } else {
        match Limited::new(body, app.config.max_body_bytes)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(err) if err.is::<http_body_util::LengthLimitError>() => {
                let message = format!(
                    "the request body is larger than {} bytes",
                    app.config.max_body_bytes
                );
                let mut response = respond::error_response("PAYLOAD_TOO_LARGE", &message);
                *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                return response;
            }
            Err(_) => {
                return respond::error_response(
                    "BAD_REQUEST",
                    "the request body could not be read",
                );
            }
        }
    };
    let resolved = match params::resolve(
        &ingress.spec,
        route_params,
        &parts.headers,
        parts.uri.query(),
        &body,
    ) {
        Ok(resolved) => resolved,
        Err(err) => return respond::error_response(err.code(), &err.to_string()),
    };
    let Resolved {
        params,
        last_event_id,
        raw_body,
    } = resolved;
    let request = types::Request {
        ingress_id: ingress.spec.id.clone(),
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        params: params
            .into_iter()
            .map(|(name, value)| (name, value.to_string()))
            .collect(),
        mode: match mode {
            Mode::Sse => types::Mode::Sse,
            Mode::Json => types::Mode::Json,
        },
        last_event_id,
        body: raw_body,
        caller: caller.map(|caller| types::Caller {
            subject: caller.subject,
            permissions: caller.permissions,
        }),
    };
    let settings = respond::StreamSettings {
        keepalive: app.config.keepalive(),
        end: Box::pin(stream_end(app)),
        stall,
        json_timeout: app.config.json_timeout(),
        draining: Box::pin(draining(app)),
    };
    respond::run(&app.runtime, &app.metrics, ingress, request, mode, settings).await
}

/// Why a caller may not call an ingress: 401 or 403 (SPEC S6).
enum TurnedAway {
    Unauthorized(Rejection),
    Forbidden { permission: String },
}

/// The caller of `ingress`, if any, or why they are turned away.
fn authorize(
    app: &App,
    ingress: &Ingress,
    headers: &HeaderMap,
) -> Result<Option<Caller>, TurnedAway> {
    let spec = &ingress.spec;
    let caller = app.auth.authenticate(headers);
    if spec.is_public {
        // Everyone may call; a valid token still tells the component who is calling.
        return Ok(caller.ok().flatten());
    }
    match caller {
        Ok(Some(caller)) if caller.may_call(&spec.id) => Ok(Some(caller)),
        Ok(Some(caller)) => {
            let permission = ingress_permission(&spec.id);
            tracing::info!(ingress = %spec.id, subject = ?caller.subject, %permission, "caller turned away");
            Err(TurnedAway::Forbidden { permission })
        }
        Ok(None) => Err(TurnedAway::Unauthorized(Rejection::Missing)),
        Err(rejection) => Err(TurnedAway::Unauthorized(rejection)),
    }
}

/// 401 with the challenge of RFC 6750: no error code when no token came, `invalid_token`
/// and the reason when one did.
fn unauthorized(rejection: &Rejection) -> Response<Body> {
    let challenge = match rejection {
        Rejection::Missing => r#"Bearer realm="sluice""#.to_owned(),
        Rejection::InvalidToken(reason) => {
            format!(r#"Bearer realm="sluice", error="invalid_token", error_description="{reason}""#)
        }
    };
    let mut response = respond::error_response("UNAUTHORIZED", &rejection.to_string());
    if let Ok(challenge) = HeaderValue::try_from(challenge) {
        response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
    }
    response
}

/// 403 naming the permission the caller lacks.
fn forbidden(permission: &str) -> Response<Body> {
    let message = format!("calling this ingress needs the permission '{permission}'");
    let mut response = respond::error_response("FORBIDDEN", &message);
    let challenge =
        format!(r#"Bearer realm="sluice", error="insufficient_scope", scope="{permission}""#);
    if let Ok(challenge) = HeaderValue::try_from(challenge) {
        response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
    }
    response
}

/// Resolves once the host is draining.
fn draining(app: &App) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut draining = app.draining.subscribe();
    async move {
        // An error means the sender is gone: the host is going away, which is draining too.
        let _ = draining.wait_for(|draining| *draining).await;
    }
}

/// Resolves when a stream must end, saying why: its maximum lifetime passed, or the host
/// is draining.
fn stream_end(app: &App) -> impl std::future::Future<Output = StreamEnd> + Send + 'static {
    let lifetime = app.config.max_stream_lifetime();
    let draining = draining(app);
    async move {
        let lifetime = async {
            match lifetime {
                Some(lifetime) => tokio::time::sleep(lifetime).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // Polled with every frame a stream sends: a fixed order, no random draw.
            biased;
            () = lifetime => StreamEnd::Lifetime,
            () = draining => StreamEnd::Drain,
        }
    }
}

fn method_not_allowed(allow: &[http::Method]) -> Response<Body> {
    let allow = allow
        .iter()
        .map(http::Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let mut response = respond::error_response(
        "METHOD_NOT_ALLOWED",
        "the route does not accept this method",
    );
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    if let Ok(allow) = HeaderValue::try_from(allow) {
        response.headers_mut().insert(ALLOW, allow);
    }
    response
}

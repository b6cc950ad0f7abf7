//! `POST /_sluice/deploy`: reload the deploy directory now (what `sluice deploy` calls).
//!
//! The body is empty, `{}`, or `{"dir": "<absolute path>"}`: with a `dir`, the server must be
//! serving that directory, or it answers `409 CONFLICT` and reloads nothing (a server never
//! switches directories). The answer is the reload report,
//! `{added, changed, removed, unchanged, problems: [{file, reason}], componentsCompiled,
//! actors}`: `200` when every file deployed, `422` when some could not be (they are in
//! `problems`; everything else was deployed, and a broken file's old version keeps serving).

use std::path::{Path, PathBuf};

use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Deserialize;

use super::App;
use super::respond::{self, Body};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployRequest {
    dir: Option<PathBuf>,
}

pub async fn handle(app: &App, request: Request<Incoming>) -> Response<Body> {
    let Ok(body) = Limited::new(request.into_body(), app.config.max_body_bytes)
        .collect()
        .await
    else {
        return respond::error_response("BAD_REQUEST", "the request body could not be read");
    };
    let body = body.to_bytes();
    let asked: DeployRequest = if body.iter().all(u8::is_ascii_whitespace) {
        DeployRequest { dir: None }
    } else {
        match serde_json::from_slice(&body) {
            Ok(asked) => asked,
            Err(err) => {
                let message = format!("expected nothing or {{\"dir\": \"<path>\"}}: {err}");
                return respond::error_response("INVALID_BODY", &message);
            }
        }
    };
    if let Some(dir) = &asked.dir
        && let Err(message) = check_same_dir(dir, app.deployer.dir())
    {
        return respond::error_response("CONFLICT", &message);
    }
    let report = app.deployer.reload().await;
    let status = if report.is_clean() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let body = serde_json::to_vec(&report).unwrap_or_default();
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(respond::full(body.into()))
        .unwrap_or_default()
}

/// `Ok` when `asked` and `served` name the same directory.
fn check_same_dir(asked: &Path, served: &Path) -> Result<(), String> {
    let same = match (asked.canonicalize(), served.canonicalize()) {
        (Ok(asked), Ok(served)) => asked == served,
        _ => false,
    };
    if same {
        Ok(())
    } else {
        Err(format!(
            "this server serves {}, not {}; run `sluice deploy` against the server of {} \
             (a server does not switch directories)",
            served.display(),
            asked.display(),
            asked.display()
        ))
    }
}

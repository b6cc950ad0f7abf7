//! The HTTP/1.1 request head as the host sees it: each input is the bytes a client sends on
//! one connection to a real host (the bundled demo booted once through `sluice::boot`, with
//! `maxHeaders: 16`, the smallest `maxHeaderBytes` (8 KiB) and one allowed CORS origin; see
//! `sluice_fuzz::head`). The input is judged by `httparse` with `maxHeaders` slots, as hyper
//! reads heads, and the reply is read by the fuzzer's own client. For every input:
//! - the host answers with one well-formed HTTP/1.x response (status line, headers, a body
//!   framed by `Content-Length` or chunks; SSE streams are read up to their head), or closes
//!   the connection without a byte; it never hangs (30 s) and never switches protocols;
//! - no input gets a 5xx;
//! - a head cut short gets nothing (the client then closes its side) unless it already
//!   passed `maxHeaderBytes`: 431; a complete head is always answered, and so is a malformed
//!   one once the bytes hold the end of a head (hyper waits for one after a partial parse),
//!   except that a head hyper refuses may get a close without a byte when the HTTP/2
//!   preface follows it;
//! - more header fields than `maxHeaders` get 431; a malformed head gets hyper's empty 400
//!   (or 431 past the byte limit); a head within the limits is never 431;
//! - hyper's empty 400 on a well-formed head only for a target `http::Uri` rejects, a
//!   method `http::Method` rejects, or a `Content-Length` / `Transfer-Encoding` it refuses;
//! - without `Origin`, the host routes as documented: `/` serves the index page (200,
//!   `text/html`); `/ingress/<route>` gets 404 `NOT_FOUND` when no route matches, 405
//!   `METHOD_NOT_ALLOWED` with `Allow` listing exactly the route's methods, 400
//!   `INVALID_PARAMETER` for a parameter that is not UTF-8 once decoded, and otherwise never
//!   the router's 404 or a 405; any other path gets 404 `NOT_FOUND` (`/_sluice/…` too: the
//!   admin endpoints have a listener of their own);
//! - every error the host makes has the documented JSON body `{"error":{"code","message",…}}`
//!   with `Content-Type: application/json`.
//!
//! An input starting with the HTTP/2 preface is left out (not an HTTP/1.1 head); one that is
//! a prefix of it must only never hang or get a 5xx.

#![no_main]

use http::{Method, Uri};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sluice::route::RouteMatch;
use sluice_fuzz::head::{MAX_HEADERS, Outcome, Reply, exchange, host};

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether `bytes` hold what hyper takes for the end of a head: CRLF CRLF, LF LF or LF CRLF.
fn ends_a_head(bytes: &[u8]) -> bool {
    (0..bytes.len()).any(|i| {
        let rest = &bytes[i..];
        rest.starts_with(b"\r\n\r\n") || rest.starts_with(b"\n\n") || rest.starts_with(b"\n\r\n")
    })
}

/// hyper's own error replies (400, 414, 431) have no body and no `Content-Type`.
fn made_by_hyper(reply: &Reply) -> bool {
    reply.header("content-type").is_empty()
        && reply.body.is_empty()
        && matches!(reply.status, 400 | 414 | 431)
}

/// The `error.code` of a host-made error, checking the documented body.
fn error_code(reply: &Reply) -> String {
    assert_eq!(
        reply.single("content-type"),
        Some("application/json"),
        "{reply:?}"
    );
    let body: Value = serde_json::from_slice(&reply.body).expect("an error body is JSON");
    let error = body
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.get("error"))
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("not the documented error body: {body}"));
    assert!(error["message"].is_string(), "{body}");
    error["code"].as_str().expect("a string code").to_owned()
}

struct Head {
    method: String,
    target: String,
    /// `(lowercase name, value)`.
    headers: Vec<(String, Vec<u8>)>,
    len: usize,
}

impl Head {
    fn has(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| n == name)
    }

    /// Whether the body may not all be in the input, so the host might wait for it.
    fn body_may_be_short(&self, input_len: usize) -> bool {
        if self.has("transfer-encoding") {
            return true;
        }
        let lengths: Vec<&[u8]> = self
            .headers
            .iter()
            .filter(|(n, _)| n == "content-length")
            .map(|(_, v)| v.as_slice())
            .collect();
        match lengths.as_slice() {
            [] => false,
            [one] => std::str::from_utf8(one)
                .ok()
                .and_then(|t| t.trim().parse::<usize>().ok())
                .is_some_and(|n| self.len.saturating_add(n) > input_len),
            // hyper refuses conflicting lengths, but equal repeated ones may pass.
            _ => true,
        }
    }
}

/// Whether hyper may refuse this well-formed head itself: a target `http::Uri` rejects, a
/// method `http::Method` rejects, or a `Content-Length` / `Transfer-Encoding` it refuses.
fn hyper_may_refuse(head: &Head) -> bool {
    Uri::try_from(head.target.as_str()).is_err()
        || Method::from_bytes(head.method.as_bytes()).is_err()
        || head.has("content-length")
        || head.has("transfer-encoding")
}

/// The host's own error `status` and `code` (no body to check on a `HEAD`).
#[track_caller]
fn assert_error(head: &Head, reply: &Reply, status: u16, code: &str) {
    assert_eq!(
        reply.status, status,
        "{} {}: {reply:?}",
        head.method, head.target
    );
    if head.method != "HEAD" {
        assert_eq!(error_code(reply), code, "{reply:?}");
    }
}

fn check_routing(head: &Head, reply: &Reply) {
    let (Ok(method), Ok(uri)) = (
        Method::from_bytes(head.method.as_bytes()),
        Uri::try_from(head.target.as_str()),
    ) else {
        panic!("hyper served a head it should refuse: {reply:?}");
    };
    if reply.status >= 400 && !reply.header("content-type").is_empty() {
        // Every error the host or a demo component makes has the documented body.
        if head.method != "HEAD" {
            error_code(reply);
        }
    }
    if head.has("origin") {
        return;
    }
    let path = uri.path();
    if path == "/" {
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(
            reply.single("content-type"),
            Some("text/html; charset=utf-8")
        );
    } else if let Some(route) = path.strip_prefix("/ingress/") {
        match host().app.deployer.current().routes.lookup(&method, route) {
            RouteMatch::NotFound => assert_error(head, reply, 404, "NOT_FOUND"),
            RouteMatch::MethodNotAllowed { allow } => {
                assert_error(head, reply, 405, "METHOD_NOT_ALLOWED");
                let allow: Vec<&str> = allow.iter().map(Method::as_str).collect();
                assert_eq!(reply.single("allow"), Some(allow.join(", ").as_str()));
            }
            RouteMatch::InvalidParameter { .. } => {
                assert_error(head, reply, 400, "INVALID_PARAMETER");
            }
            RouteMatch::Found { .. } => {
                assert_ne!(reply.status, 405, "{path}: {reply:?}");
                if reply.status == 404 && head.method != "HEAD" {
                    let body: Value = serde_json::from_slice(&reply.body).expect("JSON");
                    assert_ne!(
                        body["error"]["message"], "no such route",
                        "{method} {path} is routed"
                    );
                }
            }
        }
    } else {
        assert_error(head, reply, 404, "NOT_FOUND");
    }
}

fuzz_target!(|input: &[u8]| {
    if input.starts_with(H2_PREFACE) {
        return;
    }
    // hyper waits for the rest of the preface before it picks HTTP/1.1 or HTTP/2.
    if !input.is_empty() && H2_PREFACE.starts_with(input) {
        if let Outcome::Replied(reply) = exchange(input, true, false) {
            assert!(reply.status < 500, "a 5xx for a preface prefix: {reply:?}");
        }
        return;
    }
    let limit = host().app.config.header_bytes_limit();
    let past_limit = input.len() >= limit;
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut slots);
    let parsed = request.parse(input);
    let head = match parsed {
        Ok(httparse::Status::Complete(len)) => Some(Head {
            method: request.method.unwrap_or_default().to_owned(),
            target: request.path.unwrap_or_default().to_owned(),
            headers: request
                .headers
                .iter()
                .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
                .collect(),
            len,
        }),
        _ => None,
    };
    // Whether hyper answers while the client keeps its side open; otherwise the client closes
    // it, and nothing is also a fine answer.
    let answers = match (&parsed, &head) {
        (Ok(httparse::Status::Partial), _) => false,
        (_, Some(head)) => !head.body_may_be_short(input.len()),
        // hyper first parses the 24 bytes the HTTP/2 check read; after a partial parse it
        // parses again only once new bytes hold the end of a head (`is_complete_fast`).
        _ => input.len() <= H2_PREFACE.len() || ends_a_head(&input[H2_PREFACE.len() - 3..]),
    };
    let half_close = !answers;
    let head_request = head.as_ref().is_some_and(|h| h.method == "HEAD");
    let outcome = exchange(input, half_close, head_request);
    let reply = match outcome {
        Outcome::Closed => {
            // hyper's parse-error path closes without its 400 when what it buffered after a
            // head it refuses holds the HTTP/2 preface (`has_h2_prefix`, `proto/h1/conn.rs`).
            let refused_before_preface = head.as_ref().is_some_and(|head| {
                hyper_may_refuse(head)
                    && input[head.len..]
                        .windows(H2_PREFACE.len())
                        .any(|w| w == H2_PREFACE)
            });
            assert!(
                half_close || refused_before_preface,
                "no answer to {parsed:?}"
            );
            return;
        }
        Outcome::Replied(reply) => reply,
    };
    assert!(reply.status < 500, "a 5xx for {parsed:?}: {reply:?}");
    if reply.status == 431 && made_by_hyper(&reply) {
        let too_many = matches!(parsed, Err(httparse::Error::TooManyHeaders));
        assert!(too_many || past_limit, "431 for {parsed:?}");
        return;
    }
    match (parsed, head) {
        (Err(httparse::Error::TooManyHeaders), _) => {
            panic!("more than {MAX_HEADERS} header fields got {reply:?}")
        }
        (Err(err), _) => assert!(made_by_hyper(&reply), "{err} got {reply:?}"),
        (Ok(httparse::Status::Partial), _) => {
            // An incomplete head past the limit is answered 431 above; else nothing.
            panic!("an incomplete head got {reply:?}");
        }
        (Ok(httparse::Status::Complete(_)), Some(head)) => {
            if made_by_hyper(&reply) {
                assert!(
                    hyper_may_refuse(&head),
                    "hyper refused a good head: {reply:?}"
                );
                return;
            }
            assert_ne!(reply.status, 431, "a head within the limits: {reply:?}");
            check_routing(&head, &reply);
        }
        (Ok(httparse::Status::Complete(_)), None) => unreachable!("a complete head is kept"),
    }
});

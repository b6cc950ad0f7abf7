//! The ingress file: the platform's resource shape (SPEC S1), parsed strictly.
//!
//! ```yaml
//! uri: /resources/ingresses/api/skus/stock-events
//! spec:
//!   type: http
//!   componentId: sku-stock-events
//!   acl: [skus:read]
//!   properties:
//!     route: api/skus/{skuNumber}/stock
//!     httpMethod: get
//!     isPublic: true
//!     headers: { userId: X-User-Id }      # parameter <- header
//!     queryParams: { pageSize: limit }    # parameter <- ?limit=
//!     body: { mode: structured }          # or { mode: raw, parameter: body }
//!     sse: { retry: 3000 }                # optional: `retry:` sent first on every stream
//!     maxConnections: 100                 # optional: concurrent requests; over it: 503
//!     memoryPerInstanceMiB: 16            # optional: less linear memory than the host's
//!     cors: { allowedOrigins: [https://shop.example] }  # optional: replaces sluice.yaml's list
//! ```
//! Unknown keys are errors, so a typo never silently changes what an ingress does.
//! `body` defaults to `structured` for POST, PUT and PATCH and to no body otherwise.

use std::collections::BTreeMap;

use http::{HeaderName, Method};
use serde::Deserialize;

use crate::capabilities::Acl;
use crate::cors::Origins;

const URI_PREFIX: &str = "/resources/ingresses/";

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IngressFile {
    uri: String,
    spec: SpecFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpecFile {
    #[serde(rename = "type")]
    kind: String,
    component_id: String,
    #[serde(default)]
    acl: Vec<String>,
    properties: PropertiesFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PropertiesFile {
    route: String,
    http_method: String,
    #[serde(default)]
    is_public: bool,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    query_params: BTreeMap<String, String>,
    body: Option<BodyFile>,
    sse: Option<SseFile>,
    max_connections: Option<u32>,
    #[serde(rename = "memoryPerInstanceMiB")]
    memory_per_instance_mib: Option<u32>,
    cors: Option<CorsFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CorsFile {
    allowed_origins: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SseFile {
    /// Milliseconds; sent as `retry:` before anything else on every stream.
    retry: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, tag = "mode", rename_all = "lowercase")]
enum BodyFile {
    Structured,
    Raw { parameter: String },
    None,
}

/// How the request body becomes parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyMode {
    /// The body is ignored.
    None,
    /// The body is a JSON object whose fields become parameters (JSON values kept).
    Structured,
    /// The body's bytes are bound to this parameter.
    Raw { parameter: String },
}

/// A validated ingress.
#[derive(Debug, Clone)]
pub struct IngressSpec {
    /// The part of `uri` after `/resources/ingresses/`.
    pub id: String,
    pub component_id: String,
    pub acl: Acl,
    /// The route template, served under `/ingress/`.
    pub route: String,
    pub method: Method,
    pub is_public: bool,
    /// Parameter ← header.
    pub headers: Vec<(String, HeaderName)>,
    /// Parameter ← query parameter.
    pub query_params: Vec<(String, String)>,
    pub body: BodyMode,
    /// The reconnection delay (ms) to send first on every SSE stream.
    pub sse_retry: Option<u64>,
    /// Concurrent requests (open streams included) this ingress serves; `None` for no cap
    /// of its own (the host's `maxInstances` still applies).
    pub max_connections: Option<u32>,
    /// Linear memory per instance, in MiB, when the ingress sets it; at most the host's
    /// `memoryPerInstanceMiB`, the size of every slot in the pool (checked at deploy).
    pub memory_per_instance_mib: Option<u32>,
    /// Web origins that may call this ingress, replacing the host's list.
    pub cors_origins: Option<Origins>,
}

/// Why an ingress file was rejected. The caller adds the file name.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("not a valid ingress file: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("{0}")]
    Invalid(String),
}

impl IngressSpec {
    pub fn parse(yaml: &str) -> Result<Self, ManifestError> {
        let file: IngressFile = serde_norway::from_str(yaml)?;
        let invalid = |reason: String| Err(ManifestError::Invalid(reason));
        let Some(id) = file
            .uri
            .strip_prefix(URI_PREFIX)
            .filter(|id| !id.is_empty())
        else {
            return invalid(format!(
                "uri '{}' must start with '{URI_PREFIX}' followed by the ingress id",
                file.uri
            ));
        };
        if file.spec.kind != "http" {
            return invalid(format!(
                "spec.type '{}' is not supported (only 'http')",
                file.spec.kind
            ));
        }
        if !is_component_id(&file.spec.component_id) {
            return invalid(format!(
                "spec.componentId '{}' must be letters, digits, '-', '_' or '.'",
                file.spec.component_id
            ));
        }
        let acl = Acl::parse(&file.spec.acl)
            .map_err(|err| ManifestError::Invalid(format!("spec.acl: {err}")))?;
        let properties = file.spec.properties;
        let method = match properties.http_method.to_ascii_lowercase().as_str() {
            "get" => Method::GET,
            "post" => Method::POST,
            "put" => Method::PUT,
            "patch" => Method::PATCH,
            "delete" => Method::DELETE,
            other => {
                return invalid(format!(
                    "spec.properties.httpMethod '{other}' must be one of get, post, put, patch, delete"
                ));
            }
        };
        let mut headers = Vec::with_capacity(properties.headers.len());
        for (parameter, header) in properties.headers {
            let Ok(name) = HeaderName::try_from(header.as_str()) else {
                return invalid(format!(
                    "spec.properties.headers.{parameter}: '{header}' is not a header name"
                ));
            };
            headers.push((parameter, name));
        }
        if properties.max_connections == Some(0) {
            return invalid(
                "spec.properties.maxConnections must be at least 1 (leave it out for no cap)"
                    .into(),
            );
        }
        if properties.memory_per_instance_mib == Some(0) {
            return invalid(
                "spec.properties.memoryPerInstanceMiB must be at least 1 (leave it out for the \
                 host's)"
                    .into(),
            );
        }
        let cors_origins = match properties.cors {
            Some(cors) => Some(
                Origins::parse(&cors.allowed_origins)
                    .map_err(|err| ManifestError::Invalid(format!("spec.properties.cors.{err}")))?,
            ),
            None => None,
        };
        let body = match properties.body {
            Some(BodyFile::Structured) => BodyMode::Structured,
            Some(BodyFile::Raw { parameter }) => BodyMode::Raw { parameter },
            Some(BodyFile::None) => BodyMode::None,
            None if matches!(method, Method::POST | Method::PUT | Method::PATCH) => {
                BodyMode::Structured
            }
            None => BodyMode::None,
        };
        Ok(Self {
            id: id.to_owned(),
            component_id: file.spec.component_id,
            acl,
            route: properties.route,
            method,
            is_public: properties.is_public,
            headers,
            query_params: properties.query_params.into_iter().collect(),
            body,
            sse_retry: properties.sse.and_then(|sse| sse.retry),
            max_connections: properties.max_connections,
            memory_per_instance_mib: properties.memory_per_instance_mib,
            cors_origins,
        })
    }
}

/// A file stem under `components/`: no path separators, no leading `.` (so no `..`).
pub(crate) fn is_component_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "\
uri: /resources/ingresses/api/skus/stock-events
spec:
  type: http
  componentId: sku-stock-events
  acl: [skus:read, 'actors/sku:calculateAvailableStock']
  properties:
    route: api/skus/{skuNumber}/stock
    httpMethod: GET
    isPublic: true
    headers: { userId: X-User-Id }
    queryParams: { pageSize: limit }
    body: { mode: raw, parameter: payload }
    sse: { retry: 2500 }
    maxConnections: 7
    memoryPerInstanceMiB: 16
";

    #[test]
    fn parses_the_platform_resource_shape() {
        let spec = IngressSpec::parse(FULL).expect("valid");
        assert_eq!(spec.id, "api/skus/stock-events");
        assert_eq!(spec.component_id, "sku-stock-events");
        assert!(spec.acl.allows("skus", "read"));
        assert_eq!(spec.route, "api/skus/{skuNumber}/stock");
        assert_eq!(spec.method, Method::GET);
        assert!(spec.is_public);
        assert_eq!(
            spec.headers,
            vec![("userId".to_owned(), HeaderName::from_static("x-user-id"))]
        );
        assert_eq!(
            spec.query_params,
            vec![("pageSize".to_owned(), "limit".to_owned())]
        );
        assert_eq!(
            spec.body,
            BodyMode::Raw {
                parameter: "payload".into()
            }
        );
        assert_eq!(spec.sse_retry, Some(2500));
        assert_eq!(spec.memory_per_instance_mib, Some(16));
        assert_eq!(spec.max_connections, Some(7));
    }

    #[test]
    fn body_defaults_to_structured_only_for_methods_with_a_body() {
        let post = FULL
            .replace("GET", "post")
            .replace("    body: { mode: raw, parameter: payload }\n", "");
        assert_eq!(
            IngressSpec::parse(&post).expect("valid").body,
            BodyMode::Structured
        );
        let get = FULL.replace("    body: { mode: raw, parameter: payload }\n", "");
        assert_eq!(
            IngressSpec::parse(&get).expect("valid").body,
            BodyMode::None
        );
    }

    fn rejection(yaml: &str) -> String {
        IngressSpec::parse(yaml)
            .expect_err("must be rejected")
            .to_string()
    }

    #[test]
    fn rejects_unknown_keys_naming_them() {
        let err = rejection(&FULL.replace("isPublic", "isPublik"));
        assert!(err.contains("unknown field `isPublik`"), "{err}");
    }

    #[test]
    fn rejects_bad_values_with_the_reason() {
        for (from, to, expected) in [
            (
                "/resources/ingresses/api",
                "/api",
                "must start with '/resources/ingresses/'",
            ),
            (
                "type: http",
                "type: grpc",
                "spec.type 'grpc' is not supported",
            ),
            (
                "httpMethod: GET",
                "httpMethod: fetch",
                "httpMethod 'fetch' must be one of",
            ),
            (
                "componentId: sku-stock-events",
                "componentId: ../x",
                "spec.componentId '../x'",
            ),
            ("skus:read", "skus", "spec.acl: invalid permission 'skus'"),
            (
                "X-User-Id",
                "'X User'",
                "headers.userId: 'X User' is not a header name",
            ),
            (
                "mode: raw, parameter: payload",
                "mode: gzip",
                "unknown variant `gzip`",
            ),
            (
                "maxConnections: 7",
                "maxConnections: 0",
                "spec.properties.maxConnections must be at least 1",
            ),
            (
                "memoryPerInstanceMiB: 16",
                "memoryPerInstanceMiB: 0",
                "spec.properties.memoryPerInstanceMiB must be at least 1",
            ),
            (
                "memoryPerInstanceMiB: 16",
                "memoryPerInstanceMiB: 16 MiB",
                "spec.properties.memoryPerInstanceMiB: invalid type",
            ),
            (
                "maxConnections: 7",
                "maxConnections: -1",
                "spec.properties.maxConnections: invalid type: integer `-1`, expected u32",
            ),
        ] {
            let err = rejection(&FULL.replace(from, to));
            assert!(err.contains(expected), "{from} -> {to}: {err}");
        }
    }

    #[test]
    fn rejects_missing_required_keys() {
        let err = rejection(&FULL.replace("    route: api/skus/{skuNumber}/stock\n", ""));
        assert!(err.contains("missing field `route`"), "{err}");
    }

    #[test]
    fn rejects_values_of_the_wrong_type() {
        for (from, to, expected) in [
            (
                "httpMethod: GET",
                "httpMethod: [get]",
                "invalid type: sequence",
            ),
            ("isPublic: true", "isPublic: 'yes'", "invalid type: string"),
            ("isPublic: true", "isPublic: 1", "invalid type: integer"),
            (
                "headers: { userId: X-User-Id }",
                "headers: [X-User-Id]",
                "invalid type: sequence",
            ),
            (
                "headers: { userId: X-User-Id }",
                "headers: { userId: [a] }",
                "invalid type: sequence",
            ),
            (
                "queryParams: { pageSize: limit }",
                "queryParams: limit",
                "invalid type: string",
            ),
            (
                "acl: [skus:read, 'actors/sku:calculateAvailableStock']",
                "acl: skus:read",
                "invalid type: string",
            ),
            ("retry: 2500", "retry: -1", "invalid type: integer `-1`"),
            ("retry: 2500", "retry: 1.5", "invalid type: floating point"),
            (
                "retry: 2500",
                "retry: 18446744073709551616",
                "as u128, expected u64",
            ),
            (
                "{ mode: raw, parameter: payload }",
                "raw",
                "expected internally tagged enum",
            ),
            (
                "{ mode: raw, parameter: payload }",
                "{ mode: raw }",
                "missing field `parameter`",
            ),
            (
                "{ mode: raw, parameter: payload }",
                "{ mode: raw, parameter: [] }",
                "invalid type: sequence",
            ),
            (
                "spec:\n  type",
                "spec: []\n  type",
                "spec: invalid type: sequence",
            ),
        ] {
            assert!(FULL.contains(from), "{from}");
            let err = rejection(&FULL.replace(from, to));
            assert!(err.contains(expected), "{from} -> {to}: {err}");
        }
    }

    #[test]
    fn rejects_malformed_documents() {
        // Neither nesting nor aliases get far: every key is typed, so the first mismatch ends it.
        let nested = format!("{}x{}\n", "[".repeat(10_000), "]".repeat(10_000));
        let laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
                      e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n\
                      g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\nuri: /resources/ingresses/x\nspec: *g\n";
        for (yaml, expected) in [
            ("", "missing field `uri`"),
            ("~", "invalid type: unit"),
            ("# only a comment\n", "missing field `uri`"),
            ("[]", "invalid type: sequence"),
            ("uri", "invalid type: string"),
            (
                "uri: /resources/ingresses/a\nuri: /resources/ingresses/b\n",
                "duplicate",
            ),
            (&format!("{FULL}---\n{FULL}"), "more than one document"),
            (
                &FULL.replace("  type", "\ttype"),
                "found character that cannot start any token",
            ),
            (
                &FULL.replace("stock-events", "stock\0events"),
                "control characters are not allowed",
            ),
            ("uri: 'unterminated\n", "found unexpected end of stream"),
            ("uri: *missing\n", "unknown anchor"),
            (&nested, "invalid type: sequence"),
            (laughs, "unknown field `a`"),
        ] {
            let err = rejection(yaml);
            assert!(
                err.contains(expected),
                "{:?}: {err}",
                &yaml[..yaml.len().min(40)]
            );
        }
    }

    #[test]
    fn takes_a_huge_value_without_trouble() {
        let route = format!("api/{}", "s".repeat(1 << 20));
        let yaml = FULL.replace("api/skus/{skuNumber}/stock", &route);
        assert_eq!(IngressSpec::parse(&yaml).expect("valid").route, route);
    }
}

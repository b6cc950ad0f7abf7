//! Cross-origin access (SPEC S4): which web origins may call ingresses from a browser.
//!
//! Nothing is allowed cross-origin unless configured. Host-wide, in `sluice.yaml`:
//!
//! ```yaml
//! cors:
//!   allowedOrigins: [https://shop.example, "http://localhost:5173"]   # or ["*"]
//!   allowCredentials: false      # true: cookies (EventSource withCredentials); not with "*"
//!   maxAgeSeconds: 600           # how long browsers may cache a preflight answer
//! ```
//!
//! An ingress may list its own origins under `properties.cors.allowedOrigins`; that list
//! replaces the host's for that ingress (an empty list shuts it off).
//!
//! Pure: headers in, headers out.

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Deserialize;

/// The `cors` section of `sluice.yaml`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct CorsConfig {
    pub allowed_origins: Vec<String>,
    pub allow_credentials: bool,
    pub max_age_seconds: u64,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            allow_credentials: false,
            max_age_seconds: 600,
        }
    }
}

/// Origins allowed to call: every one (`*`), or a list of serialized origins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Origins {
    Any,
    /// Lower-case `scheme://host[:port]`; empty allows no one.
    #[default]
    None,
    List(Vec<String>),
}

impl Origins {
    /// Parse an `allowedOrigins` list: `*` alone, or origins such as `https://shop.example`.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        if entries.iter().any(|entry| entry == "*") {
            return match entries.len() {
                1 => Ok(Self::Any),
                _ => Err("allowedOrigins: '*' stands alone".into()),
            };
        }
        if entries.is_empty() {
            return Ok(Self::None);
        }
        entries
            .iter()
            .map(|entry| parse_origin(entry))
            .collect::<Result<_, _>>()
            .map(Self::List)
    }

    fn allows(&self, origin: &str) -> bool {
        match self {
            Self::Any => true,
            Self::None => false,
            Self::List(origins) => origins.iter().any(|allowed| allowed == origin),
        }
    }
}

/// An origin as browsers send it: `scheme://host[:port]`, no path, no trailing slash.
fn parse_origin(entry: &str) -> Result<String, String> {
    let invalid = |why: &str| format!("allowedOrigins: '{entry}' is not an origin ({why})");
    let origin = entry.to_ascii_lowercase();
    let (scheme, rest) = origin
        .split_once("://")
        .ok_or_else(|| invalid("expected scheme://host[:port]"))?;
    if !matches!(scheme, "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return Err(invalid(
            "only scheme, host and port; no path or trailing slash",
        ));
    }
    if let Some((_, port)) = rest.rsplit_once(':')
        && !rest.ends_with(']')
        && port.parse::<u16>().is_err()
    {
        return Err(invalid("the port must be a number"));
    }
    Ok(origin)
}

/// The host's CORS settings, validated.
#[derive(Debug, Clone)]
pub struct CorsPolicy {
    origins: Origins,
    credentials: bool,
    max_age: HeaderValue,
}

/// Why a preflight request is refused; the message goes to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("origin {0} may not call this ingress")]
    Origin(String),
    #[error("the request header '{0}' is not allowed")]
    Header(String),
}

/// Request headers a cross-origin caller may send beyond the CORS-safelisted ones.
const ALLOWED_HEADERS: [HeaderName; 3] = [
    http::header::AUTHORIZATION,
    http::header::CONTENT_TYPE,
    HeaderName::from_static("last-event-id"),
];

impl CorsPolicy {
    pub fn from_config(config: &CorsConfig) -> Result<Self, String> {
        let origins = Origins::parse(&config.allowed_origins)?;
        if config.allow_credentials && origins == Origins::Any {
            return Err("cors: allowCredentials needs a list of origins, not '*'".into());
        }
        Ok(Self {
            origins,
            credentials: config.allow_credentials,
            max_age: HeaderValue::from(config.max_age_seconds),
        })
    }

    fn origins<'a>(&'a self, ingress: Option<&'a Origins>) -> &'a Origins {
        ingress.unwrap_or(&self.origins)
    }

    /// Add the CORS headers an actual response needs for a request from `origin` to an
    /// ingress with its own `origins` (if any). Nothing for an origin that is not allowed:
    /// the browser then withholds the response from the page.
    pub fn decorate(
        &self,
        ingress: Option<&Origins>,
        origin: &HeaderValue,
        headers: &mut HeaderMap,
    ) {
        let origins = self.origins(ingress);
        if *origins != Origins::Any {
            // The answer differs per origin, so caches must key on it.
            headers.append(VARY, HeaderValue::from_static("origin"));
        }
        if let Some(allowed) = self.allowed_origin(origins, origin) {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
            headers.insert(
                ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("retry-after, www-authenticate"),
            );
            if self.credentials {
                headers.insert(
                    ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
        }
    }

    /// Answer a preflight (`OPTIONS` with `Access-Control-Request-Method`) for an ingress
    /// that serves the requested method, given the headers it maps from the request.
    pub fn preflight(
        &self,
        ingress: Option<&Origins>,
        request: &HeaderMap,
        method: &Method,
        mapped_headers: &[HeaderName],
    ) -> Result<HeaderMap, Refusal> {
        let origins = self.origins(ingress);
        let origin = request
            .get(ORIGIN)
            .cloned()
            .unwrap_or(HeaderValue::from_static("null"));
        let allowed_origin = self.allowed_origin(origins, &origin).ok_or_else(|| {
            Refusal::Origin(String::from_utf8_lossy(origin.as_bytes()).into_owned())
        })?;
        let requested: Vec<&str> = request
            .get_all(ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .flat_map(|value| value.to_str().unwrap_or("\u{0}").split(','))
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .collect();
        for name in &requested {
            let known = ALLOWED_HEADERS
                .iter()
                .chain(mapped_headers)
                .any(|allowed| allowed.as_str().eq_ignore_ascii_case(name));
            if !known {
                return Err(Refusal::Header((*name).to_owned()));
            }
        }
        let mut headers = HeaderMap::new();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allowed_origin);
        if let Ok(method) = HeaderValue::from_str(method.as_str()) {
            headers.insert(ACCESS_CONTROL_ALLOW_METHODS, method);
        }
        if !requested.is_empty()
            && let Ok(names) = HeaderValue::from_str(&requested.join(", ").to_ascii_lowercase())
        {
            headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, names);
        }
        headers.insert(ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
        if self.credentials {
            headers.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        headers.insert(
            VARY,
            HeaderValue::from_static(
                "origin, access-control-request-method, access-control-request-headers",
            ),
        );
        Ok(headers)
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, if it is allowed.
    fn allowed_origin(&self, origins: &Origins, origin: &HeaderValue) -> Option<HeaderValue> {
        let text = origin.to_str().ok()?;
        if !origins.allows(&text.to_ascii_lowercase()) {
            return None;
        }
        // With credentials the browser needs the origin itself, never `*`.
        if *origins == Origins::Any && !self.credentials {
            Some(HeaderValue::from_static("*"))
        } else {
            Some(origin.clone())
        }
    }
}

/// Is this a CORS preflight rather than an `OPTIONS` request of its own?
pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

/// The method a preflight asks about.
pub fn requested_method(headers: &HeaderMap) -> Option<Method> {
    let method = headers.get(ACCESS_CONTROL_REQUEST_METHOD)?.to_str().ok()?;
    Method::from_bytes(method.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(origins: &[&str], credentials: bool) -> CorsPolicy {
        CorsPolicy::from_config(&CorsConfig {
            allowed_origins: origins.iter().map(|o| o.to_string()).collect(),
            allow_credentials: credentials,
            max_age_seconds: 600,
        })
        .expect("valid policy")
    }

    fn decorated(policy: &CorsPolicy, ingress: Option<&Origins>, origin: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        policy.decorate(
            ingress,
            &HeaderValue::from_str(origin).expect("origin"),
            &mut headers,
        );
        headers
    }

    fn preflight_request(origin: &str, headers: Option<&str>) -> HeaderMap {
        let mut request = HeaderMap::new();
        request.insert(ORIGIN, HeaderValue::from_str(origin).expect("origin"));
        request.insert(
            ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("GET"),
        );
        if let Some(headers) = headers {
            request.insert(
                ACCESS_CONTROL_REQUEST_HEADERS,
                HeaderValue::from_str(headers).expect("v"),
            );
        }
        request
    }

    #[test]
    fn nothing_is_allowed_by_default() {
        let policy = CorsPolicy::from_config(&CorsConfig::default()).expect("valid");
        let headers = decorated(&policy, None, "https://shop.example");
        assert!(headers.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert_eq!(headers[VARY], "origin");
        let refused = policy.preflight(
            None,
            &preflight_request("https://shop.example", None),
            &Method::GET,
            &[],
        );
        assert_eq!(refused, Err(Refusal::Origin("https://shop.example".into())));
    }

    #[test]
    fn a_listed_origin_is_echoed_and_others_get_nothing() {
        let policy = policy(&["https://shop.example", "http://localhost:5173"], false);
        let headers = decorated(&policy, None, "https://shop.example");
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "https://shop.example");
        assert_eq!(
            headers[ACCESS_CONTROL_EXPOSE_HEADERS],
            "retry-after, www-authenticate"
        );
        assert!(headers.get(ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        assert_eq!(
            decorated(&policy, None, "http://localhost:5173")[ACCESS_CONTROL_ALLOW_ORIGIN],
            "http://localhost:5173"
        );
        for other in [
            "https://evil.example",
            "https://shop.example.evil",
            "http://shop.example",
            "null",
        ] {
            assert!(
                decorated(&policy, None, other)
                    .get(ACCESS_CONTROL_ALLOW_ORIGIN)
                    .is_none(),
                "{other}"
            );
        }
    }

    #[test]
    fn any_origin_is_a_star_unless_credentials() {
        let any = policy(&["*"], false);
        let headers = decorated(&any, None, "https://anyone.example");
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(headers.get(VARY).is_none());
        let err = CorsPolicy::from_config(&CorsConfig {
            allowed_origins: vec!["*".into()],
            allow_credentials: true,
            max_age_seconds: 1,
        })
        .expect_err("credentials with *");
        assert!(err.contains("allowCredentials"), "{err}");
        let listed = policy(&["https://shop.example"], true);
        let headers = decorated(&listed, None, "https://shop.example");
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "https://shop.example");
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    }

    #[test]
    fn an_ingress_list_replaces_the_hosts() {
        let policy = policy(&["https://shop.example"], false);
        let own = Origins::parse(&["https://admin.example".into()]).expect("valid");
        assert!(
            decorated(&policy, Some(&own), "https://shop.example")
                .get(ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none()
        );
        assert_eq!(
            decorated(&policy, Some(&own), "https://admin.example")[ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://admin.example"
        );
        let none = Origins::parse(&[]).expect("valid");
        assert!(
            decorated(&policy, Some(&none), "https://shop.example")
                .get(ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none()
        );
    }

    #[test]
    fn preflight_allows_known_headers_and_refuses_others() {
        let policy = policy(&["https://shop.example"], false);
        let mapped = [HeaderName::from_static("x-user-id")];
        let request = preflight_request(
            "https://shop.example",
            Some("Authorization, last-event-id,x-user-id"),
        );
        let answer = policy
            .preflight(None, &request, &Method::GET, &mapped)
            .expect("allowed");
        assert_eq!(answer[ACCESS_CONTROL_ALLOW_ORIGIN], "https://shop.example");
        assert_eq!(answer[ACCESS_CONTROL_ALLOW_METHODS], "GET");
        assert_eq!(
            answer[ACCESS_CONTROL_ALLOW_HEADERS],
            "authorization, last-event-id, x-user-id"
        );
        assert_eq!(answer[ACCESS_CONTROL_MAX_AGE], "600");
        let request = preflight_request("https://shop.example", Some("x-secret"));
        assert_eq!(
            policy.preflight(None, &request, &Method::GET, &mapped),
            Err(Refusal::Header("x-secret".into()))
        );
        let request = preflight_request("https://shop.example", None);
        let answer = policy
            .preflight(None, &request, &Method::GET, &[])
            .expect("allowed");
        assert!(answer.get(ACCESS_CONTROL_ALLOW_HEADERS).is_none());
    }

    #[test]
    fn origins_must_be_scheme_host_port() {
        for good in [
            "https://shop.example",
            "http://localhost:5173",
            "HTTPS://Shop.Example",
            "http://[::1]:8080",
        ] {
            assert!(Origins::parse(&[good.into()]).is_ok(), "{good}");
        }
        assert_eq!(
            Origins::parse(&["HTTPS://Shop.Example".into()]),
            Ok(Origins::List(vec!["https://shop.example".into()]))
        );
        for bad in [
            "shop.example",
            "https://shop.example/",
            "https://shop.example/path",
            "ftp://x",
            "https://",
            "https://x:port",
            "https://a b",
            "https://u@x",
        ] {
            let err = Origins::parse(&[bad.into()]).expect_err(bad);
            assert!(err.contains(bad), "{err}");
        }
        assert!(Origins::parse(&["*".into(), "https://x".into()]).is_err());
    }

    #[test]
    fn only_options_with_a_requested_method_is_a_preflight() {
        let request = preflight_request("https://x", None);
        assert!(is_preflight(&Method::OPTIONS, &request));
        assert!(!is_preflight(&Method::GET, &request));
        assert!(!is_preflight(&Method::OPTIONS, &HeaderMap::new()));
        assert_eq!(requested_method(&request), Some(Method::GET));
    }
}

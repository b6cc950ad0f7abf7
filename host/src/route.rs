//! The route table for `/ingress/<route>` (SPEC S2).
//!
//! Built once at deploy time from each ingress's `route` and `httpMethod`, then read per request.
//! Pure: no I/O, no async.
//!
//! # Templates
//! - Segments are separated by `/` and must not be empty, so a trailing `/` or `//` is rejected.
//!   One leading `/` is tolerated and stripped.
//! - A parameter is a whole segment `{name}`, with `name` matching `[A-Za-z_][A-Za-z0-9_]*`,
//!   unique within the template. No catch-alls, no prefixes/suffixes around a parameter.
//!   At most [`MAX_PARAMS`] parameters.
//! - A static segment uses only RFC 3986 path characters that need no escaping: ASCII letters,
//!   digits and `-._~!$&'()*+,;=:@`. `%`, spaces, non-ASCII text and `.`/`..` segments are rejected
//!   (the last because clients remove dot segments before sending, so the route could never match).
//!
//! # Matching
//! - `path` is the raw, still percent-encoded request path after `/ingress/`, without a leading `/`
//!   and without the query. Matching is case-sensitive and a trailing `/` is significant.
//! - Percent-encoded unreserved characters (`%61` for `a`) are decoded before matching, as RFC 3986
//!   §6.2.2.2 makes them equivalent; every other escape (notably `%2F`) stays inside its segment,
//!   so `a%2Fb` is one parameter value `a/b`, never two segments.
//! - Static segments win over parameters; otherwise the route whose shape fits is chosen.
//! - An empty parameter segment never matches (`api/skus//stock`).
//! - Parameter values are percent-decoded (`+` stays `+`; a malformed escape like `%zz` is kept as
//!   written). A value that does not decode to UTF-8 gives [`RouteMatch::InvalidParameter`].
//! - Methods are compared exactly as [`http::Method`] values: the caller maps YAML `get` to
//!   [`Method::GET`], and decides whether `HEAD` falls back to `GET`.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

use http::Method;
use percent_encoding::percent_decode_str;

/// Most parameters in one template: `matchit` panics on the 26th.
pub const MAX_PARAMS: usize = 25;

/// Routes of all ingresses, one [`matchit::Router`] per method, so a lookup only walks one tree
/// (plus the other methods' trees when it has to build a 405 `Allow` list).
pub struct RouteTable<T> {
    methods: HashMap<Method, MethodRoutes<T>>,
}

struct MethodRoutes<T> {
    router: matchit::Router<Route<T>>,
    /// The templates as inserted, for duplicate detection and `Debug`.
    templates: BTreeSet<String>,
}

struct Route<T> {
    value: T,
    /// Parameter names in template order; `matchit` yields them by name.
    params: Vec<String>,
}

/// The outcome of [`RouteTable::lookup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMatch<'a, T> {
    /// The route for this method and path, with its parameters percent-decoded, in template order.
    Found {
        /// The value inserted with the route.
        value: &'a T,
        /// `(name, decoded value)` pairs in template order.
        params: Vec<(String, String)>,
    },
    /// The path matches only under other methods (a 405); sorted by name, deduplicated.
    MethodNotAllowed {
        /// The methods for the `Allow` header.
        allow: Vec<Method>,
    },
    /// No route matches the path under any method (a 404).
    NotFound,
    /// The route matched but this parameter does not percent-decode to UTF-8 (a 400 naming it).
    InvalidParameter {
        /// The parameter's name in the template.
        name: String,
    },
}

/// Why a route could not be added to a [`RouteTable`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The template itself is malformed.
    #[error("invalid route template `{template}`: {problem}")]
    InvalidTemplate {
        /// The template as given.
        template: String,
        /// What is wrong with it.
        problem: TemplateProblem,
    },
    /// The same method and template were inserted before.
    #[error("route {method} `{template}` is declared twice")]
    Duplicate {
        /// The method of both routes.
        method: Method,
        /// The template, leading `/` stripped.
        template: String,
    },
    /// Another route of the same method matches exactly the same paths (it differs only in
    /// parameter names), so neither could be chosen.
    #[error(
        "route {method} `{template}` conflicts with {method} `{existing}`: they match the same paths"
    )]
    Conflict {
        /// The method of both routes.
        method: Method,
        /// The template being inserted, leading `/` stripped.
        template: String,
        /// The template already in the table.
        existing: String,
    },
}

/// What is wrong with a route template; see the module docs for the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateProblem {
    /// Nothing left after stripping the leading `/`.
    #[error("it is empty")]
    Empty,
    /// A doubled or trailing `/`; `position` counts segments from 1.
    #[error("segment {position} is empty (a doubled or trailing `/`)")]
    EmptySegment {
        /// 1-based segment number.
        position: usize,
    },
    /// `.` or `..`, which clients resolve away before sending the request.
    #[error("`{segment}` is a dot segment, which clients remove from URLs")]
    DotSegment {
        /// The segment.
        segment: String,
    },
    /// A `{` or `}` that is not exactly around a whole segment.
    #[error("`{segment}`: `{{` and `}}` may only enclose a whole segment, like `{{name}}`")]
    BraceNotWholeSegment {
        /// The segment.
        segment: String,
    },
    /// `{*name}`.
    #[error("`{{{name}}}`: catch-all parameters are not supported")]
    CatchAll {
        /// The text between the braces.
        name: String,
    },
    /// A parameter name outside `[A-Za-z_][A-Za-z0-9_]*`.
    #[error("parameter name `{name}` must match [A-Za-z_][A-Za-z0-9_]*")]
    BadParamName {
        /// The text between the braces.
        name: String,
    },
    /// The same parameter name twice.
    #[error("parameter `{name}` appears more than once")]
    DuplicateParam {
        /// The repeated name.
        name: String,
    },
    /// More than [`MAX_PARAMS`] parameters.
    #[error("it has more than {MAX_PARAMS} parameters")]
    TooManyParams,
    /// A character a static segment may not contain.
    #[error(
        "`{segment}` contains {ch:?}; static segments may use only ASCII letters, digits and -._~!$&'()*+,;=:@"
    )]
    BadCharacter {
        /// The segment.
        segment: String,
        /// The first offending character.
        ch: char,
    },
    /// `matchit` refused the template for a reason the checks above did not foresee.
    #[error("the router rejected it: {reason}")]
    Rejected {
        /// `matchit`'s message.
        reason: String,
    },
}

impl<T> RouteTable<T> {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self {
            methods: HashMap::new(),
        }
    }

    /// Adds the route `method template`, e.g. `GET api/skus/{skuNumber}/stock`.
    ///
    /// A leading `/` on `template` is tolerated and stripped.
    ///
    /// # Errors
    /// [`RouteError::InvalidTemplate`] for a malformed template (see the module docs),
    /// [`RouteError::Duplicate`] for a method+template inserted before, and
    /// [`RouteError::Conflict`] for a route of the same method matching exactly the same paths.
    /// The table is unchanged on error.
    pub fn insert(&mut self, method: Method, template: &str, value: T) -> Result<(), RouteError> {
        let stripped = template.strip_prefix('/').unwrap_or(template);
        let params = parse_template(stripped).map_err(|problem| RouteError::InvalidTemplate {
            template: template.to_owned(),
            problem,
        })?;
        let routes = self
            .methods
            .entry(method.clone())
            .or_insert_with(|| MethodRoutes {
                router: matchit::Router::new(),
                templates: BTreeSet::new(),
            });
        if routes.templates.contains(stripped) {
            return Err(RouteError::Duplicate {
                method,
                template: stripped.to_owned(),
            });
        }
        // Validation above leaves only plain text and whole `{name}` segments, which `matchit`
        // reads exactly as we do; all that remains for it to refuse is an overlap.
        match routes.router.insert(stripped, Route { value, params }) {
            Ok(()) => {
                routes.templates.insert(stripped.to_owned());
                Ok(())
            }
            Err(matchit::InsertError::Conflict { with }) => Err(RouteError::Conflict {
                method,
                template: stripped.to_owned(),
                existing: with,
            }),
            Err(other) => Err(RouteError::InvalidTemplate {
                template: template.to_owned(),
                problem: TemplateProblem::Rejected {
                    reason: other.to_string(),
                },
            }),
        }
    }

    /// Finds the route for `method` and `path` (raw, percent-encoded, after `/ingress/`, no
    /// leading `/`).
    #[must_use]
    pub fn lookup(&self, method: &Method, path: &str) -> RouteMatch<'_, T> {
        let path = normalize_unreserved(path);
        if let Some(routes) = self.methods.get(method)
            && let Ok(matched) = routes.router.at(&path)
        {
            let route = matched.value;
            let mut params = Vec::with_capacity(route.params.len());
            for name in &route.params {
                let raw = matched.params.get(name).unwrap_or_default();
                match percent_decode_str(raw).decode_utf8() {
                    Ok(decoded) => params.push((name.clone(), decoded.into_owned())),
                    Err(_) => return RouteMatch::InvalidParameter { name: name.clone() },
                }
            }
            return RouteMatch::Found {
                value: &route.value,
                params,
            };
        }
        let mut allow: Vec<Method> = self
            .methods
            .iter()
            .filter(|(other, routes)| *other != method && routes.router.at(&path).is_ok())
            .map(|(other, _)| other.clone())
            .collect();
        if allow.is_empty() {
            return RouteMatch::NotFound;
        }
        allow.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        allow.dedup();
        RouteMatch::MethodNotAllowed { allow }
    }
}

impl<T> Default for RouteTable<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for RouteTable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut methods: Vec<_> = self.methods.iter().collect();
        methods.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        f.debug_map()
            .entries(methods.into_iter().map(|(m, r)| (m.as_str(), &r.templates)))
            .finish()
    }
}

/// Checks `template` (leading `/` already stripped) and returns its parameter names in order.
fn parse_template(template: &str) -> Result<Vec<String>, TemplateProblem> {
    if template.is_empty() {
        return Err(TemplateProblem::Empty);
    }
    let mut params: Vec<String> = Vec::new();
    for (index, segment) in template.split('/').enumerate() {
        if segment.is_empty() {
            return Err(TemplateProblem::EmptySegment {
                position: index + 1,
            });
        }
        if segment.contains(['{', '}']) {
            let name = segment
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .filter(|inner| !inner.contains(['{', '}']))
                .ok_or_else(|| TemplateProblem::BraceNotWholeSegment {
                    segment: segment.to_owned(),
                })?;
            if name.starts_with('*') {
                return Err(TemplateProblem::CatchAll {
                    name: name.to_owned(),
                });
            }
            if !is_param_name(name) {
                return Err(TemplateProblem::BadParamName {
                    name: name.to_owned(),
                });
            }
            if params.iter().any(|p| p == name) {
                return Err(TemplateProblem::DuplicateParam {
                    name: name.to_owned(),
                });
            }
            if params.len() == MAX_PARAMS {
                return Err(TemplateProblem::TooManyParams);
            }
            params.push(name.to_owned());
        } else if segment == "." || segment == ".." {
            return Err(TemplateProblem::DotSegment {
                segment: segment.to_owned(),
            });
        } else if let Some(ch) = segment.chars().find(|&c| !is_static_char(c)) {
            return Err(TemplateProblem::BadCharacter {
                segment: segment.to_owned(),
                ch,
            });
        }
    }
    Ok(params)
}

fn is_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// RFC 3986 `pchar` minus `%`: what a client sends unescaped, so the template matches as written.
fn is_static_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@".contains(c)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes of unreserved characters only, so `%61pi` matches a static `api` while
/// `%2F` keeps standing for a `/` inside one segment. Borrowed unless something changed.
fn normalize_unreserved(path: &str) -> Cow<'_, str> {
    if !path.contains('%') {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let decoded = match after.as_bytes() {
            [hi, lo, ..] => hex_value(*hi)
                .zip(hex_value(*lo))
                .map(|(h, l)| h * 16 + l)
                .filter(|&b| is_unreserved(b)),
            _ => None,
        };
        if let Some(b) = decoded {
            out.push(char::from(b));
            // Both hex digits are ASCII, so slicing past them stays on a char boundary.
            rest = &after[2..];
        } else {
            out.push('%');
            rest = after;
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use RouteMatch::{InvalidParameter, NotFound};
    use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};
    use proptest::prelude::*;

    const GET: Method = Method::GET;
    const POST: Method = Method::POST;

    fn table(routes: &[(Method, &str)]) -> RouteTable<usize> {
        let mut t = RouteTable::new();
        for (i, (m, tpl)) in routes.iter().enumerate() {
            t.insert(m.clone(), tpl, i).unwrap();
        }
        t
    }

    #[track_caller]
    fn found(t: &RouteTable<usize>, m: &Method, path: &str) -> (usize, Vec<(String, String)>) {
        match t.lookup(m, path) {
            RouteMatch::Found { value, params } => (*value, params),
            other => panic!("{m} {path}: expected Found, got {other:?}"),
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn allow(methods: &[Method]) -> RouteMatch<'static, usize> {
        RouteMatch::MethodNotAllowed {
            allow: methods.to_vec(),
        }
    }

    fn problem(template: &str) -> TemplateProblem {
        match RouteTable::<()>::new().insert(GET, template, ()) {
            Err(RouteError::InvalidTemplate { problem, .. }) => problem,
            other => panic!("{template:?}: expected InvalidTemplate, got {other:?}"),
        }
    }

    #[test]
    fn matches_a_static_route_without_params() {
        let t = table(&[(GET, "api/hello")]);
        assert_eq!(found(&t, &GET, "api/hello"), (0, vec![]));
    }

    #[test]
    fn strips_one_leading_slash_from_templates_but_not_from_paths() {
        let t = table(&[(GET, "/api/hello")]);
        assert_eq!(found(&t, &GET, "api/hello").0, 0);
        assert_eq!(t.lookup(&GET, "/api/hello"), NotFound);
    }

    #[test]
    fn returns_params_in_template_order() {
        let t = table(&[(GET, "api/{zeta}/x/{alpha}/{mid_1}")]);
        let expected = params(&[("zeta", "1"), ("alpha", "2"), ("mid_1", "3")]);
        assert_eq!(found(&t, &GET, "api/1/x/2/3").1, expected);
    }

    #[test]
    fn percent_decodes_params_including_encoded_slash_and_unicode() {
        let t = table(&[(GET, "api/skus/{skuNumber}/stock")]);
        for (raw, decoded) in [
            ("PROD-001", "PROD-001"),
            ("a%2Fb", "a/b"),
            ("a%2fb", "a/b"),
            ("%2F", "/"),
            ("a%20b", "a b"),
            ("a+b", "a+b"),
            ("caf%C3%A9", "café"),
            ("café", "café"),
            ("%F0%9F%A6%80", "🦀"),
            ("100%25", "100%"),
            ("bad%zz", "bad%zz"),
            ("trailing%", "trailing%"),
            ("%00", "\0"),
            ("%3F%23", "?#"),
        ] {
            let (_, p) = found(&t, &GET, &format!("api/skus/{raw}/stock"));
            assert_eq!(p, params(&[("skuNumber", decoded)]), "raw {raw:?}");
        }
    }

    #[test]
    fn reports_a_param_that_is_not_utf8() {
        let t = table(&[(GET, "api/{first}/{second}")]);
        for raw in ["%FF", "%C3", "%C3%28", "%ED%A0%80"] {
            let got = t.lookup(&GET, &format!("api/ok/{raw}"));
            assert_eq!(
                got,
                InvalidParameter {
                    name: "second".into()
                },
                "raw {raw:?}"
            );
        }
    }

    #[test]
    fn does_not_decode_params_for_a_405() {
        let t = table(&[(POST, "api/{id}")]);
        assert_eq!(t.lookup(&GET, "api/%FF"), allow(&[POST]));
    }

    #[test]
    fn treats_a_trailing_slash_as_significant() {
        let t = table(&[(GET, "api/hello"), (GET, "api/{id}/x")]);
        assert_eq!(t.lookup(&GET, "api/hello/"), NotFound);
        assert_eq!(t.lookup(&GET, "api/1/x/"), NotFound);
    }

    #[test]
    fn never_matches_an_empty_param_segment() {
        let t = table(&[(GET, "api/skus/{skuNumber}/stock"), (GET, "api/{id}")]);
        for path in ["api/skus//stock", "api/", "api//"] {
            assert_eq!(t.lookup(&GET, path), NotFound, "{path}");
        }
    }

    #[test]
    fn does_not_match_doubled_slashes_or_empty_paths() {
        let t = table(&[(GET, "api/hello"), (GET, "{any}")]);
        for path in ["api//hello", "", "/"] {
            assert_eq!(t.lookup(&GET, path), NotFound, "{path}");
        }
    }

    #[test]
    fn matches_static_segments_case_sensitively() {
        let t = table(&[(GET, "api/Hello")]);
        assert_eq!(t.lookup(&GET, "api/hello"), NotFound);
        assert_eq!(t.lookup(&GET, "API/Hello"), NotFound);
    }

    #[test]
    fn decodes_escaped_unreserved_characters_before_matching_static_segments() {
        let t = table(&[(GET, "api/a-b.c_d~e"), (GET, "x/{p}")]);
        assert_eq!(found(&t, &GET, "%61pi/a%2Db%2ec%5Fd%7Ee").0, 0);
        assert_eq!(found(&t, &GET, "%78/%41%2F").1, params(&[("p", "A/")]));
    }

    #[test]
    fn keeps_an_encoded_slash_inside_one_segment() {
        let t = table(&[(GET, "a/b"), (GET, "{x}")]);
        assert_eq!(found(&t, &GET, "a%2Fb"), (1, params(&[("x", "a/b")])));
    }

    #[test]
    fn prefers_static_segments_and_falls_back_to_params() {
        let t = table(&[
            (GET, "api/skus/new"),
            (GET, "api/skus/{id}"),
            (GET, "api/skus/{id}/stock"),
            (GET, "api/skus/new/items"),
        ]);
        assert_eq!(found(&t, &GET, "api/skus/new").0, 0);
        assert_eq!(found(&t, &GET, "api/skus/old").1, params(&[("id", "old")]));
        // `new/stock` has no static route, so the parameter route takes it.
        assert_eq!(
            found(&t, &GET, "api/skus/new/stock"),
            (2, params(&[("id", "new")]))
        );
        assert_eq!(found(&t, &GET, "api/skus/new/items").0, 3);
    }

    #[test]
    fn lists_other_methods_sorted_and_deduplicated_for_a_405() {
        let t = table(&[
            (POST, "api/orders/{id}"),
            (GET, "api/orders/{id}"),
            (Method::DELETE, "api/orders/{id}"),
            (Method::PATCH, "api/orders/{orderId}/lines"),
            (GET, "api/orders/special"),
        ]);
        let all = allow(&[Method::DELETE, GET, POST]);
        assert_eq!(t.lookup(&Method::PUT, "api/orders/42"), all);
        assert_eq!(
            t.lookup(&GET, "api/orders/42/lines"),
            allow(&[Method::PATCH])
        );
        assert_eq!(t.lookup(&GET, "api/orders"), NotFound);
    }

    #[test]
    fn checks_each_method_with_its_own_routes() {
        // A static route under POST must not hide GET's parameter route for the same path.
        let t = table(&[(GET, "api/{id}"), (POST, "api/new")]);
        assert_eq!(found(&t, &GET, "api/new"), (0, params(&[("id", "new")])));
        assert_eq!(found(&t, &POST, "api/new").0, 1);
        assert_eq!(t.lookup(&POST, "api/old"), allow(&[GET]));
        assert_eq!(t.lookup(&Method::PUT, "api/new"), allow(&[GET, POST]));
    }

    #[test]
    fn supports_extension_methods() {
        let purge = Method::from_bytes(b"PURGE").unwrap();
        let t = table(&[(purge.clone(), "cache/{key}")]);
        assert_eq!(found(&t, &purge, "cache/k").1, params(&[("key", "k")]));
        assert_eq!(t.lookup(&GET, "cache/k"), allow(&[purge]));
    }

    #[test]
    fn finds_nothing_in_an_empty_table() {
        assert_eq!(RouteTable::<usize>::default().lookup(&GET, "api"), NotFound);
    }

    #[test]
    fn rejects_bad_templates_saying_why() {
        use TemplateProblem::*;
        let brace = |s: &str| BraceNotWholeSegment { segment: s.into() };
        let name = |s: &str| BadParamName { name: s.into() };
        let chr = |s: &str, ch| BadCharacter {
            segment: s.into(),
            ch,
        };
        let cases = [
            ("", Empty),
            ("/", Empty),
            ("//a", EmptySegment { position: 1 }),
            ("a//b", EmptySegment { position: 2 }),
            ("a/", EmptySegment { position: 2 }),
            (
                "a/./b",
                DotSegment {
                    segment: ".".into(),
                },
            ),
            (
                "..",
                DotSegment {
                    segment: "..".into(),
                },
            ),
            ("a{b}", brace("a{b}")),
            ("{a}b", brace("{a}b")),
            ("{a", brace("{a")),
            ("a}", brace("a}")),
            ("{{a}}", brace("{{a}}")),
            ("{a}{b}", brace("{a}{b}")),
            (
                "{*rest}",
                CatchAll {
                    name: "*rest".into(),
                },
            ),
            ("{}", name("")),
            ("{1a}", name("1a")),
            ("{a-b}", name("a-b")),
            ("{a b}", name("a b")),
            ("{é}", name("é")),
            ("{a}/x/{a}", DuplicateParam { name: "a".into() }),
            ("a b", chr("a b", ' ')),
            ("a%20b", chr("a%20b", '%')),
            ("café", chr("café", 'é')),
            ("a?b", chr("a?b", '?')),
            ("a#b", chr("a#b", '#')),
            ("a\\b", chr("a\\b", '\\')),
        ];
        for (template, expected) in cases {
            assert_eq!(problem(template), expected, "template {template:?}");
        }
    }

    #[test]
    fn rejects_more_malformed_templates() {
        use TemplateProblem::*;
        let brace = |s: &str| BraceNotWholeSegment { segment: s.into() };
        let name = |s: &str| BadParamName { name: s.into() };
        let cases = [
            ("{a}}", brace("{a}}")),
            ("{{a}", brace("{{a}")),
            ("{", brace("{")),
            ("}", brace("}")),
            ("}{", brace("}{")),
            ("a/{b", brace("{b")),
            ("{*}", CatchAll { name: "*".into() }),
            ("{**}", CatchAll { name: "**".into() }),
            ("{ a }", name(" a ")),
            ("{a\nb}", name("a\nb")),
            ("{:a}", name(":a")),
            ("{a.b}", name("a.b")),
            ("a/{}/b", name("")),
            ("{a}/{b}/{a}", DuplicateParam { name: "a".into() }),
            ("{_}/{_}", DuplicateParam { name: "_".into() }),
            ("///", EmptySegment { position: 1 }),
            ("a/b/", EmptySegment { position: 3 }),
            (
                "a/../b",
                DotSegment {
                    segment: "..".into(),
                },
            ),
            (
                "a\0b",
                BadCharacter {
                    segment: "a\0b".into(),
                    ch: '\0',
                },
            ),
            (
                "a\tb",
                BadCharacter {
                    segment: "a\tb".into(),
                    ch: '\t',
                },
            ),
            (
                "a\r\n",
                BadCharacter {
                    segment: "a\r\n".into(),
                    ch: '\r',
                },
            ),
            (
                "a\"b",
                BadCharacter {
                    segment: "a\"b".into(),
                    ch: '"',
                },
            ),
            (
                "[a]",
                BadCharacter {
                    segment: "[a]".into(),
                    ch: '[',
                },
            ),
        ];
        for (template, expected) in cases {
            assert_eq!(problem(template), expected, "template {template:?}");
        }
    }

    #[test]
    fn parameter_names_are_case_sensitive() {
        let t = table(&[(GET, "{a}/{A}")]);
        assert_eq!(found(&t, &GET, "1/2").1, params(&[("a", "1"), ("A", "2")]));
    }

    #[test]
    fn takes_up_to_max_params_and_refuses_more_instead_of_panicking() {
        let template = |n: usize| {
            (0..n)
                .map(|i| format!("{{p{i}}}"))
                .collect::<Vec<_>>()
                .join("/")
        };
        let path = (0..MAX_PARAMS)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join("/");
        let (_, got) = found(&table(&[(GET, &template(MAX_PARAMS))]), &GET, &path);
        assert_eq!(got.len(), MAX_PARAMS);
        assert_eq!(
            got[MAX_PARAMS - 1],
            (format!("p{}", MAX_PARAMS - 1), (MAX_PARAMS - 1).to_string())
        );
        // `matchit` used to panic on these.
        for n in [MAX_PARAMS + 1, 2000] {
            assert_eq!(problem(&template(n)), TemplateProblem::TooManyParams, "{n}");
        }
        let err = RouteTable::new()
            .insert(GET, &template(26), ())
            .unwrap_err();
        assert!(
            err.to_string().ends_with("it has more than 25 parameters"),
            "{err}"
        );
    }

    #[test]
    fn takes_long_templates_and_paths() {
        let template = vec!["segment"; 5000].join("/") + "/{last}";
        let t = table(&[(GET, &template)]);
        let path = vec!["segment"; 5000].join("/") + "/x";
        assert_eq!(found(&t, &GET, &path).1, params(&[("last", "x")]));
        assert_eq!(t.lookup(&GET, &"a/".repeat(100_000)), NotFound);
    }

    #[test]
    fn accepts_every_allowed_static_character_and_param_name() {
        let all = "AZaz09-._~!$&'()*+,;=:@/x";
        let t = table(&[
            (GET, all),
            (GET, "p/{_}/{a_1}/{Z9}"),
            (GET, "d/.well-known/..x"),
        ]);
        assert_eq!(found(&t, &GET, all).0, 0);
        let expected = params(&[("_", "1"), ("a_1", "2"), ("Z9", "3")]);
        assert_eq!(found(&t, &GET, "p/1/2/3").1, expected);
        assert_eq!(found(&t, &GET, "d/.well-known/..x").0, 2);
    }

    #[test]
    fn explains_errors_in_their_messages() {
        let err = RouteTable::new()
            .insert(GET, "api/{*rest}", ())
            .unwrap_err();
        let expected = "invalid route template `api/{*rest}`: `{*rest}`: catch-all parameters are not supported";
        assert_eq!(err.to_string(), expected);
        let expected = "`a{b}`: `{` and `}` may only enclose a whole segment, like `{name}`";
        assert_eq!(problem("a{b}").to_string(), expected);
    }

    #[test]
    fn rejects_a_duplicate_method_and_template() {
        let mut t = table(&[(GET, "api/{id}")]);
        let err = t.insert(GET, "/api/{id}", 9).unwrap_err();
        assert_eq!(
            err,
            RouteError::Duplicate {
                method: GET,
                template: "api/{id}".into()
            }
        );
        assert_eq!(err.to_string(), "route GET `api/{id}` is declared twice");
        // The failed insert left the original in place.
        assert_eq!(found(&t, &GET, "api/1").0, 0);
    }

    #[test]
    fn rejects_a_route_matching_the_same_paths_under_the_same_method() {
        let mut t = table(&[(GET, "api/{id}/stock")]);
        let err = t.insert(GET, "api/{sku}/stock", 9).unwrap_err();
        let (template, existing) = ("api/{sku}/stock".into(), "api/{id}/stock".into());
        assert_eq!(
            err,
            RouteError::Conflict {
                method: GET,
                template,
                existing
            }
        );
        assert_eq!(found(&t, &GET, "api/1/stock").1, params(&[("id", "1")]));
    }

    #[test]
    fn allows_overlapping_shapes_and_the_same_template_under_other_methods() {
        let mut t = table(&[(GET, "api/{id}/stock")]);
        t.insert(GET, "api/{sku}/price", 1).unwrap();
        t.insert(GET, "api/special/stock", 2).unwrap();
        t.insert(POST, "api/{other}/stock", 3).unwrap();
        assert_eq!(found(&t, &GET, "api/1/price").1, params(&[("sku", "1")]));
        assert_eq!(found(&t, &POST, "api/1/stock").1, params(&[("other", "1")]));
    }

    #[test]
    fn debug_lists_routes_without_requiring_debug_values() {
        struct Opaque;
        let mut t = RouteTable::new();
        t.insert(POST, "b", Opaque).unwrap();
        t.insert(GET, "a/{x}", Opaque).unwrap();
        assert_eq!(format!("{t:?}"), r#"{"GET": {"a/{x}"}, "POST": {"b"}}"#);
    }

    #[test]
    fn normalizes_only_unreserved_escapes() {
        assert!(matches!(
            normalize_unreserved("plain"),
            Cow::Borrowed("plain")
        ));
        assert_eq!(normalize_unreserved("%41%2F%2f%7e%25%"), "A%2F%2f~%25%");
        assert_eq!(normalize_unreserved("%4"), "%4");
        assert_eq!(normalize_unreserved("%%41"), "%A");
        assert_eq!(normalize_unreserved("%é%41"), "%éA");
    }

    /// Escapes only what would break the path: controls, space, `/`, `%`, `?`, `#`.
    const MINIMAL: &AsciiSet = &CONTROLS.add(b' ').add(b'/').add(b'%').add(b'?').add(b'#');

    proptest! {
        #[test]
        fn round_trips_any_param_value_through_percent_encoding(
            value in "\\PC{1,12}|[/%?#+ .\u{0}-\u{1f}]{1,6}",
            minimal in any::<bool>(),
        ) {
            let t = table(&[(GET, "a/{p}/z"), (GET, "a/static/z")]);
            let set = if minimal { MINIMAL } else { NON_ALPHANUMERIC };
            let path = format!("a/{}/z", utf8_percent_encode(&value, set));
            match t.lookup(&GET, &path) {
                RouteMatch::Found { value: &1, .. } => prop_assert_eq!(value, "static"),
                RouteMatch::Found { value: &0, params: p } => prop_assert_eq!(p, params(&[("p", &value)])),
                other => prop_assert!(false, "{path:?} gave {other:?}"),
            }
        }

        #[test]
        fn lookup_never_panics(path in "\\PC{0,24}|[a%/{}2F]{0,24}") {
            let t = table(&[(GET, "a/{p}"), (POST, "{q}/b")]);
            let _ = t.lookup(&GET, &path);
            let _ = t.lookup(&Method::PUT, &path);
        }
    }
}

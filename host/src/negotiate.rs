//! Chooses SSE or JSON mode from the request's `Accept` header (SPEC S3).
//!
//! # Rule
//! The response is **SSE** if and only if
//! 1. `text/event-stream` is listed explicitly (a wildcard such as `*/*` or `text/*` never selects
//!    SSE: curl and most HTTP libraries send `*/*` and expect a plain response), and
//! 2. its q-value is above 0, and
//! 3. its q-value is at least the one that applies to `application/json`: from the most specific
//!    range that matches it (`application/json`, else `application/*`, else `*/*`; 0 if none).
//!    A tie goes to SSE, so `Accept: application/json, text/event-stream` streams.
//!
//! Everything else is **JSON**, including a missing or empty header.
//!
//! # Parsing (RFC 9110 §12.5.1)
//! - All `Accept` lines combine as one comma-separated list; empty list elements are ignored.
//! - Types, subtypes and parameter names are case-insensitive; parameters (`charset=utf-8`,
//!   quoted strings with `,` or `;` inside) are accepted and otherwise ignored.
//! - `q` is `0`–`1` with at most three decimals (`0`, `0.5`, `1.000`); a missing `q` means 1.
//!   Only the first `q` counts (later parameters are extensions).
//! - Spaces and tabs are allowed around every token and separator.
//! - A malformed range (bad token, `*/json`, bad `q`, parameter without `=`, unterminated quote)
//!   is skipped on its own; the rest of the header still counts.
//! - A range listed several times counts with its highest q.
//!
//! Pure: no I/O, no allocation.

/// How the ingress answers: a Server-Sent-Events stream or a single JSON response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `text/event-stream`: every value the component yields becomes an event.
    Sse,
    /// `application/json`: the first value the component yields is the response.
    Json,
}

/// q-values in thousandths, so comparisons are exact.
type Q = u16;
const Q_MAX: Q = 1000;

/// Picks the mode from the values of all `Accept` header lines; see the module docs for the rule.
pub fn negotiate<'a>(accept: impl IntoIterator<Item = &'a str>) -> Mode {
    let mut sse: Option<Q> = None;
    // The best q per specificity: `application/json`, `application/*`, `*/*`.
    let mut json: [Option<Q>; 3] = [None; 3];
    for header in accept {
        for element in split_unquoted(header, b',') {
            let Some(range) = parse_range(element) else {
                continue;
            };
            let slot = match (range.ty, range.subtype) {
                (ty, sub) if is(ty, "text") && is(sub, "event-stream") => &mut sse,
                (ty, sub) if is(ty, "application") && is(sub, "json") => &mut json[0],
                (ty, "*") if is(ty, "application") => &mut json[1],
                ("*", "*") => &mut json[2],
                _ => continue,
            };
            *slot = Some(slot.map_or(range.q, |old| old.max(range.q)));
        }
    }
    let sse = sse.unwrap_or(0);
    let json = json.into_iter().flatten().next().unwrap_or(0);
    if sse > 0 && sse >= json {
        Mode::Sse
    } else {
        Mode::Json
    }
}

struct Range<'a> {
    ty: &'a str,
    subtype: &'a str,
    q: Q,
}

fn is(token: &str, expected: &str) -> bool {
    token.eq_ignore_ascii_case(expected)
}

fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// Parses one list element; `None` if it is malformed.
fn parse_range(element: &str) -> Option<Range<'_>> {
    let mut parts = split_unquoted(element, b';');
    let media = trim_ows(parts.next()?);
    let (ty, subtype) = media.split_once('/')?;
    let (ty, subtype) = (trim_ows(ty), trim_ows(subtype));
    if !is_token(ty) || !is_token(subtype) || (ty == "*" && subtype != "*") {
        return None;
    }
    let mut q = None;
    for param in parts {
        let param = trim_ows(param);
        if param.is_empty() {
            // `text/event-stream;` or `;;`: harmless, so not worth dropping the range for.
            continue;
        }
        let (name, value) = param.split_once('=')?;
        let (name, value) = (trim_ows(name), trim_ows(value));
        if !is_token(name) || !(is_token(value) || is_quoted_string(value)) {
            return None;
        }
        if q.is_none() && is(name, "q") {
            q = Some(parse_qvalue(value)?);
        }
    }
    Some(Range {
        ty,
        subtype,
        q: q.unwrap_or(Q_MAX),
    })
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn parse_qvalue(value: &str) -> Option<Q> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |acc, b| acc * 10 + Q::from(b - b'0'));
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(Q_MAX),
        _ => None,
    }
}

/// RFC 9110 `token`: one or more `tchar`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// RFC 9110 `quoted-string`, escapes included; an unterminated or stray quote fails.
fn is_quoted_string(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return false;
    };
    let mut escaped = false;
    for b in inner.bytes() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return false,
            _ => {}
        }
    }
    !escaped
}

/// Splits on `delim` outside quoted strings, so `x="a,b"` stays whole.
fn split_unquoted(s: &str, delim: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let text = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, b) in text.bytes().enumerate() {
            if escaped {
                escaped = false;
            } else if quoted && b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = !quoted;
            } else if !quoted && b == delim {
                // `delim` is ASCII, so `i` and `i + 1` are char boundaries.
                rest = Some(&text[i + 1..]);
                return Some(&text[..i]);
            }
        }
        rest = None;
        Some(text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mode(header: &str) -> Mode {
        negotiate([header])
    }

    #[track_caller]
    fn assert_modes(expected: Mode, headers: &[&str]) {
        for header in headers {
            assert_eq!(mode(header), expected, "Accept: {header}");
        }
    }

    #[test]
    fn is_json_without_an_accept_header() {
        assert_eq!(negotiate([]), Mode::Json);
        assert_modes(Mode::Json, &["", " ", ",", " , ,\t"]);
    }

    #[test]
    fn is_sse_for_an_explicit_event_stream() {
        assert_modes(
            Mode::Sse,
            &[
                "text/event-stream",
                "TEXT/Event-Stream",
                "text/event-stream; charset=utf-8",
                "text/event-stream;charset=\"utf-8\"",
                "text/event-stream;x=\"a,b;c\\\"d\"",
                "text/event-stream;",
                "text/event-stream;;charset=utf-8;",
                ", , text/event-stream,,",
            ],
        );
    }

    #[test]
    fn never_selects_sse_from_a_wildcard() {
        assert_modes(
            Mode::Json,
            &[
                "*/*",
                "text/*",
                "text/*, */*",
                "text/*;q=1, application/json;q=0.1",
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                "text/plain",
                "application/json",
            ],
        );
    }

    #[test]
    fn is_json_when_event_stream_has_q_zero() {
        assert_modes(
            Mode::Json,
            &[
                "text/event-stream;q=0",
                "text/event-stream;q=0.000",
                "text/event-stream;q=0, application/json;q=0",
                "text/event-stream;q=0, */*;q=0",
            ],
        );
    }

    #[test]
    fn compares_event_stream_with_the_q_of_json() {
        assert_modes(
            Mode::Sse,
            &[
                "application/json, text/event-stream",
                "text/event-stream, application/json",
                "application/json;q=0.5, text/event-stream;q=0.5",
                "application/json;q=0, text/event-stream;q=0.001",
                "text/event-stream;q=0.5, */*;q=0.1",
                "text/event-stream;q=0.001, text/html",
            ],
        );
        assert_modes(
            Mode::Json,
            &[
                "application/json;q=1, text/event-stream;q=0.9",
                "text/event-stream;q=0.999, application/json",
                "text/event-stream;q=0.5, */*",
            ],
        );
    }

    #[test]
    fn uses_the_most_specific_range_for_json() {
        assert_modes(
            Mode::Json,
            &[
                "text/event-stream;q=0.5, application/*;q=0.6",
                "text/event-stream;q=0.5, application/*;q=0.6, */*;q=0.1",
            ],
        );
        assert_modes(
            Mode::Sse,
            &[
                "text/event-stream;q=0.5, application/*;q=0.6, application/json;q=0.4",
                "text/event-stream;q=0.5, */*;q=0.9, application/json;q=0.1",
                "text/event-stream;q=0.5, */*;q=0.9, application/*;q=0.2",
                "text/event-stream;q=0.5, application/json;q=0",
                "application/json;q=0, */*, text/event-stream;q=0.1",
            ],
        );
    }

    #[test]
    fn takes_the_highest_q_of_a_repeated_range() {
        assert_modes(
            Mode::Sse,
            &[
                "text/event-stream;q=0, text/event-stream;charset=utf-8;q=0.8, application/json;q=0.7",
            ],
        );
        assert_modes(
            Mode::Json,
            &["application/json;q=0.1, application/json;charset=utf-8, text/event-stream;q=0.9"],
        );
    }

    #[test]
    fn combines_several_header_lines() {
        assert_eq!(
            negotiate(["application/json;q=0.9", "text/event-stream"]),
            Mode::Sse
        );
        assert_eq!(
            negotiate(["text/event-stream;q=0.5", "application/json"]),
            Mode::Json
        );
        assert_eq!(negotiate(["text/event-stream", ""]), Mode::Sse);
        // A quote left open on one line does not swallow the next line.
        assert_eq!(negotiate(["x/y;a=\"open", "text/event-stream"]), Mode::Sse);
    }

    #[test]
    fn allows_whitespace_around_every_token() {
        assert_modes(
            Mode::Sse,
            &[
                "  text/event-stream  ",
                "\ttext / event-stream\t;\tq = 0.7 , application/json ; q=0.5",
                "text/event-stream ; charset = utf-8",
                "application/json ;q= 0.1,text/event-stream",
            ],
        );
    }

    #[test]
    fn accepts_every_valid_qvalue_form() {
        for (q, thousandths) in [
            ("0", 0),
            ("0.", 0),
            ("0.5", 500),
            ("0.05", 50),
            ("0.001", 1),
            ("0.999", 999),
            ("1", 1000),
            ("1.", 1000),
            ("1.0", 1000),
            ("1.000", 1000),
        ] {
            assert_eq!(parse_qvalue(q), Some(thousandths), "q={q}");
        }
        for q in [
            "", ".", ".5", "2", "1.001", "1.5", "0.5555", "01", "-0", "+1", "0,5", "0.5x", "a",
            "1e0", "0.-1",
        ] {
            assert_eq!(parse_qvalue(q), None, "q={q}");
        }
        assert_modes(
            Mode::Sse,
            &["text/event-stream;Q=1, application/json;Q=0.9"],
        );
    }

    #[test]
    fn skips_only_the_malformed_ranges() {
        assert_modes(
            Mode::Sse,
            &[
                "garbage, text/event-stream",
                "text/event-stream, application/json;q=2",
                "text/event-stream, application/json;q=0.5555",
                "text/event-stream, application/json;charset",
                "text/event-stream, */json",
                "text/event-stream;q=0.5, application/json;q=abc",
            ],
        );
        assert_modes(
            Mode::Json,
            &[
                "text/event-stream;q=2",
                "text/event-stream;q=1.001",
                "text/event-stream;q=0.5555",
                "text/event-stream;q=",
                "text/event-stream;q=.5",
                "text/event-stream;q=\"1\"",
                "text/event-stream;charset",
                "text/event-stream;=x",
                "text/event-stream;a b=c",
                "text/event-stream;x=\"open",
                "text/event-stream;x=a\"b\"",
                "text/event-stream/extra",
                "text/event stream",
                "text/",
                "/event-stream",
                "text\\/event-stream",
                "*/event-stream",
                "text/event-stream\u{a0}",
                "application/json;x=\"a, text/event-stream",
            ],
        );
    }

    #[test]
    fn only_the_first_q_counts() {
        assert_modes(Mode::Json, &["text/event-stream;q=0;q=1"]);
        assert_modes(Mode::Sse, &["text/event-stream;q=1;q=0"]);
    }

    #[test]
    fn recognises_quoted_strings_exactly() {
        for ok in ["\"\"", "\"a\"", "\"a,b;c\"", "\"a\\\"b\"", "\"a\\\\\""] {
            assert!(is_quoted_string(ok), "{ok}");
        }
        for bad in ["\"", "a", "\"a", "a\"", "\"a\"b\"", "\"a\\\""] {
            assert!(!is_quoted_string(bad), "{bad}");
        }
    }

    #[test]
    fn handles_huge_headers_and_control_characters() {
        let many = "x/y;q=0.5, ".repeat(100_000);
        assert_eq!(mode(&format!("{many}text/event-stream")), Mode::Sse);
        assert_eq!(mode(&format!("{many}application/json")), Mode::Json);
        let quoted = format!("x/y;a=\"{}\", text/event-stream", "\\\"".repeat(100_000));
        assert_eq!(mode(&quoted), Mode::Sse);
        let open = format!("x/y;a=\"{}, text/event-stream", ",".repeat(100_000));
        assert_eq!(
            mode(&open),
            Mode::Json,
            "an open quote swallows the rest of its line"
        );
        assert_eq!(negotiate(vec![""; 10_000]), Mode::Json);
        for bad in [
            "text/event-stream\0",
            "text/event\0-stream",
            "text/event-stream;q=\x001",
            "\u{feff}text/event-stream",
        ] {
            assert_eq!(mode(bad), Mode::Json, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(lines in prop::collection::vec(any::<String>(), 0..4)) {
            let _ = negotiate(lines.iter().map(String::as_str));
        }

        #[test]
        fn never_panics_on_header_like_text(header in "[ \t,;=\"\\\\/*qa-zA-Z0-9.]{0,40}") {
            let _ = negotiate([header.as_str()]);
        }

        #[test]
        fn is_json_unless_event_stream_is_named(header in "[ \t,;=\"\\\\/*qa-zA-Z0-9.-]{0,40}") {
            prop_assume!(!header.to_ascii_lowercase().contains("event-stream"));
            prop_assert_eq!(mode(&header), Mode::Json);
        }

        #[test]
        fn wins_with_event_stream_first_at_q_one(rest in "[ \t,;=\"/*a-z0-9.]{0,30}") {
            // No range can beat q=1, and a tie goes to SSE, whatever follows.
            prop_assert_eq!(mode(&format!("text/event-stream,{rest}")), Mode::Sse);
        }
    }
}

//! The reversible mapping between bus topics and NATS subjects.
//!
//! A topic's `/`-separated segments become the subject's `.`-separated tokens, after a
//! prefix (default `sluice`): `actors/order/ORD-1` → `sluice.actors.order.ORD-1`. Inside a
//! segment, ASCII letters, digits, `-` and `_` stay as they are; every other byte (of the
//! segment's UTF-8) becomes `%` and two upper-case hex digits, so `.`, `*`, `>`, `%`, `:` and
//! non-ASCII text can never split a token or act as a NATS wildcard:
//! `feeds/v1.2>*` → `sluice.feeds.v1%2E2%3E%2A`.
//!
//! Every valid topic (see [`validate_topic`](crate::backends::bus::validate_topic)) maps to a
//! valid literal subject, distinct topics to distinct subjects, and [`subject_to_topic`] gives
//! the topic back; it refuses any subject that [`topic_to_subject`] would not produce.

/// Check a subject prefix: one or more `.`-separated tokens of ASCII letters, digits, `-`
/// and `_`.
pub fn validate_prefix(prefix: &str) -> Result<(), String> {
    let ok = !prefix.is_empty()
        && prefix
            .split('.')
            .all(|token| !token.is_empty() && token.bytes().all(keeps));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "subject prefix {prefix:?} must be '.'-separated tokens of letters, digits, '-' and '_'"
        ))
    }
}

fn keeps(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

/// The subject of `topic` under `prefix`. `topic` must be valid (non-empty segments).
pub fn topic_to_subject(prefix: &str, topic: &str) -> String {
    let mut subject = String::with_capacity(prefix.len() + 1 + topic.len() * 3);
    subject.push_str(prefix);
    for segment in topic.split('/') {
        subject.push('.');
        for byte in segment.bytes() {
            if keeps(byte) {
                subject.push(char::from(byte));
            } else {
                subject.push('%');
                subject.push(hex_digit(byte >> 4));
                subject.push(hex_digit(byte & 0xf));
            }
        }
    }
    subject
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789ABCDEF"[usize::from(nibble)])
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// The topic of `subject`, or `None` when `subject` is not under `prefix` or is not exactly
/// what [`topic_to_subject`] produces for some topic.
pub fn subject_to_topic(prefix: &str, subject: &str) -> Option<String> {
    let rest = subject.strip_prefix(prefix)?.strip_prefix('.')?;
    let mut bytes = Vec::with_capacity(rest.len());
    for (index, token) in rest.split('.').enumerate() {
        if token.is_empty() {
            return None;
        }
        if index > 0 {
            bytes.push(b'/');
        }
        let mut chars = token.bytes();
        while let Some(byte) = chars.next() {
            if keeps(byte) {
                bytes.push(byte);
                continue;
            }
            if byte != b'%' {
                return None;
            }
            let high = hex_value(chars.next()?)?;
            let low = hex_value(chars.next()?)?;
            let decoded = high << 4 | low;
            // An escape of a byte that is kept as itself is not canonical.
            if keeps(decoded) || decoded == b'/' {
                return None;
            }
            bytes.push(decoded);
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::bus::validate_topic;
    use proptest::prelude::*;

    const P: &str = "sluice";

    #[test]
    fn ordinary_topics_read_naturally() {
        assert_eq!(
            topic_to_subject(P, "actors/order/ORD-1"),
            "sluice.actors.order.ORD-1"
        );
        assert_eq!(topic_to_subject("t.x_1", "a"), "t.x_1.a");
    }

    #[test]
    fn special_characters_are_escaped() {
        for (topic, subject) in [
            ("feeds/v1.2>*", "sluice.feeds.v1%2E2%3E%2A"),
            ("a/>", "sluice.a.%3E"),
            ("a/*", "sluice.a.%2A"),
            ("100%/x:y", "sluice.100%25.x%3Ay"),
            ("é", "sluice.%C3%A9"),
            ("$JS/x", "sluice.%24JS.x"),
            ("a\\b", "sluice.a%5Cb"),
        ] {
            assert_eq!(topic_to_subject(P, topic), subject, "{topic}");
            assert_eq!(subject_to_topic(P, subject).as_deref(), Some(topic));
        }
    }

    #[test]
    fn every_single_byte_segment_round_trips() {
        for byte in 0u8..=0x7f {
            let topic = format!("x/{}y", char::from(byte));
            if byte == b'/' || validate_topic(&topic).is_err() {
                continue;
            }
            let subject = topic_to_subject(P, &topic);
            assert!(is_literal_subject(&subject), "{subject:?}");
            assert_eq!(subject_to_topic(P, &subject), Some(topic));
        }
    }

    #[test]
    fn refuses_subjects_it_would_not_produce() {
        for subject in [
            "other.a",
            "sluice",
            "sluice.",
            "sluiceX.a",
            "sluice.a..b",
            "sluice.a.",
            "sluice.a*",
            "sluice.>",
            "sluice.%41", // 'A' escaped: not canonical
            "sluice.%2F", // '/' would merge segments
            "sluice.%2e", // lower-case hex
            "sluice.%2",  // truncated
            "sluice.%C3", // not UTF-8
            "sluice.a:b", // ':' must be escaped
        ] {
            assert_eq!(subject_to_topic(P, subject), None, "{subject}");
        }
    }

    #[test]
    fn prefixes_are_checked() {
        for ok in ["sluice", "a.b", "SL_1-x"] {
            assert!(validate_prefix(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a.", ".a", "a..b", "a*", "a>", "a b", "a%b"] {
            assert!(validate_prefix(bad).is_err(), "{bad}");
        }
    }

    /// What NATS accepts as a subject to publish on: tokens without whitespace, and no token
    /// that is a wildcard.
    fn is_literal_subject(subject: &str) -> bool {
        !subject.is_empty()
            && subject.split('.').all(|token| {
                !token.is_empty()
                    && token != "*"
                    && token != ">"
                    && !token.contains(|c: char| c.is_whitespace() || c.is_control())
            })
    }

    proptest! {
        #[test]
        fn any_valid_topic_round_trips_to_a_literal_subject(topic in "\\PC{1,40}") {
            prop_assume!(validate_topic(&topic).is_ok());
            let subject = topic_to_subject(P, &topic);
            prop_assert!(is_literal_subject(&subject), "{}", subject);
            prop_assert!(subject.bytes().all(|b| b.is_ascii_graphic()));
            prop_assert_eq!(subject_to_topic(P, &subject), Some(topic));
        }

        #[test]
        fn segment_soup_round_trips(segments in proptest::collection::vec("[a-z.*>%:/é$~]{1,6}", 1..6)) {
            let topic = segments.join("/");
            prop_assume!(validate_topic(&topic).is_ok());
            let subject = topic_to_subject(P, &topic);
            prop_assert!(is_literal_subject(&subject));
            prop_assert_eq!(subject_to_topic(P, &subject), Some(topic));
        }

        #[test]
        fn distinct_topics_get_distinct_subjects(
            a in proptest::collection::vec("[ab.%>]{1,3}", 1..3),
            b in proptest::collection::vec("[ab.%>]{1,3}", 1..3),
        ) {
            let (a, b) = (a.join("/"), b.join("/"));
            prop_assume!(a != b && validate_topic(&a).is_ok() && validate_topic(&b).is_ok());
            prop_assert_ne!(topic_to_subject(P, &a), topic_to_subject(P, &b));
        }

        #[test]
        fn decoding_any_subject_is_the_inverse_or_refuses(subject in "sluice\\.[a-zA-Z0-9%.:*>_-]{1,12}") {
            if let Some(topic) = subject_to_topic(P, &subject) {
                prop_assert_eq!(topic_to_subject(P, &topic), subject);
            }
        }
    }
}

//! The request id: the client's `x-request-id` when it is well formed, else a fresh UUID. It
//! names the request in every log line about it (a `request` span) and goes back to the
//! client in the response's `x-request-id`, so a client's report and the host's log meet.

use http::{HeaderMap, HeaderName, HeaderValue};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest id taken from a client; longer ones are replaced, never cut.
const MAX_LEN: usize = 128;

/// The id for a request with `headers`.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    let mut given = headers.get_all(&X_REQUEST_ID).iter();
    match (given.next(), given.next()) {
        (Some(id), None) if is_well_formed(id.as_bytes()) => id.clone(),
        _ => fresh(),
    }
}

/// 1 to 128 characters that need no quoting anywhere a log or a header puts them: letters,
/// digits and `-_.:+/=` (so UUIDs, ULIDs, base64 and trace ids pass).
fn is_well_formed(id: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-_.:+/=".contains(&b))
}

fn fresh() -> HeaderValue {
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    HeaderValue::try_from(id).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                X_REQUEST_ID,
                HeaderValue::from_bytes(value).expect("a header value"),
            );
        }
        headers
    }

    fn is_fresh(id: &HeaderValue) -> bool {
        id.to_str()
            .ok()
            .and_then(|id| uuid::Uuid::parse_str(id).ok())
            .is_some_and(|uuid| uuid.get_version_num() == 4)
    }

    #[test]
    fn a_well_formed_id_is_kept() {
        for id in [
            &b"abc-123"[..],
            b"0f8fad5b-d9cb-469f-a165-70867728950e",
            b"01ARZ3NDEKTSV4RRFFQ69G5FAV",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"dGVzdA==",
            b"a.b_c:d+e/f",
            &[b'x'; MAX_LEN],
        ] {
            assert_eq!(request_id(&headers(&[id])).as_bytes(), id);
        }
    }

    #[test]
    fn a_missing_or_malformed_id_is_replaced_by_a_fresh_uuid() {
        let too_long = [b'x'; MAX_LEN + 1];
        for given in [
            &[][..],
            &[&b""[..]],
            &[b"has space"],
            &[b"quote\""],
            &[b"new\tline"],
            &[b"\xc3\xa9t\xc3\xa9"],
            &[&too_long[..]],
            &[b"two", b"ids"],
        ] {
            let id = request_id(&headers(given));
            assert!(is_fresh(&id), "{given:?} gave {id:?}");
        }
    }

    #[test]
    fn fresh_ids_differ() {
        assert_ne!(request_id(&HeaderMap::new()), request_id(&HeaderMap::new()));
    }
}

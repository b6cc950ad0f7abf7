use std::path::PathBuf;

use http::HeaderMap;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::*;

/// Test-only keys, shared with the end-to-end tests.
fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/auth")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).expect("fixture")
}

const HS256_SECRET: &[u8] = b"test-only-hs256-secret-of-at-least-32-bytes";

fn config(yaml: &str) -> AuthConfig {
    serde_norway::from_str(yaml).expect("auth config")
}

fn every_key() -> Authenticator {
    let config = config(
        "audience: sluice\n\
         keys:\n\
         - { algorithm: HS256, secretFile: hs256.key }\n\
         - { algorithm: RS256, publicKeyFile: rsa-public.pem }\n\
         - { algorithm: ES256, publicKeyFile: ec-public.pem }\n",
    );
    Authenticator::load(&config, &fixtures()).expect("loads")
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn claims(extra: Value) -> Value {
    let mut claims = json!({ "sub": "ada", "aud": "sluice", "exp": now() + 600,
                             "scope": "ingresses/api/whoami:http orders/*:read" });
    for (name, value) in extra.as_object().expect("object") {
        claims[name] = value.clone();
    }
    claims
}

fn sign(algorithm: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(algorithm), claims, key).expect("signs")
}

fn hs256(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(HS256_SECRET),
        claims,
    )
}

fn rs256(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(&fixture("rsa-private.pem")).expect("rsa key");
    sign(Algorithm::RS256, &key, claims)
}

fn es256(claims: &Value) -> String {
    let key = EncodingKey::from_ec_pem(&fixture("ec-private.pem")).expect("ec key");
    sign(Algorithm::ES256, &key, claims)
}

fn bearer(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value.parse().expect("header value"));
    headers
}

fn authenticate(auth: &Authenticator, token: &str) -> Result<Option<Caller>, Rejection> {
    auth.authenticate(&bearer(&format!("Bearer {token}")))
}

fn rejected(auth: &Authenticator, token: &str) -> &'static str {
    match authenticate(auth, token) {
        Err(Rejection::InvalidToken(reason)) => reason,
        other => panic!("{token} was not rejected: {other:?}"),
    }
}

#[test]
fn no_credentials_is_no_caller() {
    let auth = every_key();
    assert_eq!(auth.authenticate(&HeaderMap::new()), Ok(None));
    // Another scheme carries no bearer token either.
    assert_eq!(auth.authenticate(&bearer("Basic YWRhOnB3")), Ok(None));
    assert_eq!(auth.authenticate(&bearer("Bearer")), Ok(None));
}

#[test]
fn malformed_bearer_values_are_invalid_tokens() {
    let auth = every_key();
    for value in [
        "Bearer \"abc\"",
        "Bearer a b",
        "Bearer =abc",
        "Bearer ab,c",
        "Bearer é",
    ] {
        let headers = match value.parse() {
            Ok(value) => {
                let mut headers = HeaderMap::new();
                headers.insert(AUTHORIZATION, value);
                headers
            }
            Err(_) => continue,
        };
        assert!(
            matches!(auth.authenticate(&headers), Err(Rejection::InvalidToken(_))),
            "{value}"
        );
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        http::HeaderValue::from_bytes(b"Bearer \xff").expect("opaque bytes"),
    );
    assert_eq!(
        auth.authenticate(&headers),
        Err(Rejection::InvalidToken(
            "the Authorization header is not ASCII"
        ))
    );
}

#[test]
fn each_algorithm_verifies_with_its_key_and_yields_subject_and_scope() {
    let auth = every_key();
    for token in [
        hs256(&claims(json!({}))),
        rs256(&claims(json!({}))),
        es256(&claims(json!({}))),
    ] {
        let caller = authenticate(&auth, &token)
            .expect("valid")
            .expect("a caller");
        assert_eq!(caller.subject.as_deref(), Some("ada"));
        assert_eq!(
            caller.permissions,
            ["ingresses/api/whoami:http", "orders/*:read"]
        );
        assert!(caller.may_call("api/whoami"));
        assert!(!caller.may_call("api/hello"));
    }
    // The scheme is case-insensitive.
    let token = hs256(&claims(json!({})));
    let caller = auth.authenticate(&bearer(&format!("bearer {token}")));
    assert!(matches!(caller, Ok(Some(_))));
}

#[test]
fn bad_signature_expired_future_and_wrong_audience_are_rejected_with_the_reason() {
    let auth = every_key();
    let other_secret = EncodingKey::from_secret(b"another-secret-that-is-also-32-bytes-long");
    let forged = sign(Algorithm::HS256, &other_secret, &claims(json!({})));
    assert_eq!(rejected(&auth, &forged), "the signature does not verify");

    // Tampering with the payload of a good token breaks its signature.
    let good = rs256(&claims(json!({})));
    let mut parts: Vec<&str> = good.split('.').collect();
    let widened = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(json!({ "scope": "ingresses/*/*:http" })),
        &EncodingKey::from_secret(b"x"),
    )
    .expect("signs");
    parts[1] = widened.split('.').nth(1).expect("payload");
    assert_eq!(
        rejected(&auth, &parts.join(".")),
        "the signature does not verify"
    );

    let expired = hs256(&claims(json!({ "exp": now() - 3600 })));
    assert_eq!(rejected(&auth, &expired), "the token has expired");
    let future = es256(&claims(json!({ "nbf": now() + 3600 })));
    assert_eq!(rejected(&auth, &future), "the token is not valid yet");
    let elsewhere = rs256(&claims(json!({ "aud": "billing" })));
    assert_eq!(
        rejected(&auth, &elsewhere),
        "the token is meant for another audience"
    );
    let mut no_exp = claims(json!({}));
    no_exp.as_object_mut().expect("object").remove("exp");
    assert_eq!(
        rejected(&auth, &hs256(&no_exp)),
        "the token has no exp claim"
    );
    let mut no_aud = claims(json!({}));
    no_aud.as_object_mut().expect("object").remove("aud");
    assert_eq!(
        rejected(&auth, &hs256(&no_aud)),
        "the token has no aud claim"
    );
}

#[test]
fn expiry_allows_the_configured_leeway() {
    let auth = every_key();
    let just_expired = hs256(&claims(json!({ "exp": now() - 10 })));
    assert!(matches!(authenticate(&auth, &just_expired), Ok(Some(_))));
}

#[test]
fn issuer_is_checked_when_configured() {
    let config = config(
        "issuer: https://login.example/\nkeys:\n- { algorithm: HS256, secretFile: hs256.key }\n",
    );
    let auth = Authenticator::load(&config, &fixtures()).expect("loads");
    let right = hs256(&claims(json!({ "iss": "https://login.example/" })));
    assert!(matches!(authenticate(&auth, &right), Ok(Some(_))));
    let wrong = hs256(&claims(json!({ "iss": "https://evil.example/" })));
    assert_eq!(rejected(&auth, &wrong), "the token is from another issuer");
    // No audience configured: `aud` is neither needed nor checked.
    let mut no_aud = claims(json!({ "iss": "https://login.example/" }));
    no_aud.as_object_mut().expect("object").remove("aud");
    assert!(matches!(authenticate(&auth, &hs256(&no_aud)), Ok(Some(_))));
}

#[test]
fn a_token_cannot_choose_a_weaker_algorithm() {
    // The classic confusion: an HS256 token keyed with the RSA *public* key, sent to a host
    // that only knows that key as RS256.
    let config = config("keys:\n- { algorithm: RS256, publicKeyFile: rsa-public.pem }\n");
    let auth = Authenticator::load(&config, &fixtures()).expect("loads");
    let confused = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(&fixture("rsa-public.pem")),
        &claims(json!({})),
    );
    assert_eq!(
        rejected(&auth, &confused),
        "no key here verifies this token's algorithm"
    );

    // `alg: none` is not even a JWT to us.
    let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = b64(claims(json!({})).to_string().as_bytes());
    assert_eq!(
        rejected(&auth, &format!("{header}.{payload}.")),
        "the token is neither a known token nor a JWT"
    );
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn key_ids_pick_among_keys_of_one_algorithm() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("a.key"),
        "key-a-0123456789-0123456789-0123456789",
    )
    .expect("a");
    std::fs::write(
        dir.path().join("b.key"),
        "key-b-0123456789-0123456789-0123456789",
    )
    .expect("b");
    let config = config(
        "keys:\n- { algorithm: HS256, secretFile: a.key, kid: a }\n- { algorithm: HS256, secretFile: b.key, kid: b }\n",
    );
    let auth = Authenticator::load(&config, dir.path()).expect("loads");
    let signed_by_b = |kid: &str| {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.to_owned());
        let key = EncodingKey::from_secret(b"key-b-0123456789-0123456789-0123456789");
        jsonwebtoken::encode(&header, &claims(json!({})), &key).expect("signs")
    };
    assert!(matches!(
        authenticate(&auth, &signed_by_b("b")),
        Ok(Some(_))
    ));
    assert_eq!(
        rejected(&auth, &signed_by_b("a")),
        "the signature does not verify"
    );
    assert_eq!(
        rejected(&auth, &signed_by_b("c")),
        "no key here verifies this token's algorithm"
    );
    // Without a kid, every key of the algorithm is tried (rotation).
    let no_kid = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(json!({})),
        &EncodingKey::from_secret(b"key-b-0123456789-0123456789-0123456789"),
    )
    .expect("signs");
    assert!(matches!(authenticate(&auth, &no_kid), Ok(Some(_))));
}

#[test]
fn scope_may_be_a_list_but_nothing_else() {
    let auth = every_key();
    let listed = hs256(&claims(
        json!({ "scope": ["ingresses/api/whoami:http", "profile"] }),
    ));
    let caller = authenticate(&auth, &listed)
        .expect("valid")
        .expect("caller");
    assert_eq!(caller.permissions, ["ingresses/api/whoami:http", "profile"]);
    assert!(caller.may_call("api/whoami"));
    let number = hs256(&claims(json!({ "scope": 7 })));
    assert_eq!(rejected(&auth, &number), "the scope claim is not a string");
    let mut no_scope = claims(json!({}));
    no_scope.as_object_mut().expect("object").remove("scope");
    let caller = authenticate(&auth, &hs256(&no_scope))
        .expect("valid")
        .expect("caller");
    assert!(caller.permissions.is_empty());
    assert!(!caller.may_call("api/whoami"));
}

#[test]
fn ingress_permissions_follow_the_acl_wildcards() {
    let caller = |scope: &str| Caller::new(None, scope.split(' ').map(str::to_owned).collect());
    assert!(caller("ingresses/api/whoami:http").may_call("api/whoami"));
    assert!(caller("ingresses/api/whoami:*").may_call("api/whoami"));
    assert!(caller("ingresses/api/*:http").may_call("api/whoami"));
    assert!(!caller("ingresses/api/*:http").may_call("api/skus/stock-events"));
    assert!(caller("ingresses/api/*/*:http").may_call("api/skus/stock-events"));
    assert!(!caller("ingresses/api/whoami:read").may_call("api/whoami"));
    assert!(!caller("ingresses/*:http").may_call("api/whoami"));
    assert!(!caller("profile openid").may_call("api/whoami"));
    assert_eq!(
        ingress_permission("api/whoami"),
        "ingresses/api/whoami:http"
    );
}

#[test]
fn static_tokens_are_found_by_hash() {
    let dir = tempfile::tempdir().expect("dir");
    let hash = hex(&sha256("s3cret-static-token"));
    std::fs::write(
        dir.path().join("tokens.yaml"),
        format!("- sha256: {hash}\n  subject: deploy-bot\n  scope: ingresses/api/*:http\n"),
    )
    .expect("tokens");
    let auth =
        Authenticator::load(&config("tokensFile: tokens.yaml\n"), dir.path()).expect("loads");
    let caller = authenticate(&auth, "s3cret-static-token")
        .expect("valid")
        .expect("caller");
    assert_eq!(caller.subject.as_deref(), Some("deploy-bot"));
    assert!(caller.may_call("api/whoami"));
    assert_eq!(
        rejected(&auth, "s3cret-static-tokeN"),
        "the token is neither a known token nor a JWT"
    );
    // The file holds only the hash.
    let file = std::fs::read_to_string(dir.path().join("tokens.yaml")).expect("read");
    assert!(!file.contains("s3cret"));
}

#[test]
fn bad_setups_name_the_file_and_the_reason() {
    let dir = tempfile::tempdir().expect("dir");
    let write =
        |name: &str, text: &str| std::fs::write(dir.path().join(name), text).expect("write");
    write("short.key", "too short\n");
    write(
        "garbage.pem",
        "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n",
    );
    write("bad-hash.yaml", "- { sha256: abc, subject: x }\n");
    write(
        "plus-hash.yaml",
        &format!("- {{ sha256: \"+{}\", subject: x }}\n", "f".repeat(63)),
    );
    let twice = hex(&sha256("t"));
    write(
        "twice.yaml",
        &format!("- {{ sha256: {twice}, subject: a }}\n- {{ sha256: {twice}, subject: b }}\n"),
    );
    write("typo.yaml", "- { sha256: x, subjekt: a }\n");
    let cases = [
        (
            "keys:\n- { algorithm: HS256, secretFile: missing.key }\n",
            "missing.key",
            "No such file",
        ),
        (
            "keys:\n- { algorithm: HS256, secretFile: short.key }\n",
            "short.key",
            "at least 32 bytes",
        ),
        (
            "keys:\n- { algorithm: RS256, publicKeyFile: garbage.pem }\n",
            "garbage.pem",
            "not an RSA public key",
        ),
        (
            "keys:\n- { algorithm: ES256, publicKeyFile: garbage.pem }\n",
            "garbage.pem",
            "not an EC public key",
        ),
        (
            "tokensFile: bad-hash.yaml\n",
            "bad-hash.yaml",
            "entry 0: sha256 must be 64 hex digits",
        ),
        (
            "tokensFile: plus-hash.yaml\n",
            "plus-hash.yaml",
            "entry 0: sha256 must be 64 hex digits",
        ),
        (
            "tokensFile: twice.yaml\n",
            "twice.yaml",
            "entry 1: the same token is listed twice",
        ),
        (
            "tokensFile: typo.yaml\n",
            "typo.yaml",
            "unknown field `subjekt`",
        ),
    ];
    for (yaml, file, reason) in cases {
        let err = Authenticator::load(&config(yaml), dir.path()).expect_err(yaml);
        let message = err.to_string();
        assert!(
            message.contains(file) && message.contains(reason),
            "{yaml}: {message}"
        );
    }
}

#[test]
fn nothing_configured_accepts_no_token() {
    let auth = Authenticator::default();
    assert_eq!(
        rejected(&auth, &hs256(&claims(json!({})))),
        "no key here verifies this token's algorithm"
    );
    assert_eq!(auth.authenticate(&HeaderMap::new()), Ok(None));
}

//! Callers on the wire (SPEC S6): bearer tokens, 401/403 with their challenges, public
//! ingresses, and the caller as the component sees it.

mod support;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::Host;

const STATIC_TOKEN: &str = "sluice_static-token-for-the-e2e-tests";

/// The demo plus auth settings, test-only keys, a static token, and `whoami` twice: at
/// `api/whoami` (needs `ingresses/api/whoami:http`) and, public, at `api/whoami/public`.
async fn host() -> Host {
    let tokens = format!(
        "- sha256: {}\n  subject: deploy-bot\n  scope: ingresses/api/whoami:http\n",
        sluice::auth::hex(&sluice::auth::sha256(STATIC_TOKEN))
    );
    Host::demo_with_fixtures(
        &[sluice_e2e::fixtures::WHOAMI],
        &[
            (
                "sluice.yaml",
                "store: sluice.db\n\
             auth:\n  audience: sluice\n  tokensFile: tokens.yaml\n  keys:\n\
             \x20   - { algorithm: HS256, secretFile: keys/hs256.key }\n\
             \x20   - { algorithm: RS256, publicKeyFile: keys/rsa-public.pem }\n\
             \x20   - { algorithm: ES256, publicKeyFile: keys/ec-public.pem }\n",
            ),
            ("keys/hs256.key", include_str!("../fixtures/auth/hs256.key")),
            (
                "keys/rsa-public.pem",
                include_str!("../fixtures/auth/rsa-public.pem"),
            ),
            (
                "keys/ec-public.pem",
                include_str!("../fixtures/auth/ec-public.pem"),
            ),
            ("tokens.yaml", &tokens),
            (
                "ingresses/whoami.yaml",
                &whoami("api/whoami", "api/whoami", false),
            ),
            (
                "ingresses/whoami-public.yaml",
                &whoami("api/whoami-public", "api/whoami/public", true),
            ),
        ],
    )
    .await
}

fn whoami(id: &str, route: &str, public: bool) -> String {
    format!(
        "uri: /resources/ingresses/{id}\nspec:\n  type: http\n  componentId: whoami\n  acl: []\n  \
         properties:\n    route: {route}\n    httpMethod: get\n    isPublic: {public}\n"
    )
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn claims(scope: &str) -> Value {
    json!({ "sub": "ada", "aud": "sluice", "exp": now() + 600, "scope": scope })
}

fn sign(algorithm: Algorithm, claims: &Value) -> String {
    let key = match algorithm {
        Algorithm::HS256 => EncodingKey::from_secret(
            include_str!("../fixtures/auth/hs256.key")
                .trim_end()
                .as_bytes(),
        ),
        Algorithm::RS256 => {
            EncodingKey::from_rsa_pem(include_bytes!("../fixtures/auth/rsa-private.pem"))
                .expect("rsa key")
        }
        _ => EncodingKey::from_ec_pem(include_bytes!("../fixtures/auth/ec-private.pem"))
            .expect("ec key"),
    };
    jsonwebtoken::encode(&Header::new(algorithm), claims, &key).expect("signs")
}

async fn call(host: &Host, path: &str, token: Option<&str>) -> reqwest::Response {
    let request = host.json(path);
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request.send().await.expect("request")
}

fn challenge(response: &reqwest::Response) -> &str {
    response.headers()["www-authenticate"]
        .to_str()
        .expect("ASCII")
}

async fn error_body(response: reqwest::Response) -> Value {
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.expect("JSON error")
}

#[tokio::test]
async fn no_token_is_a_401_with_a_bearer_challenge() {
    let host = host().await;
    let response = call(&host, "/ingress/api/whoami", None).await;
    assert_eq!(response.status(), 401);
    assert_eq!(challenge(&response), r#"Bearer realm="sluice""#);
    assert_eq!(
        error_body(response).await,
        json!({ "error": { "code": "UNAUTHORIZED", "message": "a bearer token is required" } })
    );
    // Another scheme is no bearer token either; and SSE clients get the same JSON 401.
    let basic = host
        .json("/ingress/api/whoami")
        .basic_auth("ada", Some("pw"))
        .send()
        .await
        .expect("request");
    assert_eq!(basic.status(), 401);
    let sse = host
        .sse("/ingress/api/whoami")
        .send()
        .await
        .expect("request");
    assert_eq!(sse.status(), 401);
    assert_eq!(sse.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn bad_signature_expired_and_wrong_audience_are_401_invalid_token() {
    let host = host().await;
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("ingresses/api/whoami:http"),
        &EncodingKey::from_secret(b"not-the-secret-not-the-secret-not-the-secret"),
    )
    .expect("signs");
    let mut expired = claims("ingresses/api/whoami:http");
    expired["exp"] = json!(now() - 3600);
    let mut elsewhere = claims("ingresses/api/whoami:http");
    elsewhere["aud"] = json!("billing");
    let cases = [
        (forged, "the signature does not verify"),
        (sign(Algorithm::RS256, &expired), "the token has expired"),
        (
            sign(Algorithm::ES256, &elsewhere),
            "the token is meant for another audience",
        ),
        (
            "not-a-known-token".to_owned(),
            "the token is neither a known token nor a JWT",
        ),
    ];
    for (token, reason) in cases {
        let response = call(&host, "/ingress/api/whoami", Some(&token)).await;
        assert_eq!(response.status(), 401, "{reason}");
        assert_eq!(
            challenge(&response),
            format!(
                r#"Bearer realm="sluice", error="invalid_token", error_description="{reason}""#
            )
        );
        let body = error_body(response).await;
        assert_eq!(body["error"]["code"], "UNAUTHORIZED");
        assert_eq!(body["error"]["message"], reason);
    }
}

#[tokio::test]
async fn a_valid_token_without_the_ingress_permission_is_a_403_naming_it() {
    let host = host().await;
    let token = sign(
        Algorithm::RS256,
        &claims("orders/*:read ingresses/api/hello:http"),
    );
    let response = call(&host, "/ingress/api/whoami", Some(&token)).await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        challenge(&response),
        r#"Bearer realm="sluice", error="insufficient_scope", scope="ingresses/api/whoami:http""#
    );
    let body = error_body(response).await;
    assert_eq!(body["error"]["code"], "FORBIDDEN");
    assert_eq!(
        body["error"]["message"],
        "calling this ingress needs the permission 'ingresses/api/whoami:http'"
    );
}

#[tokio::test]
async fn every_algorithm_and_wildcard_admits_and_the_component_sees_the_caller() {
    let host = host().await;
    for (algorithm, scope) in [
        (Algorithm::HS256, "ingresses/api/whoami:http"),
        (Algorithm::RS256, "ingresses/api/*:http orders/*:read"),
        (Algorithm::ES256, "ingresses/api/whoami:*"),
    ] {
        let token = sign(algorithm, &claims(scope));
        let response = call(&host, "/ingress/api/whoami", Some(&token)).await;
        assert_eq!(response.status(), 200, "{algorithm:?}");
        let permissions: Vec<&str> = scope.split(' ').collect();
        assert_eq!(
            response.json::<Value>().await.expect("JSON"),
            json!({
                "subject": "ada",
                "permissions": permissions,
                "mayReadOrders": scope.contains("orders/*:read"),
            })
        );
    }

    // SSE mode: the same caller, in the stream.
    let token = sign(Algorithm::HS256, &claims("ingresses/api/whoami:http"));
    let response = host
        .sse("/ingress/api/whoami")
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let mut events = support::Events::new(response);
    let event = events.next().await;
    assert_eq!(event.event, "whoami");
    let data: Value = serde_json::from_str(&event.data).expect("JSON");
    assert_eq!(data["subject"], "ada");
}

#[tokio::test]
async fn a_static_token_admits_by_its_hash() {
    let host = host().await;
    let response = call(&host, "/ingress/api/whoami", Some(STATIC_TOKEN)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.expect("JSON"),
        json!({ "subject": "deploy-bot", "permissions": ["ingresses/api/whoami:http"],
                "mayReadOrders": false })
    );
    let near_miss = format!("{STATIC_TOKEN}x");
    let response = call(&host, "/ingress/api/whoami", Some(&near_miss)).await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn public_ingresses_need_no_token_but_still_learn_a_valid_caller() {
    let host = host().await;
    let anonymous = call(&host, "/ingress/api/whoami/public", None).await;
    assert_eq!(anonymous.status(), 200);
    assert_eq!(
        anonymous.json::<Value>().await.expect("JSON"),
        json!({ "anonymous": true })
    );
    // Any valid token names its caller, permission or not.
    let token = sign(Algorithm::ES256, &claims("profile"));
    let known = call(&host, "/ingress/api/whoami/public", Some(&token)).await;
    assert_eq!(known.status(), 200);
    assert_eq!(known.json::<Value>().await.expect("JSON")["subject"], "ada");
    // A bad token on a public ingress is treated as none.
    let bad = call(&host, "/ingress/api/whoami/public", Some("garbage")).await;
    assert_eq!(bad.status(), 200);
    assert_eq!(
        bad.json::<Value>().await.expect("JSON"),
        json!({ "anonymous": true })
    );
    // The demo's public ingresses are untouched by auth.
    let hello = call(&host, "/ingress/api/hello", None).await;
    assert_eq!(hello.status(), 200);
}

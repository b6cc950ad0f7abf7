//! Cross-origin access on the wire (SPEC S4): nothing by default, configured origins host-wide
//! and per ingress, preflights without credentials.

mod support;

use support::Host;

const SHOP: &str = "https://shop.example";
const ADMIN: &str = "https://admin.example";

/// The demo with `shop` allowed host-wide, and hello again at `api/admin-hello`, where only
/// `admin` is.
async fn host() -> Host {
    Host::demo_with(&[
        (
            "sluice.yaml",
            "store: sluice.db\ncors:\n  allowedOrigins: [\"https://shop.example\"]\n  maxAgeSeconds: 120\n",
        ),
        (
            "ingresses/admin-hello.yaml",
            "uri: /resources/ingresses/api/admin-hello\nspec:\n  type: http\n  componentId: hello\n  \
             properties:\n    route: api/admin-hello\n    httpMethod: get\n    isPublic: true\n    \
             cors: { allowedOrigins: [\"https://admin.example\"] }\n",
        ),
    ])
    .await
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().expect("ASCII"))
}

async fn get_from(host: &Host, path: &str, origin: &str, sse: bool) -> reqwest::Response {
    let request = if sse { host.sse(path) } else { host.json(path) };
    request
        .header("origin", origin)
        .send()
        .await
        .expect("request")
}

fn preflight(host: &Host, path: &str, origin: &str, method: &str) -> reqwest::RequestBuilder {
    host.client
        .request(reqwest::Method::OPTIONS, host.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
}

#[tokio::test]
async fn an_allowed_origin_gets_its_headers_on_json_and_sse_responses() {
    let host = host().await;
    for sse in [false, true] {
        let response = get_from(&host, "/ingress/api/hello", SHOP, sse).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "access-control-allow-origin"), Some(SHOP));
        assert_eq!(header(&response, "vary"), Some("origin"));
        assert_eq!(
            header(&response, "access-control-expose-headers"),
            Some("retry-after, www-authenticate")
        );
        assert_eq!(header(&response, "access-control-allow-credentials"), None);
    }
    // Errors carry them too, so the page can read why.
    let missing = get_from(&host, "/ingress/api/skus/NOPE/stock", SHOP, false).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(header(&missing, "access-control-allow-origin"), Some(SHOP));
}

#[tokio::test]
async fn other_origins_get_no_cors_headers() {
    let host = host().await;
    for origin in ["https://evil.example", "http://shop.example", "null"] {
        let response = get_from(&host, "/ingress/api/hello", origin, true).await;
        assert_eq!(
            header(&response, "access-control-allow-origin"),
            None,
            "{origin}"
        );
        assert_eq!(header(&response, "vary"), Some("origin"));
    }
    // With no cors section at all, nobody is allowed.
    let plain = Host::demo().await;
    let response = get_from(&plain, "/ingress/api/hello", SHOP, false).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn an_ingress_list_replaces_the_hosts() {
    let host = host().await;
    let admin = get_from(&host, "/ingress/api/admin-hello", ADMIN, false).await;
    assert_eq!(header(&admin, "access-control-allow-origin"), Some(ADMIN));
    let shop = get_from(&host, "/ingress/api/admin-hello", SHOP, false).await;
    assert_eq!(header(&shop, "access-control-allow-origin"), None);
    let elsewhere = get_from(&host, "/ingress/api/hello", ADMIN, false).await;
    assert_eq!(header(&elsewhere, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn preflights_answer_204_for_allowed_origins_methods_and_headers() {
    let host = host().await;
    // A POST with a JSON body and a bearer token, as a page would send it.
    let response = preflight(&host, "/ingress/api/skus/PROD-001/stock", SHOP, "POST")
        .header(
            "access-control-request-headers",
            "content-type,authorization",
        )
        .send()
        .await
        .expect("preflight");
    assert_eq!(response.status(), 204);
    assert_eq!(header(&response, "access-control-allow-origin"), Some(SHOP));
    assert_eq!(
        header(&response, "access-control-allow-methods"),
        Some("POST")
    );
    assert_eq!(
        header(&response, "access-control-allow-headers"),
        Some("content-type, authorization")
    );
    assert_eq!(header(&response, "access-control-max-age"), Some("120"));

    // A reconnecting stream's Last-Event-ID.
    let response = preflight(
        &host,
        "/ingress/api/orders/ORD-123/resumable-events",
        SHOP,
        "GET",
    )
    .header("access-control-request-headers", "last-event-id")
    .send()
    .await
    .expect("preflight");
    assert_eq!(response.status(), 204);
    assert_eq!(
        header(&response, "access-control-allow-headers"),
        Some("last-event-id")
    );
}

#[tokio::test]
async fn preflights_are_refused_for_other_origins_headers_and_methods() {
    let host = host().await;
    let evil = preflight(&host, "/ingress/api/hello", "https://evil.example", "GET")
        .send()
        .await
        .expect("preflight");
    assert_eq!(evil.status(), 403);
    assert_eq!(header(&evil, "access-control-allow-origin"), None);
    let body: serde_json::Value = evil.json().await.expect("JSON");
    assert_eq!(
        body["error"]["message"],
        "origin https://evil.example may not call this ingress"
    );

    let secret_header = preflight(&host, "/ingress/api/hello", SHOP, "GET")
        .header("access-control-request-headers", "x-secret")
        .send()
        .await
        .expect("preflight");
    assert_eq!(secret_header.status(), 403);

    let wrong_method = preflight(&host, "/ingress/api/hello", SHOP, "DELETE")
        .send()
        .await
        .expect("preflight");
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(header(&wrong_method, "allow"), Some("GET"));
}

//! Deploy directories with problems: every bad file is named with its reason, and every
//! good ingress is still served.

mod support;

use std::net::SocketAddr;

use serde_json::Value;

async fn boot(dir: &std::path::Path) -> (SocketAddr, Vec<String>) {
    sluice_e2e::pin_max_instances(dir).expect("sluice.yaml");
    let booted = sluice::boot(dir, sluice::Listen::ephemeral())
        .await
        .expect("host boots");
    let problems = booted.problems.iter().map(ToString::to_string).collect();
    let addr = booted.server.local_addr().expect("bound");
    tokio::spawn(booted.server.run(std::future::pending()));
    (addr, problems)
}

fn demo_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    sluice::deploy::demo::write_languages(dir.path(), &[sluice::deploy::demo::Language::Rust])
        .expect("demo written");
    dir
}

fn write(dir: &std::path::Path, relative: &str, contents: &[u8]) {
    std::fs::write(dir.join(relative), contents).expect("write");
}

/// The one reported problem that names `file`.
fn problem_naming(problems: &[String], file: &str) -> String {
    problems
        .iter()
        .find(|problem| problem.contains(file))
        .unwrap_or_else(|| panic!("no problem reported for {file}: {problems:#?}"))
        .clone()
}

/// The demo's hello ingress answers as ever, whatever else failed to deploy.
async fn assert_hello_still_serves(addr: SocketAddr) {
    let body = reqwest::get(format!("http://{addr}/ingress/api/hello"))
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert_eq!(body, r#""Hello world""#);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_files_are_reported_by_name_and_good_ingresses_still_serve() {
    let dir = demo_dir();
    write(dir.path(), "ingresses/typo.yaml", b"uri: /resources/ingresses/typo\nspec:\n  type: http\n  componentId: hello\n  properties:\n    route: typo\n    httpMethod: get\n    isPublik: true\n");
    write(dir.path(), "ingresses/garbage.yaml", b"uri: /resources/ingresses/garbage\nspec:\n  type: http\n  componentId: garbage\n  properties:\n    route: garbage\n    httpMethod: get\n");
    write(dir.path(), "components/garbage.wasm", b"\0asm not really");
    write(dir.path(), "ingresses/missing.yaml", b"uri: /resources/ingresses/missing\nspec:\n  type: http\n  componentId: does-not-exist\n  properties:\n    route: missing\n    httpMethod: get\n");
    write(dir.path(), "ingresses/zz-clash.yaml", b"uri: /resources/ingresses/clash\nspec:\n  type: http\n  componentId: hello\n  properties:\n    route: api/hello\n    httpMethod: get\n");
    let (addr, problems) = boot(dir.path()).await;
    let find = |file: &str| problem_naming(&problems, file);
    assert!(find("typo.yaml").contains("unknown field `isPublik`"));
    assert!(find("garbage.yaml").contains("garbage.wasm"));
    assert!(find("garbage.yaml").contains("not a valid WebAssembly component"));
    assert!(find("missing.yaml").contains("does-not-exist.wasm"));
    assert!(find("zz-clash.yaml").contains("spec.properties.route"));
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert_hello_still_serves(addr).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wasm_of_the_wrong_world_is_rejected_by_name() {
    let dir = demo_dir();
    // A valid core module, but not a component of the ingress world.
    write(
        dir.path(),
        "components/core-module.wasm",
        b"\0asm\x01\0\0\0",
    );
    write(dir.path(), "ingresses/core.yaml", b"uri: /resources/ingresses/core\nspec:\n  type: http\n  componentId: core-module\n  properties:\n    route: core\n    httpMethod: get\n");
    let (_, problems) = boot(dir.path()).await;
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].contains("core.yaml") && problems[0].contains("core-module.wasm"),
        "{}",
        problems[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_mapped_parameter_is_a_400_naming_it() {
    let dir = demo_dir();
    // The order-events component reads `orderId`; here it comes from `?order=` instead of the route.
    write(dir.path(), "ingresses/by-query.yaml", b"uri: /resources/ingresses/by-query\nspec:\n  type: http\n  componentId: order-events\n  acl: [actors/order:read]\n  properties:\n    route: api/order-events\n    httpMethod: get\n    isPublic: true\n    queryParams: { orderId: order }\n");
    let (addr, problems) = boot(dir.path()).await;
    assert!(problems.is_empty(), "{problems:#?}");
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/ingress/api/order-events"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "MISSING_PARAMETER");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("orderId"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_component_is_rejected_by_name_and_the_rest_still_serves() {
    let dir = demo_dir();
    let hello = std::fs::read(dir.path().join("components/hello.wasm")).expect("hello.wasm");
    write(
        dir.path(),
        "components/truncated.wasm",
        &hello[..hello.len() / 2],
    );
    write(dir.path(), "ingresses/truncated.yaml", b"uri: /resources/ingresses/truncated\nspec:\n  type: http\n  componentId: truncated\n  properties:\n    route: truncated\n    httpMethod: get\n");
    let (addr, problems) = boot(dir.path()).await;
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let problem = &problems[0];
    assert!(
        problem.contains("truncated.yaml")
            && problem.contains("truncated.wasm")
            && problem.contains("not a valid WebAssembly component"),
        "{problem}"
    );
    let client = reqwest::Client::new();
    let missing = client
        .get(format!("http://{addr}/ingress/truncated"))
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status(), 404, "the broken ingress is not served");
    assert_hello_still_serves(addr).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_ingress_and_actor_files_are_reported_by_name() {
    let dir = demo_dir();
    write(
        dir.path(),
        "ingresses/latin1.yaml",
        b"uri: /resources/ingresses/caf\xe9\n",
    );
    write(
        dir.path(),
        "actors/latin1.yaml",
        b"uri: /resources/actors/caf\xe9\n",
    );
    let params: Vec<String> = (0..26).map(|i| format!("{{p{i}}}")).collect();
    let many = format!(
        "uri: /resources/ingresses/many\nspec:\n  type: http\n  componentId: hello\n  properties:\n    route: '{}'\n    httpMethod: get\n",
        params.join("/")
    );
    // Until now, this route panicked the router while the host booted.
    write(dir.path(), "ingresses/many.yaml", many.as_bytes());
    write(
        dir.path(),
        "actors/escape.yaml",
        b"uri: /resources/actors/escape\nspec:\n  componentId: ../ingresses/hello\n",
    );
    let (addr, problems) = boot(dir.path()).await;
    let find = |file: &str| problem_naming(&problems, file);
    assert!(find("ingresses/latin1.yaml").contains("valid UTF-8"));
    assert!(find("actors/latin1.yaml").contains("valid UTF-8"));
    assert!(find("many.yaml").contains("more than 25 parameters"));
    assert!(find("escape.yaml").contains("spec.componentId '../ingresses/hello'"));
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert_hello_still_serves(addr).await;
}

/// An ingress YAML serving component `id` at route `id`.
fn ingress_yaml(id: &str) -> String {
    format!(
        "uri: /resources/ingresses/{id}\nspec:\n  type: http\n  componentId: {id}\n  properties:\n    route: {id}\n    httpMethod: get\n"
    )
}

/// Deploy the component `component_text` (WAT) as ingress `id` beside the demo: it is the
/// one problem, named by its ingress file, the problem holds every one of `parts`, and the
/// demo still serves.
async fn assert_refused(id: &str, component_text: &str, parts: &[&str]) {
    let dir = demo_dir();
    let wasm = wat::parse_str(component_text).expect("component text");
    write(dir.path(), &format!("components/{id}.wasm"), &wasm);
    write(
        dir.path(),
        &format!("ingresses/{id}.yaml"),
        ingress_yaml(id).as_bytes(),
    );
    let (addr, problems) = boot(dir.path()).await;
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let problem = problem_naming(&problems, &format!("{id}.yaml"));
    let wasm_file = format!("{id}.wasm");
    for part in std::iter::once(wasm_file.as_str()).chain(parts.iter().copied()) {
        assert!(problem.contains(part), "{part:?} in {problem}");
    }
    assert_hello_still_serves(addr).await;
}

/// A default componentize-js build imports `wasi:http`, which the host does not provide:
/// the problem names the import and says how to build without it.
#[tokio::test(flavor = "multi_thread")]
async fn a_component_importing_wasi_http_is_refused_with_how_to_build_without_it() {
    assert_refused(
        "fetches",
        r#"(component (import "wasi:http/types@0.2.10" (instance (export "f" (func)))))"#,
        &["`wasi:http/types@0.2.10`", "--disable http fetch-event"],
    )
    .await;
}

/// A component on the component-model async ABI (a default QuickJS build of jco) is
/// refused with a problem that says so and how to build without it.
#[tokio::test(flavor = "multi_thread")]
async fn a_component_on_the_async_abi_is_refused_with_how_to_build_without_it() {
    assert_refused(
        "awaits",
        r#"(component (core func (canon waitable-set.new)))"#,
        &["component-model async", "--backend-qjs-disable-async"],
    )
    .await;
}

/// An ingress may give its instances less linear memory than the host's
/// `memoryPerInstanceMiB`, never more: that is refused at deploy, naming the file.
#[tokio::test(flavor = "multi_thread")]
async fn an_ingress_may_give_its_instances_less_memory_than_the_host_never_more() {
    let dir = demo_dir();
    sluice_e2e::fixtures::LIMITS_HOSTILE
        .write_to(dir.path())
        .expect("fixture written");
    let hostile = |id: &str, memory: &str| {
        format!(
            "uri: /resources/ingresses/{id}\nspec:\n  type: http\n  componentId: limits-hostile\n  properties:\n    route: api/{id}/{{attack}}\n    httpMethod: get\n    isPublic: true\n{memory}"
        )
    };
    write(
        dir.path(),
        "ingresses/roomy.yaml",
        hostile("roomy", "").as_bytes(),
    );
    let small = hostile("small", "    memoryPerInstanceMiB: 4\n");
    write(dir.path(), "ingresses/small.yaml", small.as_bytes());
    let greedy = hostile("greedy", "    memoryPerInstanceMiB: 65\n");
    write(dir.path(), "ingresses/greedy.yaml", greedy.as_bytes());
    let (addr, problems) = boot(dir.path()).await;
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let problem = problem_naming(&problems, "greedy.yaml");
    assert!(
        problem
            .contains("memoryPerInstanceMiB: 65 is more than the host's memoryPerInstanceMiB (64)"),
        "{problem}"
    );
    let take = |id: &str| {
        let url = format!("http://{addr}/ingress/api/{id}/take-8-mib");
        async move {
            let response = reqwest::get(url).await.expect("request");
            let status = response.status();
            (status, response.text().await.expect("body"))
        }
    };
    let (status, body) = take("roomy").await;
    assert_eq!(status, 200, "8 MiB fit in the host's 64: {body}");
    let (status, body) = take("small").await;
    assert_eq!(status, 500, "8 MiB do not fit in 4: {body}");
    assert!(body.contains("COMPONENT_FAILED"), "{body}");
    let (status, _) = take("greedy").await;
    assert_eq!(status, 404, "the refused ingress is not served");
    assert_hello_still_serves(addr).await;
}

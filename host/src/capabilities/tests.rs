//! Capabilities without a guest: instance state built from an acl, `Host` methods called
//! directly — allowed, unknown and denied.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use wasmtime::component::Resource;

use super::{Acl, Backends, IngressContext};
use crate::backends::actors::{ActorBackend, ActorError as BackendError, ActorMessage};
use crate::backends::bus::memory::{InMemoryBus, InMemoryBusConfig};
use crate::backends::store::sqlite::SqliteStore;
use crate::runtime::InstanceState;
use crate::runtime::bindings::actors::{ActorError, Host as _, Message};
use crate::runtime::bindings::events::{EventsError, Host as _};
use crate::runtime::bindings::query::{Host as _, QueryError, QueryRequest};

/// Answers with the platform's response shape, each message's body as its result.
struct EchoActors;

impl ActorBackend for EchoActors {
    fn message<'a>(
        &'a self,
        _actor_type: &'a str,
        actor_id: &'a str,
        messages: Vec<ActorMessage>,
        _preview: bool,
    ) -> futures::future::BoxFuture<'a, Result<String, BackendError>> {
        let data: serde_json::Map<String, Value> = messages
            .iter()
            .map(|m| (m.key().to_owned(), m.body.clone().unwrap_or(Value::Null)))
            .collect();
        Box::pin(async move {
            Ok(json!({"actorId": actor_id, "paths": [], "data": data, "errors": []}).to_string())
        })
    }
}

fn instance(acl: &[&str]) -> (InstanceState, Arc<InMemoryBus>) {
    let bus = Arc::new(InMemoryBus::new(InMemoryBusConfig::default()));
    let store = SqliteStore::open_in_memory().expect("store");
    store
        .seed_blocking(
            "skus",
            vec![
                json!({"skuId": "s1", "skuNumber": "PROD-001"}),
                json!({"skuId": "s2", "skuNumber": "PROD-002"}),
            ],
        )
        .expect("seed");
    let context = IngressContext {
        ingress_id: "test".into(),
        acl: Acl::parse(acl).expect("acl"),
        backends: Backends {
            actors: Arc::new(EchoActors),
            bus: bus.clone(),
            store: Arc::new(store),
        },
        max_memory: None,
    };
    (
        InstanceState::new(Arc::new(context), 1 << 20, Duration::from_millis(100)),
        bus,
    )
}

fn skus(filter: &str, arguments: &[Value]) -> QueryRequest {
    QueryRequest {
        edge: "skus".into(),
        fields: vec!["skuNumber".into()],
        filter: Some(filter.into()),
        arguments: arguments.iter().map(Value::to_string).collect(),
        order_by: None,
        limit: None,
    }
}

#[tokio::test]
async fn query_returns_only_the_rows_the_bound_argument_matches() {
    let (mut state, _) = instance(&["skus:read"]);
    let rows = state
        .run(skus("skuNumber == ?", &[json!("PROD-002")]))
        .await
        .expect("no trap")
        .expect("rows");
    assert_eq!(rows, vec![r#"{"skuNumber":"PROD-002"}"#.to_owned()]);
    let hostile = json!("x' or 1==1 or skuNumber == 'y");
    let rows = state
        .run(skus("skuNumber == ?", &[hostile]))
        .await
        .expect("no trap")
        .expect("rows");
    assert!(rows.is_empty(), "a value never widens a query");
}

#[tokio::test]
async fn query_is_forbidden_without_read_on_the_edge() {
    let (mut state, _) = instance(&["orders:read"]);
    let error = state
        .run(skus("skuNumber == ?", &[json!("PROD-001")]))
        .await
        .expect("no trap")
        .expect_err("denied");
    assert!(
        matches!(&error, QueryError::Forbidden(reason) if reason.contains("skus:read")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_bad_filter_is_a_syntax_error_with_its_position() {
    let (mut state, _) = instance(&["skus:read"]);
    let error = state
        .run(skus("skuNumber == ", &[]))
        .await
        .expect("no trap")
        .expect_err("syntax");
    let QueryError::Syntax(syntax) = error else {
        panic!("{error:?}")
    };
    assert_eq!(syntax.position, 13);
}

#[tokio::test]
async fn an_unknown_edge_is_reported_as_such() {
    let (mut state, _) = instance(&["nope:read"]);
    let mut request = skus("skuNumber == 'x'", &[]);
    request.edge = "nope".into();
    let error = state
        .run(request)
        .await
        .expect("no trap")
        .expect_err("unknown");
    assert!(matches!(error, QueryError::UnknownEdge(_)), "{error:?}");
}

#[tokio::test]
async fn subscribing_needs_read_on_the_actor_type() {
    let (mut state, _) = instance(&["actors/payment:read"]);
    let error = state
        .subscribe(
            vec!["actors/order/ORD-1".into()],
            vec!["checkpoint".into()],
            None,
        )
        .await
        .expect("no trap")
        .expect_err("denied");
    assert!(
        matches!(&error, EventsError::Forbidden(reason) if reason.contains("actors/order:read")),
        "{error:?}"
    );
}

#[tokio::test]
async fn one_wait_merges_subscriptions_in_bus_order() {
    let (mut state, bus) = instance(&["actors/order:read", "feeds/*:read"]);
    let order = state
        .subscribe(vec!["actors/order/1".into()], vec![], None)
        .await
        .expect("no trap")
        .expect("sub");
    let feed = state
        .subscribe(vec!["feeds/news".into()], vec![], None)
        .await
        .expect("no trap")
        .expect("sub");
    for (topic, n) in [("feeds/news", 1), ("actors/order/1", 2), ("feeds/news", 3)] {
        bus.publish_now(topic, "checkpoint", &json!({ "n": n }), None)
            .expect("publish");
    }
    let borrow = |r: &Resource<_>| Resource::new_borrow(r.rep());
    let events = state
        .wait(vec![borrow(&order), borrow(&feed)], 10, None)
        .await
        .expect("no trap")
        .expect("events");
    let got: Vec<(u32, String)> = events
        .into_iter()
        .map(|(index, event)| (index, event.data))
        .collect();
    assert_eq!(
        got,
        [
            (1, r#"{"n":1}"#.to_owned()),
            (0, r#"{"n":2}"#.to_owned()),
            (1, r#"{"n":3}"#.to_owned())
        ]
    );
}

#[tokio::test]
async fn wait_with_a_timeout_returns_nothing_when_nothing_arrives() {
    let (mut state, _) = instance(&["feeds/*:read"]);
    let feed = state
        .subscribe(vec!["feeds/news".into()], vec![], None)
        .await
        .expect("no trap")
        .expect("sub");
    let events = state
        .wait(vec![Resource::new_borrow(feed.rep())], 10, Some(10))
        .await
        .expect("no trap")
        .expect("ok");
    assert!(events.is_empty());
}

#[tokio::test]
async fn message_actor_needs_the_message_type_granted() {
    let (mut state, _) = instance(&["actors/sku:read"]);
    let message = Message {
        type_: "calculateAvailableStock".into(),
        alias: None,
        body: None,
    };
    let error = state
        .message_actor("sku".into(), "s1".into(), vec![message], false)
        .await
        .expect("no trap")
        .expect_err("denied");
    assert!(
        matches!(&error, ActorError::Forbidden(reason) if reason.contains("actors/sku:calculateAvailableStock")),
        "{error:?}"
    );
}

#[tokio::test]
async fn allowed_messages_reach_the_backend_in_order_with_parsed_bodies() {
    let (mut state, _) = instance(&["actors/sku:*"]);
    let message = |t: &str, body: &str| Message {
        type_: t.into(),
        alias: None,
        body: Some(body.into()),
    };
    let response = state
        .message_actor(
            "sku".into(),
            "s1".into(),
            vec![message("a", "1"), message("b", r#"{"x":2}"#)],
            true,
        )
        .await
        .expect("no trap")
        .expect("ok");
    let response: Value = serde_json::from_str(&response).expect("json");
    assert_eq!(response["data"], json!({"a": 1, "b": {"x": 2}}));
}

#[tokio::test]
async fn a_message_body_that_is_not_json_is_refused_before_the_backend() {
    let (mut state, _) = instance(&["actors/sku:*"]);
    let message = Message {
        type_: "a".into(),
        alias: None,
        body: Some("{oops".into()),
    };
    let error = state
        .message_actor("sku".into(), "s1".into(), vec![message], false)
        .await
        .expect("no trap")
        .expect_err("bad body");
    assert!(matches!(error, ActorError::Failed(_)), "{error:?}");
}

/// Everything logged on this thread while the guard lives, as plain text.
fn capture_logs() -> (
    Arc<std::sync::Mutex<Vec<u8>>>,
    tracing::subscriber::DefaultGuard,
) {
    #[derive(Clone)]
    struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let logs = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Sink(logs.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn every_denied_call_is_logged_as_a_warning_with_the_ingress_id() {
    let (mut state, _) = instance(&[]);
    let (logs, _guard) = capture_logs();
    let denied_subscribe = state
        .subscribe(vec!["feeds/news".into()], vec![], None)
        .await
        .expect("no trap");
    let denied_query = state
        .run(skus("skuNumber == 'x'", &[]))
        .await
        .expect("no trap");
    let message = Message {
        type_: "reserve".into(),
        alias: None,
        body: None,
    };
    let denied_message = state
        .message_actor("sku".into(), "s1".into(), vec![message], false)
        .await
        .expect("no trap");
    assert!(matches!(denied_subscribe, Err(EventsError::Forbidden(_))));
    assert!(matches!(denied_query, Err(QueryError::Forbidden(_))));
    assert!(matches!(denied_message, Err(ActorError::Forbidden(_))));

    let logs = String::from_utf8(logs.lock().expect("logs").clone()).expect("utf-8");
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines.len(), 3, "one line per denial: {logs}");
    for (line, (resource, action)) in lines.iter().zip([
        ("feeds/news", "read"),
        ("skus", "read"),
        ("actors/sku", "reserve"),
    ]) {
        assert!(line.contains(" WARN "), "{line}");
        assert!(line.contains("capability call denied by acl"), "{line}");
        assert!(line.contains("ingress=test"), "{line}");
        assert!(
            line.contains(&format!("resource={resource} action={action}")),
            "{line}"
        );
    }
}

/// A store and actors whose engine is down.
struct Down;

impl crate::backends::store::Store for Down {
    fn query_at<'a>(
        &'a self,
        _query: &'a crate::backends::store::Query,
        _now: std::time::SystemTime,
    ) -> futures::future::BoxFuture<
        'a,
        Result<Vec<crate::backends::store::Document>, crate::backends::store::StoreError>,
    > {
        Box::pin(async {
            Err(crate::backends::store::StoreError::Unavailable(
                "PostgreSQL: connection refused".into(),
            ))
        })
    }

    fn edges(
        &self,
    ) -> futures::future::BoxFuture<'_, Result<Vec<String>, crate::backends::store::StoreError>>
    {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn seed<'a>(
        &'a self,
        _edge: &'a str,
        _records: Vec<Value>,
    ) -> futures::future::BoxFuture<'a, Result<usize, crate::backends::store::StoreError>> {
        Box::pin(async { Ok(0) })
    }

    fn ready(
        &self,
    ) -> futures::future::BoxFuture<'_, Result<(), crate::backends::store::StoreError>> {
        Box::pin(async {
            Err(crate::backends::store::StoreError::Unavailable(
                "PostgreSQL: connection refused".into(),
            ))
        })
    }
}

impl ActorBackend for Down {
    fn message<'a>(
        &'a self,
        _actor_type: &'a str,
        _actor_id: &'a str,
        _messages: Vec<ActorMessage>,
        _preview: bool,
    ) -> futures::future::BoxFuture<'a, Result<String, BackendError>> {
        Box::pin(async {
            Err(BackendError::Unavailable(
                "the actor store is unavailable".into(),
            ))
        })
    }
}

#[tokio::test]
async fn an_unreachable_store_is_the_typed_unavailable_error_not_a_trap() {
    let context = IngressContext {
        ingress_id: "test".into(),
        acl: Acl::parse(&["skus:read", "actors/sku:reserve"]).expect("acl"),
        backends: Backends {
            actors: Arc::new(Down),
            bus: Arc::new(InMemoryBus::new(InMemoryBusConfig::default())),
            store: Arc::new(Down),
        },
        max_memory: None,
    };
    let mut state = InstanceState::new(Arc::new(context), 1 << 20, Duration::from_millis(100));
    let outcome = state
        .run(skus("skuNumber == ?", &[json!("PROD-001")]))
        .await;
    let error = outcome.expect("no trap").expect_err("unavailable");
    assert!(
        matches!(&error, QueryError::Unavailable(reason) if reason.contains("try again")),
        "{error:?}"
    );
    let message = Message {
        type_: "reserve".into(),
        alias: None,
        body: None,
    };
    let outcome = state
        .message_actor("sku".into(), "a".into(), vec![message], false)
        .await;
    let error = outcome.expect("no trap").expect_err("unavailable");
    assert!(matches!(error, ActorError::Unavailable(_)), "{error:?}");
}

//! The conformance suite of [`Store`]: one table of filter cases and a few functions, each
//! taking `&dyn Store`, run against every engine (SQLite in `sqlite/tests.rs`, PostgreSQL in
//! `postgres/tests.rs`), so a second engine cannot quietly mean something else by a filter.
//!
//! [`suite`] runs everything on one fresh, empty store; the cases use distinct edges.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::filter::{self, quote};
use super::{Document, MAX_LIMIT, Query, Store, StoreError, StoreErrorKind, parse_order_by};

/// 2026-01-11T19:30:00Z
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_768_159_800)
}

pub fn skus() -> Vec<Value> {
    vec![
        json!({"skuId": "a1", "skuNumber": "PROD-001", "stock": 5, "price": 9.5, "active": true,
               "tags": ["red", "sale"], "createdAt": "2026-01-10T10:00:00Z",
               "address": {"city": "Oslo", "zip": "0150"}}),
        json!({"skuId": "b2", "skuNumber": "PROD-002", "stock": 0, "price": 20, "active": false,
               "tags": ["blue"], "createdAt": "2026-01-01T00:00:00Z", "note": null}),
        json!({"skuId": "c3", "skuNumber": "PROD-003", "stock": 12, "active": true,
               "tags": "red", "createdAt": "2025-12-01T00:00:00Z"}),
        json!({"skuId": "d4", "skuNumber": "it's", "stock": "7", "tags": [1, 2, true, null],
               "address": "none"}),
    ]
}

/// Every filter case: the filter text, its arguments, and the `skuId`s it selects, in
/// insertion order.
pub const FILTER_CASES: &[(&str, &[&str])] = &[
    // Typed comparisons.
    ("skuNumber == 'PROD-001'", &["a1"]),
    ("skuNumber == 'it''s'", &["d4"]),
    ("skuNumber > 'PROD-001'", &["b2", "c3", "d4"]),
    ("stock > 4", &["a1", "c3"]), // d4's "7" is a string
    ("stock >= 12", &["c3"]),
    ("stock < 5", &["b2"]),
    ("stock <= 5.0", &["a1", "b2"]),
    ("stock == 5.0", &["a1"]),
    ("stock == '7'", &["d4"]),
    ("price == 20", &["b2"]),
    ("price < 10.0", &["a1"]),
    ("price > -1", &["a1", "b2"]),
    ("address.city == 'Oslo'", &["a1"]),
    ("address.city.x == 'Oslo'", &[]),
    // != and not: a missing field or another type never matches.
    ("price != 9.5", &["b2", "c3", "d4"]),
    ("not price > 10", &["a1", "c3", "d4"]),
    ("skuNumber != 'PROD-001'", &["b2", "c3", "d4"]),
    ("not address.city == 'Oslo'", &["b2", "c3", "d4"]),
    ("not not stock == 0", &["b2"]),
    // Booleans and null.
    ("active == true", &["a1", "c3"]),
    ("active == false", &["b2"]),
    ("active != true", &["b2", "d4"]),
    ("active == 1", &[]), // a boolean is not the number 1
    ("note == null", &["a1", "b2", "c3", "d4"]),
    ("price == null", &["c3", "d4"]),
    ("price != null", &["a1", "b2"]),
    // anyof: array elements or a scalar.
    ("tags anyof ['red']", &["a1", "c3"]),
    ("tags anyof ['blue', 'sale']", &["a1", "b2"]),
    ("tags anyof [2]", &["d4"]),
    ("tags anyof [2.0]", &["d4"]),
    ("tags anyof [true]", &["d4"]),
    ("tags anyof [null]", &["d4"]),
    ("tags anyof []", &[]),
    ("stock anyof [0, 12]", &["b2", "c3"]),
    ("price anyof [null]", &["c3", "d4"]),
    ("address anyof ['Oslo']", &[]), // an object's values are not elements
    ("skuNumber anyof ['PROD-002', 'PROD-003']", &["b2", "c3"]),
    ("not tags anyof ['red']", &["b2", "d4"]),
    // allof: an array holding every value.
    ("tags allof ['red', 'sale']", &["a1"]),
    ("tags allof ['red']", &["a1"]), // c3's scalar is not an array
    ("tags allof ['red', 'blue']", &[]),
    ("tags allof [1, true, null]", &["d4"]),
    ("tags allof []", &["a1", "b2", "d4"]),
    // Precedence.
    (
        "skuNumber == 'PROD-003' or stock == 0 and active == false",
        &["b2", "c3"],
    ),
    (
        "(skuNumber == 'PROD-003' or stock == 0) and active == true",
        &["c3"],
    ),
    // now, as RFC 3339 UTC text.
    ("createdAt > now - 7 days", &["a1"]),
    ("createdAt < now - 30 days", &["c3"]),
    ("createdAt < now + 1 hour", &["a1", "b2", "c3"]),
    ("createdAt >= now - 11 days", &["a1", "b2"]),
];

/// Cases with `?` arguments.
fn argument_cases() -> Vec<(&'static str, Vec<Value>, &'static [&'static str])> {
    vec![
        ("skuNumber == ?", vec![json!("PROD-002")], &["b2"]),
        (
            "stock > ? and active == ?",
            vec![json!(4), json!(true)],
            &["a1", "c3"],
        ),
        ("tags anyof ?", vec![json!(["blue", 2])], &["b2", "d4"]),
        ("tags allof ?", vec![json!(["sale", "red"])], &["a1"]),
        ("price == ?", vec![json!(null)], &["c3", "d4"]),
        ("stock < ?", vec![json!(5.5)], &["a1", "b2"]),
        ("createdAt < ?", vec![json!("2026-01-02")], &["b2", "c3"]),
    ]
}

/// Run every case on `store`, a fresh, empty store.
pub async fn suite(store: &dyn Store) {
    assert_eq!(store.edges().await.expect("edges"), Vec::<String>::new());
    assert_eq!(store.seed("skus", skus()).await.expect("seeds"), 4);
    filters_select_what_the_table_says(store).await;
    placeholders_take_values_from_arguments(store).await;
    projects_the_requested_fields(store).await;
    returns_whole_documents(store).await;
    orders_by_fields_then_insertion_order(store).await;
    limits_results_and_caps_the_limit(store).await;
    reports_unknown_edges_and_invalid_requests(store).await;
    injection_attempts_match_no_row(store).await;
    hostile_values_match_only_equal_rows(store).await;
    the_longest_filters_still_run(store).await;
    seeds_an_edge_only_once(store).await;
    rejects_seed_records_that_are_not_objects(store).await;
    assert_eq!(
        store.edges().await.expect("edges"),
        ["empty", "many", "skus"]
    );
}

async fn run(store: &dyn Store, query: &Query) -> Result<Vec<Document>, StoreError> {
    store.query_at(query, now()).await
}

fn filtered(filter: &str, arguments: Vec<Value>) -> Query {
    Query {
        filter: Some(filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"))),
        arguments,
        ..Query::new("skus")
    }
}

async fn ids(store: &dyn Store, query: &Query) -> Vec<String> {
    run(store, query)
        .await
        .unwrap_or_else(|err| panic!("{query:?}: {err}"))
        .iter()
        .map(|row| {
            row.get("skuId")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

async fn matching(store: &dyn Store, filter: &str) -> Vec<String> {
    ids(store, &filtered(filter, vec![])).await
}

async fn filters_select_what_the_table_says(store: &dyn Store) {
    for (filter, expected) in FILTER_CASES {
        assert_eq!(matching(store, filter).await, *expected, "{filter}");
    }
}

async fn placeholders_take_values_from_arguments(store: &dyn Store) {
    for (filter, arguments, expected) in argument_cases() {
        assert_eq!(
            ids(store, &filtered(filter, arguments.clone())).await,
            expected,
            "{filter} {arguments:?}"
        );
    }
}

async fn projects_the_requested_fields(store: &dyn Store) {
    let query = Query {
        fields: vec!["skuNumber".into(), "address.city".into(), "missing".into()],
        ..Query::new("skus")
    };
    let rows: Vec<Value> = run(store, &query)
        .await
        .expect("runs")
        .into_iter()
        .map(Value::Object)
        .collect();
    assert_eq!(
        rows,
        [
            json!({"skuNumber": "PROD-001", "address": {"city": "Oslo"}}),
            json!({"skuNumber": "PROD-002"}),
            json!({"skuNumber": "PROD-003"}),
            json!({"skuNumber": "it's"}),
        ]
    );
}

async fn returns_whole_documents(store: &dyn Store) {
    let rows = run(store, &filtered("skuId == 'b2'", vec![]))
        .await
        .expect("runs");
    assert_eq!(Value::Object(rows[0].clone()), skus()[1]);
}

async fn orders_by_fields_then_insertion_order(store: &dyn Store) {
    let by = |text: &str| Query {
        order_by: parse_order_by(text).expect("valid"),
        ..Query::new("skus")
    };
    // Missing prices sort first ascending, so last descending, in insertion order.
    assert_eq!(
        ids(store, &by("price desc")).await,
        ["b2", "a1", "c3", "d4"]
    );
    assert_eq!(ids(store, &by("price")).await, ["c3", "d4", "a1", "b2"]);
    assert_eq!(
        ids(store, &by("createdAt desc, skuNumber")).await,
        ["a1", "b2", "c3", "d4"]
    );
    // Booleans sort as numbers: false (b2) before true (a1, c3); missing (d4) first.
    assert_eq!(
        ids(store, &by("active desc, skuId desc")).await,
        ["c3", "a1", "b2", "d4"]
    );
    // Mixed types: missing/null, then numbers, then strings. (Arrays and objects are
    // engine-defined: see each engine's tests.)
    assert_eq!(ids(store, &by("stock")).await, ["b2", "a1", "c3", "d4"]);
    assert_eq!(
        ids(store, &by("stock desc")).await,
        ["d4", "c3", "a1", "b2"]
    );
    assert_eq!(
        ids(store, &by("note, skuId desc")).await,
        ["d4", "c3", "b2", "a1"]
    );
}

async fn limits_results_and_caps_the_limit(store: &dyn Store) {
    let query = Query {
        limit: 2,
        ..Query::new("skus")
    };
    assert_eq!(ids(store, &query).await, ["a1", "b2"]);
    let zero = Query {
        limit: 0,
        ..Query::new("skus")
    };
    assert_eq!(ids(store, &zero).await, Vec::<String>::new());
    let many: Vec<Value> = (0..150).map(|i| json!({ "n": i })).collect();
    assert_eq!(store.seed("many", many).await.expect("seeds"), 150);
    let query = Query {
        limit: 1000,
        ..Query::new("many")
    };
    let rows = run(store, &query).await.expect("runs");
    assert_eq!(rows.len(), MAX_LIMIT as usize);
    assert_eq!(rows[99].get("n"), Some(&json!(99)));
}

async fn reports_unknown_edges_and_invalid_requests(store: &dyn Store) {
    let err = run(store, &Query::new("nope")).await.expect_err("unknown");
    assert!(
        matches!(err, StoreError::UnknownEdge(ref e) if e == "nope"),
        "{err}"
    );
    assert_eq!(err.kind(), StoreErrorKind::UnknownEdge);
    // Edge names are exact.
    assert!(matches!(
        run(store, &Query::new("SKUS")).await,
        Err(StoreError::UnknownEdge(_))
    ));
    let invalid = [
        Query::new("skus\"; DROP TABLE edge_skus; --"),
        Query {
            fields: vec!["a-b".into()],
            ..Query::new("skus")
        },
        filtered("skuNumber == ?", vec![]),
        filtered("skuNumber == ?", vec![json!({"$gt": ""})]),
        filtered("tags anyof ?", vec![json!("red")]),
        filtered("active < true", vec![]),
        filtered("a > now + 520000 weeks", vec![]),
    ];
    for query in &invalid {
        let err = run(store, query).await.expect_err("invalid");
        assert_eq!(err.kind(), StoreErrorKind::Invalid, "{err}");
    }
    assert_eq!(
        matching(store, "skuId == 'a1'").await,
        ["a1"],
        "table untouched"
    );
}

async fn injection_attempts_match_no_row(store: &dyn Store) {
    for hostile in [
        "x' or 1==1 or skuNumber == 'y",
        "'; DROP TABLE edge_skus; --",
        "x\\' OR '1'='1",
        "$.skuNumber",
        "PROD-001\0",
    ] {
        // Escaped as the platform's docs do: every ' doubled inside '...'.
        let text = format!("skuNumber == {}", quote(hostile));
        assert_eq!(
            matching(store, &text).await,
            Vec::<String>::new(),
            "{hostile}"
        );
        assert_eq!(
            ids(store, &filtered("skuNumber == ?", vec![json!(hostile)])).await,
            Vec::<String>::new(),
            "{hostile}"
        );
        assert_eq!(
            ids(store, &filtered("tags anyof ?", vec![json!([hostile])])).await,
            Vec::<String>::new(),
            "{hostile}"
        );
    }
    // The harmless query of the same shape does find its row.
    assert_eq!(matching(store, "skuNumber == 'PROD-001'").await, ["a1"]);
}

async fn hostile_values_match_only_equal_rows(store: &dyn Store) {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = proptest::prop_oneof![
        proptest::arbitrary::any::<String>(),
        "[a-zA-Z' =1()$.-]{0,30}",
    ];
    let mut values = vec!["PROD-001".to_owned(), "it's".to_owned()];
    for _ in 0..48 {
        values.push(strategy.new_tree(&mut runner).expect("value").current());
    }
    for value in values {
        // PostgreSQL text cannot hold NUL; a value with one is tested above as an argument.
        let value = value.replace('\0', "");
        let expected: Vec<String> = skus()
            .iter()
            .filter(|sku| sku["skuNumber"] == json!(value))
            .map(|sku| sku["skuId"].as_str().unwrap_or_default().to_owned())
            .collect();
        let quoted = format!("skuNumber == {}", quote(&value));
        assert_eq!(matching(store, &quoted).await, expected, "{value:?}");
        assert_eq!(
            ids(store, &filtered("skuNumber == ?", vec![json!(value)])).await,
            expected,
            "{value:?}"
        );
    }
}

async fn the_longest_filters_still_run(store: &dyn Store) {
    let longest_within = |budget: usize, term: &str, separator: &str| {
        let count = (budget + separator.len()) / (term.len() + separator.len());
        vec![term; count].join(separator)
    };
    let longest =
        |term: &str, separator: &str| longest_within(filter::MAX_FILTER_LEN, term, separator);
    let allof = format!(
        "tags allof [{}]",
        longest_within(filter::MAX_FILTER_LEN - 13, "1", ",")
    );
    for text in [
        longest("stock==1", " or "),
        longest("stock>0", " and "),
        longest("not a==1", " and "),
        allof,
    ] {
        assert!(text.len() <= filter::MAX_FILTER_LEN);
        let rows = run(store, &filtered(&text, vec![])).await;
        assert!(rows.is_ok(), "{}…: {rows:?}", &text[..40]);
    }
    assert_eq!(
        ids(store, &filtered(&longest("stock>0", " and "), vec![])).await,
        ["a1", "c3"]
    );
}

async fn seeds_an_edge_only_once(store: &dyn Store) {
    assert_eq!(store.seed("skus", skus()).await.expect("seeds"), 0);
    assert_eq!(ids(store, &Query::new("skus")).await.len(), 4);
    assert_eq!(store.seed("empty", vec![]).await.expect("seeds"), 0);
    assert_eq!(
        store
            .seed("empty", vec![json!({"a": 1})])
            .await
            .expect("seeds"),
        1
    );
}

async fn rejects_seed_records_that_are_not_objects(store: &dyn Store) {
    let err = store
        .seed("bad", vec![json!({"a": 1}), json!([1])])
        .await
        .expect_err("not an object");
    assert!(
        matches!(err, StoreError::InvalidRecord { index: 1, .. }),
        "{err}"
    );
    assert!(matches!(
        store.seed("bad name", vec![]).await,
        Err(StoreError::InvalidEdgeName(_))
    ));
    assert!(
        !store
            .edges()
            .await
            .expect("edges")
            .contains(&"bad".to_owned()),
        "nothing was created"
    );
}

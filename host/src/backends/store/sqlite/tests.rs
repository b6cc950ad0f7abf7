//! End-to-end queries on an in-memory SQLite store.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::backends::store::filter::{self, quote};
use crate::backends::store::{MAX_LIMIT, StoreErrorKind, parse_order_by};

/// 2026-01-11T19:30:00Z
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_768_159_800)
}

fn skus() -> Vec<Value> {
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

fn store() -> SqliteStore {
    let store = SqliteStore::open_in_memory().expect("opens");
    assert_eq!(store.seed("skus", skus()).expect("seeds"), 4);
    store
}

fn run(store: &SqliteStore, query: &Query) -> Result<Vec<Map<String, Value>>, StoreError> {
    store.query_at(query, now())
}

fn filtered(filter: &str, arguments: Vec<Value>) -> Query {
    Query {
        filter: Some(filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"))),
        arguments,
        ..Query::new("skus")
    }
}

fn ids(store: &SqliteStore, query: &Query) -> Vec<String> {
    run(store, query)
        .expect("query runs")
        .iter()
        .map(|row| {
            row.get("skuId")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

fn matching(store: &SqliteStore, filter: &str) -> Vec<String> {
    ids(store, &filtered(filter, vec![]))
}

#[test]
fn filters_with_every_comparison_on_typed_values() {
    let store = store();
    let cases: &[(&str, &[&str])] = &[
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
    ];
    for (filter, expected) in cases {
        assert_eq!(matching(&store, filter), *expected, "{filter}");
    }
}

#[test]
fn not_equal_and_not_treat_a_missing_field_as_not_matching() {
    let store = store();
    assert_eq!(matching(&store, "price != 9.5"), ["b2", "c3", "d4"]);
    assert_eq!(matching(&store, "not price > 10"), ["a1", "c3", "d4"]);
    assert_eq!(
        matching(&store, "skuNumber != 'PROD-001'"),
        ["b2", "c3", "d4"]
    );
    assert_eq!(
        matching(&store, "not address.city == 'Oslo'"),
        ["b2", "c3", "d4"]
    );
    assert_eq!(matching(&store, "not not stock == 0"), ["b2"]);
}

#[test]
fn compares_booleans_and_null() {
    let store = store();
    assert_eq!(matching(&store, "active == true"), ["a1", "c3"]);
    assert_eq!(matching(&store, "active == false"), ["b2"]);
    assert_eq!(matching(&store, "active != true"), ["b2", "d4"]);
    // A boolean is not the number 1.
    assert_eq!(matching(&store, "active == 1"), Vec::<String>::new());
    assert_eq!(matching(&store, "note == null"), ["a1", "b2", "c3", "d4"]);
    assert_eq!(matching(&store, "price == null"), ["c3", "d4"]);
    assert_eq!(matching(&store, "price != null"), ["a1", "b2"]);
}

#[test]
fn anyof_matches_array_elements_or_a_scalar() {
    let store = store();
    let cases: &[(&str, &[&str])] = &[
        ("tags anyof ['red']", &["a1", "c3"]),
        ("tags anyof ['blue', 'sale']", &["a1", "b2"]),
        ("tags anyof [2]", &["d4"]),
        ("tags anyof [true]", &["d4"]),
        ("tags anyof [null]", &["d4"]),
        ("tags anyof []", &[]),
        ("stock anyof [0, 12]", &["b2", "c3"]),
        ("price anyof [null]", &["c3", "d4"]),
        // An object's values are not elements.
        ("address anyof ['Oslo']", &[]),
        ("skuNumber anyof ['PROD-002', 'PROD-003']", &["b2", "c3"]),
    ];
    for (filter, expected) in cases {
        assert_eq!(matching(&store, filter), *expected, "{filter}");
    }
}

#[test]
fn allof_needs_an_array_with_every_value() {
    let store = store();
    assert_eq!(matching(&store, "tags allof ['red', 'sale']"), ["a1"]);
    assert_eq!(matching(&store, "tags allof ['red']"), ["a1"]); // c3's scalar is not an array
    assert_eq!(
        matching(&store, "tags allof ['red', 'blue']"),
        Vec::<String>::new()
    );
    assert_eq!(matching(&store, "tags allof [1, true, null]"), ["d4"]);
    assert_eq!(matching(&store, "tags allof []"), ["a1", "b2", "d4"]);
}

#[test]
fn follows_precedence_and_parentheses() {
    let store = store();
    assert_eq!(
        matching(
            &store,
            "skuNumber == 'PROD-003' or stock == 0 and active == false"
        ),
        ["b2", "c3"]
    );
    assert_eq!(
        matching(
            &store,
            "(skuNumber == 'PROD-003' or stock == 0) and active == true"
        ),
        ["c3"]
    );
}

#[test]
fn compares_timestamps_against_now() {
    let store = store();
    assert_eq!(matching(&store, "createdAt > now - 7 days"), ["a1"]);
    assert_eq!(matching(&store, "createdAt < now - 30 days"), ["c3"]);
    assert_eq!(
        matching(&store, "createdAt < now + 1 hour"),
        ["a1", "b2", "c3"]
    );
}

#[test]
fn takes_placeholder_values_from_arguments() {
    let store = store();
    assert_eq!(
        ids(&store, &filtered("skuNumber == ?", vec![json!("PROD-002")])),
        ["b2"]
    );
    assert_eq!(
        ids(
            &store,
            &filtered("stock > ? and active == ?", vec![json!(4), json!(true)])
        ),
        ["a1", "c3"]
    );
    assert_eq!(
        ids(&store, &filtered("tags anyof ?", vec![json!(["blue", 2])])),
        ["b2", "d4"]
    );
    assert_eq!(
        ids(&store, &filtered("price == ?", vec![json!(null)])),
        ["c3", "d4"]
    );
}

#[test]
fn projects_the_requested_fields() {
    let store = store();
    let query = Query {
        fields: vec!["skuNumber".into(), "address.city".into(), "missing".into()],
        ..Query::new("skus")
    };
    let rows: Vec<Value> = run(&store, &query)
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

#[test]
fn returns_whole_documents_in_their_field_order() {
    let store = store();
    let rows = run(&store, &filtered("skuId == 'b2'", vec![])).expect("runs");
    assert_eq!(Value::Object(rows[0].clone()), skus()[1]);
    let keys: Vec<&str> = rows[0].keys().map(String::as_str).collect();
    assert_eq!(keys[..3], ["skuId", "skuNumber", "stock"]);
}

#[test]
fn orders_by_fields_then_insertion_order() {
    let store = store();
    let by = |text: &str| Query {
        order_by: parse_order_by(text).expect("valid"),
        ..Query::new("skus")
    };
    // Missing prices sort first ascending, so last descending, in insertion order.
    assert_eq!(ids(&store, &by("price desc")), ["b2", "a1", "c3", "d4"]);
    assert_eq!(ids(&store, &by("price")), ["c3", "d4", "a1", "b2"]);
    assert_eq!(
        ids(&store, &by("createdAt desc, skuNumber")),
        ["a1", "b2", "c3", "d4"]
    );
    assert_eq!(
        ids(&store, &by("active desc, skuId desc")),
        ["c3", "a1", "b2", "d4"]
    );
}

#[test]
fn limits_results_and_caps_the_limit() {
    let store = store();
    let query = Query {
        limit: 2,
        ..Query::new("skus")
    };
    assert_eq!(ids(&store, &query), ["a1", "b2"]);
    let many: Vec<Value> = (0..150).map(|i| json!({ "n": i })).collect();
    store.seed("many", many).expect("seeds");
    let query = Query {
        limit: 1000,
        ..Query::new("many")
    };
    let rows = run(&store, &query).expect("runs");
    assert_eq!(rows.len(), MAX_LIMIT as usize);
    assert_eq!(rows[99].get("n"), Some(&json!(99)));
}

#[test]
fn reports_unknown_edges_and_invalid_requests() {
    let store = store();
    let err = run(&store, &Query::new("nope")).expect_err("unknown");
    assert!(
        matches!(err, StoreError::UnknownEdge(ref e) if e == "nope"),
        "{err}"
    );
    assert_eq!(err.kind(), StoreErrorKind::UnknownEdge);
    // Edge names are exact: the table exists as edge_skus only.
    assert!(matches!(
        run(&store, &Query::new("SKUS")),
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
        filtered("active < true", vec![]),
    ];
    for query in &invalid {
        let err = run(&store, query).expect_err("invalid");
        assert_eq!(err.kind(), StoreErrorKind::Invalid, "{err}");
    }
    assert_eq!(matching(&store, "skuId == 'a1'"), ["a1"], "table untouched");
}

#[test]
fn seeds_an_edge_only_once() {
    let store = store();
    assert_eq!(store.seed("skus", skus()).expect("seeds"), 0);
    assert_eq!(ids(&store, &Query::new("skus")).len(), 4);
    assert_eq!(store.seed("empty", vec![]).expect("seeds"), 0);
    assert_eq!(
        store.seed("empty", vec![json!({"a": 1})]).expect("seeds"),
        1
    );
    assert_eq!(store.edges(), ["empty", "skus"]);
}

#[test]
fn rejects_seed_records_that_are_not_objects() {
    let store = SqliteStore::open_in_memory().expect("opens");
    let err = store
        .seed("skus", vec![json!({"a": 1}), json!([1])])
        .expect_err("not an object");
    assert!(
        matches!(err, StoreError::InvalidRecord { index: 1, .. }),
        "{err}"
    );
    assert!(store.edges().is_empty(), "nothing was created");
    assert!(matches!(
        store.seed("bad name", vec![]),
        Err(StoreError::InvalidEdgeName(_))
    ));
}

#[test]
fn shares_its_connection_with_other_tables() {
    let store = store();
    store
        .with_connection(|connection| {
            connection.execute_batch(
                "CREATE TABLE other_table (id TEXT PRIMARY KEY, state TEXT);
                 INSERT INTO other_table VALUES ('sku/a1', '{}');",
            )
        })
        .expect("actor tables");
    assert_eq!(store.edges(), ["skus"]);
    assert_eq!(matching(&store, "stock == 0"), ["b2"]);
}

#[test]
fn a_database_file_keeps_its_data_and_uses_wal() {
    let dir = std::env::temp_dir().join(format!("sluice-store-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("store.db");
    {
        let store = SqliteStore::open(&path).expect("opens");
        assert_eq!(store.seed("skus", skus()).expect("seeds"), 4);
        let mode: String = store
            .with_connection(|c| c.query_row("PRAGMA journal_mode", [], |row| row.get(0)))
            .expect("pragma");
        assert_eq!(mode, "wal");
    }
    {
        let store = SqliteStore::open(&path).expect("reopens");
        assert_eq!(
            store.seed("skus", skus()).expect("seeds"),
            0,
            "no duplicate seed"
        );
        assert_eq!(matching(&store, "stock >= 0").len(), 3);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn opening_an_unusable_path_names_the_path() {
    let err = SqliteStore::open("/nonexistent-dir/for/sure/store.db").expect_err("fails");
    assert!(matches!(err, StoreError::Open { .. }));
    assert!(
        err.to_string()
            .contains("/nonexistent-dir/for/sure/store.db"),
        "{err}"
    );
    assert_eq!(err.kind(), StoreErrorKind::Store);
}

#[test]
fn an_escaped_injection_attempt_matches_no_row() {
    let store = store();
    let hostile = "x' or 1==1 or skuNumber == 'y";
    // Escaped as the platform's docs do: every ' doubled inside '...'.
    let text = format!("skuNumber == '{}'", hostile.replace('\'', "''"));
    assert_eq!(matching(&store, &text), Vec::<String>::new());
    assert_eq!(
        ids(&store, &filtered("skuNumber == ?", vec![json!(hostile)])),
        Vec::<String>::new()
    );
    // The harmless query of the same shape does find its row.
    assert_eq!(matching(&store, "skuNumber == 'PROD-001'"), ["a1"]);
}

/// The SQL a filter compiles to with `value` in it (as a literal or an argument).
fn sql_for(filter: &str, arguments: Vec<Value>) -> compile::Sql {
    let query = filtered(filter, arguments);
    compile::select("edge_skus", &query, 1_768_159_800).expect("compiles")
}

proptest! {
    #[test]
    fn a_bound_value_never_changes_the_sql(value in any::<String>()) {
        let filter = "skuNumber == ? and stock > 0";
        let hostile = sql_for(filter, vec![json!(value.clone())]);
        let harmless = sql_for(filter, vec![json!("PROD-001")]);
        prop_assert_eq!(&hostile.text, &harmless.text);
        prop_assert_eq!(hostile.params.len(), harmless.params.len());
        prop_assert_eq!(&hostile.params[1], &rusqlite::types::Value::Text(value));
    }

    #[test]
    fn a_quoted_literal_never_changes_the_sql(value in any::<String>()) {
        let hostile = sql_for(&format!("skuNumber == {} and tags anyof [{}]", quote(&value), quote(&value)), vec![]);
        let harmless = sql_for("skuNumber == 'PROD-001' and tags anyof ['red']", vec![]);
        prop_assert_eq!(&hostile.text, &harmless.text);
        prop_assert_eq!(&hostile.params[1], &rusqlite::types::Value::Text(value));
    }

    #[test]
    fn a_hostile_value_matches_only_rows_equal_to_it(
        value in prop_oneof![
            any::<String>(),
            "[a-zA-Z' =1()-]{0,30}",
            Just("PROD-001".to_owned()),
            Just("x' or 1==1 or skuNumber == 'y".to_owned()),
        ]
    ) {
        let store = store();
        let expected: Vec<String> = skus()
            .iter()
            .filter(|sku| sku["skuNumber"] == json!(value))
            .map(|sku| sku["skuId"].as_str().unwrap_or_default().to_owned())
            .collect();
        let quoted = format!("skuNumber == {}", quote(&value));
        prop_assert_eq!(&matching(&store, &quoted), &expected);
        prop_assert_eq!(&ids(&store, &filtered("skuNumber == ?", vec![json!(value)])), &expected);
    }
}

#[test]
fn the_longest_chains_a_filter_can_hold_still_run() {
    // SQLite refuses expressions nested over 1000 levels, and a plain `a OR b OR …` nests one
    // level per term; a filter within MAX_FILTER_LEN holds over 2000 terms.
    let store = store();
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
        let rows = run(&store, &filtered(&text, vec![]));
        assert!(rows.is_ok(), "{}…: {rows:?}", &text[..40]);
    }
    assert_eq!(
        ids(&store, &filtered(&longest("stock>0", " and "), vec![])),
        ["a1", "c3"]
    );
}

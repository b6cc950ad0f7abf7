//! SQLite runs the shared conformance suite, plus what is SQLite's own: the file, WAL, the
//! shared connection, key order, and properties of the generated SQL.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::backends::store::StoreErrorKind;
use crate::backends::store::conformance::{self, now, skus};
use crate::backends::store::filter::{self, quote};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_store_conformance_suite() {
    let store = SqliteStore::open_in_memory().expect("opens");
    conformance::suite(&store).await;
}

fn store() -> SqliteStore {
    let store = SqliteStore::open_in_memory().expect("opens");
    assert_eq!(store.seed_blocking("skus", skus()).expect("seeds"), 4);
    store
}

fn run(store: &SqliteStore, query: &Query) -> Result<Vec<Map<String, Value>>, StoreError> {
    store.query_blocking(query, now())
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
fn returns_whole_documents_in_their_field_order() {
    let store = store();
    let rows = run(&store, &filtered("skuId == 'b2'", vec![])).expect("runs");
    assert_eq!(Value::Object(rows[0].clone()), skus()[1]);
    let keys: Vec<&str> = rows[0].keys().map(String::as_str).collect();
    assert_eq!(keys[..3], ["skuId", "skuNumber", "stock"]);
}

#[test]
fn orders_arrays_and_objects_by_their_json_text_among_strings() {
    let store = store();
    let by = |text: &str| Query {
        order_by: crate::backends::store::parse_order_by(text).expect("valid"),
        ..Query::new("skus")
    };
    // "red" > '["red","sale"]' > '["blue"]' and '[1,…' sorts after '["…' byte by byte.
    assert_eq!(ids(&store, &by("tags")), ["b2", "a1", "d4", "c3"]);
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
    assert_eq!(store.edges_blocking().expect("edges"), ["skus"]);
    assert_eq!(matching(&store, "stock == 0"), ["b2"]);
}

#[test]
fn a_cached_query_runs_again_without_being_prepared_again() {
    let store = store();
    let by_number = |number: &str| filtered("skuNumber == ?", vec![json!(number)]);
    for number in ["PROD-001", "PROD-002", "PROD-001"] {
        assert_eq!(ids(&store, &by_number(number)).len(), 1, "{number}");
    }
    let sql = compile::select("edge_skus", &by_number("PROD-001"), 0).expect("compiles");
    let reprepared = store.with_connection(|connection| {
        let statement = connection.prepare_cached(&sql.text).expect("cached");
        statement.get_status(rusqlite::StatementStatus::RePrepare)
    });
    assert_eq!(reprepared, 0, "{}", sql.text);
}

#[test]
fn a_database_file_keeps_its_data_and_uses_wal() {
    let dir = std::env::temp_dir().join(format!("sluice-store-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("store.db");
    {
        let store = SqliteStore::open(&path).expect("opens");
        assert_eq!(store.seed_blocking("skus", skus()).expect("seeds"), 4);
        let mode: String = store
            .with_connection(|c| c.query_row("PRAGMA journal_mode", [], |row| row.get(0)))
            .expect("pragma");
        assert_eq!(mode, "wal");
    }
    {
        let store = SqliteStore::open(&path).expect("reopens");
        assert_eq!(
            store.seed_blocking("skus", skus()).expect("seeds"),
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
fn a_database_locked_by_another_process_is_unavailable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path).expect("opens");
    let other = rusqlite::Connection::open(&path).expect("second connection");
    other.execute_batch("BEGIN IMMEDIATE").expect("write lock");
    store.with_connection(|c| c.busy_timeout(Duration::from_millis(50)).expect("timeout"));
    let err = store.seed_blocking("skus", skus()).expect_err("locked");
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
    other.execute_batch("ROLLBACK").expect("release");
    assert_eq!(store.seed_blocking("skus", skus()).expect("seeds"), 4);
}

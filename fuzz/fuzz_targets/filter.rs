//! Filter expressions (SPEC S5). The input is filter text, optionally followed by a `0xFF`
//! byte (never part of UTF-8 text) and a JSON array of `?` arguments.
//!
//! - A syntax error points inside the text, at a character boundary.
//! - A parsed filter prints as canonical text that parses back to the same tree (or, when the
//!   canonical text is longer than the length limit, is refused for its length only).
//! - User text never shapes the SQL: with every field renamed and every literal and argument
//!   replaced by another of the same kind, the filter compiles to the same SQL text.
//! - A parsed filter never makes SQLite fail (only typed `invalid` errors), and a filter and its
//!   `not` split the rows of an edge between them: every predicate is true or false, never NULL.
//! - The input as a value, quoted or bound to `?`, is always one string literal and matches
//!   exactly the documents holding that string (the `x' or 1==1 or …` injection).

#![no_main]

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use sluice::backends::store::filter::{
    self, CompareOp, Expr, FieldPath, List, MAX_FILTER_LEN, Operand,
};
use sluice::backends::store::sqlite::compile;
use sluice::backends::store::{Query, SqliteStore, StoreErrorKind};

/// 2026-01-11T19:30:00Z
const NOW: i64 = 1_768_159_800;

fn documents() -> Vec<Value> {
    vec![
        json!({"id": 0, "skuNumber": "PROD-001", "stock": 5, "price": 9.5, "active": true,
               "tags": ["red", "sale"], "createdAt": "2026-01-10T10:00:00Z",
               "address": {"city": "Oslo", "zip": "0150"}}),
        json!({"id": 1, "skuNumber": "PROD-002", "stock": 0, "price": 20, "active": false,
               "tags": ["blue"], "createdAt": "2026-01-01T00:00:00Z", "note": null}),
        json!({"id": 2, "skuNumber": "x' or 1==1 or skuNumber == 'y", "stock": -3.25,
               "tags": "red", "a": 1, "b": "1", "c": [1, "1", true, null, 1.5, {"d": 1}]}),
        json!({"id": 3, "skuNumber": "it's", "stock": "7", "tags": [1, 2, true, null],
               "address": "none", "a": {"b": {"c": 1}}}),
        json!({"id": 4, "skuNumber": "", "stock": 9_223_372_036_854_775_807_i64, "tags": [],
               "active": null, "a": [], "b": {}, "createdAt": "2030-01-01T00:00:00Z"}),
        json!({"id": 5}),
        json!({"id": 6, "skuNumber": "PROD-001", "stock": 1e300, "tags": [[1], {"x": 1}],
               "a": true, "b": false, "c": "\u{0}'\"\\%_", "x": 0, "y": -0.0}),
    ]
}

static STORE: LazyLock<SqliteStore> = LazyLock::new(|| {
    let store = SqliteStore::open_in_memory().expect("an in-memory store");
    store.seed_blocking("skus", documents()).expect("seeded");
    store
});

/// Argument values for missing `?`s, one of each kind.
fn pool() -> Vec<Value> {
    vec![
        json!("PROD-001"),
        json!(5),
        json!(["red", 1, null, true]),
        json!(null),
        json!(9.5),
        json!(true),
        json!([]),
    ]
}

fuzz_target!(|data: &[u8]| {
    let (text, arguments) = match data.iter().position(|&b| b == 0xFF) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    check_quoted_value(text);

    let expr = match filter::parse(text) {
        Ok(expr) => expr,
        Err(err) => {
            let at = err.position as usize;
            assert!(at <= text.len() && text.is_char_boundary(at), "{err}");
            return;
        }
    };
    let canonical_text = expr.to_string();
    match filter::parse(&canonical_text) {
        // Canonical text can be longer than the input (spaces, parentheses): past the length
        // limit it is refused for its length, and for nothing else.
        Err(err) if canonical_text.len() > MAX_FILTER_LEN => {
            assert!(err.message.contains("longer than"), "{err}");
        }
        parsed => assert_eq!(parsed.as_ref(), Ok(&expr), "{canonical_text}"),
    }

    let mut arguments = match serde_json::from_slice(arguments) {
        Ok(Value::Array(arguments)) => arguments,
        _ => Vec::new(),
    };
    let pool = pool();
    let needed = expr.placeholder_count();
    arguments.truncate(needed);
    while arguments.len() < needed {
        arguments.push(pool[arguments.len() % pool.len()].clone());
    }
    let query = Query {
        filter: Some(expr.clone()),
        arguments,
        ..Query::new("skus")
    };
    check_sql_shape(&query);
    check_rows(&query);
});

/// Renames fields and replaces values, then compares the SQL text.
fn check_sql_shape(query: &Query) {
    let Ok(sql) = compile::select("edge_skus", query, NOW) else {
        return;
    };
    let mut fields = HashMap::new();
    let other = Query {
        filter: query.filter.as_ref().map(|e| canonical(e, &mut fields)),
        arguments: query.arguments.iter().map(canonical_json).collect(),
        ..query.clone()
    };
    let other_sql = compile::select("edge_skus", &other, NOW).expect("same shape compiles");
    assert_eq!(sql.text, other_sql.text, "user text changed the SQL");
    assert_eq!(sql.params.len(), other_sql.params.len());
}

fn canonical(expr: &Expr, fields: &mut HashMap<FieldPath, FieldPath>) -> Expr {
    let mut field = |path: &FieldPath| {
        let n = fields.len();
        fields
            .entry(path.clone())
            .or_insert_with(|| FieldPath::parse(&format!("f{n}")).expect("a field"))
            .clone()
    };
    let list = |list: &List| match list {
        List::Values(values) => List::Values(values.iter().map(canonical_operand).collect()),
        List::Placeholder(n) => List::Placeholder(*n),
    };
    match expr {
        Expr::Compare {
            field: f,
            op,
            value,
        } => Expr::Compare {
            field: field(f),
            op: *op,
            value: canonical_operand(value),
        },
        Expr::AnyOf { field: f, values } => Expr::AnyOf {
            field: field(f),
            values: list(values),
        },
        Expr::AllOf { field: f, values } => Expr::AllOf {
            field: field(f),
            values: list(values),
        },
        Expr::Not(inner) => Expr::Not(Box::new(canonical(inner, fields))),
        Expr::And(terms) => Expr::And(terms.iter().map(|t| canonical(t, fields)).collect()),
        Expr::Or(terms) => Expr::Or(terms.iter().map(|t| canonical(t, fields)).collect()),
    }
}

/// Another value of the same kind. Booleans and null are part of the SQL by design.
fn canonical_operand(value: &Operand) -> Operand {
    match value {
        Operand::String(_) => Operand::String("s".into()),
        Operand::Integer(_) => Operand::Integer(0),
        Operand::Float(_) => Operand::Float(0.5),
        Operand::Now { .. } => Operand::Now { offset_seconds: 0 },
        other => other.clone(),
    }
}

fn canonical_json(value: &Value) -> Value {
    match value {
        Value::String(_) => json!("s"),
        Value::Number(_) => json!(0),
        Value::Array(items) => Value::Array(items.iter().map(canonical_json).collect()),
        Value::Object(_) => json!({}),
        other => other.clone(),
    }
}

fn run(query: &Query) -> Result<BTreeSet<i64>, StoreErrorKind> {
    let now = UNIX_EPOCH + Duration::from_secs(NOW as u64);
    let rows = STORE.query_blocking(query, now).map_err(|err| {
        assert_ne!(err.kind(), StoreErrorKind::Store, "SQLite failed: {err}");
        err.kind()
    })?;
    Ok(rows
        .iter()
        .map(|row| row["id"].as_i64().expect("every document has an id"))
        .collect())
}

/// A filter and its negation split the documents between them.
fn check_rows(query: &Query) {
    let matched = run(query);
    let negated = Query {
        filter: query.filter.clone().map(|e| Expr::Not(Box::new(e))),
        ..query.clone()
    };
    let unmatched = run(&negated);
    match (matched, unmatched) {
        (Ok(matched), Ok(unmatched)) => {
            let all: BTreeSet<i64> = (0..documents().len() as i64).collect();
            assert!(matched.is_disjoint(&unmatched), "{matched:?} {unmatched:?}");
            assert_eq!(&matched | &unmatched, all);
        }
        (matched, unmatched) => assert_eq!(matched.is_err(), unmatched.is_err()),
    }
}

/// The injection check: `value` quoted into a filter, or bound to `?`, is one string literal.
fn check_quoted_value(value: &str) {
    let text = format!("skuNumber == {}", filter::quote(value));
    if text.len() > MAX_FILTER_LEN {
        return;
    }
    let expected = Expr::Compare {
        field: FieldPath::parse("skuNumber").expect("a field"),
        op: CompareOp::Eq,
        value: Operand::String(value.to_owned()),
    };
    assert_eq!(filter::parse(&text), Ok(expected));
    let holding: BTreeSet<i64> = documents()
        .iter()
        .filter(|doc| doc["skuNumber"] == json!(value))
        .map(|doc| doc["id"].as_i64().expect("an id"))
        .collect();
    let quoted = Query {
        filter: filter::parse(&text).ok(),
        ..Query::new("skus")
    };
    assert_eq!(run(&quoted), Ok(holding.clone()));
    let bound = Query {
        filter: filter::parse("skuNumber == ?").ok(),
        arguments: vec![json!(value)],
        ..Query::new("skus")
    };
    assert_eq!(run(&bound), Ok(holding));
}

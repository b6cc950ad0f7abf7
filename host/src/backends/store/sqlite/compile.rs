//! A [`Query`] as one SQLite `SELECT` with numbered parameters (`?1` first): the SQLite
//! [`Dialect`] of the shared compiler in `store/sql.rs`. Pure: `now` is passed in.
//!
//! Comparisons are typed: a string literal matches only JSON strings, a number only JSON
//! numbers, so `stock > '5'` never matches `"stock": 5`.

use std::collections::HashMap;

use rusqlite::types::Value as SqlValue;

use crate::backends::store::filter::{CompareOp, FieldPath};
use crate::backends::store::sql::{self, Dialect, Scalar, balanced};
use crate::backends::store::{Query, StoreError};

/// SQL text and its parameters, `?1` first.
#[derive(Debug, Clone, PartialEq)]
pub struct Sql {
    pub text: String,
    pub params: Vec<SqlValue>,
}

/// The statement for `query` on `table` (already validated), with `now` as Unix seconds.
pub fn select(table: &str, query: &Query, now_unix_seconds: i64) -> Result<Sql, StoreError> {
    let mut compiler = Compiler::default();
    let text = sql::select(&mut compiler, table, query, now_unix_seconds)?;
    Ok(Sql {
        text,
        params: compiler.params,
    })
}

#[derive(Default)]
struct Compiler {
    params: Vec<SqlValue>,
    /// A field used twice binds its path once.
    paths: HashMap<String, String>,
}

impl Dialect for Compiler {
    const TRUE: &'static str = "1";

    fn compare(
        &mut self,
        field: &FieldPath,
        op: CompareOp,
        value: Scalar,
    ) -> Result<String, StoreError> {
        let path = self.path(field);
        let json_type = format!("json_type(doc, {path})");
        let extracted = format!("json_extract(doc, {path})");
        let not_orderable = |what: &str| {
            StoreError::InvalidFilter(format!(
                "'{}' cannot compare with {what}; use == or !=",
                op.as_str()
            ))
        };
        let (type_check, param) = match value {
            // json_extract gives NULL for both JSON null and a missing field.
            Scalar::Null => {
                return match op {
                    CompareOp::Eq => Ok(format!("{extracted} IS NULL")),
                    CompareOp::Ne => Ok(format!("{extracted} IS NOT NULL")),
                    _ => Err(not_orderable("null")),
                };
            }
            Scalar::Bool(b) => {
                let literal = if b { "'true'" } else { "'false'" };
                return match op {
                    CompareOp::Eq => Ok(format!("{json_type} IS {literal}")),
                    CompareOp::Ne => Ok(format!("{json_type} IS NOT {literal}")),
                    _ => Err(not_orderable("true or false")),
                };
            }
            Scalar::Text(text) => (
                format!("{json_type} IS 'text'"),
                self.bind(SqlValue::Text(text)),
            ),
            Scalar::Integer(n) => (number_check(&json_type), self.bind(SqlValue::Integer(n))),
            Scalar::Real(x) => (number_check(&json_type), self.bind(SqlValue::Real(x))),
        };
        Ok(match op {
            // A missing field, or one of another type, is "not equal".
            CompareOp::Ne => format!("NOT ({type_check} AND {extracted} = {param})"),
            _ => format!(
                "({type_check} AND {extracted} {} {param})",
                sql_operator(op)
            ),
        })
    }

    /// `json_each` yields one row for a scalar, one per element for an array; objects are
    /// excluded.
    fn any_of(&mut self, field: &FieldPath, values: &[Scalar]) -> String {
        let path = self.path(field);
        let Some(matches) = self.element_matches(values) else {
            return "0".to_owned();
        };
        let found = format!(
            "(json_type(doc, {path}) IS NOT 'object' AND \
             EXISTS (SELECT 1 FROM json_each(doc, {path}) AS e WHERE {matches}))"
        );
        if values.contains(&Scalar::Null) {
            // As with `== null`, a missing field counts as null.
            format!("({found} OR json_type(doc, {path}) IS NULL)")
        } else {
            found
        }
    }

    fn all_of(&mut self, field: &FieldPath, values: &[Scalar]) -> String {
        let path = self.path(field);
        let mut parts = vec![format!("json_type(doc, {path}) IS 'array'")];
        for value in values {
            if let Some(matches) = self.element_matches(std::slice::from_ref(value)) {
                parts.push(format!(
                    "EXISTS (SELECT 1 FROM json_each(doc, {path}) AS e WHERE {matches})"
                ));
            }
        }
        format!("({})", balanced(&parts, " AND "))
    }

    fn order_term(&mut self, field: &FieldPath, direction: &str) -> String {
        let path = self.path(field);
        format!("json_extract(doc, {path}) {direction}")
    }

    fn limit(&mut self, limit: i64) -> String {
        // Not a bare `?n`: SQLite plans with a bound LIMIT's value, so it re-prepares a
        // cached statement every time one is bound again (3.54, in the live-stock page's
        // connect profile). A cast is an expression it evaluates when the statement runs.
        let limit = self.bind(SqlValue::Integer(limit));
        format!("CAST({limit} AS INTEGER)")
    }
}

impl Compiler {
    fn bind(&mut self, value: SqlValue) -> String {
        self.params.push(value);
        format!("?{}", self.params.len())
    }

    fn path(&mut self, field: &FieldPath) -> String {
        let json_path = field.json_path();
        if let Some(param) = self.paths.get(&json_path) {
            return param.clone();
        }
        let param = self.bind(SqlValue::Text(json_path.clone()));
        self.paths.insert(json_path, param.clone());
        param
    }

    /// A condition on a `json_each` row `e` that holds when it equals one of `values`; `None`
    /// for no values.
    fn element_matches(&mut self, values: &[Scalar]) -> Option<String> {
        let mut texts = Vec::new();
        let mut numbers = Vec::new();
        let mut types = Vec::new();
        for value in values {
            match value {
                Scalar::Text(text) => texts.push(self.bind(SqlValue::Text(text.clone()))),
                Scalar::Integer(n) => numbers.push(self.bind(SqlValue::Integer(*n))),
                Scalar::Real(x) => numbers.push(self.bind(SqlValue::Real(*x))),
                Scalar::Bool(true) => types.push("e.type = 'true'"),
                Scalar::Bool(false) => types.push("e.type = 'false'"),
                Scalar::Null => types.push("e.type = 'null'"),
            }
        }
        let mut conditions = Vec::new();
        if !texts.is_empty() {
            conditions.push(format!(
                "(e.type = 'text' AND e.value IN ({}))",
                texts.join(", ")
            ));
        }
        if !numbers.is_empty() {
            conditions.push(format!(
                "(e.type IN ('integer', 'real') AND e.value IN ({}))",
                numbers.join(", ")
            ));
        }
        types.dedup();
        conditions.extend(types.into_iter().map(str::to_owned));
        (!conditions.is_empty()).then(|| conditions.join(" OR "))
    }
}

fn number_check(json_type: &str) -> String {
    // ifnull: a missing field must give 0, not NULL, or `not` would misbehave.
    format!("ifnull({json_type}, '') IN ('integer', 'real')")
}

fn sql_operator(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value as Json;

    use super::*;
    use crate::backends::store::filter::parse;
    use crate::backends::store::parse_order_by;
    use crate::backends::store::sql::{CHAIN, MAX_LIST_ARGUMENT_LEN};
    use serde_json::json;

    const NOW: i64 = 1_768_159_800; // 2026-01-11T19:30:00Z

    fn compile(filter: &str, arguments: Vec<Json>) -> Result<Sql, StoreError> {
        let query = Query {
            filter: Some(parse(filter).expect("valid filter")),
            arguments,
            ..Query::new("skus")
        };
        select("edge_skus", &query, NOW)
    }

    fn condition(filter: &str) -> String {
        let sql = compile(filter, vec![]).expect("compiles");
        let text = sql.text;
        let start = text.find(" WHERE ").expect("where") + 7;
        let end = text.find(" ORDER BY ").expect("order by");
        text[start..end].to_owned()
    }

    fn texts(params: &[SqlValue]) -> Vec<String> {
        params.iter().map(|p| format!("{p:?}")).collect()
    }

    #[test]
    fn a_query_without_filter_selects_in_insertion_order_with_a_bound_limit() {
        let sql = select("edge_skus", &Query::new("skus"), NOW).expect("compiles");
        assert_eq!(
            sql.text,
            "SELECT id, doc FROM \"edge_skus\" WHERE 1 ORDER BY id LIMIT CAST(?1 AS INTEGER)"
        );
        assert_eq!(sql.params, [SqlValue::Integer(100)]);
    }

    #[test]
    fn caps_the_limit_and_binds_order_by_paths() {
        let query = Query {
            order_by: parse_order_by("createdAt desc, a.b").expect("valid"),
            limit: 5000,
            ..Query::new("skus")
        };
        let sql = select("edge_skus", &query, NOW).expect("compiles");
        assert_eq!(
            sql.text,
            "SELECT id, doc FROM \"edge_skus\" WHERE 1 ORDER BY json_extract(doc, ?1) DESC, \
             json_extract(doc, ?2) ASC, id LIMIT CAST(?3 AS INTEGER)"
        );
        assert_eq!(
            sql.params,
            [
                SqlValue::Text("$.createdAt".into()),
                SqlValue::Text("$.a.b".into()),
                SqlValue::Integer(100)
            ]
        );
    }

    #[test]
    fn compiles_typed_comparisons() {
        assert_eq!(
            condition("skuNumber == 'PROD-001'"),
            "(json_type(doc, ?1) IS 'text' AND json_extract(doc, ?1) = ?2)"
        );
        assert_eq!(
            condition("stock >= 5"),
            "(ifnull(json_type(doc, ?1), '') IN ('integer', 'real') AND json_extract(doc, ?1) >= ?2)"
        );
        assert_eq!(
            condition("stock != 5"),
            "NOT (ifnull(json_type(doc, ?1), '') IN ('integer', 'real') AND json_extract(doc, ?1) = ?2)"
        );
        assert_eq!(condition("active == true"), "json_type(doc, ?1) IS 'true'");
        assert_eq!(
            condition("active != false"),
            "json_type(doc, ?1) IS NOT 'false'"
        );
        assert_eq!(condition("note == null"), "json_extract(doc, ?1) IS NULL");
        assert_eq!(
            condition("note != null"),
            "json_extract(doc, ?1) IS NOT NULL"
        );
    }

    #[test]
    fn compiles_boolean_structure_with_parentheses() {
        assert_eq!(
            condition("a == 1 or not (b == true and c == null)"),
            "((ifnull(json_type(doc, ?1), '') IN ('integer', 'real') AND json_extract(doc, ?1) = ?2)) \
             OR (NOT ((json_type(doc, ?3) IS 'true') AND (json_extract(doc, ?4) IS NULL)))"
        );
    }

    #[test]
    fn binds_a_repeated_field_path_once() {
        let sql = compile("a > 1 and a < 5", vec![]).expect("compiles");
        assert_eq!(
            texts(&sql.params),
            ["Text(\"$.a\")", "Integer(1)", "Integer(5)", "Integer(100)"]
        );
    }

    #[test]
    fn compiles_anyof_and_allof_with_grouped_values() {
        assert_eq!(
            condition("tags anyof ['a', 1, 'b', 2.5, true, null]"),
            "((json_type(doc, ?1) IS NOT 'object' AND EXISTS (SELECT 1 FROM json_each(doc, ?1) AS e \
             WHERE (e.type = 'text' AND e.value IN (?2, ?4)) OR (e.type IN ('integer', 'real') AND \
             e.value IN (?3, ?5)) OR e.type = 'true' OR e.type = 'null')) OR json_type(doc, ?1) IS NULL)"
        );
        assert_eq!(condition("tags anyof []"), "0");
        assert_eq!(
            condition("tags allof ['a', false]"),
            "(json_type(doc, ?1) IS 'array' AND EXISTS (SELECT 1 FROM json_each(doc, ?1) AS e WHERE \
             (e.type = 'text' AND e.value IN (?2))) AND EXISTS (SELECT 1 FROM json_each(doc, ?1) AS e \
             WHERE e.type = 'false'))"
        );
        assert_eq!(
            condition("tags allof []"),
            "(json_type(doc, ?1) IS 'array')"
        );
    }

    #[test]
    fn binds_now_as_an_rfc3339_timestamp() {
        let sql =
            compile("createdAt > now - 7 days and createdAt < now", vec![]).expect("compiles");
        assert_eq!(
            &sql.params[1..3],
            [
                SqlValue::Text("2026-01-04T19:30:00Z".into()),
                SqlValue::Text("2026-01-11T19:30:00Z".into())
            ]
        );
    }

    #[test]
    fn fills_placeholders_from_arguments_in_order() {
        let sql = compile(
            "a == ? and b anyof ? and c < ? and d == ?",
            vec![json!("x"), json!(["y", 2]), json!(1.5), json!(null)],
        )
        .expect("compiles");
        assert_eq!(
            texts(&sql.params),
            [
                "Text(\"$.a\")",
                "Text(\"x\")",
                "Text(\"$.b\")",
                "Text(\"y\")",
                "Integer(2)",
                "Text(\"$.c\")",
                "Real(1.5)",
                "Text(\"$.d\")",
                "Integer(100)"
            ]
        );
        assert!(
            sql.text.contains("json_extract(doc, ?8) IS NULL"),
            "{}",
            sql.text
        );
    }

    #[test]
    fn rejects_a_wrong_number_of_arguments() {
        assert!(matches!(
            compile("a == ? and b == ?", vec![json!(1)]),
            Err(StoreError::ArgumentCount {
                expected: 2,
                given: 1
            })
        ));
        assert!(matches!(
            compile("a == 1", vec![json!(1)]),
            Err(StoreError::ArgumentCount {
                expected: 0,
                given: 1
            })
        ));
        let no_filter = Query {
            arguments: vec![json!(1)],
            ..Query::new("skus")
        };
        assert!(matches!(
            select("edge_skus", &no_filter, NOW),
            Err(StoreError::ArgumentCount {
                expected: 0,
                given: 1
            })
        ));
    }

    #[test]
    fn rejects_arguments_of_the_wrong_shape() {
        let cases = [
            ("a == ?", json!([1])),
            ("a == ?", json!({"x": 1})),
            ("a anyof ?", json!("x")),
            ("a allof ?", json!([[1]])),
            ("a anyof ?", json!(vec![1; MAX_LIST_ARGUMENT_LEN + 1])),
        ];
        for (filter, argument) in cases {
            let err = compile(filter, vec![argument]).expect_err(filter);
            assert!(
                matches!(err, StoreError::InvalidArgument { number: 1, .. }),
                "{filter}: {err}"
            );
        }
    }

    #[test]
    fn rejects_ordering_on_booleans_and_null() {
        for filter in ["a < true", "a >= false", "a > null", "a < ?"] {
            let err = compile(
                filter,
                if filter.contains('?') {
                    vec![json!(true)]
                } else {
                    vec![]
                },
            )
            .expect_err(filter);
            assert!(
                matches!(err, StoreError::InvalidFilter(_)),
                "{filter}: {err}"
            );
        }
    }

    #[test]
    fn rejects_now_outside_four_digit_years() {
        let query = Query {
            filter: Some(parse("a > now + 520000 weeks").expect("valid")),
            ..Query::new("skus")
        };
        assert!(matches!(
            select("edge_skus", &query, NOW),
            Err(StoreError::InvalidFilter(_))
        ));
    }

    #[test]
    fn groups_long_chains_so_sqlite_nesting_stays_shallow() {
        let parts = |n: usize| (0..n).map(|i| format!("t{i}")).collect::<Vec<_>>();
        assert_eq!(
            balanced(&parts(8), " OR "),
            "t0 OR t1 OR t2 OR t3 OR t4 OR t5 OR t6 OR t7"
        );
        assert_eq!(
            balanced(&parts(9), " OR "),
            "(t0 OR t1) OR (t2 OR t3) OR (t4 OR t5) OR (t6 OR t7) OR (t8)"
        );
        for n in [9, 64, 65, 1000, 5000] {
            let sql = balanced(&parts(n), " AND ");
            let (mut depth, mut deepest, mut chain) = (0, 0, vec![1]);
            for token in sql.split(' ') {
                depth += token.matches('(').count();
                deepest = deepest.max(depth);
                chain.resize(depth + 1, 1);
                if token == "AND" {
                    chain[depth] += 1;
                    assert!(
                        chain[depth] <= CHAIN,
                        "{n} terms: a chain longer than {CHAIN}"
                    );
                }
                for _ in 0..token.matches(')').count() {
                    chain[depth] = 1;
                    depth -= 1;
                }
            }
            assert!(
                deepest <= n.ilog(CHAIN) as usize + 1,
                "{n} terms nest {deepest} deep"
            );
            let terms: Vec<_> = sql
                .split(" AND ")
                .map(|t| t.trim_matches(['(', ')']))
                .collect();
            assert_eq!(terms, parts(n), "every term once, in order");
        }
    }
}

//! A [`Query`] as one PostgreSQL `SELECT` with numbered parameters (`$1` first): the
//! PostgreSQL [`Dialect`] of the shared compiler in `store/sql.rs`, with the same meaning as
//! SQLite's (the conformance suite checks both). Every field path (a `text[]` for `#>`),
//! value, list and the limit is a bound parameter. Pure: `now` is passed in.
//!
//! How SQLite's semantics are kept:
//! - strings compare by byte (`COLLATE "C"`), numbers by value (`jsonb` numeric order), and a
//!   literal only matches values of its own JSON type (guarded with `jsonb_typeof`);
//! - `anyof`/`allof` test elements with `jsonb` containment against one bound `jsonb` array,
//!   where `2` equals `2.0` and `true` is not `1`, as in SQLite;
//! - `order-by` sorts on three keys per term: type rank (missing/null, numbers and booleans,
//!   strings, arrays and objects), then the number, then the text.
//!
//! Where PostgreSQL cannot match: its text and `jsonb` hold no NUL character, so a string
//! with one can never be stored; `==`/`anyof`/`allof` with such a string are simply false
//! and ordering against one is rejected as invalid. Arrays and objects ordered by sort after
//! all strings here, while SQLite compares their JSON text with strings.

use std::collections::HashMap;

use serde_json::Value as Json;

use crate::backends::store::filter::{CompareOp, FieldPath};
use crate::backends::store::sql::{self, Dialect, Scalar};
use crate::backends::store::{Query, StoreError};

/// One bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// A field path as `text[]`, for `doc #> $n`.
    Path(Vec<String>),
    Text(String),
    Json(Json),
    Limit(i64),
}

/// SQL text and its parameters, `$1` first.
#[derive(Debug, Clone, PartialEq)]
pub struct Sql {
    pub text: String,
    pub params: Vec<Param>,
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
    params: Vec<Param>,
    /// A field used twice binds its path once.
    paths: HashMap<FieldPath, String>,
}

impl Dialect for Compiler {
    const TRUE: &'static str = "true";

    fn compare(
        &mut self,
        field: &FieldPath,
        op: CompareOp,
        value: Scalar,
    ) -> Result<String, StoreError> {
        if let Scalar::Text(text) = &value
            && text.contains('\0')
        {
            return match op {
                // No stored string holds a NUL, so none equals this one.
                CompareOp::Eq => Ok("false".to_owned()),
                CompareOp::Ne => Ok("true".to_owned()),
                _ => Err(StoreError::InvalidFilter(format!(
                    "'{}' cannot compare with a string holding a NUL character on PostgreSQL",
                    op.as_str()
                ))),
            };
        }
        let v = self.value(field);
        let not_orderable = |what: &str| {
            StoreError::InvalidFilter(format!(
                "'{}' cannot compare with {what}; use == or !=",
                op.as_str()
            ))
        };
        let matches = match value {
            // A missing field counts as null, as in SQLite.
            Scalar::Null => match op {
                CompareOp::Eq | CompareOp::Ne => {
                    format!("coalesce(jsonb_typeof({v}), 'null') = 'null'")
                }
                _ => return Err(not_orderable("null")),
            },
            Scalar::Bool(b) => match op {
                CompareOp::Eq | CompareOp::Ne => {
                    format!("coalesce({v} = '{b}'::jsonb, false)")
                }
                _ => return Err(not_orderable("true or false")),
            },
            Scalar::Text(text) => {
                let param = self.bind(Param::Text(text));
                let operator = sql_operator(op);
                format!(
                    "CASE WHEN jsonb_typeof({v}) = 'string' \
                     THEN ({v} #>> '{{}}') COLLATE \"C\" {operator} {param} ELSE false END"
                )
            }
            Scalar::Integer(n) => self.number(&v, op, Json::from(n)),
            Scalar::Real(x) => self.number(&v, op, real(x)),
        };
        Ok(match op {
            // A missing field, or one of another type, is "not equal".
            CompareOp::Ne => format!("NOT ({matches})"),
            _ => matches,
        })
    }

    /// A missing field counts as null; objects never match. A string holding NUL is left
    /// out: no stored value can equal it.
    fn any_of(&mut self, field: &FieldPath, values: &[Scalar]) -> String {
        let values: Vec<Json> = values.iter().filter_map(storable).collect();
        if values.is_empty() {
            return "false".to_owned();
        }
        let v = self.value(field);
        let list = self.bind(Param::Json(Json::Array(values)));
        format!(
            "coalesce(EXISTS (SELECT 1 FROM jsonb_array_elements(CASE jsonb_typeof({v}) \
             WHEN 'array' THEN {v} WHEN 'object' THEN '[]'::jsonb ELSE jsonb_build_array({v}) END) \
             AS e(value) WHERE {list} @> jsonb_build_array(e.value)), false)"
        )
    }

    /// With a string holding NUL among `values`, never true: no stored array holds one.
    fn all_of(&mut self, field: &FieldPath, values: &[Scalar]) -> String {
        let Some(values) = values.iter().map(storable).collect::<Option<Vec<Json>>>() else {
            return "false".to_owned();
        };
        let v = self.value(field);
        let list = self.bind(Param::Json(Json::Array(values)));
        format!("CASE WHEN jsonb_typeof({v}) = 'array' THEN {v} @> {list} ELSE false END")
    }

    /// Three keys per term: type rank (missing/null, numbers and booleans, strings, arrays
    /// and objects), then the number, then the text.
    fn order_term(&mut self, field: &FieldPath, direction: &str) -> String {
        let v = self.value(field);
        format!(
            "CASE coalesce(jsonb_typeof({v}), 'null') WHEN 'null' THEN 0 WHEN 'number' THEN 1 \
             WHEN 'boolean' THEN 1 WHEN 'string' THEN 2 ELSE 3 END {direction}, \
             CASE jsonb_typeof({v}) WHEN 'number' THEN ({v} #>> '{{}}')::numeric \
             WHEN 'boolean' THEN CASE WHEN {v} = 'true'::jsonb THEN 1 ELSE 0 END END {direction}, \
             CASE WHEN jsonb_typeof({v}) IN ('string', 'array', 'object') THEN {v} #>> '{{}}' END \
             COLLATE \"C\" {direction}"
        )
    }

    fn limit(&mut self, limit: i64) -> String {
        self.bind(Param::Limit(limit))
    }
}

impl Compiler {
    fn bind(&mut self, value: Param) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    /// `(doc #> $n)`: the field's value, its path bound once however often it is used.
    fn value(&mut self, field: &FieldPath) -> String {
        let param = match self.paths.get(field) {
            Some(param) => param.clone(),
            None => {
                let param = self.bind(Param::Path(field.segments().to_vec()));
                self.paths.insert(field.clone(), param.clone());
                param
            }
        };
        format!("(doc #> {param})")
    }

    fn number(&mut self, v: &str, op: CompareOp, number: Json) -> String {
        let param = self.bind(Param::Json(number));
        let operator = sql_operator(op);
        format!("coalesce(jsonb_typeof({v}) = 'number' AND {v} {operator} {param}, false)")
    }
}

/// A list value as JSON; `None` for a string holding NUL, which PostgreSQL cannot store.
fn storable(value: &Scalar) -> Option<Json> {
    Some(match value {
        Scalar::Text(text) if text.contains('\0') => return None,
        Scalar::Text(text) => Json::String(text.clone()),
        Scalar::Integer(n) => Json::from(*n),
        Scalar::Real(x) => real(*x),
        Scalar::Bool(b) => Json::Bool(*b),
        Scalar::Null => Json::Null,
    })
}

fn real(x: f64) -> Json {
    serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number)
}

/// The SQL operator; `!=` compiles as `NOT (… = …)`, so it never reaches here.
fn sql_operator(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq | CompareOp::Ne => "=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::backends::store::filter::{parse, quote};
    use crate::backends::store::parse_order_by;

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
        let text = compile(filter, vec![]).expect("compiles").text;
        let start = text.find(" WHERE ").expect("where") + 7;
        let end = text.find(" ORDER BY ").expect("order by");
        text[start..end].to_owned()
    }

    #[test]
    fn a_query_without_filter_selects_in_insertion_order_with_a_bound_limit() {
        let sql = select("edge_skus", &Query::new("skus"), NOW).expect("compiles");
        assert_eq!(
            sql.text,
            "SELECT id, doc FROM \"edge_skus\" WHERE true ORDER BY id LIMIT $1"
        );
        assert_eq!(sql.params, [Param::Limit(100)]);
    }

    #[test]
    fn compiles_typed_comparisons_with_bound_paths_and_values() {
        assert_eq!(
            condition("skuNumber == 'PROD-001'"),
            "CASE WHEN jsonb_typeof((doc #> $1)) = 'string' THEN ((doc #> $1) #>> '{}') \
             COLLATE \"C\" = $2 ELSE false END"
        );
        assert_eq!(
            condition("stock >= 5"),
            "coalesce(jsonb_typeof((doc #> $1)) = 'number' AND (doc #> $1) >= $2, false)"
        );
        assert_eq!(
            condition("active != true"),
            "NOT (coalesce((doc #> $1) = 'true'::jsonb, false))"
        );
        assert_eq!(
            condition("note == null"),
            "coalesce(jsonb_typeof((doc #> $1)), 'null') = 'null'"
        );
        let sql = compile("a.b == ? and a.b < 2.5", vec![json!("x")]).expect("compiles");
        assert_eq!(
            sql.params,
            [
                Param::Path(vec!["a".into(), "b".into()]),
                Param::Text("x".into()),
                Param::Json(json!(2.5)),
                Param::Limit(100)
            ],
            "a repeated path is bound once"
        );
    }

    #[test]
    fn binds_lists_as_one_jsonb_array_and_now_as_rfc3339_text() {
        let sql = compile(
            "tags anyof ['a', 1, true, null] and t > now - 7 days",
            vec![],
        )
        .expect("compiles");
        assert_eq!(sql.params[1], Param::Json(json!(["a", 1, true, null])));
        assert_eq!(sql.params[3], Param::Text("2026-01-04T19:30:00Z".into()));
        assert_eq!(condition("tags anyof []"), "false");
        assert_eq!(
            condition("tags allof []"),
            "CASE WHEN jsonb_typeof((doc #> $1)) = 'array' THEN (doc #> $1) @> $2 ELSE false END"
        );
    }

    #[test]
    fn strings_holding_nul_never_match_and_cannot_be_ordered_against() {
        assert_eq!(condition("a == 'x\0y'"), "false");
        assert_eq!(condition("a != 'x\0y'"), "true");
        assert_eq!(condition("a allof ['x\0y', 'b']"), "false");
        assert!(condition("a anyof ['x\0y', 'b']").contains("@>"));
        assert!(matches!(
            compile("a < ?", vec![json!("x\0")]),
            Err(StoreError::InvalidFilter(_))
        ));
    }

    #[test]
    fn orders_by_type_rank_then_number_then_text() {
        let query = Query {
            order_by: parse_order_by("price desc").expect("valid"),
            ..Query::new("skus")
        };
        let sql = select("edge_skus", &query, NOW).expect("compiles");
        assert!(
            sql.text.contains("WHEN 'null' THEN 0 WHEN 'number' THEN 1 WHEN 'boolean' THEN 1 WHEN 'string' THEN 2 ELSE 3 END DESC"),
            "{}",
            sql.text
        );
        assert!(
            sql.text.ends_with("COLLATE \"C\" DESC, id LIMIT $2"),
            "{}",
            sql.text
        );
    }

    #[test]
    fn rejects_what_sqlite_rejects() {
        for (filter, arguments) in [
            ("a == ?", vec![]),
            ("a == ?", vec![json!([1])]),
            ("a anyof ?", vec![json!("x")]),
            ("a < true", vec![]),
            ("a > null", vec![]),
            ("a > now + 520000 weeks", vec![]),
        ] {
            let err = compile(filter, arguments).expect_err(filter);
            assert_eq!(
                err.kind(),
                crate::backends::store::StoreErrorKind::Invalid,
                "{filter}: {err}"
            );
        }
    }

    proptest! {
        #[test]
        fn a_bound_or_quoted_value_never_changes_the_sql(value in "[^\0]*") {
            let harmless = compile("skuNumber == ? and tags anyof ['red']", vec![json!("PROD-001")])
                .expect("compiles");
            let bound = compile("skuNumber == ? and tags anyof ['red']", vec![json!(value.clone())])
                .expect("compiles");
            let quoted = compile(
                &format!("skuNumber == {} and tags anyof [{}]", quote(&value), quote(&value)),
                vec![],
            )
            .expect("compiles");
            prop_assert_eq!(&bound.text, &harmless.text);
            prop_assert_eq!(&quoted.text, &harmless.text);
            prop_assert_eq!(&quoted.params[1], &Param::Text(value.clone()));
            prop_assert_eq!(&quoted.params[3], &Param::Json(json!([value])));
        }
    }
}

//! A [`Query`] as one SQLite `SELECT` with numbered parameters. Pure: `now` is passed in.
//!
//! Every field path, value, argument and the limit is a bound parameter; the only text spliced
//! into the SQL is the table name, which the caller has validated as an identifier and found
//! in the catalog. Comparisons are typed: a string literal matches only JSON strings, a number
//! only JSON numbers, so `stock > '5'` never matches `"stock": 5`. Every predicate yields 0 or 1,
//! never NULL, so `not` is plain negation even on missing fields.

use std::collections::HashMap;

use rusqlite::types::Value as SqlValue;
use serde_json::Value as Json;

use crate::backends::store::filter::{CompareOp, Expr, FieldPath, List, Operand};
use crate::backends::store::{Direction, MAX_LIMIT, Query, StoreError};

/// Most values one `anyof ?` / `allof ?` argument may hold.
pub(crate) const MAX_LIST_ARGUMENT_LEN: usize = 1000;

/// SQL text and its parameters, `?1` first.
#[derive(Debug, Clone, PartialEq)]
pub struct Sql {
    pub text: String,
    pub params: Vec<SqlValue>,
}

/// The statement for `query` on `table` (already validated), with `now` as Unix seconds.
pub fn select(table: &str, query: &Query, now_unix_seconds: i64) -> Result<Sql, StoreError> {
    let expected = query.filter.as_ref().map_or(0, Expr::placeholder_count);
    if expected != query.arguments.len() {
        return Err(StoreError::ArgumentCount {
            expected,
            given: query.arguments.len(),
        });
    }
    let mut compiler = Compiler {
        arguments: &query.arguments,
        now_unix_seconds,
        params: Vec::new(),
        paths: HashMap::new(),
    };
    let condition = match &query.filter {
        Some(expr) => compiler.expr(expr)?,
        None => "1".to_owned(),
    };
    let mut order = String::new();
    for term in &query.order_by {
        let path = compiler.path(&term.field);
        let direction = match term.direction {
            Direction::Ascending => "ASC",
            Direction::Descending => "DESC",
        };
        order.push_str(&format!("json_extract(doc, {path}) {direction}, "));
    }
    // Insertion order breaks ties, so results are deterministic.
    order.push_str("id");
    let limit = compiler.bind(SqlValue::Integer(i64::from(query.limit.min(MAX_LIMIT))));
    Ok(Sql {
        text: format!(
            "SELECT id, doc FROM \"{table}\" WHERE {condition} ORDER BY {order} LIMIT {limit}"
        ),
        params: compiler.params,
    })
}

/// A value as it is compared: the operand after placeholders and `now` are resolved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Text(String),
    Integer(i64),
    Real(f64),
    Bool(bool),
    Null,
}

struct Compiler<'a> {
    arguments: &'a [Json],
    now_unix_seconds: i64,
    params: Vec<SqlValue>,
    /// A field used twice binds its path once.
    paths: HashMap<String, String>,
}

impl Compiler<'_> {
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

    fn expr(&mut self, expr: &Expr) -> Result<String, StoreError> {
        match expr {
            Expr::Compare { field, op, value } => {
                let value = resolve(self.arguments, self.now_unix_seconds, value)?;
                self.compare(field, *op, value)
            }
            Expr::AnyOf { field, values } => {
                let values = self.list(values)?;
                Ok(self.any_of(field, &values))
            }
            Expr::AllOf { field, values } => {
                let values = self.list(values)?;
                Ok(self.all_of(field, &values))
            }
            Expr::Not(inner) => Ok(format!("NOT ({})", self.expr(inner)?)),
            Expr::And(terms) => self.joined(terms, " AND "),
            Expr::Or(terms) => self.joined(terms, " OR "),
        }
    }

    fn joined(&mut self, terms: &[Expr], separator: &str) -> Result<String, StoreError> {
        let parts = terms
            .iter()
            .map(|term| Ok(format!("({})", self.expr(term)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(balanced(&parts, separator))
    }

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

    /// An array holding any of `values`, or a scalar equal to one of them. `json_each` yields
    /// one row for a scalar, one per element for an array; objects are excluded.
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

    /// An array holding every one of `values`.
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

    fn list(&self, list: &List) -> Result<Vec<Scalar>, StoreError> {
        match list {
            List::Values(values) => values
                .iter()
                .map(|v| resolve(self.arguments, self.now_unix_seconds, v))
                .collect(),
            List::Placeholder(index) => {
                let invalid = |reason: String| StoreError::InvalidArgument {
                    number: index + 1,
                    reason,
                };
                let Some(Json::Array(items)) = self.arguments.get(*index) else {
                    return Err(invalid("must be a JSON array for anyof/allof".to_owned()));
                };
                if items.len() > MAX_LIST_ARGUMENT_LEN {
                    return Err(invalid(format!(
                        "has more than {MAX_LIST_ARGUMENT_LEN} values"
                    )));
                }
                items
                    .iter()
                    .map(|item| {
                        scalar_from_json(item).ok_or_else(|| {
                            invalid("may only hold strings, numbers, booleans and null".to_owned())
                        })
                    })
                    .collect()
            }
        }
    }
}

/// An operand's value: placeholders filled from `arguments`, `now` at `now_unix_seconds`.
pub(crate) fn resolve(
    arguments: &[Json],
    now_unix_seconds: i64,
    operand: &Operand,
) -> Result<Scalar, StoreError> {
    Ok(match operand {
        Operand::String(text) => Scalar::Text(text.clone()),
        Operand::Integer(n) => Scalar::Integer(*n),
        Operand::Float(x) => Scalar::Real(*x),
        Operand::Bool(b) => Scalar::Bool(*b),
        Operand::Null => Scalar::Null,
        Operand::Placeholder(index) => arguments
            .get(*index)
            .and_then(scalar_from_json)
            .ok_or_else(|| StoreError::InvalidArgument {
                number: index + 1,
                reason: "must be a string, number, boolean or null (arrays only after anyof/allof)"
                    .to_owned(),
            })?,
        Operand::Now { offset_seconds } => now_unix_seconds
            .checked_add(*offset_seconds)
            .and_then(rfc3339_utc)
            .map(Scalar::Text)
            .ok_or_else(|| {
                StoreError::InvalidFilter(
                    "a 'now' expression falls outside the years 0000 to 9999".to_owned(),
                )
            })?,
    })
}

/// `parts` joined with `separator` (` AND ` or ` OR `, both associative), grouped in parentheses
/// when there are many. SQLite nests `a OR b OR …` one level per term and refuses over 1000
/// levels, which a filter within `MAX_FILTER_LEN` could reach; groups of at most [`CHAIN`]
/// keep the depth logarithmic.
pub(crate) fn balanced(parts: &[String], separator: &str) -> String {
    if parts.len() <= CHAIN {
        return parts.join(separator);
    }
    let group = parts.len().div_ceil(CHAIN);
    parts
        .chunks(group)
        .map(|chunk| format!("({})", balanced(chunk, separator)))
        .collect::<Vec<_>>()
        .join(separator)
}

/// Most terms [`balanced`] joins without grouping them.
const CHAIN: usize = 8;

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

/// A JSON argument as a scalar; `None` for arrays and objects.
pub(crate) fn scalar_from_json(value: &Json) -> Option<Scalar> {
    Some(match value {
        Json::Null => Scalar::Null,
        Json::Bool(b) => Scalar::Bool(*b),
        Json::String(text) => Scalar::Text(text.clone()),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Scalar::Integer(i),
            None => Scalar::Real(n.as_f64()?),
        },
        Json::Array(_) | Json::Object(_) => return None,
    })
}

/// `unix_seconds` as `YYYY-MM-DDTHH:MM:SSZ`, for the years 0000 to 9999.
pub(super) fn rfc3339_utc(unix_seconds: i64) -> Option<String> {
    let days = unix_seconds.div_euclid(86_400);
    let second_of_day = unix_seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days: days since 1970-01-01 to a proleptic Gregorian date.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return None;
    }
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::store::filter::parse;
    use crate::backends::store::parse_order_by;
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
            "SELECT id, doc FROM \"edge_skus\" WHERE 1 ORDER BY id LIMIT ?1"
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
             json_extract(doc, ?2) ASC, id LIMIT ?3"
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
    fn formats_rfc3339_utc_timestamps() {
        assert_eq!(rfc3339_utc(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(rfc3339_utc(-1).as_deref(), Some("1969-12-31T23:59:59Z"));
        assert_eq!(rfc3339_utc(NOW).as_deref(), Some("2026-01-11T19:30:00Z"));
        assert_eq!(
            rfc3339_utc(1_709_164_800).as_deref(),
            Some("2024-02-29T00:00:00Z")
        );
        assert_eq!(
            rfc3339_utc(951_782_400).as_deref(),
            Some("2000-02-29T00:00:00Z")
        );
        assert_eq!(
            rfc3339_utc(253_402_300_799).as_deref(),
            Some("9999-12-31T23:59:59Z")
        );
        assert_eq!(
            rfc3339_utc(-62_167_219_200).as_deref(),
            Some("0000-01-01T00:00:00Z")
        );
        assert_eq!(rfc3339_utc(253_402_300_800), None);
        assert_eq!(rfc3339_utc(-62_167_219_201), None);
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

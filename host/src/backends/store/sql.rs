//! What the SQL compilers of every engine share. Pure: `now` is passed in.
//!
//! [`select`] checks a [`Query`]'s arguments, walks its filter tree (resolving placeholders
//! and `now`, grouping long `and`/`or` chains) and builds the `SELECT`; a [`Dialect`]
//! (`sqlite/compile.rs`, `postgres/compile.rs`) says how one comparison, one list test and
//! one order term are written in its engine, and binds every value as a parameter. The only
//! text spliced into the SQL is the table name, which the caller has validated as an
//! identifier and found in the catalog.

use serde_json::Value as Json;

use crate::backends::store::filter::{CompareOp, Expr, FieldPath, List, Operand};
use crate::backends::store::{Direction, MAX_LIMIT, Query, StoreError};

/// Most values one `anyof ?` / `allof ?` argument may hold.
pub(crate) const MAX_LIST_ARGUMENT_LEN: usize = 1000;

/// A value as it is compared: the operand after placeholders and `now` are resolved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Text(String),
    Integer(i64),
    Real(f64),
    Bool(bool),
    Null,
}

/// How one engine writes the parts of a query. Every predicate it returns yields true or
/// false, never NULL, so `not` is plain negation even on missing fields.
pub(crate) trait Dialect {
    /// A condition that always holds (a query without filter).
    const TRUE: &'static str;

    /// `field <op> value`.
    fn compare(
        &mut self,
        field: &FieldPath,
        op: CompareOp,
        value: Scalar,
    ) -> Result<String, StoreError>;

    /// `field anyof values`: an array holding one of them, or a scalar equal to one.
    fn any_of(&mut self, field: &FieldPath, values: &[Scalar]) -> String;

    /// `field allof values`: an array holding every one of them.
    fn all_of(&mut self, field: &FieldPath, values: &[Scalar]) -> String;

    /// One `ORDER BY` term (or several, comma-separated) for `field`, `ASC` or `DESC`.
    fn order_term(&mut self, field: &FieldPath, direction: &str) -> String;

    /// The bound parameter for the row limit.
    fn limit(&mut self, limit: i64) -> String;
}

/// The statement for `query` on `table` (already validated), with `now` as Unix seconds;
/// its parameters are in `dialect`.
pub(crate) fn select<D: Dialect>(
    dialect: &mut D,
    table: &str,
    query: &Query,
    now_unix_seconds: i64,
) -> Result<String, StoreError> {
    let expected = query.filter.as_ref().map_or(0, Expr::placeholder_count);
    if expected != query.arguments.len() {
        return Err(StoreError::ArgumentCount {
            expected,
            given: query.arguments.len(),
        });
    }
    let operands = Operands {
        arguments: &query.arguments,
        now_unix_seconds,
    };
    let condition = match &query.filter {
        Some(expr) => condition(dialect, &operands, expr)?,
        None => D::TRUE.to_owned(),
    };
    let mut order = String::new();
    for term in &query.order_by {
        let direction = match term.direction {
            Direction::Ascending => "ASC",
            Direction::Descending => "DESC",
        };
        order.push_str(&dialect.order_term(&term.field, direction));
        order.push_str(", ");
    }
    // Insertion order breaks ties, so results are deterministic.
    order.push_str("id");
    let limit = dialect.limit(i64::from(query.limit.min(MAX_LIMIT)));
    Ok(format!(
        "SELECT id, doc FROM \"{table}\" WHERE {condition} ORDER BY {order} LIMIT {limit}"
    ))
}

/// Where placeholders and `now` get their values.
struct Operands<'a> {
    arguments: &'a [Json],
    now_unix_seconds: i64,
}

fn condition<D: Dialect>(
    dialect: &mut D,
    operands: &Operands,
    expr: &Expr,
) -> Result<String, StoreError> {
    match expr {
        Expr::Compare { field, op, value } => dialect.compare(field, *op, operands.resolve(value)?),
        Expr::AnyOf { field, values } => Ok(dialect.any_of(field, &operands.list(values)?)),
        Expr::AllOf { field, values } => Ok(dialect.all_of(field, &operands.list(values)?)),
        Expr::Not(inner) => Ok(format!("NOT ({})", condition(dialect, operands, inner)?)),
        Expr::And(terms) => joined(dialect, operands, terms, " AND "),
        Expr::Or(terms) => joined(dialect, operands, terms, " OR "),
    }
}

fn joined<D: Dialect>(
    dialect: &mut D,
    operands: &Operands,
    terms: &[Expr],
    separator: &str,
) -> Result<String, StoreError> {
    let parts = terms
        .iter()
        .map(|term| Ok(format!("({})", condition(dialect, operands, term)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(balanced(&parts, separator))
}

impl Operands<'_> {
    /// An operand's value: placeholders filled from the arguments, `now` at its time.
    fn resolve(&self, operand: &Operand) -> Result<Scalar, StoreError> {
        Ok(match operand {
            Operand::String(text) => Scalar::Text(text.clone()),
            Operand::Integer(n) => Scalar::Integer(*n),
            Operand::Float(x) => Scalar::Real(*x),
            Operand::Bool(b) => Scalar::Bool(*b),
            Operand::Null => Scalar::Null,
            Operand::Placeholder(index) => self
                .arguments
                .get(*index)
                .and_then(scalar_from_json)
                .ok_or_else(|| StoreError::InvalidArgument {
                    number: index + 1,
                    reason:
                        "must be a string, number, boolean or null (arrays only after anyof/allof)"
                            .to_owned(),
                })?,
            Operand::Now { offset_seconds } => self
                .now_unix_seconds
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

    /// The values of an `anyof`/`allof` list: written out, or one JSON array argument.
    fn list(&self, list: &List) -> Result<Vec<Scalar>, StoreError> {
        match list {
            List::Values(values) => values.iter().map(|v| self.resolve(v)).collect(),
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
pub(crate) const CHAIN: usize = 8;

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
pub(crate) fn rfc3339_utc(unix_seconds: i64) -> Option<String> {
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

    #[test]
    fn formats_rfc3339_utc_timestamps() {
        assert_eq!(rfc3339_utc(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(rfc3339_utc(-1).as_deref(), Some("1969-12-31T23:59:59Z"));
        assert_eq!(
            rfc3339_utc(1_768_159_800).as_deref(),
            Some("2026-01-11T19:30:00Z")
        );
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
}

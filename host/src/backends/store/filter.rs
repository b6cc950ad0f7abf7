//! The filter grammar of `query` (SPEC S5): text in, syntax tree out. Pure: no I/O, no clock.
//!
//! ```
//! use sluice::backends::store::filter::{self, CompareOp, Expr, Operand};
//! let expr = filter::parse("skuNumber == 'PROD-001' and stock > 0")?;
//! let Expr::And(terms) = &expr else { panic!("an and") };
//! assert_eq!(
//!     terms[0],
//!     Expr::Compare {
//!         field: filter::FieldPath::parse("skuNumber")?,
//!         op: CompareOp::Eq,
//!         value: Operand::String("PROD-001".into()),
//!     }
//! );
//! # Ok::<(), filter::SyntaxError>(())
//! ```
//!
//! ```text
//! filter     = or
//! or         = and { "or" and }
//! and        = unary { "and" unary }
//! unary      = "not" unary | "(" or ")" | predicate
//! predicate  = field ( ("==" | "!=" | "<" | "<=" | ">" | ">=") value
//!                    | ("anyof" | "allof") ( "[" [ value { "," value } ] "]" | "?" ) )
//! field      = identifier { "." identifier }        (no spaces around '.')
//! identifier = [A-Za-z_][A-Za-z0-9_]*
//! value      = string | [ "-" ] number | "true" | "false" | "null" | "?" | now
//! string     = "'" { any character except "'" | "''" } "'"     ('' is one quote)
//! number     = digits [ "." digits ] [ ("e" | "E") [ "+" | "-" ] digits ]
//! now        = "now" [ ("+" | "-") digits unit ]
//! unit       = second(s) | minute(s) | hour(s) | day(s) | week(s)
//! ```
//!
//! - Keywords (`and or not anyof allof true false null now`, units) are case-insensitive; a
//!   field path may not start with one. Field names are case-sensitive.
//! - Precedence: `not` binds tighter than `and`, which binds tighter than `or`.
//! - `?` placeholders are numbered in order of appearance ([`Operand::Placeholder`]).
//! - `now` is the time of the query; the store compares it as an RFC 3339 UTC timestamp string
//!   (`2026-01-11T19:30:00Z`), so timestamps in documents should be written that way.
//! - At most [`MAX_DEPTH`] nested `(` or `not`, and [`MAX_FILTER_LEN`] bytes of text, so hostile
//!   input cannot exhaust the stack or memory.

mod lexer;
mod parser;

use std::fmt;

/// Deepest nesting of `(` and `not` accepted.
pub const MAX_DEPTH: usize = 64;
/// Longest filter text accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 16 * 1024;
/// Longest field path accepted, in bytes.
pub const MAX_FIELD_LEN: usize = 256;
/// Largest `now ± …` offset accepted: 10,000 years, in seconds.
pub const MAX_NOW_OFFSET_SECONDS: i64 = 10_000 * 366 * 24 * 3600;

/// Words that cannot start a field path.
const KEYWORDS: [&str; 9] = [
    "and", "or", "not", "anyof", "allof", "true", "false", "null", "now",
];

/// Where and why a filter could not be parsed (WIT `syntax-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at {position}")]
pub struct SyntaxError {
    pub message: String,
    /// Byte offset into the filter text.
    pub position: u32,
}

impl SyntaxError {
    fn new(message: impl Into<String>, position: usize) -> Self {
        SyntaxError {
            message: message.into(),
            position: u32::try_from(position).unwrap_or(u32::MAX),
        }
    }
}

/// Parse a filter. See the module docs for the grammar.
///
/// # Examples
///
/// ```
/// # use sluice::backends::store::filter;
/// let err = filter::parse("skuNumber == ").unwrap_err();
/// assert_eq!(err.message, "expected a value after '==', found the end of the filter");
/// assert_eq!(err.position, 13);
/// ```
pub fn parse(text: &str) -> Result<Expr, SyntaxError> {
    parser::parse(text)
}

/// `value` as a filter string literal: in single quotes, each `'` doubled. A value embedded
/// this way is always exactly one literal, whatever it contains.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A filter's syntax tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `field op value`.
    Compare {
        field: FieldPath,
        op: CompareOp,
        value: Operand,
    },
    /// `field anyof [..]`: an array field holding any of the values, or a scalar field equal
    /// to one of them.
    AnyOf {
        field: FieldPath,
        values: List,
    },
    /// `field allof [..]`: an array field holding all of the values.
    AllOf {
        field: FieldPath,
        values: List,
    },
    Not(Box<Expr>),
    /// Two or more terms.
    And(Vec<Expr>),
    /// Two or more terms.
    Or(Vec<Expr>),
}

impl Expr {
    /// How many `?` placeholders the filter has (arguments it needs).
    pub fn placeholder_count(&self) -> usize {
        match self {
            Expr::Compare { value, .. } => usize::from(matches!(value, Operand::Placeholder(_))),
            Expr::AnyOf { values, .. } | Expr::AllOf { values, .. } => match values {
                List::Placeholder(_) => 1,
                List::Values(values) => values
                    .iter()
                    .filter(|v| matches!(v, Operand::Placeholder(_)))
                    .count(),
            },
            Expr::Not(inner) => inner.placeholder_count(),
            Expr::And(terms) | Expr::Or(terms) => terms.iter().map(Expr::placeholder_count).sum(),
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    /// The operator as written in filters and in SQL (`==` is `=` in SQL).
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }
}

/// The right-hand side of a comparison, or one list element.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    Null,
    /// The n-th `?` of the filter (0-based), filled from the query's arguments.
    Placeholder(usize),
    /// `now`, plus this many seconds (negative for `now - …`).
    Now {
        offset_seconds: i64,
    },
}

/// The values of `anyof` / `allof`.
#[derive(Debug, Clone, PartialEq)]
pub enum List {
    Values(Vec<Operand>),
    /// `anyof ?`: the whole list comes from one argument, which must be a JSON array.
    Placeholder(usize),
}

/// A field of a document: `a` or `a.b.c`, each segment an identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    segments: Vec<String>,
}

impl FieldPath {
    /// Parse a field path on its own (for `fields` and `order-by`).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sluice::backends::store::filter::FieldPath;
    /// assert_eq!(FieldPath::parse("address.city")?.json_path(), "$.address.city");
    /// assert!(FieldPath::parse("a-b").is_err());
    /// # Ok::<(), sluice::backends::store::filter::SyntaxError>(())
    /// ```
    pub fn parse(text: &str) -> Result<FieldPath, SyntaxError> {
        if text.len() > MAX_FIELD_LEN {
            return Err(SyntaxError::new(
                format!("a field path is at most {MAX_FIELD_LEN} bytes"),
                0,
            ));
        }
        parser::parse_field_path(text)
    }

    /// The dot-separated names.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The SQLite JSON path (`$.a.b`). Segments are identifiers, so no quoting is needed.
    pub fn json_path(&self) -> String {
        format!("$.{self}")
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.segments.join("."))
    }
}

/// Canonical filter text: parsing it gives back the same tree.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Compare { field, op, value } => write!(f, "{field} {} {value}", op.as_str()),
            Expr::AnyOf { field, values } => write!(f, "{field} anyof {values}"),
            Expr::AllOf { field, values } => write!(f, "{field} allof {values}"),
            Expr::Not(inner) => {
                f.write_str("not ")?;
                write_term(f, inner)
            }
            Expr::And(terms) => write_joined(f, terms, " and "),
            Expr::Or(terms) => write_joined(f, terms, " or "),
        }
    }
}

/// Nested `and`/`or` get parentheses so the tree shape survives a round trip.
fn write_term(f: &mut fmt::Formatter<'_>, term: &Expr) -> fmt::Result {
    match term {
        Expr::And(_) | Expr::Or(_) => write!(f, "({term})"),
        _ => write!(f, "{term}"),
    }
}

fn write_joined(f: &mut fmt::Formatter<'_>, terms: &[Expr], separator: &str) -> fmt::Result {
    for (i, term) in terms.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        write_term(f, term)?;
    }
    Ok(())
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::String(s) => f.write_str(&quote(s)),
            Operand::Integer(n) => write!(f, "{n}"),
            // `{:?}` is the shortest text that parses back to the same f64, and keeps `.0`.
            Operand::Float(x) => write!(f, "{x:?}"),
            Operand::Bool(b) => write!(f, "{b}"),
            Operand::Null => f.write_str("null"),
            Operand::Placeholder(_) => f.write_str("?"),
            Operand::Now { offset_seconds: 0 } => f.write_str("now"),
            Operand::Now { offset_seconds } if *offset_seconds < 0 => {
                write!(f, "now - {} seconds", offset_seconds.unsigned_abs())
            }
            Operand::Now { offset_seconds } => write!(f, "now + {offset_seconds} seconds"),
        }
    }
}

impl fmt::Display for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            List::Placeholder(_) => f.write_str("?"),
            List::Values(values) => {
                f.write_str("[")?;
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{value}")?;
                }
                f.write_str("]")
            }
        }
    }
}

#[cfg(test)]
mod tests;

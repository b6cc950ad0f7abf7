//! Tokens to [`Expr`]: a recursive-descent parser with a nesting limit.

use super::lexer::{Tok, Token, lex};
use super::{
    Expr, FieldPath, KEYWORDS, List, MAX_DEPTH, MAX_FILTER_LEN, MAX_NOW_OFFSET_SECONDS, Operand,
    SyntaxError,
};

pub(super) fn parse(text: &str) -> Result<Expr, SyntaxError> {
    if text.len() > MAX_FILTER_LEN {
        return Err(SyntaxError::new(
            format!("the filter is longer than {MAX_FILTER_LEN} bytes"),
            MAX_FILTER_LEN,
        ));
    }
    let mut parser = Parser::new(lex(text)?);
    if parser.peek().tok == Tok::End {
        return Err(SyntaxError::new("the filter is empty", 0));
    }
    let expr = parser.or()?;
    let next = parser.peek();
    if next.tok != Tok::End {
        return Err(SyntaxError::new(
            format!(
                "expected 'and', 'or' or the end of the filter, found {}",
                next.tok.describe()
            ),
            next.start,
        ));
    }
    Ok(expr)
}

pub(super) fn parse_field_path(text: &str) -> Result<FieldPath, SyntaxError> {
    let mut parser = Parser::new(lex(text)?);
    let field = parser.field("expected a field name")?;
    let next = parser.peek();
    if next.tok != Tok::End {
        return Err(SyntaxError::new(
            format!(
                "expected the end of the field path, found {}",
                next.tok.describe()
            ),
            next.start,
        ));
    }
    Ok(field)
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    at: usize,
    depth: usize,
    placeholders: usize,
}

impl<'a> Parser<'a> {
    fn new(tokens: Vec<Token<'a>>) -> Self {
        Parser {
            tokens,
            at: 0,
            depth: 0,
            placeholders: 0,
        }
    }

    fn peek(&self) -> &Token<'a> {
        // The lexer always ends with `End`, and `advance` never moves past it.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) -> Token<'a> {
        let token = self.peek().clone();
        if token.tok != Tok::End {
            self.at += 1;
        }
        token
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek().tok, Tok::Ident(word) if word.eq_ignore_ascii_case(keyword))
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.peek_keyword(keyword);
        if found {
            self.advance();
        }
        found
    }

    fn error_here(&self, expected: &str) -> SyntaxError {
        let next = self.peek();
        SyntaxError::new(
            format!("{expected}, found {}", next.tok.describe()),
            next.start,
        )
    }

    fn enter(&mut self, at: usize) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SyntaxError::new(
                format!("the filter nests deeper than {MAX_DEPTH} levels"),
                at,
            ));
        }
        Ok(())
    }

    /// `and { "or" and }`. Chains are flat vectors, so a long chain adds no depth.
    fn or(&mut self) -> Result<Expr, SyntaxError> {
        let first = self.and()?;
        let mut terms = Vec::new();
        while self.eat_keyword("or") {
            terms.push(self.and()?);
        }
        Ok(if terms.is_empty() {
            first
        } else {
            terms.insert(0, first);
            Expr::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Expr, SyntaxError> {
        let first = self.unary()?;
        let mut terms = Vec::new();
        while self.eat_keyword("and") {
            terms.push(self.unary()?);
        }
        Ok(if terms.is_empty() {
            first
        } else {
            terms.insert(0, first);
            Expr::And(terms)
        })
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        let start = self.peek().start;
        if self.eat_keyword("not") {
            self.enter(start)?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        if self.peek().tok == Tok::LParen {
            self.advance();
            self.enter(start)?;
            let inner = self.or()?;
            if self.peek().tok != Tok::RParen {
                return Err(self.error_here(&format!("expected ')' to close the '(' at {start}")));
            }
            self.advance();
            self.depth -= 1;
            return Ok(inner);
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Expr, SyntaxError> {
        let field = self.field("expected a field name, 'not' or '('")?;
        let next = self.advance();
        match next.tok {
            Tok::Op(op) => {
                let value = self.value(&format!("after '{}'", op.as_str()))?;
                Ok(Expr::Compare { field, op, value })
            }
            Tok::Ident(word) if word.eq_ignore_ascii_case("anyof") => Ok(Expr::AnyOf {
                field,
                values: self.list("anyof")?,
            }),
            Tok::Ident(word) if word.eq_ignore_ascii_case("allof") => Ok(Expr::AllOf {
                field,
                values: self.list("allof")?,
            }),
            other => Err(SyntaxError::new(
                format!(
                    "expected ==, !=, <, <=, >, >=, anyof or allof after '{field}', found {}",
                    other.describe()
                ),
                next.start,
            )),
        }
    }

    /// `identifier { "." identifier }`, with no spaces around the dots. `expected` starts the
    /// error when there is no identifier.
    fn field(&mut self, expected: &str) -> Result<FieldPath, SyntaxError> {
        let first = self.peek().clone();
        let Tok::Ident(name) = first.tok else {
            return Err(self.error_here(expected));
        };
        if KEYWORDS.iter().any(|k| name.eq_ignore_ascii_case(k)) {
            return Err(SyntaxError::new(
                format!("expected a field name, found the keyword '{name}'"),
                first.start,
            ));
        }
        self.advance();
        let mut segments = vec![name.to_owned()];
        let mut end = first.end;
        while self.peek().tok == Tok::Dot && self.peek().start == end {
            let dot = self.advance();
            let segment = self.peek().clone();
            match segment.tok {
                Tok::Ident(name) if segment.start == dot.end => {
                    self.advance();
                    segments.push(name.to_owned());
                    end = segment.end;
                }
                _ => {
                    return Err(SyntaxError::new(
                        "expected a field name right after '.'",
                        dot.end,
                    ));
                }
            }
        }
        Ok(FieldPath { segments })
    }

    fn list(&mut self, keyword: &str) -> Result<List, SyntaxError> {
        let open = self.advance();
        match open.tok {
            Tok::Question => return Ok(List::Placeholder(self.next_placeholder())),
            Tok::LBracket => {}
            other => {
                return Err(SyntaxError::new(
                    format!(
                        "expected '[' or '?' after '{keyword}', found {}",
                        other.describe()
                    ),
                    open.start,
                ));
            }
        }
        let mut values = Vec::new();
        if self.peek().tok == Tok::RBracket {
            self.advance();
            return Ok(List::Values(values));
        }
        loop {
            let context = if values.is_empty() {
                "after '['"
            } else {
                "after ','"
            };
            values.push(self.value(context)?);
            let next = self.advance();
            match next.tok {
                Tok::Comma => {}
                Tok::RBracket => return Ok(List::Values(values)),
                other => {
                    return Err(SyntaxError::new(
                        format!(
                            "expected ',' or ']' in the list, found {}",
                            other.describe()
                        ),
                        next.start,
                    ));
                }
            }
        }
    }

    fn next_placeholder(&mut self) -> usize {
        self.placeholders += 1;
        self.placeholders - 1
    }

    /// A value; `context` completes "expected a value …" in errors.
    fn value(&mut self, context: &str) -> Result<Operand, SyntaxError> {
        let token = self.peek().clone();
        let value = match token.tok {
            Tok::Str(text) => Operand::String(text),
            Tok::Number(digits) => number(digits, false, token.start)?,
            Tok::Minus => {
                self.advance();
                let next = self.peek().clone();
                let Tok::Number(digits) = next.tok else {
                    return Err(self.error_here("expected a number after '-'"));
                };
                number(digits, true, token.start)?
            }
            Tok::Question => Operand::Placeholder(self.next_placeholder()),
            Tok::Ident(word) if word.eq_ignore_ascii_case("true") => Operand::Bool(true),
            Tok::Ident(word) if word.eq_ignore_ascii_case("false") => Operand::Bool(false),
            Tok::Ident(word) if word.eq_ignore_ascii_case("null") => Operand::Null,
            Tok::Ident(word) if word.eq_ignore_ascii_case("now") => {
                self.advance();
                return self.now_offset();
            }
            _ => return Err(self.error_here(&format!("expected a value {context}"))),
        };
        self.advance();
        Ok(value)
    }

    /// What follows `now`: nothing, or `+`/`-`, a whole number and a unit.
    fn now_offset(&mut self) -> Result<Operand, SyntaxError> {
        let sign = match self.peek().tok {
            Tok::Plus => 1,
            Tok::Minus => -1,
            _ => return Ok(Operand::Now { offset_seconds: 0 }),
        };
        let sign_token = self.advance();
        let amount = self.peek().clone();
        let whole = match amount.tok {
            Tok::Number(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => digits,
            _ => {
                return Err(self.error_here(&format!(
                    "expected a whole number after 'now {}'",
                    if sign > 0 { '+' } else { '-' }
                )));
            }
        };
        self.advance();
        let unit = self.peek().clone();
        let seconds_per_unit = match unit.tok {
            Tok::Ident(word) => unit_seconds(word),
            _ => None,
        }
        .ok_or_else(|| {
            self.error_here(&format!(
                "expected a time unit (seconds, minutes, hours, days or weeks) after '{whole}'"
            ))
        })?;
        self.advance();
        let offset = whole
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(seconds_per_unit))
            .filter(|seconds| *seconds <= MAX_NOW_OFFSET_SECONDS)
            .ok_or_else(|| {
                SyntaxError::new("the time offset is more than 10000 years", sign_token.start)
            })?;
        Ok(Operand::Now {
            offset_seconds: sign * offset,
        })
    }
}

fn unit_seconds(word: &str) -> Option<i64> {
    let word = word.to_ascii_lowercase();
    let singular = word.strip_suffix('s').unwrap_or(&word);
    match singular {
        "second" => Some(1),
        "minute" => Some(60),
        "hour" => Some(3600),
        "day" => Some(86_400),
        "week" => Some(604_800),
        _ => None,
    }
}

/// A number token as an operand; integers that do not fit `i64` become floats.
fn number(digits: &str, negative: bool, start: usize) -> Result<Operand, SyntaxError> {
    let text = if negative {
        format!("-{digits}")
    } else {
        digits.to_owned()
    };
    let is_integer = digits.bytes().all(|b| b.is_ascii_digit());
    if is_integer && let Ok(n) = text.parse::<i64>() {
        return Ok(Operand::Integer(n));
    }
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(Operand::Float(x)),
        _ => Err(SyntaxError::new("the number is out of range", start)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{CompareOp, MAX_FIELD_LEN};
    use super::*;

    fn field(path: &str) -> FieldPath {
        FieldPath {
            segments: path.split('.').map(str::to_owned).collect(),
        }
    }

    fn cmp(path: &str, op: CompareOp, value: Operand) -> Expr {
        Expr::Compare {
            field: field(path),
            op,
            value,
        }
    }

    fn eq(path: &str, n: i64) -> Expr {
        cmp(path, CompareOp::Eq, Operand::Integer(n))
    }

    fn ok(text: &str) -> Expr {
        parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn err(text: &str) -> (String, u32) {
        let e = parse(text).expect_err(text);
        (e.message, e.position)
    }

    fn value_of(text: &str) -> Operand {
        match ok(&format!("a == {text}")) {
            Expr::Compare { value, .. } => value,
            other => panic!("not a comparison: {other:?}"),
        }
    }

    #[test]
    fn parses_each_comparison_operator() {
        for (text, op) in [
            ("==", CompareOp::Eq),
            ("!=", CompareOp::Ne),
            ("<", CompareOp::Lt),
            ("<=", CompareOp::Le),
            (">", CompareOp::Gt),
            (">=", CompareOp::Ge),
        ] {
            assert_eq!(
                ok(&format!("stock {text} 5")),
                cmp("stock", op, Operand::Integer(5))
            );
        }
    }

    #[test]
    fn parses_each_kind_of_literal() {
        assert_eq!(value_of("'PROD-001'"), Operand::String("PROD-001".into()));
        assert_eq!(value_of("'it''s'"), Operand::String("it's".into()));
        assert_eq!(value_of("42"), Operand::Integer(42));
        assert_eq!(value_of("-42"), Operand::Integer(-42));
        assert_eq!(value_of("- 42"), Operand::Integer(-42));
        assert_eq!(value_of("-9223372036854775808"), Operand::Integer(i64::MIN));
        assert_eq!(
            value_of("9223372036854775808"),
            Operand::Float(9.223_372_036_854_776e18)
        );
        assert_eq!(value_of("1.5"), Operand::Float(1.5));
        assert_eq!(value_of("-0.25"), Operand::Float(-0.25));
        assert_eq!(value_of("2e3"), Operand::Float(2000.0));
        assert_eq!(value_of("true"), Operand::Bool(true));
        assert_eq!(value_of("false"), Operand::Bool(false));
        assert_eq!(value_of("null"), Operand::Null);
        assert_eq!(value_of("?"), Operand::Placeholder(0));
    }

    #[test]
    fn keywords_are_case_insensitive() {
        assert_eq!(
            ok("NOT a == TRUE AND b == Null OR c AnyOf [FALSE] or d == NOW - 1 DAY"),
            ok("not a == true and b == null or c anyof [false] or d == now - 1 day")
        );
    }

    #[test]
    fn not_binds_tighter_than_and_which_binds_tighter_than_or() {
        assert_eq!(
            ok("a == 1 or b == 2 and not c == 3"),
            Expr::Or(vec![
                eq("a", 1),
                Expr::And(vec![eq("b", 2), Expr::Not(Box::new(eq("c", 3)))]),
            ])
        );
        assert_eq!(
            ok("not a == 1 and b == 2"),
            Expr::And(vec![Expr::Not(Box::new(eq("a", 1))), eq("b", 2)])
        );
    }

    #[test]
    fn parentheses_override_precedence() {
        assert_eq!(
            ok("(a == 1 or b == 2) and not (c == 3 or d == 4)"),
            Expr::And(vec![
                Expr::Or(vec![eq("a", 1), eq("b", 2)]),
                Expr::Not(Box::new(Expr::Or(vec![eq("c", 3), eq("d", 4)]))),
            ])
        );
        assert_eq!(ok("((a == 1))"), eq("a", 1));
    }

    #[test]
    fn chains_are_flat() {
        assert_eq!(
            ok("a == 1 and b == 2 and c == 3"),
            Expr::And(vec![eq("a", 1), eq("b", 2), eq("c", 3)])
        );
        let long = vec!["a == 1"; 1500].join(" or ");
        let Expr::Or(terms) = ok(&long) else {
            panic!("an or")
        };
        assert_eq!(terms.len(), 1500);
    }

    #[test]
    fn parses_field_paths() {
        assert_eq!(
            ok("address.city == 'Oslo'").to_string(),
            "address.city == 'Oslo'"
        );
        assert_eq!(
            ok("_a.B9.c_d != null"),
            cmp("_a.B9.c_d", CompareOp::Ne, Operand::Null)
        );
        // Keywords are fine after the first segment.
        assert_eq!(ok("a.now == 1"), eq("a.now", 1));
    }

    #[test]
    fn parses_anyof_and_allof_lists() {
        assert_eq!(
            ok("tags anyof ['a', 1, -2.5, true, null, ?]"),
            Expr::AnyOf {
                field: field("tags"),
                values: List::Values(vec![
                    Operand::String("a".into()),
                    Operand::Integer(1),
                    Operand::Float(-2.5),
                    Operand::Bool(true),
                    Operand::Null,
                    Operand::Placeholder(0),
                ]),
            }
        );
        assert_eq!(
            ok("tags allof []"),
            Expr::AllOf {
                field: field("tags"),
                values: List::Values(vec![]),
            }
        );
        assert_eq!(
            ok("tags allof ?"),
            Expr::AllOf {
                field: field("tags"),
                values: List::Placeholder(0),
            }
        );
    }

    #[test]
    fn numbers_placeholders_in_order_of_appearance() {
        let expr = ok("a == ? and b anyof [?, 1, ?] or c allof ? or d < ?");
        assert_eq!(
            expr,
            Expr::Or(vec![
                Expr::And(vec![
                    cmp("a", CompareOp::Eq, Operand::Placeholder(0)),
                    Expr::AnyOf {
                        field: field("b"),
                        values: List::Values(vec![
                            Operand::Placeholder(1),
                            Operand::Integer(1),
                            Operand::Placeholder(2),
                        ]),
                    },
                ]),
                Expr::AllOf {
                    field: field("c"),
                    values: List::Placeholder(3),
                },
                cmp("d", CompareOp::Lt, Operand::Placeholder(4)),
            ])
        );
        assert_eq!(expr.placeholder_count(), 5);
    }

    #[test]
    fn parses_now_with_offsets_in_every_unit() {
        let now = |offset_seconds| Operand::Now { offset_seconds };
        assert_eq!(value_of("now"), now(0));
        assert_eq!(value_of("now - 7 days"), now(-7 * 86_400));
        assert_eq!(value_of("now + 2 hours"), now(7200));
        assert_eq!(value_of("now-1 second"), now(-1));
        assert_eq!(value_of("now + 30 seconds"), now(30));
        assert_eq!(value_of("now - 1 minute"), now(-60));
        assert_eq!(value_of("now - 5 minutes"), now(-300));
        assert_eq!(value_of("now + 1 hour"), now(3600));
        assert_eq!(value_of("now - 1 day"), now(-86_400));
        assert_eq!(value_of("now - 1 week"), now(-604_800));
        assert_eq!(value_of("now - 2 WEEKS"), now(-1_209_600));
        assert_eq!(ok("a > now - 7 days and b == 1").placeholder_count(), 0);
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted() {
        let parens = format!("{}a == 1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(ok(&parens), eq("a", 1));
        let nots = format!("{}a == 1", "not ".repeat(MAX_DEPTH));
        assert!(parse(&nots).is_ok());
    }

    #[test]
    fn reports_nesting_beyond_the_limit_where_it_happens() {
        let message = "the filter nests deeper than 64 levels".to_owned();
        let parens = format!("{}a == 1{}", "(".repeat(65), ")".repeat(65));
        assert_eq!(err(&parens), (message.clone(), 64));
        let nots = format!("{}a == 1", "not ".repeat(65));
        assert_eq!(err(&nots), (message.clone(), 256));
        // Hostile input far beyond the limit fails the same way instead of overflowing.
        assert_eq!(err(&"(".repeat(10_000)), (message, 64));
    }

    #[test]
    fn rejects_text_longer_than_the_limit() {
        let long = format!("a == '{}'", "x".repeat(MAX_FILTER_LEN));
        assert_eq!(
            err(&long),
            ("the filter is longer than 16384 bytes".into(), 16384)
        );
    }

    #[test]
    fn reports_every_syntax_error_with_its_position() {
        let cases: &[(&str, &str, u32)] = &[
            ("", "the filter is empty", 0),
            ("  \n", "the filter is empty", 0),
            (
                "skuNumber == ",
                "expected a value after '==', found the end of the filter",
                13,
            ),
            ("a < )", "expected a value after '<', found ')'", 4),
            ("== 1", "expected a field name, 'not' or '(', found '=='", 0),
            (
                "not",
                "expected a field name, 'not' or '(', found the end of the filter",
                3,
            ),
            (
                "'a' == 1",
                "expected a field name, 'not' or '(', found a string",
                0,
            ),
            (
                "true == 1",
                "expected a field name, found the keyword 'true'",
                0,
            ),
            ("and", "expected a field name, found the keyword 'and'", 0),
            (
                "a 1",
                "expected ==, !=, <, <=, >, >=, anyof or allof after 'a', found the number 1",
                2,
            ),
            (
                "a .b == 1",
                "expected ==, !=, <, <=, >, >=, anyof or allof after 'a', found '.'",
                2,
            ),
            ("a. b == 1", "expected a field name right after '.'", 2),
            ("a.1 == 1", "expected a field name right after '.'", 2),
            (
                "a == 1 b == 2",
                "expected 'and', 'or' or the end of the filter, found 'b'",
                7,
            ),
            (
                "a == 1)",
                "expected 'and', 'or' or the end of the filter, found ')'",
                6,
            ),
            (
                "(a == 1",
                "expected ')' to close the '(' at 0, found the end of the filter",
                7,
            ),
            (
                "a anyof 1",
                "expected '[' or '?' after 'anyof', found the number 1",
                8,
            ),
            (
                "a allof 'x'",
                "expected '[' or '?' after 'allof', found a string",
                8,
            ),
            (
                "a anyof [1 2]",
                "expected ',' or ']' in the list, found the number 2",
                11,
            ),
            ("a anyof [1,]", "expected a value after ',', found ']'", 11),
            (
                "a allof [",
                "expected a value after '[', found the end of the filter",
                9,
            ),
            (
                "a anyof [1",
                "expected ',' or ']' in the list, found the end of the filter",
                10,
            ),
            ("a == -x", "expected a number after '-', found 'x'", 6),
            (
                "a == now - x",
                "expected a whole number after 'now -', found 'x'",
                11,
            ),
            (
                "a == now - 1.5 days",
                "expected a whole number after 'now -', found the number 1.5",
                11,
            ),
            (
                "a == now - 7 fortnights",
                "expected a time unit (seconds, minutes, hours, days or weeks) after '7', found 'fortnights'",
                13,
            ),
            (
                "a == now + 7",
                "expected a time unit (seconds, minutes, hours, days or weeks) after '7', found the end of the filter",
                12,
            ),
            (
                "a == now - 99999999999 weeks",
                "the time offset is more than 10000 years",
                9,
            ),
            ("a == 1e999", "the number is out of range", 5),
            ("a == -1e999", "the number is out of range", 5),
            ("a = 1", "'=' is not an operator; use '=='", 2),
        ];
        for (text, message, position) in cases {
            assert_eq!(err(text), (message.to_string(), *position), "{text:?}");
        }
    }

    #[test]
    fn syntax_errors_display_the_message_and_position() {
        let e = parse("skuNumber == ").expect_err("fails");
        assert_eq!(
            e.to_string(),
            "expected a value after '==', found the end of the filter at 13"
        );
    }

    #[test]
    fn parses_field_paths_on_their_own() {
        assert_eq!(FieldPath::parse("a.b_c.D9"), Ok(field("a.b_c.D9")));
        assert_eq!(FieldPath::parse(" createdAt "), Ok(field("createdAt")));
        let cases: &[(&str, &str, u32)] = &[
            ("", "expected a field name, found the end of the filter", 0),
            ("1a", "expected a field name, found the number 1", 0),
            ("a-b", "expected the end of the field path, found '-'", 1),
            ("a..b", "expected a field name right after '.'", 2),
            ("a b", "expected the end of the field path, found 'b'", 2),
            ("null", "expected a field name, found the keyword 'null'", 0),
        ];
        for (text, message, position) in cases {
            let e = FieldPath::parse(text).expect_err(text);
            assert_eq!(
                (e.message.as_str(), e.position),
                (*message, *position),
                "{text:?}"
            );
        }
        assert!(FieldPath::parse(&"a".repeat(MAX_FIELD_LEN + 1)).is_err());
    }
}

//! Filter text to tokens, each with its byte span.

use super::{CompareOp, SyntaxError};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok<'a> {
    Ident(&'a str),
    /// A string literal, `''` already unescaped.
    Str(String),
    /// Digits with optional fraction and exponent; the sign is a separate token.
    Number(&'a str),
    Op(CompareOp),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Question,
    Minus,
    Plus,
    Dot,
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token<'a> {
    pub tok: Tok<'a>,
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset just past the last character.
    pub end: usize,
}

impl Tok<'_> {
    /// How an error message names this token.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(word) => format!("'{word}'"),
            Tok::Str(_) => "a string".to_owned(),
            Tok::Number(text) => format!("the number {text}"),
            Tok::Op(op) => format!("'{}'", op.as_str()),
            Tok::LParen => "'('".to_owned(),
            Tok::RParen => "')'".to_owned(),
            Tok::LBracket => "'['".to_owned(),
            Tok::RBracket => "']'".to_owned(),
            Tok::Comma => "','".to_owned(),
            Tok::Question => "'?'".to_owned(),
            Tok::Minus => "'-'".to_owned(),
            Tok::Plus => "'+'".to_owned(),
            Tok::Dot => "'.'".to_owned(),
            Tok::End => "the end of the filter".to_owned(),
        }
    }
}

/// Split `text` into tokens, ending with [`Tok::End`].
pub(super) fn lex(text: &str) -> Result<Vec<Token<'_>>, SyntaxError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let byte = bytes[at];
        let single = |tok| Some((tok, start + 1));
        let two = |second: u8| bytes.get(start + 1) == Some(&second);
        let (tok, end) = match byte {
            b' ' | b'\t' | b'\r' | b'\n' => {
                at += 1;
                continue;
            }
            b'(' => single(Tok::LParen),
            b')' => single(Tok::RParen),
            b'[' => single(Tok::LBracket),
            b']' => single(Tok::RBracket),
            b',' => single(Tok::Comma),
            b'?' => single(Tok::Question),
            b'-' => single(Tok::Minus),
            b'+' => single(Tok::Plus),
            b'.' => single(Tok::Dot),
            b'=' if two(b'=') => Some((Tok::Op(CompareOp::Eq), start + 2)),
            b'!' if two(b'=') => Some((Tok::Op(CompareOp::Ne), start + 2)),
            b'<' if two(b'=') => Some((Tok::Op(CompareOp::Le), start + 2)),
            b'>' if two(b'=') => Some((Tok::Op(CompareOp::Ge), start + 2)),
            b'<' => single(Tok::Op(CompareOp::Lt)),
            b'>' => single(Tok::Op(CompareOp::Gt)),
            b'=' => {
                return Err(SyntaxError::new("'=' is not an operator; use '=='", start));
            }
            b'!' => {
                return Err(SyntaxError::new(
                    "'!' is not an operator; use '!=' or 'not'",
                    start,
                ));
            }
            b'\'' => {
                let (value, end) = string(text, start)?;
                Some((Tok::Str(value), end))
            }
            b'"' => {
                return Err(SyntaxError::new(
                    "strings are written in single quotes ('like this')",
                    start,
                ));
            }
            b'0'..=b'9' => {
                let end = number(bytes, start)?;
                Some((Tok::Number(&text[start..end]), end))
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let mut end = start + 1;
                while end < bytes.len()
                    && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_')
                {
                    end += 1;
                }
                Some((Tok::Ident(&text[start..end]), end))
            }
            _ => None,
        }
        .ok_or_else(|| unexpected_character(text, start))?;
        tokens.push(Token { tok, start, end });
        at = end;
    }
    tokens.push(Token {
        tok: Tok::End,
        start: text.len(),
        end: text.len(),
    });
    Ok(tokens)
}

fn unexpected_character(text: &str, at: usize) -> SyntaxError {
    let character = text[at..].chars().next().unwrap_or_default();
    SyntaxError::new(
        format!("unexpected character '{}'", character.escape_debug()),
        at,
    )
}

/// The literal starting with the quote at `start`: its value and the offset past its closing
/// quote.
fn string(text: &str, start: usize) -> Result<(String, usize), SyntaxError> {
    let mut value = String::new();
    let mut rest = &text[start + 1..];
    let mut at = start + 1;
    loop {
        let Some(quote) = rest.find('\'') else {
            return Err(SyntaxError::new("unterminated string", start));
        };
        value.push_str(&rest[..quote]);
        at += quote + 1;
        rest = &rest[quote + 1..];
        if let Some(after) = rest.strip_prefix('\'') {
            value.push('\'');
            at += 1;
            rest = after;
        } else {
            return Ok((value, at));
        }
    }
}

/// The end offset of the number starting at `start` (a digit).
fn number(bytes: &[u8], start: usize) -> Result<usize, SyntaxError> {
    let digits = |from: usize| {
        let mut end = from;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        end
    };
    let mut end = digits(start);
    if bytes.get(end) == Some(&b'.') {
        let fraction = digits(end + 1);
        if fraction == end + 1 {
            return Err(SyntaxError::new("expected a digit after '.'", end + 1));
        }
        end = fraction;
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let mut exponent = end + 1;
        if matches!(bytes.get(exponent), Some(b'+' | b'-')) {
            exponent += 1;
        }
        let exponent_end = digits(exponent);
        if exponent_end == exponent {
            return Err(SyntaxError::new(
                "expected a digit in the exponent",
                exponent,
            ));
        }
        end = exponent_end;
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok<'_>> {
        lex(text)
            .expect("lexes")
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    fn error(text: &str) -> (String, u32) {
        let err = lex(text).expect_err("fails");
        (err.message, err.position)
    }

    #[test]
    fn lexes_every_operator_and_punctuation() {
        assert_eq!(
            toks("== != < <= > >= ( ) [ ] , ? - + ."),
            [
                Tok::Op(CompareOp::Eq),
                Tok::Op(CompareOp::Ne),
                Tok::Op(CompareOp::Lt),
                Tok::Op(CompareOp::Le),
                Tok::Op(CompareOp::Gt),
                Tok::Op(CompareOp::Ge),
                Tok::LParen,
                Tok::RParen,
                Tok::LBracket,
                Tok::RBracket,
                Tok::Comma,
                Tok::Question,
                Tok::Minus,
                Tok::Plus,
                Tok::Dot,
                Tok::End,
            ]
        );
    }

    #[test]
    fn operators_need_no_spaces() {
        assert_eq!(
            toks("a<=1"),
            [
                Tok::Ident("a"),
                Tok::Op(CompareOp::Le),
                Tok::Number("1"),
                Tok::End
            ]
        );
    }

    #[test]
    fn records_byte_spans() {
        let tokens = lex("ab == 'é'").expect("lexes");
        let spans: Vec<(usize, usize)> = tokens.iter().map(|t| (t.start, t.end)).collect();
        assert_eq!(spans, [(0, 2), (3, 5), (6, 10), (10, 10)]);
    }

    #[test]
    fn doubled_quotes_are_one_quote() {
        assert_eq!(toks("'it''s'"), [Tok::Str("it's".into()), Tok::End]);
        assert_eq!(toks("''''"), [Tok::Str("'".into()), Tok::End]);
        assert_eq!(toks("''"), [Tok::Str(String::new()), Tok::End]);
        assert_eq!(
            toks("'a' 'b'"),
            [Tok::Str("a".into()), Tok::Str("b".into()), Tok::End]
        );
    }

    #[test]
    fn strings_keep_any_other_character() {
        assert_eq!(
            toks("'a\nb\0\"=='"),
            [Tok::Str("a\nb\0\"==".into()), Tok::End]
        );
    }

    #[test]
    fn lexes_numbers_with_fractions_and_exponents() {
        assert_eq!(
            toks("0 12 1.5 2e10 3.25E-2 4e+1"),
            [
                Tok::Number("0"),
                Tok::Number("12"),
                Tok::Number("1.5"),
                Tok::Number("2e10"),
                Tok::Number("3.25E-2"),
                Tok::Number("4e+1"),
                Tok::End,
            ]
        );
        assert_eq!(toks("-1"), [Tok::Minus, Tok::Number("1"), Tok::End]);
    }

    #[test]
    fn reports_bad_characters_and_literals_with_their_position() {
        assert_eq!(
            error("a = 1"),
            ("'=' is not an operator; use '=='".into(), 2)
        );
        assert_eq!(
            error("a ! 1"),
            ("'!' is not an operator; use '!=' or 'not'".into(), 2)
        );
        assert_eq!(error("a == 'abc"), ("unterminated string".into(), 5));
        assert_eq!(error("a == 'x''"), ("unterminated string".into(), 5));
        assert_eq!(
            error("a == \"x\""),
            (
                "strings are written in single quotes ('like this')".into(),
                5
            )
        );
        assert_eq!(error("a == 1."), ("expected a digit after '.'".into(), 7));
        assert_eq!(
            error("a == 1e"),
            ("expected a digit in the exponent".into(), 7)
        );
        assert_eq!(
            error("a == 1e-x"),
            ("expected a digit in the exponent".into(), 8)
        );
        assert_eq!(error("a # b"), ("unexpected character '#'".into(), 2));
        assert_eq!(error("é"), ("unexpected character 'é'".into(), 0));
        assert_eq!(error("a\u{0}"), ("unexpected character '\\0'".into(), 1));
    }
}

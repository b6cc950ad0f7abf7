//! Properties of the whole grammar: canonical text round-trips, hostile text never panics,
//! and quoted user text is always exactly one literal.

use proptest::prelude::*;

use super::*;

fn field(path: &str) -> FieldPath {
    FieldPath::parse(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn arb_field() -> impl Strategy<Value = FieldPath> {
    prop::collection::vec("[A-Za-z_][A-Za-z0-9_]{0,5}", 1..4)
        .prop_filter("a field may not start with a keyword", |segments| {
            !KEYWORDS.iter().any(|k| segments[0].eq_ignore_ascii_case(k))
        })
        .prop_map(|segments| FieldPath { segments })
}

fn arb_operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        any::<String>().prop_map(Operand::String),
        any::<i64>().prop_map(Operand::Integer),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Operand::Float),
        any::<bool>().prop_map(Operand::Bool),
        Just(Operand::Null),
        (-MAX_NOW_OFFSET_SECONDS..=MAX_NOW_OFFSET_SECONDS)
            .prop_map(|offset_seconds| Operand::Now { offset_seconds }),
    ]
}

fn arb_op() -> impl Strategy<Value = CompareOp> {
    prop_oneof![
        Just(CompareOp::Eq),
        Just(CompareOp::Ne),
        Just(CompareOp::Lt),
        Just(CompareOp::Le),
        Just(CompareOp::Gt),
        Just(CompareOp::Ge),
    ]
}

/// Trees without placeholders (their numbering is positional, so they round-trip only in
/// order; the parser tests cover that).
fn arb_expr() -> impl Strategy<Value = Expr> {
    let list = || prop::collection::vec(arb_operand(), 0..4).prop_map(List::Values);
    let leaf = prop_oneof![
        (arb_field(), arb_op(), arb_operand()).prop_map(|(field, op, value)| Expr::Compare {
            field,
            op,
            value
        }),
        (arb_field(), list()).prop_map(|(field, values)| Expr::AnyOf { field, values }),
        (arb_field(), list()).prop_map(|(field, values)| Expr::AllOf { field, values }),
    ];
    leaf.prop_recursive(5, 40, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            prop::collection::vec(inner, 2..4).prop_map(Expr::Or),
        ]
    })
}

proptest! {
    #[test]
    fn canonical_text_parses_back_to_the_same_tree(expr in arb_expr()) {
        let text = expr.to_string();
        prop_assert_eq!(parse(&text), Ok(expr), "{}", text);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_text(text in any::<String>()) {
        let _ = parse(&text);
    }

    #[test]
    fn parse_never_panics_on_filter_like_text(
        text in "[a-zA-Z_=!<>()\\[\\],?'. 0-9+-]{0,80}"
    ) {
        if let Err(e) = parse(&text) {
            let position = e.position as usize;
            prop_assert!(position <= text.len(), "{} beyond {:?}", position, text);
            prop_assert!(text.is_char_boundary(position));
        }
    }

    #[test]
    fn a_quoted_value_is_always_exactly_one_literal(value in any::<String>()) {
        let text = format!("skuNumber == {} and stock > 0", quote(&value));
        let expected = Expr::And(vec![
            Expr::Compare { field: field("skuNumber"), op: CompareOp::Eq, value: Operand::String(value) },
            Expr::Compare { field: field("stock"), op: CompareOp::Gt, value: Operand::Integer(0) },
        ]);
        prop_assert_eq!(parse(&text), Ok(expected));
    }

    #[test]
    fn quoted_values_in_lists_are_each_one_element(a in any::<String>(), b in any::<String>()) {
        let text = format!("tags anyof [{}, {}] or x == 1", quote(&a), quote(&b));
        let expected = Expr::Or(vec![
            Expr::AnyOf {
                field: field("tags"),
                values: List::Values(vec![Operand::String(a), Operand::String(b)]),
            },
            Expr::Compare { field: field("x"), op: CompareOp::Eq, value: Operand::Integer(1) },
        ]);
        prop_assert_eq!(parse(&text), Ok(expected));
    }
}

#[test]
fn an_injection_attempt_quoted_as_the_docs_do_stays_one_string() {
    // The platform's docs build filters as $'skuNumber == ''{safe}''' with every ' doubled.
    let hostile = "x' or 1==1 or skuNumber == 'y";
    let text = format!("skuNumber == '{}'", hostile.replace('\'', "''"));
    assert_eq!(text, "skuNumber == 'x'' or 1==1 or skuNumber == ''y'");
    assert_eq!(
        parse(&text),
        Ok(Expr::Compare {
            field: field("skuNumber"),
            op: CompareOp::Eq,
            value: Operand::String(hostile.into()),
        })
    );
    // Unescaped, the same text would have been a different query (here: not even valid).
    assert!(parse(&format!("skuNumber == '{hostile}'")).is_err());
}

#[test]
fn displays_canonical_text() {
    let expr =
        parse("NOT (a==1 OR b.c != 'x''y') and d anyof [true, null, -1.50] and e > now - 1 day")
            .expect("parses");
    assert_eq!(
        expr.to_string(),
        "not (a == 1 or b.c != 'x''y') and d anyof [true, null, -1.5] and e > now - 86400 seconds"
    );
    assert_eq!(
        parse("a allof ? and b == ?").expect("parses").to_string(),
        "a allof ? and b == ?"
    );
}

#[test]
fn quote_doubles_single_quotes() {
    assert_eq!(quote("PROD-001"), "'PROD-001'");
    assert_eq!(quote("it's"), "'it''s'");
    assert_eq!(quote(""), "''");
}

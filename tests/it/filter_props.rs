//! Property tests for the SCIM filter parser (and the PATCH path parser built on its lexer):
//! they never panic, and printing a parsed filter then parsing it again gives the same filter.

use proptest::prelude::*;
use serde_json::Number;
use whoot_mgmt::scim::filter::{self, AttrPath, CompValue, Filter, Op};
use whoot_mgmt::scim::patch;

pub fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_-]{0,8}"
}

pub fn attr_path() -> impl Strategy<Value = AttrPath> {
    (
        prop::option::of(prop::sample::select(vec![
            "urn:ietf:params:scim:schemas:core:2.0:User".to_owned(),
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".to_owned(),
        ])),
        name(),
        prop::option::of(name()),
    )
        .prop_map(|(uri, name, sub)| AttrPath { uri, name, sub })
}

fn value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        any::<String>().prop_map(CompValue::Str),
        any::<i64>().prop_map(|n| CompValue::Num(Number::from(n))),
        any::<bool>().prop_map(CompValue::Bool),
        Just(CompValue::Null),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop::sample::select(vec![
        Op::Eq,
        Op::Ne,
        Op::Co,
        Op::Sw,
        Op::Ew,
        Op::Gt,
        Op::Ge,
        Op::Lt,
        Op::Le,
    ])
}

pub fn filter_tree() -> impl Strategy<Value = Filter> {
    let leaf = prop_oneof![
        attr_path().prop_map(Filter::Present),
        // Booleans have no order (RFC 7644 §3.4.2.2): gt/ge/lt/le on one is an invalid filter.
        (attr_path(), op(), value())
            .prop_filter("no order on booleans", |(p, o, v)| {
                let ordering = matches!(o, Op::Gt | Op::Ge | Op::Lt | Op::Le);
                !(ordering
                    && (matches!(v, CompValue::Bool(_))
                        || p.name.eq_ignore_ascii_case("x509Certificates")))
            })
            .prop_map(|(p, o, v)| Filter::Compare(p, o, v)),
    ];
    leaf.prop_recursive(5, 32, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.clone().prop_map(|f| Filter::Not(Box::new(f))),
            (attr_path().prop_map(|p| AttrPath { sub: None, ..p }), inner)
                .prop_map(|(p, f)| Filter::Has(p, Box::new(f))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Neither the filter parser nor the PATCH path parser (which shares its lexer).
    #[test]
    fn parsing_arbitrary_input_never_panics(input in any::<String>()) {
        let _ = filter::parse(&input);
        let _ = patch::parse_path(&input);
    }

    #[test]
    fn parsing_filter_like_input_never_panics(input in r#"[a-zA-Z.:\[\]() "\\0-9-]{0,60}"#) {
        let _ = filter::parse(&input);
        let _ = patch::parse_path(&input);
    }

    #[test]
    fn print_then_parse_gives_the_same_filter(f in filter_tree()) {
        let printed = f.to_string();
        let reparsed = filter::parse(&printed);
        prop_assert_eq!(reparsed, Ok(f), "printed as {}", printed);
    }
}

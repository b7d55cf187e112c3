//! Property tests for the SCIM PATCH path parser, like the filter's: it never panics, and
//! printing a parsed path then parsing it again gives the same path.

use proptest::prelude::*;
use whoot_mgmt::scim::filter::AttrPath;
use whoot_mgmt::scim::patch::{self, PatchPath};

use crate::filter_props::{attr_path, filter_tree};

fn patch_path() -> impl Strategy<Value = PatchPath> {
    let plain = attr_path().prop_map(|attr| PatchPath { attr, filter: None, sub: None });
    // `emails[type eq "work"].value`: a filter on a multi-valued attribute, then a sub-attribute.
    let filtered = (
        attr_path().prop_map(|p| AttrPath { sub: None, ..p }),
        filter_tree(),
        prop::option::of("[a-zA-Z][a-zA-Z0-9_]{0,8}"),
    )
        .prop_map(|(attr, filter, sub)| PatchPath { attr, filter: Some(filter), sub });
    prop_oneof![plain, filtered]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsing_arbitrary_paths_never_panics(input in any::<String>()) {
        let _ = patch::parse_path(&input);
    }

    #[test]
    fn parsing_path_like_input_never_panics(input in r#"[a-zA-Z.:\[\]() "\\0-9-]{0,60}"#) {
        let _ = patch::parse_path(&input);
    }

    #[test]
    fn print_then_parse_gives_the_same_path(p in patch_path()) {
        let printed = p.to_string();
        prop_assert_eq!(patch::parse_path(&printed), Ok(p), "printed as {}", printed);
    }
}

//! Property test for the SCIM PATCH path parser, like the filter's: printing a parsed path then
//! parsing it again gives the same path (that it never panics is tested with the filter's).

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
    fn print_then_parse_gives_the_same_path(p in patch_path()) {
        let printed = p.to_string();
        prop_assert_eq!(patch::parse_path(&printed), Ok(p), "printed as {}", printed);
    }
}

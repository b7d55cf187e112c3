//! The two SCIM profiles. The parsers accept every identity provider's known quirk and
//! normalise it; this module names what a request needed normalising (its `Quirk`s). A key on
//! the `strict` profile (draft-zollner-scim-interop-profile-02, IPSIE's SCIM 2.0 profile) is
//! refused with the first one; a `compatible` key is served and the quirks counted, so an admin
//! can see whether a connection could move to `strict`.
//!
//! What is known is what `/Schemas` publishes: the same schema values serve discovery and
//! these checks, so a strict key is refused exactly what discovery does not declare.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::Value;

use super::filter::{AttrPath, Filter};
use super::patch::EXTENSION_URNS;
use crate::http::error::ApiError;
use crate::repr::input::field;
use crate::store::keys::ScimProfile;

/// What a strict key may not send, and a compatible key may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quirk {
    /// `"op": "Replace"` (Entra).
    CapitalisedOp,
    /// A PATCH operation without `path` (Okta's group push, Entra's dotted keys).
    PathlessPatch,
    /// `remove` with a value (Entra's member removal).
    RemoveWithValue,
    /// `add`/`replace` through a filter without naming a sub-attribute.
    FilterWithoutSubAttribute,
    /// `"active": "False"` (Entra).
    StringBoolean,
    /// An attribute `/Schemas` does not declare (ignored when compatible).
    UnknownAttribute,
    /// A `schemas` URI that is not the resource's or its extension's.
    UnknownSchema,
    /// A filter on an attribute `/Schemas` does not declare.
    UnknownFilterAttribute,
}

impl Quirk {
    pub fn name(self) -> &'static str {
        match self {
            Quirk::CapitalisedOp => "capitalised_op",
            Quirk::PathlessPatch => "pathless_patch",
            Quirk::RemoveWithValue => "remove_with_value",
            Quirk::FilterWithoutSubAttribute => "filter_without_sub_attribute",
            Quirk::StringBoolean => "string_boolean",
            Quirk::UnknownAttribute => "unknown_attribute",
            Quirk::UnknownSchema => "unknown_schema",
            Quirk::UnknownFilterAttribute => "unknown_filter_attribute",
        }
    }

    fn scim_type(self) -> &'static str {
        match self {
            Quirk::PathlessPatch | Quirk::FilterWithoutSubAttribute => "invalidPath",
            // RFC 7644 §3.5.2.2 reads a remove's target from its path alone; scim2-models'
            // strict policy answers a value there with invalidValue too.
            Quirk::StringBoolean | Quirk::RemoveWithValue => "invalidValue",
            Quirk::UnknownFilterAttribute => "invalidFilter",
            _ => "invalidSyntax",
        }
    }
}

/// The quirks one request needed, each with what the refusal says.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Quirks(Vec<(Quirk, String)>);

impl Quirks {
    fn note(&mut self, quirk: Quirk, detail: impl Into<String>) {
        self.0.push((quirk, detail.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn kinds(&self) -> impl Iterator<Item = Quirk> + '_ {
        self.0.iter().map(|(q, _)| *q)
    }

    pub fn extend(&mut self, other: Quirks) {
        self.0.extend(other.0);
    }

    /// The strict profile's answer: the first quirk, as a 400 that says what the profile wants.
    pub fn refusal(&self) -> Option<ApiError> {
        self.0.first().map(|(quirk, detail)| ApiError::BadRequest {
            detail: format!("{detail} (this key uses the strict SCIM profile)"),
            scim_type: quirk.scim_type(),
        })
    }
}

/// Holds a request to its key's profile: a strict key is refused the first quirk; a
/// compatible one is served. Either way each quirk is counted (`whoot_scim_quirks_total`), and
/// a compatible key's on the key too (`scim_quirks` in `GET /api-keys`).
pub fn enforce(ctx: &crate::http::Ctx<'_>, quirks: Quirks) -> Result<(), ApiError> {
    if quirks.is_empty() {
        return Ok(());
    }
    let strict = ctx.caller.key.scim_profile() == ScimProfile::Strict;
    let client = crate::http::client::identity_provider(&ctx.parts.headers);
    let metrics = crate::metrics::get();
    if strict {
        if let Some(first) = quirks.kinds().next() {
            metrics.scim_quirk(first.name(), client, false);
            ctx.note_quirk(first.name());
        }
        return quirks.refusal().map_or(Ok(()), Err);
    }
    for quirk in quirks.kinds() {
        metrics.scim_quirk(quirk.name(), client, true);
        ctx.note_quirk(quirk.name());
        ctx.caller.key.note_quirk(quirk.name());
    }
    Ok(())
}

/// The resource a document or filter is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    User,
    Group,
}

/// An attribute as `/Schemas` declares it: its type and sub-attributes by lowercase name.
struct Declared {
    boolean: bool,
    sub: HashMap<String, Declared>,
}

struct Known {
    user: HashMap<String, Declared>,
    enterprise: HashMap<String, Declared>,
    group: HashMap<String, Declared>,
}

static KNOWN: LazyLock<Known> = LazyLock::new(|| Known {
    user: declared(&super::schemas::user_schema()),
    enterprise: declared(&super::schemas::enterprise_schema()),
    group: declared(&super::schemas::group_schema()),
});

fn declared(schema: &Value) -> HashMap<String, Declared> {
    let mut out = HashMap::new();
    let attrs = schema.get("attributes").or_else(|| schema.get("subAttributes"));
    for a in attrs.and_then(Value::as_array).into_iter().flatten() {
        let Some(name) = a.get("name").and_then(Value::as_str) else { continue };
        let entry = Declared {
            boolean: a.get("type").and_then(Value::as_str) == Some("boolean"),
            sub: declared(a),
        };
        out.insert(name.to_ascii_lowercase(), entry);
    }
    out
}

/// Attributes every resource has (RFC 7643 §3.1) besides its schema's.
fn common(name: &str) -> bool {
    ["id", "externalid", "meta", "schemas"].contains(&name.to_ascii_lowercase().as_str())
}

/// An extension object may carry its own `schemas` (scim2-models writes it there).
fn names_schemas(key: &str) -> bool {
    key.eq_ignore_ascii_case("schemas")
}

fn core_urn(resource: Resource) -> &'static str {
    match resource {
        Resource::User => super::filter::CORE_USER_URN,
        Resource::Group => super::filter::CORE_GROUP_URN,
    }
}

fn attributes(resource: Resource) -> &'static HashMap<String, Declared> {
    match resource {
        Resource::User => &KNOWN.user,
        Resource::Group => &KNOWN.group,
    }
}

/// The declared attributes a URN prefix names: the resource's own, or the enterprise
/// extension's (Users only).
fn under_urn(resource: Resource, urn: Option<&str>) -> Option<&'static HashMap<String, Declared>> {
    match urn {
        None => Some(attributes(resource)),
        Some(u) if u.eq_ignore_ascii_case(core_urn(resource)) => Some(attributes(resource)),
        Some(u) if resource == Resource::User && is_extension(u) => Some(&KNOWN.enterprise),
        Some(_) => None,
    }
}

fn is_extension(word: &str) -> bool {
    EXTENSION_URNS.iter().any(|u| u.eq_ignore_ascii_case(word))
}

/// What a POST or PUT body needed: unknown attributes or schema URIs, string booleans.
pub fn of_document(doc: &Value, resource: Resource) -> Quirks {
    let mut found = Quirks::default();
    let Some(obj) = doc.as_object() else { return found };
    if let Some(Value::Array(uris)) = field(doc, "schemas") {
        for uri in uris.iter().filter_map(Value::as_str) {
            let known = uri.eq_ignore_ascii_case(core_urn(resource))
                || (resource == Resource::User && is_extension(uri));
            if !known {
                found.note(Quirk::UnknownSchema, format!("unknown schema {uri:?}"));
            }
        }
    }
    for (key, value) in obj {
        if common(key) {
            continue;
        }
        if resource == Resource::User && is_extension(key) {
            if let Some(ext) = value.as_object() {
                for (k, v) in ext.iter().filter(|(k, _)| !names_schemas(k)) {
                    check_value(&mut found, &KNOWN.enterprise, k, v, key);
                }
            }
            continue;
        }
        check_value(&mut found, attributes(resource), key, value, "");
    }
    found
}

/// One attribute and its value against what is declared (sub-attributes of complex values,
/// each element of multi-valued ones).
fn check_value(
    found: &mut Quirks,
    known: &HashMap<String, Declared>,
    key: &str,
    value: &Value,
    at: &str,
) {
    let shown = if at.is_empty() { key.to_owned() } else { format!("{at}:{key}") };
    let Some(declared) = known.get(&key.to_ascii_lowercase()) else {
        let detail = if key.eq_ignore_ascii_case("password") {
            "password is not supported".to_owned()
        } else {
            format!("unknown attribute {shown:?}")
        };
        found.note(Quirk::UnknownAttribute, detail);
        return;
    };
    if declared.boolean && value.is_string() {
        found.note(Quirk::StringBoolean, format!("{shown} must be a JSON boolean, not {value}"));
    }
    let elements: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    for element in elements {
        if let (Value::Object(inner), false) = (element, declared.sub.is_empty()) {
            for (k, v) in inner {
                check_value(found, &declared.sub, k, v, &shown);
            }
        }
    }
}

/// What a PatchOp body needed: capitalised ops, operations without a path, removes with a
/// value, filtered paths without a sub-attribute, and what its paths and values name.
pub fn of_patch(body: &Value, resource: Resource) -> Quirks {
    let mut found = Quirks::default();
    let ops = field(body, "Operations").and_then(Value::as_array);
    for op in ops.into_iter().flatten() {
        let name = field(op, "op").and_then(Value::as_str).unwrap_or_default();
        let lower = name.to_ascii_lowercase();
        if name != lower {
            found.note(Quirk::CapitalisedOp, format!("op {name:?} must be lowercase: {lower:?}"));
        }
        let value = field(op, "value");
        let path = field(op, "path").and_then(Value::as_str).filter(|p| !p.trim().is_empty());
        match path {
            None => {
                found.note(Quirk::PathlessPatch, format!("every operation needs a path ({lower})"));
                if let Some(v) = value {
                    found.extend(of_document(v, resource));
                }
            }
            Some(p) => {
                let Ok(parsed) = super::patch::parse_path(p) else { continue };
                if lower == "remove" && value.is_some_and(|v| !v.is_null()) {
                    found.note(
                        Quirk::RemoveWithValue,
                        format!("remove takes no value; name what goes in the path ({p})"),
                    );
                }
                if lower != "remove" && parsed.filter.is_some() && parsed.sub.is_none() {
                    found.note(
                        Quirk::FilterWithoutSubAttribute,
                        format!("{lower} through a filter must name a sub-attribute ({p})"),
                    );
                }
                check_path(&mut found, resource, &parsed.attr, parsed.sub.as_deref(), value, p);
            }
        }
    }
    found
}

/// A PATCH path's attribute (and the value given for it) against what is declared.
fn check_path(
    found: &mut Quirks,
    resource: Resource,
    attr: &AttrPath,
    filtered_sub: Option<&str>,
    value: Option<&Value>,
    shown: &str,
) {
    if attr.uri.is_none() && common(&attr.name) {
        return;
    }
    // The extension's URN alone names the whole extension object.
    if resource == Resource::User && attr.uri.is_none() && is_extension(&attr.name) {
        if let Some(Value::Object(inner)) = value {
            for (k, v) in inner.iter().filter(|(k, _)| !names_schemas(k)) {
                check_value(found, &KNOWN.enterprise, k, v, &attr.name);
            }
        }
        return;
    }
    let Some(known) = under_urn(resource, attr.uri.as_deref()) else {
        found.note(Quirk::UnknownSchema, format!("unknown schema in path {shown:?}"));
        return;
    };
    let Some(declared) = known.get(&attr.name.to_ascii_lowercase()) else {
        found.note(Quirk::UnknownAttribute, format!("unknown attribute in path {shown:?}"));
        return;
    };
    let sub = attr.sub.as_deref().or(filtered_sub);
    let target = match sub {
        Some(s) => match declared.sub.get(&s.to_ascii_lowercase()) {
            Some(d) => d,
            None => {
                found.note(Quirk::UnknownAttribute, format!("unknown attribute in path {shown:?}"));
                return;
            }
        },
        None => declared,
    };
    let Some(value) = value else { return };
    if target.boolean && value.is_string() {
        found.note(Quirk::StringBoolean, format!("{shown} must be a JSON boolean, not {value}"));
    }
    if sub.is_none() && !declared.sub.is_empty() {
        let elements: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for inner in elements.iter().filter_map(|e| e.as_object()) {
            for (k, v) in inner {
                check_value(found, &declared.sub, k, v, &attr.name);
            }
        }
    }
}

/// A filter's attributes against what is declared (`meta.*`, `id`, `externalId` always are).
pub fn of_filter(filter: &Filter, resource: Resource) -> Quirks {
    let mut found = Quirks::default();
    filter_paths(filter, None, &mut |path, parent| {
        if !filter_attribute_known(resource, path, parent) {
            found.note(Quirk::UnknownFilterAttribute, format!("no attribute {path} to filter on"));
        }
    });
    found
}

fn filter_paths<'f>(
    filter: &'f Filter,
    parent: Option<&'f AttrPath>,
    visit: &mut impl FnMut(&'f AttrPath, Option<&'f AttrPath>),
) {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            filter_paths(a, parent, visit);
            filter_paths(b, parent, visit);
        }
        Filter::Not(inner) => filter_paths(inner, parent, visit),
        Filter::Present(p) | Filter::Compare(p, _, _) => visit(p, parent),
        Filter::Has(p, inner) => {
            visit(p, parent);
            filter_paths(inner, Some(p), visit);
        }
    }
}

fn filter_attribute_known(resource: Resource, path: &AttrPath, parent: Option<&AttrPath>) -> bool {
    // Inside `emails[…]` a name is a sub-attribute of `emails`.
    let (outer, sub) = match parent {
        Some(p) => (p, Some(path.name.as_str())),
        None => (path, path.sub.as_deref()),
    };
    if outer.uri.is_none() && common(&outer.name) {
        return true;
    }
    let Some(known) = under_urn(resource, outer.uri.as_deref()) else { return false };
    let Some(declared) = known.get(&outer.name.to_ascii_lowercase()) else { return false };
    sub.is_none_or(|s| declared.sub.contains_key(&s.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// In a stable order: a document's keys come in the map's order.
    fn kinds(q: &Quirks) -> Vec<&'static str> {
        let mut names: Vec<_> = q.kinds().map(Quirk::name).collect();
        names.sort();
        names
    }

    fn sorted(quirks: &[Quirk]) -> Vec<&'static str> {
        let mut names: Vec<_> = quirks.iter().map(|q| q.name()).collect();
        names.sort();
        names
    }

    #[test]
    fn documents() {
        let clean = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "userName": "a", "active": true, "externalId": "x",
            "name": {"givenName": "A"}, "emails": [{"value": "a@x", "type": "work", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                {"department": "D", "manager": {"value": "m"}},
            "meta": {"resourceType": "User"}});
        assert_eq!(kinds(&of_document(&clean, Resource::User)), Vec::<&str>::new());
        let quirky = json!({"schemas": ["urn:example:custom"], "userName": "a",
            "active": "False", "password": "x", "name": {"nick": "n"},
            "emails": [{"value": "a@x", "primary": "true"}]});
        assert_eq!(
            kinds(&of_document(&quirky, Resource::User)),
            sorted(&[
                Quirk::UnknownSchema,
                Quirk::StringBoolean,
                Quirk::StringBoolean,
                Quirk::UnknownAttribute,
                Quirk::UnknownAttribute
            ])
        );
        let group = json!({"displayName": "G", "members": [{"value": "u"}], "owner": "x"});
        assert_eq!(kinds(&of_document(&group, Resource::Group)), ["unknown_attribute"]);
    }

    #[test]
    fn patches() {
        let clean = json!({"Operations": [
            {"op": "replace", "path": "active", "value": false},
            {"op": "add", "path": "emails[type eq \"work\"].value", "value": "a@x"},
            {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                "value": {"department": "D"}},
            {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
        ]});
        assert_eq!(kinds(&of_patch(&clean, Resource::User)), Vec::<&str>::new());
        let entra = json!({"Operations": [
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "replace", "value": {"displayName": "x"}},
            {"op": "remove", "path": "emails", "value": [{"value": "a@x"}]},
            {"op": "replace", "path": "emails[type eq \"work\"]", "value": {"value": "a@x"}},
            {"op": "add", "path": "nickname2", "value": "x"},
        ]});
        assert_eq!(
            kinds(&of_patch(&entra, Resource::User)),
            sorted(&[
                Quirk::CapitalisedOp,
                Quirk::StringBoolean,
                Quirk::PathlessPatch,
                Quirk::RemoveWithValue,
                Quirk::FilterWithoutSubAttribute,
                Quirk::UnknownAttribute
            ])
        );
        let members = json!({"Operations": [
            {"op": "remove", "path": "members[value eq \"u\"]"},
            {"op": "add", "path": "members", "value": [{"value": "u"}]}]});
        assert_eq!(kinds(&of_patch(&members, Resource::Group)), Vec::<&str>::new());
    }

    #[test]
    fn filters() {
        let f = |s: &str, r| kinds(&of_filter(&super::super::filter::parse(s).unwrap(), r));
        assert_eq!(
            f(r#"userName eq "a" and emails[type eq "work"].value pr"#, Resource::User),
            Vec::<&str>::new()
        );
        assert_eq!(
            f(r#"meta.lastModified gt "2026-01-01T00:00:00Z""#, Resource::User),
            Vec::<&str>::new()
        );
        assert_eq!(
            f(r#"id eq "g" and members[value eq "u"]"#, Resource::Group),
            Vec::<&str>::new()
        );
        assert_eq!(
            f(
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "D""#,
                Resource::User
            ),
            Vec::<&str>::new()
        );
        assert_eq!(f(r#"shoeSize gt 40"#, Resource::User), ["unknown_filter_attribute"]);
        assert_eq!(f(r#"emails[kind eq "x"]"#, Resource::User), ["unknown_filter_attribute"]);
        assert_eq!(f(r#"userName eq "a""#, Resource::Group), ["unknown_filter_attribute"]);
    }
}

//! SCIM PATCH (RFC 7644 §3.5.2), applied to a resource as the API renders it; the caller then
//! reads the patched document back with the same parser PUT uses, so PATCH can never store
//! something PUT could not.
//!
//! Liberal in what it accepts, as IdPs need: ops in any case (`"Replace"`), no `path` with a
//! value object whose keys may be dotted (`name.givenName`) or full URNs, `add` through a filter
//! path that matches nothing creates the element, and `remove` with a value removes only the
//! listed elements.

use serde_json::{Map, Value};

use super::filter::{self, AttrPath, CompValue, Filter, Op, Parser, Token};
use crate::http::error::ApiError;
use crate::http::request::{FromRequest, Input};
use crate::repr::input::{field, key_named};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    /// Sub-attribute after a filter: `emails[type eq "work"].value`.
    pub sub: Option<String>,
}

/// Prints the path as a client would write it; `parse_path` reads it back to the same path.
impl std::fmt::Display for PatchPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub kind: Kind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// A PATCH that cannot be applied: RFC 7644 `scimType` and a message.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchError {
    pub scim_type: &'static str,
    pub detail: String,
}

/// A PatchOp request body (RFC 7644 §3.5.2), its operations parsed, and the body as sent
/// (for the profile's checks, `strict::of_patch`).
pub struct PatchRequest(pub Vec<Operation>, pub Value);

impl FromRequest for PatchRequest {
    const BODY: bool = true;
    fn from_request(input: &Input<'_>) -> Result<PatchRequest, ApiError> {
        let body = input.json::<Value>()?;
        Ok(PatchRequest(parse_request(&body)?, body))
    }
}

/// The RFC's `scimType` reaches the client as the parser gave it.
impl From<PatchError> for ApiError {
    fn from(e: PatchError) -> Self {
        ApiError::BadRequest { detail: e.detail, scim_type: e.scim_type }
    }
}

fn err(scim_type: &'static str, detail: impl Into<String>) -> PatchError {
    PatchError { scim_type, detail: detail.into() }
}

/// Extension schemas whose URN may stand alone as a path or a key.
pub const EXTENSION_URNS: &[&str] = &["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];

fn known_extension(word: &str) -> Option<&'static str> {
    EXTENSION_URNS.iter().copied().find(|u| u.eq_ignore_ascii_case(word))
}

pub fn parse_path(input: &str) -> Result<PatchPath, PatchError> {
    let input = input.trim();
    if let Some(urn) = known_extension(input) {
        let attr = AttrPath { uri: None, name: urn.to_owned(), sub: None };
        return Ok(PatchPath { attr, filter: None, sub: None });
    }
    let invalid =
        |e: filter::ParseError| err("invalidPath", format!("invalid path {input:?}: {e}"));
    let tokens = filter::lex(input).map_err(invalid)?;
    let mut tokens = tokens.into_iter();
    let attr = match tokens.next() {
        Some(Token::Word(w)) => filter::parse_attr_path(&w).map_err(invalid)?,
        _ => return Err(err("invalidPath", format!("invalid path {input:?}"))),
    };
    let rest: Vec<Token> = tokens.collect();
    if rest.is_empty() {
        return Ok(PatchPath { attr, filter: None, sub: None });
    }
    if rest.first() != Some(&Token::LBracket) || attr.sub.is_some() {
        return Err(err("invalidPath", format!("invalid path {input:?}")));
    }
    let mut parser = Parser::new(rest);
    parser.pos = 1;
    let inner = parser.or().map_err(invalid)?;
    let sub = match parser.tokens.get(parser.pos..) {
        Some([Token::RBracket]) => None,
        Some([Token::RBracket, Token::Word(w)]) => match w.strip_prefix('.') {
            Some(s)
                if !s.is_empty()
                    && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') =>
            {
                Some(s.to_owned())
            }
            _ => return Err(err("invalidPath", format!("invalid path {input:?}"))),
        },
        _ => return Err(err("invalidPath", format!("invalid path {input:?}"))),
    };
    Ok(PatchPath { attr, filter: Some(inner), sub })
}

/// Reads a PatchOp request body.
pub fn parse_request(body: &Value) -> Result<Vec<Operation>, PatchError> {
    let ops = field(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| err("invalidSyntax", "a PatchOp needs an \"Operations\" array"))?;
    ops.iter()
        .map(|op| {
            let kind = match field(op, "op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("add") => Kind::Add,
                Some("replace") => Kind::Replace,
                Some("remove") => Kind::Remove,
                other => {
                    return Err(err(
                        "invalidSyntax",
                        format!("unknown op {other:?}: use add, replace or remove"),
                    ));
                }
            };
            let path = match field(op, "path") {
                Some(Value::String(p)) if !p.trim().is_empty() => Some(parse_path(p)?),
                Some(Value::String(_)) | Some(Value::Null) | None => None,
                Some(_) => return Err(err("invalidPath", "path must be a string")),
            };
            let value = field(op, "value").cloned();
            if kind == Kind::Remove && path.is_none() {
                return Err(err("noTarget", "remove needs a path"));
            }
            if kind != Kind::Remove && value.is_none() {
                return Err(err("invalidValue", "add and replace need a value"));
            }
            Ok(Operation { kind, path, value })
        })
        .collect()
}

pub fn apply(resource: &mut Value, ops: &[Operation]) -> Result<(), PatchError> {
    for op in ops {
        match (&op.path, &op.value) {
            (Some(path), value) => apply_at(resource, op.kind, path, value.as_ref())?,
            (None, Some(Value::Object(values))) if op.kind != Kind::Remove => {
                for (key, value) in values {
                    apply_key(resource, op.kind, key, value)?;
                }
            }
            (None, _) if op.kind == Kind::Remove => {
                return Err(err("noTarget", "remove needs a path"));
            }
            (None, _) => {
                return Err(err("invalidValue", "without a path, the value must be an object"));
            }
        }
    }
    Ok(())
}

/// One key of a path-less value object: an attribute, a dotted path, or an extension object.
fn apply_key(resource: &mut Value, kind: Kind, key: &str, value: &Value) -> Result<(), PatchError> {
    if let (Some(urn), Value::Object(inner)) = (known_extension(key), value) {
        for (k, v) in inner {
            let attr = filter::parse_attr_path(k).map_err(|e| err("invalidPath", e.0))?;
            let path = PatchPath {
                attr: AttrPath { uri: Some(urn.to_owned()), ..attr },
                filter: None,
                sub: None,
            };
            apply_at(resource, kind, &path, Some(v))?;
        }
        return Ok(());
    }
    let path = parse_path(key)?;
    apply_at(resource, kind, &path, Some(value))
}

/// The object a path's attribute lives in: the resource or its extension object.
fn container<'a>(
    resource: &'a mut Value,
    attr: &AttrPath,
    create: bool,
) -> Option<&'a mut Map<String, Value>> {
    let root = resource.as_object_mut()?;
    match &attr.uri {
        Some(uri) if known_extension(uri).is_some() => {
            let key = key_named(root, uri).unwrap_or_else(|| uri.clone());
            if !root.contains_key(&key) {
                if !create {
                    return None;
                }
                root.insert(key.clone(), Value::Object(Map::new()));
            }
            root.get_mut(&key)?.as_object_mut()
        }
        _ => Some(root),
    }
}

fn apply_at(
    resource: &mut Value,
    kind: Kind,
    path: &PatchPath,
    value: Option<&Value>,
) -> Result<(), PatchError> {
    // `replace` with null or "" clears the attribute (RFC 7644 §3.5.2.3 leaves it open; Entra's
    // gallery validator expects it, sub-attributes of multi-valued ones included).
    let (kind, value) = match value {
        Some(Value::Null) if kind == Kind::Replace => (Kind::Remove, None),
        Some(Value::String(s)) if kind == Kind::Replace && s.is_empty() => (Kind::Remove, None),
        _ => (kind, value),
    };
    let create = kind != Kind::Remove;
    let Some(obj) = container(resource, &path.attr, create) else {
        return Ok(());
    };
    let key = key_named(obj, &path.attr.name).unwrap_or_else(|| path.attr.name.clone());
    match (&path.filter, &path.attr.sub) {
        (None, None) => set_attribute(obj, &key, kind, value),
        (None, Some(sub)) => {
            let target = obj.entry(key.clone()).or_insert_with(|| Value::Object(Map::new()));
            match target {
                Value::Object(inner) => {
                    let sub_key = key_named(inner, sub).unwrap_or_else(|| sub.clone());
                    set_attribute(inner, &sub_key, kind, value)
                }
                Value::Array(items) => {
                    for item in items.iter_mut().filter_map(Value::as_object_mut) {
                        let sub_key = key_named(item, sub).unwrap_or_else(|| sub.clone());
                        set_attribute(item, &sub_key, kind, value)?;
                    }
                    Ok(())
                }
                Value::Null if kind == Kind::Remove => Ok(()),
                _ => Err(err("invalidPath", format!("{} is not complex", path.attr.name))),
            }
        }
        (Some(filter), _) => apply_filtered(obj, &key, kind, filter, path.sub.as_deref(), value),
    }
}

fn set_attribute(
    obj: &mut Map<String, Value>,
    key: &str,
    kind: Kind,
    value: Option<&Value>,
) -> Result<(), PatchError> {
    match kind {
        Kind::Remove => {
            match (obj.get_mut(key), value) {
                // Entra: {"op":"Remove","path":"members","value":[{"value":"id"}]} removes those only.
                (Some(Value::Array(items)), Some(v)) => {
                    let doomed: Vec<&Value> = match v {
                        Value::Array(list) => list.iter().collect(),
                        single => vec![single],
                    };
                    items.retain(|item| !doomed.iter().any(|d| same_element(item, d)));
                }
                _ => {
                    obj.remove(key);
                }
            }
            Ok(())
        }
        Kind::Add | Kind::Replace => {
            let Some(value) = value else { return Err(err("invalidValue", "a value is required")) };
            match (obj.get_mut(key), value, kind) {
                (Some(Value::Array(items)), _, Kind::Add) => {
                    let new: Vec<Value> = match value {
                        Value::Array(list) => list.clone(),
                        single => vec![single.clone()],
                    };
                    for item in new {
                        if !items.iter().any(|i| same_element(i, &item)) {
                            make_only_primary(items, &item);
                            items.push(item);
                        }
                    }
                }
                // Complex single-valued attributes take the given sub-attributes (RFC 7644 §3.5.2.1, .3).
                (Some(Value::Object(existing)), Value::Object(new), _) => {
                    for (k, v) in new {
                        let k2 = key_named(existing, k).unwrap_or_else(|| k.clone());
                        existing.insert(k2, v.clone());
                    }
                }
                _ => {
                    obj.insert(key.to_owned(), value.clone());
                }
            }
            Ok(())
        }
    }
}

/// Elements are the same if equal, or if both are objects with the same `value`.
fn same_element(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (field(a, "value"), field(b, "value")) {
        (Some(x), Some(y)) => {
            x == y
                || matches!((x, y), (Value::String(s), Value::String(t)) if s.eq_ignore_ascii_case(t) && field(a, "type") == field(b, "type"))
        }
        _ => false,
    }
}

/// Only one element of a multi-valued attribute may be primary.
fn make_only_primary(items: &mut [Value], incoming: &Value) {
    if is_true(field(incoming, "primary")) {
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(k) = key_named(item, "primary") {
                item.insert(k, Value::Bool(false));
            }
        }
    }
}

fn is_true(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn apply_filtered(
    obj: &mut Map<String, Value>,
    key: &str,
    kind: Kind,
    filter: &Filter,
    sub: Option<&str>,
    value: Option<&Value>,
) -> Result<(), PatchError> {
    let items = match obj.get_mut(key) {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None if kind != Kind::Remove => {
            obj.insert(key.to_owned(), Value::Array(Vec::new()));
            match obj.get_mut(key) {
                Some(Value::Array(items)) => items,
                _ => return Err(err("invalidPath", format!("{key} is not multi-valued"))),
            }
        }
        Some(Value::Null) | None => return Ok(()),
        Some(_) => return Err(err("invalidPath", format!("{key} is not multi-valued"))),
    };
    let hits: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| filter::matches(filter, item))
        .map(|(i, _)| i)
        .collect();
    match kind {
        Kind::Remove => {
            match sub {
                // An element is its value: without one it is gone.
                Some(sub) if sub.eq_ignore_ascii_case("value") => {
                    let mut i = 0;
                    items.retain(|_| {
                        let keep = !hits.contains(&i);
                        i += 1;
                        keep
                    });
                }
                Some(sub) => {
                    for &i in &hits {
                        if let Some(o) = items.get_mut(i).and_then(Value::as_object_mut)
                            && let Some(k) = key_named(o, sub)
                        {
                            o.remove(&k);
                        }
                    }
                }
                None => {
                    let mut i = 0;
                    items.retain(|_| {
                        let keep = !hits.contains(&i);
                        i += 1;
                        keep
                    });
                }
            }
            Ok(())
        }
        Kind::Add | Kind::Replace => {
            let Some(value) = value else { return Err(err("invalidValue", "a value is required")) };
            if hits.is_empty() {
                // Nothing matched: build the element the filter describes (Entra adds
                // `phoneNumbers[type eq "mobile"].value` this way).
                let mut element = Map::new();
                seed_from_filter(filter, &mut element);
                let mut element = Value::Object(element);
                write_element(&mut element, kind, sub, value);
                items.push(element);
                return Ok(());
            }
            for &i in &hits {
                if let Some(item) = items.get_mut(i) {
                    write_element(item, kind, sub, value);
                }
            }
            Ok(())
        }
    }
}

fn write_element(element: &mut Value, kind: Kind, sub: Option<&str>, value: &Value) {
    let Some(obj) = element.as_object_mut() else { return };
    match (sub, value) {
        (Some(sub), v) => {
            let k = key_named(obj, sub).unwrap_or_else(|| sub.to_owned());
            obj.insert(k, v.clone());
        }
        (None, Value::Object(new)) => {
            if kind == Kind::Replace {
                obj.clear();
            }
            for (k, v) in new {
                let k2 = key_named(obj, k).unwrap_or_else(|| k.clone());
                obj.insert(k2, v.clone());
            }
        }
        (None, other) => {
            obj.insert("value".into(), other.clone());
        }
    }
}

/// The equalities a filter demands (`type eq "work" and primary eq true`).
fn seed_from_filter(filter: &Filter, element: &mut Map<String, Value>) {
    match filter {
        Filter::Compare(path, Op::Eq, value) if path.sub.is_none() && path.uri.is_none() => {
            let v = match value {
                CompValue::Str(s) => Value::String(s.clone()),
                CompValue::Num(n) => Value::Number(n.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Null => return,
            };
            element.insert(path.name.clone(), v);
        }
        Filter::And(a, b) => {
            seed_from_filter(a, element);
            seed_from_filter(b, element);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(mut doc: Value, body: Value) -> Value {
        apply(&mut doc, &parse_request(&body).unwrap()).unwrap();
        doc
    }

    #[test]
    fn paths_parse() {
        let p = parse_path("emails[type eq \"work\"].value").unwrap();
        assert_eq!(p.attr.name, "emails");
        assert_eq!(p.sub.as_deref(), Some("value"));
        assert!(p.filter.is_some());
        let p = parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager")
            .unwrap();
        assert_eq!(p.attr.name, "manager");
        assert!(p.attr.uri.is_some());
        assert!(parse_path("emails[type eq").is_err());
        assert!(parse_path("emails[type eq \"x\"]junk").is_err());
        assert!(parse_path("name.givenName[x eq 1]").is_err());
    }

    /// Entra's validator clears with `replace` to null or "", on plain, complex, extension and
    /// filtered multi-valued paths alike.
    #[test]
    fn null_and_empty_replace_values_clear() {
        const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let doc = json!({"userName": "a", "title": "T", "name": {"givenName": "A", "familyName": "B"},
            "phoneNumbers": [{"type": "work", "value": "1"}, {"type": "mobile", "value": "2"}],
            "emails": [{"type": "work", "value": "a@w.com", "primary": true}],
            ENTERPRISE: {"department": "D", "manager": {"value": "m"}}});
        let out = patch(
            doc,
            json!({"Operations": [
                {"op": "replace", "path": "title", "value": null},
                {"op": "replace", "path": "name.givenName", "value": ""},
                {"op": "replace", "path": "phoneNumbers[type eq \"work\"].value", "value": ""},
                {"op": "Replace", "path": "emails[type eq \"work\"].primary", "value": null},
                {"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": ""},
                {"op": "replace", "path": format!("{ENTERPRISE}:manager"), "value": null},
            ]}),
        );
        assert_eq!(out.get("title"), None);
        assert_eq!(out["name"], json!({"familyName": "B"}));
        assert_eq!(out["phoneNumbers"], json!([{"type": "mobile", "value": "2"}]));
        assert_eq!(out["emails"], json!([{"type": "work", "value": "a@w.com"}]));
        assert_eq!(out[ENTERPRISE], json!({}));
        // `add` of "" is a value like any other.
        let added =
            patch(out, json!({"Operations": [{"op": "add", "path": "nickName", "value": ""}]}));
        assert_eq!(added["nickName"], "");
    }

    #[test]
    fn entra_and_okta_shapes() {
        let doc = json!({"userName": "a", "active": true, "name": {"givenName": "A"},
            "emails": [{"value": "a@w.com", "type": "work", "primary": true}],
            "members": [{"value": "1"}, {"value": "2"}, {"value": "3"}]});
        let out = patch(
            doc.clone(),
            json!({"Operations": [
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@w.com"},
                {"op": "add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"},
                {"op": "Remove", "path": "members", "value": [{"value": "2"}]},
                {"op": "remove", "path": "members[value eq \"3\"]"},
                {"op": "add", "value": {"name.familyName": "B", "title": "Boss",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Ops"}}},
                {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m-1"},
            ]}),
        );
        assert_eq!(out["active"], "False");
        assert_eq!(out["emails"][0]["value"], "new@w.com");
        assert_eq!(out["phoneNumbers"], json!([{"type": "mobile", "value": "+1 555"}]));
        assert_eq!(out["members"], json!([{"value": "1"}]));
        assert_eq!(out["name"], json!({"givenName": "A", "familyName": "B"}));
        assert_eq!(out["title"], "Boss");
        let ext = &out["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
        assert_eq!(ext["department"], "Ops");
        assert_eq!(ext["manager"], "m-1");
        // Re-adding a member is a no-op; remove without a path is an error.
        let again = patch(
            out.clone(),
            json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": "1"}]}]}),
        );
        assert_eq!(again["members"], json!([{"value": "1"}]));
        let bad = parse_request(&json!({"Operations": [{"op": "remove"}]})).unwrap_err();
        assert_eq!(bad.scim_type, "noTarget");
        assert!(parse_request(&json!({"Operations": [{"op": "move", "path": "a"}]})).is_err());
        assert!(parse_request(&json!({"ops": []})).is_err());
    }
}

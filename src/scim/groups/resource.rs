//! The SCIM Group resource: how a mapped room is shown (members read only when shown) and what
//! a Group document says.

use hyper::StatusCode;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::http::Ctx;
use crate::http::error::ApiError;
use crate::http::response::Reply;
use crate::repr::input::field;
use crate::scim::filter::{self, CORE_GROUP_URN};
use crate::scim::list::ListParams;
use crate::store::rooms::{self, Room};
use crate::store::{self, Tx, users};
use crate::time::format_ms;

pub(crate) fn etag(r: &Room) -> String {
    format!("W/\"{}\"", r.version)
}
/// A mapped room by id, or else by externalId.
pub(crate) fn resolve(tx: &impl Tx, tenant: Uuid, raw: &str) -> store::Result<Room> {
    if let Ok(id) = Uuid::parse_str(raw) {
        match rooms::get(tx, tenant, id) {
            Ok(r) if r.mapped => return Ok(r),
            Ok(_) | Err(store::Error::Refused(store::Refusal::NotFound(_))) => {}
            Err(e) => return Err(e),
        }
    }
    match rooms::find(tx, tenant, &rooms::external_id_key(raw))? {
        Some(r) if r.mapped => Ok(r),
        _ => Err(store::Error::not_found("group")),
    }
}
pub(crate) struct Urls {
    pub groups: String,
    pub users: String,
}
pub(crate) fn urls(ctx: &Ctx<'_>) -> Urls {
    Urls {
        groups: format!("{}/scim/v2/Groups", ctx.base_url()),
        users: format!("{}/scim/v2/Users", ctx.base_url()),
    }
}
/// The group as SCIM shows it; `with_members` reads the member list (and each member's name).
pub(crate) fn render(
    tx: &impl Tx,
    tenant: Uuid,
    r: &Room,
    urls: &Urls,
    with_members: bool,
) -> store::Result<Value> {
    let mut out = Map::new();
    out.insert("schemas".into(), json!([CORE_GROUP_URN]));
    out.insert("id".into(), json!(r.id));
    if let Some(x) = &r.external_id {
        out.insert("externalId".into(), json!(x));
    }
    out.insert("displayName".into(), json!(r.display_name));
    if with_members {
        let mut members = Vec::new();
        for id in rooms::member_ids(tx, tenant, r.id)?.into_keys() {
            let id = Uuid::from_u128(id);
            let display = match users::get(tx, tenant, id) {
                Ok(u) => crate::repr::users::display_of(&u),
                Err(store::Error::Refused(store::Refusal::NotFound(_))) => continue,
                Err(e) => return Err(e),
            };
            members.push(json!({"value": id, "display": display,
                "type": "User", "$ref": format!("{}/{id}", urls.users)}));
        }
        out.insert("members".into(), Value::Array(members));
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": format_ms(r.created_at),
            "lastModified": format_ms(r.updated_at),
            "location": format!("{}/{}", urls.groups, r.id),
            "version": etag(r),
        }),
    );
    Ok(Value::Object(out))
}
/// Whether the answer will show members (so they must be read).
pub(crate) fn shows_members(p: &ListParams) -> bool {
    let named =
        |list: &[filter::AttrPath]| list.iter().any(|a| a.name.eq_ignore_ascii_case("members"));
    !named(&p.excluded) && (p.attributes.is_empty() || named(&p.attributes))
}
/// What a Group document says: displayName, externalId and member ids.
pub(crate) struct GroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: Option<Vec<Uuid>>,
}
pub(crate) fn read_group(doc: &Value) -> Result<GroupInput, ApiError> {
    if !doc.is_object() {
        return Err(ApiError::bad_request("a Group must be a JSON object"));
    }
    let display_name = match field(doc, "displayName") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => return Err(ApiError::bad_request("displayName is required")),
    };
    let external_id = match field(doc, "externalId") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        None | Some(Value::Null) | Some(Value::String(_)) => None,
        Some(_) => return Err(ApiError::bad_request("externalId must be a string")),
    };
    let members = match field(doc, "members") {
        None | Some(Value::Null) => None,
        Some(v) => Some(member_ids(v)?),
    };
    Ok(GroupInput { display_name, external_id, members })
}
/// Member references: `[{"value": id}]`, one `{"value": id}`, or bare id strings.
pub(crate) fn member_ids(v: &Value) -> Result<Vec<Uuid>, ApiError> {
    let items: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut ids = Vec::with_capacity(items.len());
    let mut unknown = Vec::new();
    for item in items {
        let raw = match item {
            Value::String(s) => s.as_str(),
            Value::Object(_) => field(item, "value")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::bad_request("a member needs a \"value\""))?,
            _ => return Err(ApiError::bad_request("members must be objects with a \"value\"")),
        };
        match Uuid::parse_str(raw.trim()) {
            Ok(id) => ids.push(id),
            Err(_) => unknown.push(raw.to_owned()),
        }
    }
    if !unknown.is_empty() {
        return Err(ApiError::bad_request(format!("unknown users: {}", unknown.join(", "))));
    }
    Ok(ids)
}

/// A group as written: status, document (if shown), `Location` and `ETag`.
pub(crate) fn written(status: StatusCode, doc: Option<&Value>, r: &Room, urls: &Urls) -> Reply {
    let reply = match doc {
        Some(doc) => Reply::json(status, doc),
        None => Reply::empty(status),
    };
    reply.with_location(format!("{}/{}", urls.groups, r.id)).with_etag(etag(r))
}

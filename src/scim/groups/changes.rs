//! What a Group PATCH does: each operation becomes a `Change`, checked before it reaches the
//! writer, neighbours of one kind joined, then applied through the store's member operations.

use std::collections::HashMap;

use serde_json::{Value, json};
use uuid::Uuid;

use super::resource::member_ids;
use crate::http::error::ApiError;
use crate::scim::filter::{CompValue, Filter, Op};
use crate::scim::patch::{self, Kind, Operation};
use crate::store::rooms::{self, Eligible};
use crate::store::{self};

/// One effect of a Group PATCH operation.
#[derive(Clone, Debug)]
pub(super) enum Change {
    AddMembers(Vec<Uuid>),
    RemoveMembers(Vec<Uuid>),
    RemoveAllMembers,
    ReplaceMembers(Vec<Uuid>),
    DisplayName(String),
    ExternalId(Option<String>),
}
/// The operations' effects with neighbours of one kind joined (Entra sends one operation per
/// member): 200 members added move the group's version by one, whatever the request's shape.
pub(super) fn coalesce(per_operation: Vec<Vec<Change>>) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::new();
    for change in per_operation.into_iter().flatten() {
        match (out.last_mut(), change) {
            (Some(Change::AddMembers(ids)), Change::AddMembers(more))
            | (Some(Change::RemoveMembers(ids)), Change::RemoveMembers(more)) => ids.extend(more),
            (_, change) => out.push(change),
        }
    }
    out
}
pub(super) fn change_of(op: &Operation) -> Result<Vec<Change>, ApiError> {
    let Some(path) = &op.path else {
        // No path: the value object names attributes.
        let Some(Value::Object(values)) = &op.value else {
            return Err(ApiError::bad_request("without a path, the value must be an object"));
        };
        let mut out = Vec::new();
        for (key, value) in values {
            let single = Operation {
                kind: op.kind,
                path: Some(patch::parse_path(key)?),
                value: Some(value.clone()),
            };
            out.extend(change_of(&single)?);
        }
        return Ok(out);
    };
    let name = path.attr.name.to_ascii_lowercase();
    match (name.as_str(), &path.filter, op.kind) {
        ("members", None, Kind::Add) => {
            Ok(vec![Change::AddMembers(member_ids(op.value.as_ref().unwrap_or(&Value::Null))?)])
        }
        ("members", None, Kind::Replace) => {
            Ok(vec![Change::ReplaceMembers(member_ids(op.value.as_ref().unwrap_or(&json!([])))?)])
        }
        ("members", None, Kind::Remove) => match &op.value {
            // Entra: remove the listed members only.
            Some(v) => Ok(vec![Change::RemoveMembers(member_ids(v)?)]),
            None => Ok(vec![Change::RemoveAllMembers]),
        },
        ("members", Some(f), Kind::Remove) => Ok(vec![Change::RemoveMembers(value_eq_ids(f)?)]),
        ("members", Some(_), _) => Err(ApiError::BadRequest {
            detail: "members[…] paths are supported for remove".into(),
            scim_type: "invalidPath",
        }),
        ("displayname", None, Kind::Add | Kind::Replace) => match &op.value {
            Some(Value::String(s)) if !s.trim().is_empty() => {
                Ok(vec![Change::DisplayName(s.trim().to_owned())])
            }
            _ => Err(ApiError::bad_request("displayName must be a non-empty string")),
        },
        ("displayname", None, Kind::Remove) => Err(ApiError::BadRequest {
            detail: "displayName is required and cannot be removed".into(),
            scim_type: "mutability",
        }),
        ("externalid", None, Kind::Add | Kind::Replace) => match &op.value {
            Some(Value::String(s)) if !s.trim().is_empty() => {
                Ok(vec![Change::ExternalId(Some(s.trim().to_owned()))])
            }
            Some(Value::Null) => Ok(vec![Change::ExternalId(None)]),
            _ => Err(ApiError::bad_request("externalId must be a string")),
        },
        ("externalid", None, Kind::Remove) => Ok(vec![Change::ExternalId(None)]),
        // id, schemas, meta and unknown attributes: ignored, as for Users.
        _ => Ok(Vec::new()),
    }
}
/// The ids in `value eq "a" or value eq "b"`.
pub(super) fn value_eq_ids(f: &Filter) -> Result<Vec<Uuid>, ApiError> {
    match f {
        Filter::Compare(p, Op::Eq, CompValue::Str(id)) if p.name.eq_ignore_ascii_case("value") => {
            member_ids(&Value::String(id.clone()))
        }
        Filter::Or(a, b) => Ok([value_eq_ids(a)?, value_eq_ids(b)?].concat()),
        _ => Err(ApiError::BadRequest {
            detail: "member filters must be value eq \"id\" (or several joined by or)".into(),
            scim_type: "invalidFilter",
        }),
    }
}
pub(super) fn apply_change(
    txn: &store::WriteTxn,
    tenant: Uuid,
    room: Uuid,
    change: &Change,
    now: i64,
) -> store::Result<()> {
    match change {
        Change::AddMembers(ids) => {
            rooms::add_members(txn, tenant, room, ids, None, Eligible::AnyUser, now)?;
        }
        Change::RemoveMembers(ids) => {
            rooms::remove_members(txn, tenant, room, ids, now)?;
        }
        Change::RemoveAllMembers => {
            rooms::sync_members(txn, tenant, room, &HashMap::new(), Eligible::AnyUser, now)?;
        }
        Change::ReplaceMembers(ids) => {
            let wanted: HashMap<Uuid, Option<bool>> = ids.iter().map(|&id| (id, None)).collect();
            rooms::sync_members(txn, tenant, room, &wanted, Eligible::AnyUser, now)?;
        }
        Change::DisplayName(name) => {
            let mut next = rooms::get(txn, tenant, room)?;
            next.display_name = name.clone();
            rooms::update(txn, tenant, next, None, now)?;
        }
        Change::ExternalId(x) => {
            let mut next = rooms::get(txn, tenant, room)?;
            next.external_id = x.clone();
            rooms::update(txn, tenant, next, None, now)?;
        }
    }
    Ok(())
}

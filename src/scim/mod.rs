//! SCIM 2.0 service provider (RFC 7643/7644): the Users and Groups endpoints (each a resource
//! form beside its endpoints), the root `.search`, discovery, and the pure parsers for filters
//! and PATCH paths with the list parameters they feed.

pub mod discovery;
pub mod filter;
pub mod groups;
pub mod list;
pub mod patch;
pub mod search;
pub mod users;

/// 204 for a deleted user or an unmapped group, with where it was (a Bulk result shows it).
fn gone(collection: &str, id: uuid::Uuid) -> crate::http::response::Reply {
    let reply = crate::http::response::Reply::empty(hyper::StatusCode::NO_CONTENT);
    reply.with_location(format!("{collection}/{id}"))
}

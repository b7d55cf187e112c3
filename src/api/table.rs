//! Requests become a typed `Route` before anything else happens. Both URL forms
//! (`/v1/{tenantSlug}/…` and `/…`) parse to the same endpoint; the endpoint knows what access
//! it needs and its name (for logs and metrics). Path ids stay percent-encoded here; handlers
//! decode them.

use hyper::Method;

use crate::auth::Scope;
use crate::http::Style;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    Healthz,
    Readyz,
    Metrics,
    Me,
    Usage,
    UsersList,
    UsersCreate,
    UserGet(&'a str),
    UserReplace(&'a str),
    UserPatch(&'a str),
    UserDeactivate(&'a str),
    ScimUsersList,
    ScimUsersCreate,
    ScimUsersSearch,
    ScimUserGet(&'a str),
    ScimUserReplace(&'a str),
    ScimUserPatch(&'a str),
    ScimUserDelete(&'a str),
    RoomsList,
    RoomGet(&'a str),
    RoomPatch(&'a str),
    RoomUnmap(&'a str),
    RoomMembers(&'a str),
    RoomMemberAdd(&'a str),
    RoomMembersSync(&'a str),
    RoomMemberRemove(&'a str, &'a str),
    RoomMemberRemoveByBody(&'a str),
    ScimGroupsList,
    ScimGroupsCreate,
    ScimGroupsSearch,
    ScimGroupGet(&'a str),
    ScimGroupReplace(&'a str),
    ScimGroupPatch(&'a str),
    ScimGroupDelete(&'a str),
    WebhooksList,
    WebhooksCreate,
    WebhookGet(&'a str),
    WebhookUpdate(&'a str),
    WebhookDelete(&'a str),
    WebhookTest(&'a str),
    WebhookDeliveries(&'a str),
    WebhookRedeliver(&'a str, &'a str),
    /// `GET /events`: the change stream as a pull feed.
    Events,
    /// `POST /.search` at the SCIM root: every resource type the key may read.
    ScimSearch,
    ScimBulk,
    ScimServiceProviderConfig,
    ScimResourceTypes(Option<&'a str>),
    ScimSchemas(Option<&'a str>),
}

/// What a caller needs to reach an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    AnyKey,
    Scope(Scope),
    /// Any SCIM read scope (discovery).
    ScimRead,
    /// Any SCIM write scope (Bulk; each operation then checks its own).
    ScimWrite,
}

impl Endpoint<'_> {
    pub fn access(self) -> Access {
        use Endpoint::*;
        match self {
            Healthz | Readyz | Metrics => Access::Public,
            Me => Access::AnyKey,
            Usage => Access::Scope(Scope::Usage),
            UsersList | UserGet(_) => Access::Scope(Scope::ApiUsersRead),
            UsersCreate | UserReplace(_) | UserPatch(_) | UserDeactivate(_) => {
                Access::Scope(Scope::ApiUsersWrite)
            }
            ScimUsersList | ScimUsersSearch | ScimUserGet(_) => Access::Scope(Scope::ScimUsersRead),
            ScimUsersCreate | ScimUserReplace(_) | ScimUserPatch(_) | ScimUserDelete(_) => {
                Access::Scope(Scope::ScimUsersWrite)
            }
            RoomsList | RoomGet(_) | RoomMembers(_) => Access::Scope(Scope::ApiRoomsRead),
            RoomPatch(_)
            | RoomUnmap(_)
            | RoomMemberAdd(_)
            | RoomMembersSync(_)
            | RoomMemberRemove(..)
            | RoomMemberRemoveByBody(_) => Access::Scope(Scope::ApiRoomsWrite),
            ScimGroupsList | ScimGroupsSearch | ScimGroupGet(_) => {
                Access::Scope(Scope::ScimGroupsRead)
            }
            ScimGroupsCreate | ScimGroupReplace(_) | ScimGroupPatch(_) | ScimGroupDelete(_) => {
                Access::Scope(Scope::ScimGroupsWrite)
            }
            ScimSearch | ScimServiceProviderConfig | ScimResourceTypes(_) | ScimSchemas(_) => {
                Access::ScimRead
            }
            ScimBulk => Access::ScimWrite,
            WebhooksList | WebhooksCreate | WebhookGet(_) | WebhookUpdate(_) | WebhookDelete(_)
            | WebhookTest(_) | WebhookDeliveries(_) | WebhookRedeliver(..) | Events => {
                Access::Scope(Scope::Webhooks)
            }
        }
    }

    pub fn name(self) -> &'static str {
        use Endpoint::*;
        match self {
            Healthz => "healthz",
            Readyz => "readyz",
            Metrics => "metrics",
            Me => "me",
            Usage => "usage",
            UsersList => "users.list",
            UsersCreate => "users.create",
            UserGet(_) => "users.get",
            UserReplace(_) => "users.replace",
            UserPatch(_) => "users.patch",
            UserDeactivate(_) => "users.deactivate",
            ScimUsersList => "scim.users.list",
            ScimUsersCreate => "scim.users.create",
            ScimUsersSearch => "scim.users.search",
            ScimUserGet(_) => "scim.users.get",
            ScimUserReplace(_) => "scim.users.replace",
            ScimUserPatch(_) => "scim.users.patch",
            ScimUserDelete(_) => "scim.users.delete",
            RoomsList => "rooms.list",
            RoomGet(_) => "rooms.get",
            RoomPatch(_) => "rooms.patch",
            RoomUnmap(_) => "rooms.unmap",
            RoomMembers(_) => "rooms.members.list",
            RoomMemberAdd(_) => "rooms.members.add",
            RoomMembersSync(_) => "rooms.members.sync",
            RoomMemberRemove(..) | RoomMemberRemoveByBody(_) => "rooms.members.remove",
            ScimGroupsList => "scim.groups.list",
            ScimGroupsCreate => "scim.groups.create",
            ScimGroupsSearch => "scim.groups.search",
            ScimGroupGet(_) => "scim.groups.get",
            ScimGroupReplace(_) => "scim.groups.replace",
            ScimGroupPatch(_) => "scim.groups.patch",
            ScimGroupDelete(_) => "scim.groups.delete",
            ScimSearch => "scim.search",
            ScimBulk => "scim.bulk",
            WebhooksList => "webhooks.list",
            WebhooksCreate => "webhooks.create",
            WebhookGet(_) => "webhooks.get",
            WebhookUpdate(_) => "webhooks.update",
            WebhookDelete(_) => "webhooks.delete",
            WebhookTest(_) => "webhooks.test",
            WebhookDeliveries(_) => "webhooks.deliveries",
            WebhookRedeliver(..) => "webhooks.redeliver",
            Events => "events.list",
            ScimServiceProviderConfig => "scim.service_provider_config",
            ScimResourceTypes(_) => "scim.resource_types",
            ScimSchemas(_) => "scim.schemas",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Route<'a> {
    pub endpoint: Endpoint<'a>,
    /// Set for `/v1/{slug}/…`; at the root the tenant is the key's.
    pub tenant_slug: Option<&'a str>,
    pub style: Style,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RouteError {
    NotFound(Style),
    MethodNotAllowed { style: Style, allow: &'static str },
}

pub fn parse<'a>(method: &Method, path: &'a str) -> Result<Route<'a>, RouteError> {
    let mut segments: Vec<&str> = path.split('/').skip(1).collect();
    // A trailing slash names the same resource.
    if segments.len() > 1 && segments.last() == Some(&"") {
        segments.pop();
    }
    let (tenant_slug, rest) = match segments.as_slice() {
        ["v1", slug, rest @ ..] if !slug.is_empty() => (Some(*slug), rest),
        ["v1", ..] => return Err(RouteError::NotFound(Style::Native)),
        rest => (None, rest),
    };
    let (style, rest) = match rest {
        ["scim", "v2", rest @ ..] => (Style::Scim, rest),
        _ => (Style::Native, rest),
    };
    // SCIM's structural names in any case (`/scim/v2/users`, `/USERS/.Search`): some clients
    // send them so, and Entra's guidance is not to insist.
    let canonical: Vec<&str>;
    let rest = match style {
        Style::Scim => {
            canonical = rest.iter().enumerate().map(|(i, s)| scim_name(i, s)).collect();
            canonical.as_slice()
        }
        Style::Native => rest,
    };
    let get = method == Method::GET || method == Method::HEAD;
    let m = |allowed: &[(&Method, Endpoint<'a>)], allow: &'static str| {
        allowed
            .iter()
            .find(|(am, _)| *am == method || (**am == Method::GET && get))
            .map(|(_, e)| Route { endpoint: *e, tenant_slug, style })
            .ok_or(RouteError::MethodNotAllowed { style, allow })
    };
    use Endpoint::*;
    match (style, rest) {
        (Style::Native, ["healthz"]) => m(&[(&Method::GET, Healthz)], "GET"),
        (Style::Native, ["readyz"]) => m(&[(&Method::GET, Readyz)], "GET"),
        (Style::Native, ["metrics"]) if tenant_slug.is_none() => {
            m(&[(&Method::GET, Metrics)], "GET")
        }
        (Style::Native, ["me"]) => m(&[(&Method::GET, Me)], "GET"),
        (Style::Native, ["usage"]) => m(&[(&Method::GET, Usage)], "GET"),
        (Style::Native, ["users"]) => {
            m(&[(&Method::GET, UsersList), (&Method::POST, UsersCreate)], "GET, POST")
        }
        (Style::Native, ["users", id]) if !id.is_empty() => m(
            &[
                (&Method::GET, UserGet(id)),
                (&Method::PUT, UserReplace(id)),
                (&Method::PATCH, UserPatch(id)),
                (&Method::DELETE, UserDeactivate(id)),
            ],
            "GET, PUT, PATCH, DELETE",
        ),
        (Style::Scim, ["Users"]) => {
            m(&[(&Method::GET, ScimUsersList), (&Method::POST, ScimUsersCreate)], "GET, POST")
        }
        (Style::Scim, ["Users", ".search"]) => m(&[(&Method::POST, ScimUsersSearch)], "POST"),
        (Style::Scim, ["Users", id]) if !id.is_empty() => m(
            &[
                (&Method::GET, ScimUserGet(id)),
                (&Method::PUT, ScimUserReplace(id)),
                (&Method::PATCH, ScimUserPatch(id)),
                (&Method::DELETE, ScimUserDelete(id)),
            ],
            "GET, PUT, PATCH, DELETE",
        ),
        (Style::Native, [c]) if is_rooms(c) => m(&[(&Method::GET, RoomsList)], "GET"),
        (Style::Native, [c, id]) if is_rooms(c) && !id.is_empty() => m(
            &[
                (&Method::GET, RoomGet(id)),
                (&Method::PATCH, RoomPatch(id)),
                (&Method::DELETE, RoomUnmap(id)),
            ],
            "GET, PATCH, DELETE",
        ),
        (Style::Native, [c, id, "members"]) if is_rooms(c) && !id.is_empty() => m(
            &[
                (&Method::GET, RoomMembers(id)),
                (&Method::POST, RoomMemberAdd(id)),
                (&Method::PUT, RoomMembersSync(id)),
                (&Method::DELETE, RoomMemberRemoveByBody(id)),
            ],
            "GET, POST, PUT, DELETE",
        ),
        (Style::Native, [c, id, "members", user])
            if is_rooms(c) && !id.is_empty() && !user.is_empty() =>
        {
            m(&[(&Method::DELETE, RoomMemberRemove(id, user))], "DELETE")
        }
        (Style::Native, ["webhooks"]) => {
            m(&[(&Method::GET, WebhooksList), (&Method::POST, WebhooksCreate)], "GET, POST")
        }
        (Style::Native, ["webhooks", id]) if !id.is_empty() => m(
            &[
                (&Method::GET, WebhookGet(id)),
                (&Method::PATCH, WebhookUpdate(id)),
                (&Method::DELETE, WebhookDelete(id)),
            ],
            "GET, PATCH, DELETE",
        ),
        (Style::Native, ["webhooks", id, "test"]) => m(&[(&Method::POST, WebhookTest(id))], "POST"),
        (Style::Native, ["webhooks", id, "deliveries"]) => {
            m(&[(&Method::GET, WebhookDeliveries(id))], "GET")
        }
        (Style::Native, ["webhooks", id, "deliveries", d, "redeliver"]) => {
            m(&[(&Method::POST, WebhookRedeliver(id, d))], "POST")
        }
        (Style::Native, ["events"]) => m(&[(&Method::GET, Events)], "GET"),
        (Style::Scim, [".search"]) => m(&[(&Method::POST, ScimSearch)], "POST"),
        (Style::Scim, ["Bulk"]) => m(&[(&Method::POST, ScimBulk)], "POST"),
        (Style::Scim, ["Groups"]) => {
            m(&[(&Method::GET, ScimGroupsList), (&Method::POST, ScimGroupsCreate)], "GET, POST")
        }
        (Style::Scim, ["Groups", ".search"]) => m(&[(&Method::POST, ScimGroupsSearch)], "POST"),
        (Style::Scim, ["Groups", id]) if !id.is_empty() => m(
            &[
                (&Method::GET, ScimGroupGet(id)),
                (&Method::PUT, ScimGroupReplace(id)),
                (&Method::PATCH, ScimGroupPatch(id)),
                (&Method::DELETE, ScimGroupDelete(id)),
            ],
            "GET, PUT, PATCH, DELETE",
        ),
        (Style::Scim, ["ServiceProviderConfig"]) => {
            m(&[(&Method::GET, ScimServiceProviderConfig)], "GET")
        }
        (Style::Scim, ["ResourceTypes"]) => m(&[(&Method::GET, ScimResourceTypes(None))], "GET"),
        (Style::Scim, ["ResourceTypes", name]) => {
            m(&[(&Method::GET, ScimResourceTypes(Some(name)))], "GET")
        }
        (Style::Scim, ["Schemas"]) => m(&[(&Method::GET, ScimSchemas(None))], "GET"),
        (Style::Scim, ["Schemas", id]) => m(&[(&Method::GET, ScimSchemas(Some(id)))], "GET"),
        _ => Err(RouteError::NotFound(style)),
    }
}

/// The canonical spelling of a SCIM path segment that is a structural name (a resource type, an
/// endpoint, `.search`), in any case; ids and names after them are left alone.
fn scim_name(place: usize, segment: &str) -> &str {
    const FIRST: &[&str] = &[
        "Users",
        "Groups",
        "Bulk",
        ".search",
        "ServiceProviderConfig",
        "ResourceTypes",
        "Schemas",
    ];
    let known: &[&str] = match place {
        0 => FIRST,
        1 => &[".search"],
        _ => &[],
    };
    known.iter().find(|k| k.eq_ignore_ascii_case(segment)).copied().unwrap_or(segment)
}

/// `rooms` and `channels` are one resource under two names.
fn is_rooms(segment: &str) -> bool {
    segment == "rooms" || segment == "channels"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_path_forms_parse_to_the_same_endpoint() {
        let root = parse(&Method::GET, "/me").unwrap();
        let tenant = parse(&Method::GET, "/v1/acme/me").unwrap();
        assert_eq!(root.endpoint, Endpoint::Me);
        assert_eq!(tenant.endpoint, Endpoint::Me);
        assert_eq!(root.tenant_slug, None);
        assert_eq!(tenant.tenant_slug, Some("acme"));
        assert_eq!(parse(&Method::GET, "/v1/acme/usage/").unwrap().endpoint, Endpoint::Usage);
        let scim = parse(&Method::PATCH, "/v1/acme/scim/v2/Users/abc").unwrap();
        assert_eq!(scim.endpoint, Endpoint::ScimUserPatch("abc"));
        assert_eq!(scim.style, Style::Scim);
        assert_eq!(
            parse(&Method::POST, "/scim/v2/Users/.search").unwrap().endpoint,
            Endpoint::ScimUsersSearch
        );
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert_eq!(parse(&Method::GET, "/nope"), Err(RouteError::NotFound(Style::Native)));
        assert_eq!(parse(&Method::GET, "/v1/"), Err(RouteError::NotFound(Style::Native)));
        assert_eq!(parse(&Method::GET, "/v1"), Err(RouteError::NotFound(Style::Native)));
        assert_eq!(
            parse(&Method::GET, "/v1/acme/scim/v2/Nope"),
            Err(RouteError::NotFound(Style::Scim))
        );
        assert_eq!(parse(&Method::GET, "/scim/v2/me"), Err(RouteError::NotFound(Style::Scim)));
        assert_eq!(
            parse(&Method::POST, "/me"),
            Err(RouteError::MethodNotAllowed { style: Style::Native, allow: "GET" })
        );
        assert_eq!(parse(&Method::HEAD, "/healthz").unwrap().endpoint, Endpoint::Healthz);
    }
}

//! The endpoint table: one row per endpoint with its method, path pattern, the access it needs,
//! its metrics name and its handler. Everything else is derived from it: parsing a request into
//! a `Route`, the `Allow` header, the request log's endpoint name, and dispatch to the handler
//! on its typed request (`FromRequest`). Both URL forms (`/v1/{tenantSlug}/…` and `/…`) parse
//! to the same row. Every endpoint goes here, SCIM Bulk's operations included (they are parsed
//! against the same rows).

use hyper::body::Incoming;
use hyper::{HeaderMap, Method};
use serde_json::Value;

use super::authorize::{Access, permits};
use super::bulk;
use crate::auth::Scope;
use crate::console::Page;
use crate::http::error::ApiError;
use crate::http::request::{FromRequest, Input, Json, Payload, Query, RequestShape};
use crate::http::response::Reply;
use crate::http::{Ctx, Style, body};
use crate::{console, native, scim};

/// The table as a Markdown reference (method, path, what it needs, its name in logs and
/// metrics), for docs/endpoints.md; `whoot-mgmt openapi --markdown` prints it.
pub fn markdown_reference() -> String {
    use std::fmt::Write;
    let mut out = String::from("| method | path | needs | name |\n|---|---|---|---|\n");
    for row in ROWS {
        let needs = match row.access {
            Access::Public => "nothing".to_owned(),
            Access::AnyKey => "a valid key".to_owned(),
            Access::Scope(scope) => format!("`{}`", scope.name()),
            Access::ScimRead => "any SCIM read scope".to_owned(),
            Access::ScimWrite => "any SCIM write scope (each operation its own)".to_owned(),
            Access::Console(Page::Session(_) | Page::Logout) => "a console session".to_owned(),
            Access::Console(_) => "nothing (signing in)".to_owned(),
        };
        let path = row.path.replace('|', "\\|");
        let _ = writeln!(out, "| {} | `{path}` | {needs} | `{}` |", row.method, row.metric);
    }
    out
}

/// One row of the table.
#[derive(Debug)]
pub struct Row {
    pub endpoint: Endpoint,
    pub method: Method,
    /// Segments after the optional `/v1/{slug}`: literals (`a|b` for either name), `{…}` for
    /// an id. Literals under `scim/v2` match in any case (some clients send `/users`, and
    /// Entra's guidance is not to insist).
    pub path: &'static str,
    pub access: Access,
    /// The name in logs and metrics.
    pub metric: &'static str,
}

macro_rules! endpoints {
    (
        public { $( $pname:ident $pmethod:ident $ppath:literal $pmetric:literal, )* }
        keyed { $( $name:ident $method:ident $path:literal $access:expr, $metric:literal
            => $handler:path, )* }
        signing_in { $( $sname:ident $smethod:ident $spath:literal $smetric:literal
            => $step:expr, )* }
        console { $( $cname:ident $cmethod:ident $cpath:literal $cscope:expr, $cmetric:literal
            => $chandler:path, )* }
    ) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Endpoint { $($pname,)* $($name,)* $($sname,)* $($cname,)* }

        pub static ROWS: &[Row] = &[
            $( Row { endpoint: Endpoint::$pname, method: Method::$pmethod, path: $ppath,
                access: Access::Public, metric: $pmetric }, )*
            $( Row { endpoint: Endpoint::$sname, method: Method::$smethod, path: $spath,
                access: Access::Console($step), metric: $smetric }, )*
            $( Row { endpoint: Endpoint::$cname, method: Method::$cmethod, path: $cpath,
                access: Access::Console(Page::Session($cscope)), metric: $cmetric }, )*
            $( Row { endpoint: Endpoint::$name, method: Method::$method, path: $path,
                access: $access, metric: $metric }, )*
        ];

        /// Runs a keyed endpoint's handler on its typed request, read from `source`.
        pub async fn call(
            route: &Route<'_>,
            ctx: &Ctx<'_>,
            source: Source<'_>,
        ) -> Result<Reply, ApiError> {
            match route.endpoint {
                $( Endpoint::$name => {
                    let request = extract(route, ctx, source).await?;
                    $handler(ctx, request).await
                } )*
                $( Endpoint::$pname )|* | $( Endpoint::$sname )|* | $( Endpoint::$cname )|*
                    => Err(ApiError::NotFound),
            }
        }

        /// Runs a console page's handler, for a signed-in session `console::serve` has checked.
        pub async fn console_page(
            endpoint: Endpoint,
            c: &console::Console<'_>,
        ) -> Result<console::Answer, console::Failure> {
            match endpoint {
                $( Endpoint::$cname => $chandler(c).await, )*
                $( Endpoint::$pname )|* | $( Endpoint::$name )|* | $( Endpoint::$sname )|*
                    => Err(console::Failure::Api(ApiError::NotFound)),
            }
        }

        /// A keyed endpoint's request as its handler's type takes it (None for public ones).
        pub fn request_shape(endpoint: Endpoint) -> Option<RequestShape> {
            match endpoint {
                $( Endpoint::$name => Some(RequestShape::of(&$handler)), )*
                $( Endpoint::$pname )|* | $( Endpoint::$sname )|* | $( Endpoint::$cname )|*
                    => None,
            }
        }
    };
}

use Access::{AnyKey, ScimRead, ScimWrite};
const fn scope(s: Scope) -> Access {
    Access::Scope(s)
}

endpoints! {
    public {
        Healthz GET "/healthz" "healthz",
        Readyz GET "/readyz" "readyz",
        Metrics GET "/metrics" "metrics",
        OpenApi GET "/openapi.json" "openapi",
        Jwks GET "/.well-known/jwks.json" "jwks",
    }
    keyed {
        Me GET "/me" AnyKey, "me" => native::account::me,
        Usage GET "/usage" scope(Scope::Usage), "usage" => native::account::usage,

        UsersList GET "/users" scope(Scope::ApiUsersRead), "users.list" => native::users::list,
        UsersCreate POST "/users" scope(Scope::ApiUsersWrite), "users.create"
            => native::users::create,
        UserGet GET "/users/{id}" scope(Scope::ApiUsersRead), "users.get" => native::users::get,
        UserReplace PUT "/users/{id}" scope(Scope::ApiUsersWrite), "users.replace"
            => native::users::replace,
        UserPatch PATCH "/users/{id}" scope(Scope::ApiUsersWrite), "users.patch"
            => native::users::patch,
        UserDeactivate DELETE "/users/{id}" scope(Scope::ApiUsersWrite), "users.deactivate"
            => native::users::deactivate,

        RoomsList GET "/rooms|channels" scope(Scope::ApiRoomsRead), "rooms.list"
            => native::rooms::list,
        RoomGet GET "/rooms|channels/{id}" scope(Scope::ApiRoomsRead), "rooms.get"
            => native::rooms::get,
        RoomPatch PATCH "/rooms|channels/{id}" scope(Scope::ApiRoomsWrite), "rooms.patch"
            => native::rooms::patch,
        RoomUnmap DELETE "/rooms|channels/{id}" scope(Scope::ApiRoomsWrite), "rooms.unmap"
            => native::rooms::unmap,
        RoomMembers GET "/rooms|channels/{id}/members" scope(Scope::ApiRoomsRead),
            "rooms.members.list" => native::rooms::members,
        RoomMemberAdd POST "/rooms|channels/{id}/members" scope(Scope::ApiRoomsWrite),
            "rooms.members.add" => native::rooms::add_member,
        RoomMembersSync PUT "/rooms|channels/{id}/members" scope(Scope::ApiRoomsWrite),
            "rooms.members.sync" => native::rooms::sync_members,
        RoomMemberRemoveByBody DELETE "/rooms|channels/{id}/members" scope(Scope::ApiRoomsWrite),
            "rooms.members.remove" => native::rooms::remove_member_by_body,
        RoomMember GET "/rooms|channels/{id}/members/{user}" scope(Scope::ApiRoomsRead),
            "rooms.members.get" => native::rooms::member,
        RoomMemberRemove DELETE "/rooms|channels/{id}/members/{user}" scope(Scope::ApiRoomsWrite),
            "rooms.members.remove" => native::rooms::remove_member,

        WebhooksList GET "/webhooks" scope(Scope::Webhooks), "webhooks.list"
            => native::webhooks::list,
        WebhooksCreate POST "/webhooks" scope(Scope::Webhooks), "webhooks.create"
            => native::webhooks::create,
        WebhookGet GET "/webhooks/{id}" scope(Scope::Webhooks), "webhooks.get"
            => native::webhooks::get,
        WebhookUpdate PATCH "/webhooks/{id}" scope(Scope::Webhooks), "webhooks.update"
            => native::webhooks::update,
        WebhookDelete DELETE "/webhooks/{id}" scope(Scope::Webhooks), "webhooks.delete"
            => native::webhooks::delete,
        WebhookRotateSecret POST "/webhooks/{id}/rotate-secret" scope(Scope::Webhooks),
            "webhooks.rotate_secret" => native::webhooks::rotate_secret,
        WebhookEndOverlap POST "/webhooks/{id}/end-overlap" scope(Scope::Webhooks),
            "webhooks.end_overlap" => native::webhooks::end_overlap,
        WebhookRedeliverFailed POST "/webhooks/{id}/redeliver-failed" scope(Scope::Webhooks),
            "webhooks.redeliver_failed" => native::webhooks::redeliver_failed,
        WebhookTest POST "/webhooks/{id}/test" scope(Scope::Webhooks), "webhooks.test"
            => native::webhooks::test,
        WebhookDeliveries GET "/webhooks/{id}/deliveries" scope(Scope::Webhooks),
            "webhooks.deliveries" => native::webhooks::deliveries,
        WebhookRedeliver POST "/webhooks/{id}/deliveries/{delivery}/redeliver"
            scope(Scope::Webhooks), "webhooks.redeliver" => native::webhooks::redeliver,
        Events GET "/events" scope(Scope::Webhooks), "events.list" => native::events::list,
        EventsPoll POST "/events/poll" scope(Scope::Webhooks), "events.poll"
            => scim::receivers::poll,
        ReceiversList GET "/event-receivers" scope(Scope::Webhooks), "receivers.list"
            => scim::receivers::list,
        ReceiversCreate POST "/event-receivers" scope(Scope::Webhooks), "receivers.create"
            => scim::receivers::create,
        ReceiverGet GET "/event-receivers/{id}" scope(Scope::Webhooks), "receivers.get"
            => scim::receivers::get,
        ReceiverUpdate PATCH "/event-receivers/{id}" scope(Scope::Webhooks), "receivers.update"
            => scim::receivers::update,
        ReceiverDelete DELETE "/event-receivers/{id}" scope(Scope::Webhooks), "receivers.delete"
            => scim::receivers::delete,
        ReceiverDeliveries GET "/event-receivers/{id}/deliveries" scope(Scope::Webhooks),
            "receivers.deliveries" => scim::receivers::deliveries,

        ApiKeysList GET "/api-keys" scope(Scope::ApiKeysManage), "api_keys.list"
            => native::keys::list,
        ApiKeysCreate POST "/api-keys" scope(Scope::ApiKeysManage), "api_keys.create"
            => native::keys::create,
        ApiKeyGet GET "/api-keys/{id}" scope(Scope::ApiKeysManage), "api_keys.get"
            => native::keys::get,
        ApiKeyPatch PATCH "/api-keys/{id}" scope(Scope::ApiKeysManage), "api_keys.patch"
            => native::keys::patch,
        ApiKeyRevoke POST "/api-keys/{id}/revoke" scope(Scope::ApiKeysManage), "api_keys.revoke"
            => native::keys::revoke,
        ApiKeyRotate POST "/api-keys/{id}/rotate" scope(Scope::ApiKeysManage), "api_keys.rotate"
            => native::keys::rotate,
        AuditLog GET "/audit-log" scope(Scope::ApiKeysManage), "audit_log.list"
            => native::audit::list,
        ProvisioningLog GET "/provisioning-log" AnyKey, "provisioning_log.list"
            => native::provisioning::list,

        ScimUsersList GET "/scim/v2/Users" scope(Scope::ScimUsersRead), "scim.users.list"
            => scim::users::list,
        ScimUsersCreate POST "/scim/v2/Users" scope(Scope::ScimUsersWrite), "scim.users.create"
            => scim::users::create,
        ScimUsersSearch POST "/scim/v2/Users/.search" scope(Scope::ScimUsersRead),
            "scim.users.search" => scim::users::search,
        ScimUserGet GET "/scim/v2/Users/{id}" scope(Scope::ScimUsersRead), "scim.users.get"
            => scim::users::get,
        ScimUserReplace PUT "/scim/v2/Users/{id}" scope(Scope::ScimUsersWrite),
            "scim.users.replace" => scim::users::replace,
        ScimUserPatch PATCH "/scim/v2/Users/{id}" scope(Scope::ScimUsersWrite),
            "scim.users.patch" => scim::users::patch,
        ScimUserDelete DELETE "/scim/v2/Users/{id}" scope(Scope::ScimUsersWrite),
            "scim.users.delete" => scim::users::delete,

        ScimGroupsList GET "/scim/v2/Groups" scope(Scope::ScimGroupsRead), "scim.groups.list"
            => scim::groups::list,
        ScimGroupsCreate POST "/scim/v2/Groups" scope(Scope::ScimGroupsWrite),
            "scim.groups.create" => scim::groups::create,
        ScimGroupsSearch POST "/scim/v2/Groups/.search" scope(Scope::ScimGroupsRead),
            "scim.groups.search" => scim::groups::search,
        ScimGroupGet GET "/scim/v2/Groups/{id}" scope(Scope::ScimGroupsRead), "scim.groups.get"
            => scim::groups::get,
        ScimGroupReplace PUT "/scim/v2/Groups/{id}" scope(Scope::ScimGroupsWrite),
            "scim.groups.replace" => scim::groups::replace,
        ScimGroupPatch PATCH "/scim/v2/Groups/{id}" scope(Scope::ScimGroupsWrite),
            "scim.groups.patch" => scim::groups::patch,
        ScimGroupDelete DELETE "/scim/v2/Groups/{id}" scope(Scope::ScimGroupsWrite),
            "scim.groups.delete" => scim::groups::delete,

        ScimSearch POST "/scim/v2/.search" ScimRead, "scim.search" => scim::search::everything,
        ScimBulk POST "/scim/v2/Bulk" ScimWrite, "scim.bulk" => scim_bulk,
        ScimServiceProviderConfig GET "/scim/v2/ServiceProviderConfig" ScimRead,
            "scim.service_provider_config" => scim::discovery::service_provider_config,
        ScimResourceTypes GET "/scim/v2/ResourceTypes" ScimRead, "scim.resource_types"
            => scim::discovery::resource_types,
        ScimResourceType GET "/scim/v2/ResourceTypes/{name}" ScimRead, "scim.resource_types"
            => scim::discovery::resource_types,
        ScimSchemas GET "/scim/v2/Schemas" ScimRead, "scim.schemas" => scim::discovery::schemas,
        ScimSchema GET "/scim/v2/Schemas/{id}" ScimRead, "scim.schemas"
            => scim::discovery::schemas,
    }
    // The web console's steps before a session (`console::serve` takes them).
    signing_in {
        ConsoleAsset GET "/console/assets/{name}" "console.asset" => Page::Asset,
        ConsoleLoginForm GET "/console/login" "console.login" => Page::LoginForm,
        ConsoleLogin POST "/console/login" "console.login" => Page::Login,
        ConsoleLinkForm GET "/console/login/{token}" "console.link" => Page::LinkForm,
        ConsoleLink POST "/console/login/{token}" "console.link" => Page::Link,
        ConsoleLogout POST "/console/logout" "console.logout" => Page::Logout,
    }
    // The web console's pages: behind a session whose key holds the scope (None: any key;
    // `console::serve` checks both).
    console {
        ConsoleOverview GET "/console" None, "console.overview"
            => console::overview::overview,
        ConsoleKeys GET "/console/keys" Some(Scope::ApiKeysManage), "console.keys"
            => console::keys::page,
        ConsoleKeyCreate POST "/console/keys" Some(Scope::ApiKeysManage), "console.keys.create"
            => console::keys::create,
        ConsoleKeyRevokeForm GET "/console/keys/{id}/revoke" Some(Scope::ApiKeysManage), "console.keys.revoke"
            => console::keys::revoke_form,
        ConsoleKeyRevoke POST "/console/keys/{id}/revoke" Some(Scope::ApiKeysManage), "console.keys.revoke"
            => console::keys::revoke,
        ConsoleKeyRotate POST "/console/keys/{id}/rotate" Some(Scope::ApiKeysManage), "console.keys.rotate"
            => console::keys::rotate,
        ConsoleKeyScimProfile POST "/console/keys/{id}/scim-profile" Some(Scope::ApiKeysManage), "console.keys.scim_profile"
            => console::keys::set_profile,
        ConsoleUsers GET "/console/users" Some(Scope::ApiUsersRead), "console.users"
            => console::users::list,
        ConsoleUser GET "/console/users/{id}" Some(Scope::ApiUsersRead), "console.user"
            => console::users::show,
        ConsoleUserActiveForm GET "/console/users/{id}/active" Some(Scope::ApiUsersWrite), "console.users.active"
            => console::users::confirm,
        ConsoleUserActive POST "/console/users/{id}/active" Some(Scope::ApiUsersWrite), "console.users.active"
            => console::users::set_active,
        ConsoleRooms GET "/console/rooms" Some(Scope::ApiRoomsRead), "console.rooms"
            => console::rooms::list,
        ConsoleRoomCreate POST "/console/rooms" Some(Scope::ApiRoomsWrite), "console.rooms.create"
            => console::rooms::create,
        ConsoleRoom GET "/console/rooms/{id}" Some(Scope::ApiRoomsRead), "console.room"
            => console::rooms::show,
        ConsoleRoomUpdate POST "/console/rooms/{id}" Some(Scope::ApiRoomsWrite), "console.room.update"
            => console::rooms::update,
        ConsoleRoomDeleteForm GET "/console/rooms/{id}/delete" Some(Scope::ApiRoomsWrite), "console.room.delete"
            => console::rooms::delete_form,
        ConsoleRoomDelete POST "/console/rooms/{id}/delete" Some(Scope::ApiRoomsWrite), "console.room.delete"
            => console::rooms::delete,
        ConsoleMemberAdd POST "/console/rooms/{id}/members" Some(Scope::ApiRoomsWrite), "console.room.members.add"
            => console::rooms::add_member,
        ConsoleMemberTx POST "/console/rooms/{id}/members/{user}/tx" Some(Scope::ApiRoomsWrite), "console.room.members.tx"
            => console::rooms::set_tx,
        ConsoleMemberRemoveForm GET "/console/rooms/{id}/members/{user}/remove" Some(Scope::ApiRoomsWrite), "console.room.members.remove"
            => console::rooms::remove_form,
        ConsoleMemberRemove POST "/console/rooms/{id}/members/{user}/remove" Some(Scope::ApiRoomsWrite), "console.room.members.remove"
            => console::rooms::remove_member,
        ConsoleWebhooks GET "/console/webhooks" Some(Scope::Webhooks), "console.webhooks"
            => console::webhooks::list,
        ConsoleWebhookCreate POST "/console/webhooks" Some(Scope::Webhooks), "console.webhooks.create"
            => console::webhooks::create,
        ConsoleWebhook GET "/console/webhooks/{id}" Some(Scope::Webhooks), "console.webhook"
            => console::webhooks::page,
        ConsoleWebhookUpdate POST "/console/webhooks/{id}" Some(Scope::Webhooks), "console.webhook.update"
            => console::webhooks::update,
        ConsoleWebhookActive POST "/console/webhooks/{id}/active" Some(Scope::Webhooks), "console.webhook.active"
            => console::webhooks::set_active,
        ConsoleWebhookRotateSecret POST "/console/webhooks/{id}/rotate-secret" Some(Scope::Webhooks), "console.webhook.rotate_secret"
            => console::webhooks::rotate_secret,
        ConsoleWebhookRedeliverFailed POST "/console/webhooks/{id}/redeliver-failed" Some(Scope::Webhooks), "console.webhook.redeliver_failed"
            => console::webhooks::redeliver_failed,
        ConsoleWebhookEndOverlap POST "/console/webhooks/{id}/end-overlap" Some(Scope::Webhooks), "console.webhook.end_overlap"
            => console::webhooks::end_overlap,
        ConsoleWebhookDeleteForm GET "/console/webhooks/{id}/delete" Some(Scope::Webhooks), "console.webhook.delete"
            => console::webhooks::delete_form,
        ConsoleWebhookDelete POST "/console/webhooks/{id}/delete" Some(Scope::Webhooks), "console.webhook.delete"
            => console::webhooks::delete,
        ConsoleReceiverCreate POST "/console/event-receivers" Some(Scope::Webhooks), "console.receivers.create"
            => console::webhooks::create_receiver,
        ConsoleReceiverDelete POST "/console/event-receivers/{id}/delete" Some(Scope::Webhooks), "console.receiver.delete"
            => console::webhooks::delete_receiver,
        ConsoleDelivery GET "/console/webhooks/{id}/deliveries/{delivery}" Some(Scope::Webhooks), "console.webhook.delivery"
            => console::webhooks::delivery,
        ConsoleWebhookTest POST "/console/webhooks/{id}/test" Some(Scope::Webhooks), "console.webhook.test"
            => console::webhooks::test,
        ConsoleRedeliver POST "/console/webhooks/{id}/deliveries/{delivery}/redeliver" Some(Scope::Webhooks), "console.webhook.redeliver"
            => console::webhooks::redeliver,
        ConsoleAudit GET "/console/audit" Some(Scope::ApiKeysManage), "console.audit"
            => console::overview::audit,
        ConsoleProvisioning GET "/console/provisioning" Some(Scope::ApiKeysManage), "console.provisioning"
            => console::provisioning::list,
        ConsoleProvisioningEntry GET "/console/provisioning/{id}" Some(Scope::ApiKeysManage), "console.provisioning.entry"
            => console::provisioning::entry,
    }
}

/// What a provisioning endpoint does, for its log entries and metrics (None: not one).
pub fn operation(endpoint: Endpoint) -> Option<crate::provisioning::Operation> {
    use Endpoint as E;
    let (words, kind, writes) = match endpoint {
        E::UsersList | E::ScimUsersList => ("list users", "user", false),
        E::ScimUsersSearch => ("search users", "user", false),
        E::UserGet | E::ScimUserGet => ("get user", "user", false),
        E::UsersCreate | E::ScimUsersCreate => ("create user", "user", true),
        E::UserReplace | E::ScimUserReplace => ("replace user", "user", true),
        E::UserPatch | E::ScimUserPatch => ("update user", "user", true),
        E::UserDeactivate => ("deactivate user", "user", true),
        E::ScimUserDelete => ("delete user", "user", true),
        E::RoomsList => ("list rooms", "room", false),
        E::RoomGet => ("get room", "room", false),
        E::RoomPatch => ("update room", "room", true),
        E::RoomUnmap => ("unmap room", "room", true),
        E::RoomMembers => ("list members", "room", false),
        E::RoomMember => ("get member", "room", false),
        E::RoomMemberAdd => ("add member", "room", true),
        E::RoomMembersSync => ("sync members", "room", true),
        E::RoomMemberRemoveByBody | E::RoomMemberRemove => ("remove member", "room", true),
        E::ScimGroupsList => ("list groups", "group", false),
        E::ScimGroupsSearch => ("search groups", "group", false),
        E::ScimGroupGet => ("get group", "group", false),
        E::ScimGroupsCreate => ("create group", "group", true),
        E::ScimGroupReplace => ("replace group", "group", true),
        E::ScimGroupPatch => ("update group", "group", true),
        E::ScimGroupDelete => ("delete group", "group", true),
        E::ScimSearch => ("search", "", false),
        E::ScimBulk => ("bulk", "", true),
        _ => return None,
    };
    Some(crate::provisioning::Operation { words, kind, writes })
}

/// Where a request to a provisioning endpoint went, for its log entries (None: not one).
pub fn spot(route: &Route<'_>) -> Option<super::journal::Spot> {
    Some(super::journal::Spot {
        operation: operation(route.endpoint)?,
        path: route.pattern,
        target: route.params().first().and_then(|id| id.parse().ok()),
    })
}

/// The endpoints a SCIM Bulk operation may name (RFC 7644 §3.7: writes to Users and Groups).
pub const BULK_OPERATIONS: &[Endpoint] = &[
    Endpoint::ScimUsersCreate,
    Endpoint::ScimUserReplace,
    Endpoint::ScimUserPatch,
    Endpoint::ScimUserDelete,
    Endpoint::ScimGroupsCreate,
    Endpoint::ScimGroupReplace,
    Endpoint::ScimGroupPatch,
    Endpoint::ScimGroupDelete,
];

/// SCIM Bulk, whose operations run through this table.
async fn scim_bulk(ctx: &Ctx<'_>, Json(request): Json<Value>) -> Result<Reply, ApiError> {
    bulk::bulk(ctx, request, &ThroughTable).await
}

/// Bulk's operations, each parsed against this table, scope-checked by the same code, its
/// `version` read as `If-Match` is.
pub(super) struct ThroughTable;

impl bulk::Runner for ThroughTable {
    fn run<'a>(
        &'a self,
        ctx: &'a Ctx<'a>,
        op: &'a bulk::Operation,
    ) -> futures_util::future::BoxFuture<'a, Result<Reply, ApiError>> {
        Box::pin(run_operation(ctx, op))
    }
}

pub(super) async fn run_operation(ctx: &Ctx<'_>, op: &bulk::Operation) -> Result<Reply, ApiError> {
    let invalid = |why: &str| ApiError::BadRequest {
        detail: format!("invalid path {:?}: {why}", op.path),
        scim_type: "invalidPath",
    };
    let path = format!("/scim/v2/{}", op.path.trim().trim_start_matches('/'));
    let route = match parse(&op.method, &path, None) {
        Ok(route) if BULK_OPERATIONS.contains(&route.endpoint) => route,
        Ok(_) | Err(RouteError::NotFound(_)) => {
            return Err(invalid("Bulk handles /Users and /Groups"));
        }
        Err(RouteError::MethodNotAllowed { .. }) => {
            return Err(invalid(&format!(
                "{} is not an operation there: POST takes a collection, the others one resource",
                op.method
            )));
        }
    };
    let journal = ctx.journal.zip(spot(&route)).map(|(parent, spot)| {
        let method = op.method.as_str();
        let meta = super::journal::for_operation(parent, spot, method, op.label());
        crate::provisioning::Journal::new(meta)
    });
    // RFC 9967 §2.5.1.2: an operation's `txn` is the Bulk request's, then `:` and its index.
    let cause = ctx.cause.map(|c| crate::store::events::Cause {
        txn: match op.index {
            Some(i) => format!("{}:{i}", c.txn),
            None => c.txn.clone(),
        },
        method: op.method.to_string(),
    });
    let ctx = Ctx { journal: journal.as_ref(), cause: cause.as_ref(), ..*ctx };
    let result = match permits(&ctx.caller.key, route.access) {
        Ok(()) => {
            let source = Source::Bulk { data: op.data.clone(), version: op.version.as_deref() };
            call(&route, &ctx, source).await
        }
        Err(e) => Err(e),
    };
    if let Some(journal) = &journal {
        super::journal::done(
            &ctx,
            journal,
            result.as_ref().map(|r| r.status),
            op.version.as_deref(),
        );
    }
    result
}

/// Where a request's body comes from: the connection, or a Bulk operation's `data`.
pub enum Source<'a> {
    Http { headers: &'a HeaderMap, body: Incoming },
    Bulk { data: Option<Value>, version: Option<&'a str> },
}

/// Builds the handler's typed request, reading the body first if the request type takes one.
async fn extract<R: FromRequest>(
    route: &Route<'_>,
    ctx: &Ctx<'_>,
    source: Source<'_>,
) -> Result<R, ApiError> {
    let (body, if_match) = match source {
        Source::Http { headers, body } => {
            let if_match = headers.get(hyper::header::IF_MATCH).map(|v| v.as_bytes());
            let body = match R::BODY {
                true => Payload::Bytes {
                    headers,
                    bytes: body::read(headers, body, ctx.body_limit()).await?,
                },
                false => Payload::None,
            };
            (body, if_match)
        }
        Source::Bulk { data, version } => {
            (data.map_or(Payload::None, Payload::Json), version.map(str::as_bytes))
        }
    };
    let input = Input { params: route.params(), query: route.query(), if_match, body };
    R::from_request(&input)
}

/// A request matched to its row.
#[derive(Debug, PartialEq, Eq)]
pub struct Route<'a> {
    pub endpoint: Endpoint,
    pub access: Access,
    pub metric: &'static str,
    /// The row's path pattern (`/rooms|channels/{id}`).
    pub pattern: &'static str,
    /// Set for `/v1/{slug}/…`; at the root the tenant is the key's.
    pub tenant_slug: Option<&'a str>,
    pub style: Style,
    params: [&'a str; 2],
    param_count: usize,
    raw_query: Option<&'a str>,
}

impl<'a> Route<'a> {
    /// The path's ids, in order (percent-encoded).
    pub fn params(&self) -> &[&'a str] {
        self.params.get(..self.param_count).unwrap_or_default()
    }

    /// The query string, decoded (once per request: only the handler's request type reads it).
    fn query(&self) -> Query {
        Query::parse(self.raw_query)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum RouteError {
    NotFound(Style),
    MethodNotAllowed { style: Style, allow: String },
}

/// Matches `path` (without its query) to a row; `query` is kept for the typed request.
pub fn parse<'a>(
    method: &Method,
    path: &'a str,
    query: Option<&'a str>,
) -> Result<Route<'a>, RouteError> {
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
    let style = match rest {
        ["scim", "v2", ..] => Style::Scim,
        _ => Style::Native,
    };
    let head = method == Method::HEAD;
    let mut allow: Vec<&str> = Vec::new();
    // The fewest ids among rows that fit the path but not the method: a row with more ids
    // does not take a literal segment for an id (`GET /Users/.search` is 405, not a user).
    let mut fewest_ids = usize::MAX;
    for (row, pattern) in ROWS.iter().zip(PATTERNS.iter()) {
        let Some((params, param_count)) = matches(pattern, rest, style) else { continue };
        // `/metrics` is the server's, not a tenant's.
        if row.endpoint == Endpoint::Metrics && tenant_slug.is_some() {
            continue;
        }
        if param_count > fewest_ids {
            continue;
        }
        if row.method == method || (head && row.method == Method::GET) {
            return Ok(Route {
                endpoint: row.endpoint,
                access: row.access,
                metric: row.metric,
                pattern: row.path,
                tenant_slug,
                style,
                params,
                param_count,
                raw_query: query,
            });
        }
        if param_count < fewest_ids {
            allow.clear();
            fewest_ids = param_count;
        }
        if !allow.contains(&row.method.as_str()) {
            allow.push(row.method.as_str());
        }
    }
    match allow.is_empty() {
        true => Err(RouteError::NotFound(style)),
        false => Err(RouteError::MethodNotAllowed { style, allow: allow.join(", ") }),
    }
}

/// A row's path split once into segments: each a literal's spellings (`rooms|channels`), or
/// None for an id. Routing runs on every request; splitting every row's path on each was its
/// largest cost.
type Pattern = Vec<Option<Vec<&'static str>>>;

static PATTERNS: std::sync::LazyLock<Vec<Pattern>> = std::sync::LazyLock::new(|| {
    let segment = |w: &'static str| (!w.starts_with('{')).then(|| w.split('|').collect());
    ROWS.iter().map(|row| row.path.split('/').skip(1).map(segment).collect()).collect()
});

/// Whether `segments` fit `pattern`; the ids they hold.
fn matches<'a>(
    pattern: &Pattern,
    segments: &[&'a str],
    style: Style,
) -> Option<([&'a str; 2], usize)> {
    if pattern.len() != segments.len() {
        return None;
    }
    let mut params = [""; 2];
    let mut count = 0;
    for (wanted, given) in pattern.iter().zip(segments) {
        match wanted {
            None => {
                if given.is_empty() {
                    return None;
                }
                *params.get_mut(count)? = given;
                count += 1;
            }
            Some(names) => {
                let same = |name: &&str| match style {
                    Style::Scim => name.eq_ignore_ascii_case(given),
                    Style::Native => name == given,
                };
                if !names.iter().any(same) {
                    return None;
                }
            }
        }
    }
    Some((params, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(method: Method, path: &str) -> Endpoint {
        parse(&method, path, None).unwrap().endpoint
    }

    #[test]
    fn both_path_forms_parse_to_the_same_endpoint() {
        let root = parse(&Method::GET, "/me", None).unwrap();
        let tenant = parse(&Method::GET, "/v1/acme/me", None).unwrap();
        assert_eq!(root.endpoint, Endpoint::Me);
        assert_eq!(tenant.endpoint, Endpoint::Me);
        assert_eq!(root.tenant_slug, None);
        assert_eq!(tenant.tenant_slug, Some("acme"));
        assert_eq!(endpoint(Method::GET, "/v1/acme/usage/"), Endpoint::Usage);
        let scim = parse(&Method::PATCH, "/v1/acme/scim/v2/Users/abc", None).unwrap();
        assert_eq!((scim.endpoint, scim.params()), (Endpoint::ScimUserPatch, &["abc"][..]));
        assert_eq!(scim.style, Style::Scim);
        assert_eq!(endpoint(Method::POST, "/scim/v2/Users/.search"), Endpoint::ScimUsersSearch);
        assert_eq!(endpoint(Method::POST, "/scim/v2/users/.SEARCH"), Endpoint::ScimUsersSearch);
        assert_eq!(endpoint(Method::GET, "/channels/x/members"), Endpoint::RoomMembers);
        let member = parse(&Method::DELETE, "/rooms/r/members/u", None).unwrap();
        assert_eq!(member.params(), &["r", "u"][..]);
    }

    /// The console's navigation shows an entry to the keys its page's row admits, and only those.
    #[test]
    fn the_navigation_asks_the_scopes_the_rows_ask() {
        for entry in ["users", "rooms", "webhooks", "keys", "audit", "provisioning", ""] {
            let path =
                if entry.is_empty() { "/console".to_owned() } else { format!("/console/{entry}") };
            let row = ROWS.iter().find(|r| r.method == Method::GET && r.path == path).unwrap();
            let needs = crate::console::navigation_scope(entry);
            assert_eq!(row.access, Access::Console(Page::Session(needs)), "{entry}");
        }
    }

    #[test]
    fn unknown_paths_and_methods() {
        let err = |m: Method, p: &str| parse(&m, p, None).unwrap_err();
        assert_eq!(err(Method::GET, "/nope"), RouteError::NotFound(Style::Native));
        assert_eq!(err(Method::GET, "/v1/"), RouteError::NotFound(Style::Native));
        assert_eq!(err(Method::GET, "/v1"), RouteError::NotFound(Style::Native));
        assert_eq!(err(Method::GET, "/v1/acme/scim/v2/Nope"), RouteError::NotFound(Style::Scim));
        assert_eq!(err(Method::GET, "/scim/v2/me"), RouteError::NotFound(Style::Scim));
        assert_eq!(err(Method::GET, "/v1/acme/metrics"), RouteError::NotFound(Style::Native));
        // A literal path with the wrong method is not an id of the row beside it.
        assert_eq!(
            err(Method::GET, "/scim/v2/Users/.search"),
            RouteError::MethodNotAllowed { style: Style::Scim, allow: "POST".into() }
        );
        assert_eq!(
            err(Method::POST, "/me"),
            RouteError::MethodNotAllowed { style: Style::Native, allow: "GET".into() }
        );
        assert_eq!(
            err(Method::POST, "/users/x"),
            RouteError::MethodNotAllowed {
                style: Style::Native,
                allow: "GET, PUT, PATCH, DELETE".into()
            }
        );
        assert_eq!(endpoint(Method::HEAD, "/healthz"), Endpoint::Healthz);
    }

    #[test]
    fn every_endpoint_has_one_row_and_a_metric_name() {
        let mut seen = std::collections::HashSet::new();
        for row in ROWS {
            assert!(seen.insert(row.endpoint), "{:?} twice", row.endpoint);
            assert!(!row.metric.is_empty());
        }
    }
}

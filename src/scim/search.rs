//! `POST /.search` at the SCIM root (RFC 7644 §3.4.3): Users and Groups in one answer.

use hyper::StatusCode;

use super::groups::{self, shows_members};
use super::list::{Hits, Search};
use super::strict::{self, Resource};
use super::users;
use crate::auth::Scope;
use crate::http::Ctx;
use crate::http::error::ApiError;
use crate::http::response::Reply;

/// `POST /.search` at the root: Users and Groups the key may read, Users first.
pub async fn everything(ctx: &Ctx<'_>, Search(params): Search) -> Result<Reply, ApiError> {
    // An attribute is unknown here when neither resource declares it.
    if let Some(f) = &params.filter {
        let (user, group) =
            (strict::of_filter(f, Resource::User), strict::of_filter(f, Resource::Group));
        if !user.is_empty() && !group.is_empty() {
            strict::enforce(ctx, user)?;
        }
    }
    let scopes = ctx.caller.key.scopes;
    let (read_users, read_groups) =
        (scopes.contains(Scope::ScimUsersRead), scopes.contains(Scope::ScimGroupsRead));
    let (tenant, urls, limit) = (ctx.tenant, groups::urls(ctx), ctx.state.settings.scan_limit);
    let answer = ctx
        .read(move |tx| -> Result<_, crate::http::error::ApiError> {
            if read_users {
                users::within_budget(tx, tenant, &params, limit)?;
            }
            if read_groups {
                groups::within_budget(tx, tenant, &params, limit)?;
            }
            let mut hits = Hits::new(&params);
            let filter = params.filter.as_ref();
            if read_users {
                users::matching(tx, tenant, filter, &urls.users, &mut hits)?;
            }
            if read_groups {
                groups::matching(tx, tenant, filter, &urls, shows_members(&params), &mut hits)?;
            }
            Ok(hits.respond())
        })
        .await?;
    Ok(Reply::json(StatusCode::OK, &answer))
}

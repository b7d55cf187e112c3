//! The Users page: search by userName or email prefix (index walks), pages of 50 in creation
//! order, each user's status, deactivate and reactivate (the store's `users::update`, as the
//! APIs do: seats, owner protection and events included), recorded in the audit log.

use askama::Template;
use uuid::Uuid;

use super::Console;
use super::view::{Answer, Chrome, Failure};
use crate::http::error::ApiError;
use crate::repr::users::display_name;
use crate::store::audit::{self, Field};
use crate::store::users::{self, User};
use crate::time::now_ms;

const PAGE: usize = 50;

pub struct UserRow {
    pub id: String,
    pub user_name: String,
    pub email: String,
    pub name: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage {
    chrome: Chrome,
    q: String,
    users: Vec<UserRow>,
    total: u64,
    /// The `after` of the next page.
    next: Option<String>,
    searching: bool,
}

fn user_row(u: &User) -> UserRow {
    UserRow {
        id: u.id.to_string(),
        user_name: u.user_name.clone(),
        email: u.email.clone().unwrap_or_default(),
        name: display_name(u).unwrap_or_default(),
        active: u.active,
    }
}

pub async fn list(c: &Console<'_>) -> Result<Answer, Failure> {
    let q = c.form().get("q").unwrap_or_default().to_owned();
    let after = match c.form().get("after") {
        Some(raw) => Some(
            Uuid::parse_str(raw)
                .map_err(|_| ApiError::bad_request("after must be a user id"))?
                .as_u128(),
        ),
        None => None,
    };
    let (tenant, search) = (c.ctx.tenant, q.clone());
    let (total, mut found) = c
        .ctx
        .read(move |tx| {
            let total = users::count(tx, tenant)?;
            if !search.is_empty() {
                return Ok((total, users::search_prefix(tx, tenant, &search, PAGE)?));
            }
            let mut page = Vec::with_capacity(PAGE + 1);
            users::scan_after(tx, tenant, after, |u| {
                page.push(u);
                Ok(page.len() <= PAGE)
            })?;
            Ok((total, page))
        })
        .await?;
    let more = found.len() > PAGE;
    found.truncate(PAGE);
    let next = found.last().filter(|_| more && q.is_empty()).map(|u| u.id.to_string());
    let page = UsersPage {
        chrome: c.chrome("users"),
        searching: !q.is_empty(),
        q,
        users: found.iter().map(user_row).collect(),
        total,
        next,
    };
    Answer::page(&page)
}

/// `POST /console/users/{id}/active` with `active=true|false`.
pub async fn set_active(c: &Console<'_>) -> Result<Answer, Failure> {
    let id = c.id(0)?;
    let active = match c.form().get("active") {
        Some("true") => true,
        Some("false") => false,
        _ => return Err(ApiError::bad_request("active must be true or false").into()),
    };
    let (tenant, now, actor) = (c.ctx.tenant, now_ms(), c.ctx.actor());
    c.ctx
        .write(move |txn| {
            let mut user = users::get(txn, tenant, id)?;
            let before = user.active;
            user.active = active;
            let (user, _) = users::update(txn, tenant, user, None, now)?;
            if before != active {
                let action = if active { "user.reactivated" } else { "user.deactivated" };
                let field =
                    Field::new("active", Some(before.to_string()), Some(active.to_string()));
                let target = format!("{} ({})", user.user_name, user.id);
                audit::record(txn, tenant, &actor, (action, &target), vec![field], now)?;
            }
            Ok(())
        })
        .await?;
    let mut back = form_urlencoded::Serializer::new(String::new());
    for name in ["q", "after"] {
        if let Some(v) = c.form().get(name) {
            back.append_pair(name, v);
        }
    }
    c.back(&format!("/users?{}", back.finish()))
}

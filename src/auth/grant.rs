//! What a key may hand on: only scopes it holds, and no longer a life than its own. The key API,
//! the console and the admin socket all issue keys through `order` (and rotate them through
//! `renewal`), called by `App::issue_key` and `App::rotate_key`.

use super::{KeyState, ScopeSet};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantError {
    /// The scopes asked for that the granting key lacks.
    Lacking(Vec<&'static str>),
    /// The granting key expires at this time (Unix ms), before what was asked.
    Outlives(i64),
    /// The expiry asked for is not in the future.
    Past,
}

impl std::fmt::Display for GrantError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GrantError::Lacking(lacking) => {
                write!(f, "the issuing key does not hold {}", lacking.join(", "))
            }
            GrantError::Outlives(limit) => write!(
                f,
                "a key cannot outlive the key that makes it (that one expires {})",
                crate::time::format_ms(*limit)
            ),
            GrantError::Past => f.write_str("the expiry must be in the future"),
        }
    }
}

/// Who issues a key.
#[derive(Debug, Clone, Copy)]
pub enum Issuer<'a> {
    /// An API key (the key API, a console session signed in with it): only the scopes it
    /// holds, and no longer a life than its own.
    Key(&'a KeyState),
    /// A console session opened by the server admin's sign-in link: the session key's scopes
    /// (every one), any life — the link is root's own authority.
    Link(&'a KeyState),
    /// The admin CLI (root).
    Root,
}

/// Checks a key ordered of `issuer` with `scopes`, expiring at `wanted` (None: never); the
/// expiry it gets (a key issuer's own when none is asked and it expires).
pub fn order(
    issuer: Issuer<'_>,
    scopes_asked: ScopeSet,
    wanted: Option<i64>,
    now: i64,
) -> Result<Option<i64>, GrantError> {
    if wanted.is_some_and(|at| at <= now) {
        return Err(GrantError::Past);
    }
    match issuer {
        Issuer::Key(by) => {
            scopes(by, scopes_asked)?;
            life(by, wanted)
        }
        Issuer::Link(by) => {
            scopes(by, scopes_asked)?;
            Ok(wanted)
        }
        Issuer::Root => Ok(wanted),
    }
}

/// Checks that `issuer` may renew (rotate) a key holding `scopes` that expires at `expires_at`;
/// the latest expiry the new key may have (None: no bound but the old key's own).
pub fn renewal(
    issuer: Issuer<'_>,
    scopes_held: ScopeSet,
    expires_at: Option<i64>,
) -> Result<Option<i64>, GrantError> {
    match issuer {
        Issuer::Key(by) => {
            scopes(by, scopes_held)?;
            life(by, expires_at)?;
            Ok(by.expires_at)
        }
        Issuer::Link(by) => scopes(by, scopes_held).map(|()| None),
        Issuer::Root => Ok(None),
    }
}

/// Whether `by` may grant `scopes`.
pub fn scopes(by: &KeyState, scopes: ScopeSet) -> Result<(), GrantError> {
    let lacking: Vec<&'static str> =
        scopes.iter().filter(|s| !by.scopes.contains(*s)).map(|s| s.name()).collect();
    if lacking.is_empty() { Ok(()) } else { Err(GrantError::Lacking(lacking)) }
}

/// The expiry a key made by `by` gets when `wanted` is asked for: `wanted`, or `by`'s own when
/// none is asked and `by` expires; refused past `by`'s.
pub fn life(by: &KeyState, wanted: Option<i64>) -> Result<Option<i64>, GrantError> {
    match (by.expires_at, wanted) {
        (Some(limit), Some(at)) if at > limit => Err(GrantError::Outlives(limit)),
        (Some(limit), None) => Ok(Some(limit)),
        (_, wanted) => Ok(wanted),
    }
}

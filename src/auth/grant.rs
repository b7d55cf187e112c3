//! What a key may hand on: only scopes it holds, and no longer a life than its own. The key API
//! and the console both ask here.

use super::{KeyState, ScopeSet};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantError {
    /// The scopes asked for that the granting key lacks.
    Lacking(Vec<&'static str>),
    /// The granting key expires at this time (Unix ms), before what was asked.
    Outlives(i64),
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

//! API keys in memory: scopes, secret format, the registry that verifies keys without touching
//! the disk, and the token buckets that rate-limit them.

pub mod app;
pub mod grant;
pub mod ratelimit;
pub mod registry;
pub mod scopes;
pub mod secret;
pub mod sessions;
pub mod signing;

pub use app::{App, IssuedKey};
pub use registry::{KeyState, Registry, TenantState};
pub use scopes::{Scope, ScopeSet};

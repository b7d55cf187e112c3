//! The HTTP toolkit below the faces: listener (TCP, TLS, unix socket), bodies, responses, errors
//! and the request context. It imports no handler.

pub mod body;
pub mod client;
pub mod context;
pub mod error;
pub mod listener;
pub mod request;
pub mod response;
pub mod tls;

pub use context::{Caller, Ctx, Settings, State};
pub use request::{path_id, path_uuid};

/// Which error body style a path speaks: SCIM (RFC 7644) under `scim/v2`, native JSON elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Native,
    Scim,
}

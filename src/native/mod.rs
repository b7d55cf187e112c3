//! Native JSON handlers.

pub mod account;
pub mod rooms;
pub mod users;
pub mod webhooks;

//! Native JSON handlers.

pub mod account;
pub mod events;
pub mod rooms;
pub mod users;
pub mod webhooks;

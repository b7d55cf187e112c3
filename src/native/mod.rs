//! Native JSON handlers.

pub mod account;
pub mod audit;
pub mod events;
pub mod keys;
pub mod provisioning;
pub mod rooms;
pub mod users;
pub mod webhooks;

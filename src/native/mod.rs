//! Native JSON handlers.

pub mod account;
pub mod users;

//! Native JSON handlers.

pub mod account;

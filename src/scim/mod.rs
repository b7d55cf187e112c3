//! SCIM 2.0 service provider (RFC 7643/7644): filters, PATCH, resources and discovery.

pub mod discovery;
pub mod filter;
pub mod groups;
pub mod list;
pub mod patch;
pub mod user;
pub mod users;

//! Integration tests: the real binary, a real redb file in a temp dir, HTTP on port 0.

// Test code: a failed expectation is supposed to panic.
#![allow(clippy::restriction, clippy::pedantic)]

mod harness;

mod admin_cli;
mod api_auth;
mod backup;
mod config;
mod connections;
mod console;
mod cursors;
mod disk_full;
mod docs;
mod events;
mod filter_props;
mod fuzz;
mod group_commit;
mod hostile;
mod idp;
mod keys_api;
mod lifecycle;
mod observability;
mod openapi;
mod patch_props;
mod provisioning;
mod rate_limits;
mod receiver;
mod rooms;
mod scim_bulk;
mod scim_fidelity;
mod scim_groups;
mod scim_profiles;
mod scim_query;
mod scim_users;
mod seats;
mod sets;
mod store_log;
mod structure;
mod systemd;
mod tenant_move;
mod tls;
mod upgrade;
mod users_native;
mod webhooks;

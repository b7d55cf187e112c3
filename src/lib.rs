//! whoot-mgmt: an on-prem user-provisioning server in one binary.
//!
//! `store` keeps everything in one redb file; `app` pairs it with the in-memory key `registry`;
//! `http` serves the native and SCIM APIs on hyper; `admin` is the operator's side (unix socket
//! and offline CLI); `config` resolves settings from flags, variables and the config file;
//! `server` wires them together for `serve`.

pub mod admin;
pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod console;
pub mod cursor;
pub mod http;
pub mod metrics;
pub mod native;
pub mod provisioning;
pub mod repr;
pub mod scim;
pub mod server;
pub mod shutdown;
pub mod store;
pub mod time;
pub mod webhooks;

/// The allocator of everything that links this crate (the binary, its tests and benchmarks):
/// a request allocates and frees many small buffers on whichever worker thread runs it, which
/// glibc's per-thread arenas handle slowly (malloc, free and realloc were 8% of a lookup's
/// server-thread samples). Built without transparent huge pages (`no_thp` in Cargo.toml): with
/// them, first touches zero 2 MiB pages and the resident set doubles.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

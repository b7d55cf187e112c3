//! The command line: clap's definitions of `serve` and the admin commands, and what each turns
//! into (`serve` runs `server::serve`; the others become an admin `Request`, see `admin`).

mod execute;
mod output;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::Value;
use uuid::Uuid;

use crate::admin::{Failed, Request};
use crate::config::{self, Config, GlobalFlags, LogFormat, ServeFlags};
use crate::server;
use crate::store::keys::ScimProfile;

#[derive(Parser, Debug)]
#[command(
    name = "whoot-mgmt",
    version,
    about = "On-prem user-provisioning server: SCIM 2.0, native JSON API, scoped API keys, seats",
    long_about = "On-prem user-provisioning server: SCIM 2.0 for identity providers, a native JSON \
API, scoped API keys, seat accounting and rate limits, all in one redb file.\n\n\
Start with `whoot-mgmt serve`. Admin commands (tenant, key) work whether or not the server \
runs: through its admin socket when it does, directly on the store when it does not."
)]
pub struct Cli {
    /// Config file (TOML); see `whoot-mgmt config example`. Flags and WHOOT_* variables win
    /// over it.
    #[arg(long, global = true, env = "WHOOT_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    global: GlobalFlags,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (API on --listen, admin socket in the data directory).
    Serve(Box<ServeArgs>),
    /// Create, list and change tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Create, list, revoke and rotate API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Users: the account owner, and the audit list of deleted users.
    #[command(subcommand)]
    User(UserCommand),
    /// Create, list and delete rooms (channels).
    #[command(subcommand)]
    Room(RoomCommand),
    /// The audit log: who changed what through the CLI, the key API and webhook registrations.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The provisioning log: what identity providers asked and why what failed failed, oldest
    /// first.
    ProvisioningLog {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// Failed requests only.
        #[arg(long)]
        failed: bool,
        /// Only entries this recent (a duration: 90s, 15m, 1h, 7d) or since an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Only entries after this sequence number (the `next_after` of the previous page).
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// At most this many entries (a page; with --follow, per poll).
        #[arg(long, default_value_t = 1000)]
        limit: u64,
        /// Keep printing new entries as they come (each second) until interrupted.
        #[arg(long)]
        follow: bool,
    },
    /// Webhook registrations and their deliveries (read-only; the API and console change them).
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// SET receivers (SCIM security events) and their deliveries (read-only; the API changes
    /// them).
    #[command(subcommand)]
    Receiver(ReceiverCommand),
    /// The keys that sign SCIM security events (SETs), published at /.well-known/jwks.json.
    #[command(subcommand)]
    SetKey(SetKeyCommand),
    /// The web console.
    #[command(subcommand)]
    Console(ConsoleCommand),
    /// Copy the store, consistently, into a new file; works while the server runs and writes
    /// keep flowing.
    Backup {
        /// The backup file to create (must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup into an empty data directory (the server must not be running on it).
    /// The backup is checked first.
    Restore {
        /// A file written by `whoot-mgmt backup`.
        #[arg(long)]
        from: PathBuf,
    },
    /// Start the store over after its log was found damaged or lost (the server must not be
    /// running): keeps what the log gives back whole, sets the log aside as
    /// whoot.log.lost-<time>, and stops cleanly. The writes named lost are gone; restoring the
    /// last backup is the other way out.
    Recover {
        /// Required: say that the writes the refusal named may be lost.
        #[arg(long)]
        accept_loss: bool,
    },
    /// What runs here: version, schema, store size, tenants, users, webhook backlog, and how
    /// long ago the server last committed (when it runs).
    Status,
    /// Verify the store: index entries and records point at each other, counters match
    /// recounts, memberships are stored both ways. Changes nothing; exits 1 on problems.
    Check,
    /// The config file: a commented example with every key, or the settings in force.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the man page (roff); with --dir, write one per command there
    /// (whoot-mgmt.1, whoot-mgmt-tenant.1, whoot-mgmt-tenant-create.1…), as the package installs.
    #[command(hide = true)]
    Manpage {
        /// Write the pages into this directory instead of printing the main one.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Print the native API's OpenAPI 3.1 document (the one served at /openapi.json).
    Openapi {
        /// Every endpoint as a Markdown table instead (docs/endpoints.md).
        #[arg(long)]
        markdown: bool,
    },
    /// Print a shell completion script: `whoot-mgmt completions bash > /etc/bash_completion.d/…`.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Print a config file with every key, its variable, flag and default (the packaged one).
    Example {
        /// The file the Debian package installs: `data_dir` set to /var/lib/whoot-mgmt.
        #[arg(long)]
        packaged: bool,
        /// Every setting as a Markdown table instead (the one in docs/operating.md).
        #[arg(long, conflicts_with = "packaged")]
        markdown: bool,
    },
    /// Print the settings `serve` would use, after flags, variables and the config file.
    Show(Box<ServeArgs>),
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// List a tenant's audit log, oldest first.
    List {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// Only entries after this sequence number (the `next_after` of the previous page).
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// At most this many entries.
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
}

#[derive(Subcommand, Debug)]
enum ReceiverCommand {
    /// List a tenant's SET receivers: delivery, state, format, events queued, URL or audience.
    List {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
    },
    /// A pushed receiver's deliveries, newest first.
    Deliveries {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// The receiver's id (from `receiver list`).
        receiver_id: Uuid,
        /// At most this many deliveries.
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
}

#[derive(Subcommand, Debug)]
enum SetKeyCommand {
    /// The signing keys: id, created, retired (a retired key stays published for
    /// `set_key_retired_days`).
    List,
    /// Make a new key current; the old one stays published, so SETs it signed still verify.
    Rotate,
}

#[derive(Subcommand, Debug)]
enum WebhookCommand {
    /// List a tenant's webhook registrations: URL, state, failing since, events queued.
    List {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
    },
    /// A registration's deliveries, newest first: status, attempts, last answer, next attempt.
    Deliveries {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// The registration's id (from `webhook list`).
        webhook_id: Uuid,
        /// At most this many deliveries.
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Give a registration a new signing secret (printed once); the replaced one keeps signing
    /// beside it for the overlap, so the receiver can switch without a gap.
    RotateSecret {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// The registration's id (from `webhook list`).
        webhook_id: Uuid,
        /// How long the replaced secret keeps signing (24h, 30m; 0 for not at all).
        #[arg(long, default_value = "24h")]
        overlap: String,
    },
    /// Stop signing with the replaced secret now (the receiver has switched).
    EndOverlap {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// The registration's id (from `webhook list`).
        webhook_id: Uuid,
    },
}

#[derive(Subcommand, Debug)]
enum ConsoleCommand {
    /// Print a one-time sign-in link to the tenant's console (valid once, for
    /// console_link_minutes); the server must be running.
    Login {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Subcommand, Debug)]
enum RoomCommand {
    /// Create a room.
    Create {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// Room name, unique within the tenant.
        name: String,
    },
    /// List a tenant's rooms with their member counts and group mappings.
    List {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
    },
    /// Delete a room and all its memberships (the APIs can only remove its group mapping).
    Delete {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// The room's id (from `room list`).
        room_id: Uuid,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Make a user the tenant's account owner: no API may deactivate or delete them.
    SetOwner {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// The user's id.
        user_id: Uuid,
    },
    /// List a tenant's users (with --deleted: those deleted through SCIM, kept for audit).
    List {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// List the users deleted through SCIM (kept for audit) instead.
        #[arg(long)]
        deleted: bool,
    },
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Do not create the default tenant and key on an empty store.
    #[arg(long)]
    no_bootstrap: bool,
    #[command(flatten)]
    settings: ServeFlags,
}

#[derive(Subcommand, Debug)]
enum TenantCommand {
    /// Create a tenant.
    Create {
        /// URL slug: lowercase letters, digits and inner hyphens.
        slug: String,
        /// Display name (defaults to the slug).
        #[arg(long)]
        name: Option<String>,
        /// Seat (licence) capacity: how many active users the tenant may have.
        #[arg(long)]
        seats: u32,
    },
    /// List tenants with their seat usage.
    List,
    /// Show one tenant.
    Show {
        /// The tenant's slug.
        slug: String,
    },
    /// Change a tenant's seat capacity.
    SetSeats {
        /// The tenant's slug.
        slug: String,
        /// The new seat (licence) capacity.
        #[arg(allow_negative_numbers = true, value_parser = seat_count)]
        seats: u32,
    },
    /// Override the per-key rate limit: requests per minute, 0 for unlimited, or `default`.
    SetRateLimit {
        /// The tenant's slug.
        slug: String,
        /// Requests per minute per key, 0 for unlimited, or `default` for the server's.
        per_minute: String,
    },
    /// Put a tenant in maintenance (`on`: its provisioning writes answer 503 with Retry-After,
    /// reads go on; for moving it between instances) or take it out (`off`).
    SetMaintenance {
        /// The tenant's slug.
        slug: String,
        /// `on` or `off`.
        #[arg(value_parser = on_off, action = clap::ArgAction::Set)]
        state: bool,
    },
    /// Write the tenant into a new file (mode 0600), to move it to another instance with
    /// `tenant import`: its users (SCIM-deleted ones too), rooms, memberships, keys (hashes),
    /// webhooks with their signing secrets, audit and provisioning logs and event stream.
    Export {
        /// The tenant's slug.
        slug: String,
        /// The file to create (never overwritten).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Load a `tenant export` file as a new tenant, with the same ids and keys.
    Import {
        /// The export file.
        file: std::path::PathBuf,
        /// Import under this slug instead of the exported one.
        #[arg(long)]
        slug: Option<String>,
    },
    /// Delete a tenant with all its users, rooms, keys, webhooks and logs, once it has been
    /// moved to another instance (or is no longer needed). It must be in maintenance.
    Delete {
        /// The tenant's slug.
        slug: String,
        /// Yes, delete it: nothing of it can be brought back but from a backup or an export.
        #[arg(long)]
        yes: bool,
    },
    /// Set the SCIM profile of the tenant's keys that do not choose one: `compatible` (every
    /// identity provider's known quirk accepted) or `strict` (the 2026 interop profiles).
    SetScimProfile {
        /// The tenant's slug.
        slug: String,
        /// `compatible` or `strict`.
        #[arg(value_parser = scim_profile)]
        profile: ScimProfile,
    },
}

fn on_off(word: &str) -> Result<bool, String> {
    match word {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("{other:?}: give on or off")),
    }
}

fn scim_profile(name: &str) -> Result<ScimProfile, String> {
    ScimProfile::parse(name)
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
    /// Create an API key; its secret is printed once.
    Create {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Scope to grant (repeat): scim:users:read, scim:users:write, scim:groups:read,
        /// scim:groups:write, api:users:read, api:users:write, api:rooms:read,
        /// api:rooms:write, usage, webhooks, api_keys.manage; aliases scim:read, scim:write,
        /// api:channels:read, api:channels:write, all.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// What the key is for ("Okta SCIM production").
        #[arg(long, default_value = "")]
        description: String,
        /// Expire the key after this long (90s, 15m, 12h, 30d, 2w); never, if omitted.
        #[arg(long)]
        expires_in: Option<String>,
        /// The key's SCIM profile, `compatible` or `strict`; the tenant's default if omitted.
        #[arg(long, value_parser = scim_profile)]
        scim_profile: Option<ScimProfile>,
    },
    /// Set a key's SCIM profile: `compatible`, `strict`, or `default` (the tenant's).
    SetScimProfile {
        /// The key's id (from `key list`).
        key_id: Uuid,
        /// `compatible`, `strict` or `default`.
        profile: String,
    },
    /// List a tenant's keys (never their secrets).
    List {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a key; it fails from the very next request.
    Revoke {
        /// The key's id (from `key list`).
        key_id: Uuid,
    },
    /// Issue a replacement with the same scopes; revoke the old key once clients switched.
    Rotate {
        /// The id of the key to replace (from `key list`).
        key_id: Uuid,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Config(ConfigCommand::Example { markdown: true, .. }) => {
            print!("{}", config::markdown_table());
            return ExitCode::SUCCESS;
        }
        Command::Config(ConfigCommand::Example { packaged, .. }) => {
            print!("{}", config::example_for(packaged));
            return ExitCode::SUCCESS;
        }
        Command::Manpage { dir } => return print_manpages(dir.as_deref()),
        Command::Openapi { markdown: true } => {
            print!("{}", crate::api::table::markdown_reference());
            return ExitCode::SUCCESS;
        }
        Command::Openapi { .. } => {
            return match std::io::Write::write_all(
                &mut std::io::stdout(),
                crate::api::openapi::bytes(),
            ) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            };
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            // Into memory first: writing to a closed pipe is an error to report, not a panic.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "whoot-mgmt", &mut script);
            if shell == clap_complete::Shell::Bash {
                script = bash_names_agree(&script);
            }
            return match std::io::Write::write_all(&mut std::io::stdout(), &script) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            };
        }
        _ => {}
    }
    let serve_flags = match &cli.command {
        Command::Serve(args) => args.settings.clone(),
        Command::Config(ConfigCommand::Show(args)) => args.settings.clone(),
        _ => ServeFlags::default(),
    };
    let file = config::config_path(cli.config.as_deref(), Path::new(config::PACKAGED_CONFIG));
    let config = match config::load(file.as_deref(), &cli.global, &serve_flags) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    if let Err(message) = init_logging(&config) {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = cli.json;
    match runtime.block_on(run(cli, config)) {
        Ok(()) => ExitCode::SUCCESS,
        // With --json, errors are JSON too (on stderr), with the API's stable code.
        Err(Failed { message, code }) if json => {
            eprintln!("{}", serde_json::json!({"error": message, "code": code}));
            ExitCode::FAILURE
        }
        Err(Failed { message, .. }) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn print_manpages(dir: Option<&Path>) -> ExitCode {
    use clap::CommandFactory;
    let written = match dir {
        None => clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout().lock()),
        Some(dir) => write_manpages(&Cli::command(), ("whoot-mgmt", "whoot-mgmt"), dir),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `NAME.1` for `cmd` and `NAME-SUB.1` for each visible subcommand, recursively; each page's
/// synopsis names the command as it is typed (`whoot-mgmt key create`).
fn write_manpages(
    cmd: &clap::Command,
    (name, typed): (&str, &str),
    dir: &Path,
) -> std::io::Result<()> {
    let page = cmd.clone().name(name.to_owned()).bin_name(typed.to_owned());
    let mut file = std::fs::File::create(dir.join(format!("{name}.1")))?;
    clap_mangen::Man::new(page).render(&mut file)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        let sub_name =
            (format!("{name}-{}", sub.get_name()), format!("{typed} {}", sub.get_name()));
        write_manpages(sub, (&sub_name.0, &sub_name.1), dir)?;
    }
    Ok(())
}

fn init_logging(config: &Config) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .map_err(|e| format!("log_level {:?}: {e}", config.log_level))?;
    use std::io::IsTerminal;
    // A log line the output cannot take (a file on a full disk) is dropped: by default the
    // subscriber would report that with eprintln!, which panics, closing the request's connection.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false)
        .with_ansi(std::io::stderr().is_terminal());
    match config.log_format {
        LogFormat::Plain => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(false).init(),
    }
    Ok(())
}

/// clap_complete's bash script names a hyphenated binary's subcommands two ways (the word loop
/// sets `whoot__mgmt__subcmd__key`, the branches match `whoot__subcmd__mgmt__subcmd__key`), so
/// completion stopped after the first word (clap-rs/clap#6421): one name for both.
fn bash_names_agree(script: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(script).replace("whoot__subcmd__mgmt", "whoot__mgmt").into_bytes()
}

/// A seat capacity: a whole number, 0 or more (a negative one is said so, not taken for a flag).
fn seat_count(text: &str) -> Result<u32, String> {
    text.trim().parse::<u32>().map_err(|_| {
        format!("seats must be a whole number, 0 or more (got {text:?}); 0 admits no active user")
    })
}

async fn run(cli: Cli, config: Config) -> Result<(), Failed> {
    let data_dir = config.data_dir.clone();
    let request = match cli.command {
        Command::Serve(args) => return Ok(server::serve(config, !args.no_bootstrap).await?),
        Command::Config(ConfigCommand::Show(_)) => {
            match cli.json {
                true => println!(
                    "{}",
                    serde_json::to_string_pretty(&config).map_err(|e| e.to_string())?
                ),
                false => print!("{}", config::render(&config)?),
            }
            return Ok(());
        }
        Command::Config(ConfigCommand::Example { .. })
        | Command::Manpage { .. }
        | Command::Openapi { .. }
        | Command::Completions { .. } => {
            return Err(String::from("handled before the runtime starts").into());
        }
        Command::Tenant(TenantCommand::Export { slug, out }) => {
            return Ok(execute::export(&data_dir, slug, &out, cli.json).await?);
        }
        Command::Tenant(TenantCommand::Import { file, slug }) => {
            return execute::import(&data_dir, &file, slug, cli.json).await;
        }
        Command::Tenant(cmd) => tenant_request(cmd)?,
        Command::Key(cmd) => key_request(cmd)?,
        Command::User(UserCommand::SetOwner { tenant, user_id }) => {
            Request::UserSetOwner { tenant, user_id }
        }
        Command::User(UserCommand::List { tenant, deleted }) => {
            Request::UserList { tenant, deleted }
        }
        Command::Room(RoomCommand::Create { tenant, name }) => Request::RoomCreate { tenant, name },
        Command::Room(RoomCommand::List { tenant }) => Request::RoomList { tenant },
        Command::Audit(AuditCommand::List { tenant, after, limit }) => {
            Request::AuditList { tenant, after, limit }
        }
        Command::ProvisioningLog { tenant, failed, since, after, limit, follow } => {
            let now = crate::time::now_ms();
            let since_ms = since
                .map(|s| crate::provisioning::parse_since(&s, now))
                .transpose()
                .map_err(|e| format!("--{e}"))?;
            let request = Request::ProvisioningLog { tenant, after, failed, since_ms, limit };
            return provisioning_log(&data_dir, request, follow, cli.json).await;
        }
        Command::Console(ConsoleCommand::Login { tenant }) => Request::ConsoleLogin { tenant },
        Command::Webhook(WebhookCommand::List { tenant }) => Request::WebhookList { tenant },
        Command::Webhook(WebhookCommand::Deliveries { tenant, webhook_id, limit }) => {
            Request::WebhookDeliveries { tenant, webhook_id, limit }
        }
        Command::Webhook(WebhookCommand::RotateSecret { tenant, webhook_id, overlap }) => {
            let overlap_ms =
                crate::store::webhooks::overlap_ms(Some(&overlap)).map_err(|e| format!("--{e}"))?;
            Request::WebhookRotateSecret { tenant, webhook_id, overlap_ms }
        }
        Command::Webhook(WebhookCommand::EndOverlap { tenant, webhook_id }) => {
            Request::WebhookEndOverlap { tenant, webhook_id }
        }
        Command::Room(RoomCommand::Delete { tenant, room_id }) => {
            Request::RoomDelete { tenant, room_id }
        }
        Command::Backup { to } => return Ok(execute::backup(&data_dir, &to, cli.json).await?),
        Command::Receiver(ReceiverCommand::List { tenant }) => Request::ReceiverList { tenant },
        Command::Receiver(ReceiverCommand::Deliveries { tenant, receiver_id, limit }) => {
            Request::WebhookDeliveries { tenant, webhook_id: receiver_id, limit }
        }
        Command::SetKey(SetKeyCommand::List) => Request::SetKeyList,
        Command::SetKey(SetKeyCommand::Rotate) => Request::SetKeyRotate,
        Command::Check => Request::Check,
        Command::Status => Request::Status,
        Command::Restore { from } => return Ok(execute::restore(&data_dir, &from, cli.json)?),
        Command::Recover { accept_loss } => {
            return Ok(execute::recover(&data_dir, accept_loss, cli.json)?);
        }
    };
    let mut answer = execute::admin_call(&data_dir, request.clone()).await?;
    with_effective_rate_limits(&mut answer, config.rate_limit);
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&answer).map_err(|e| e.to_string())?);
    } else {
        print!("{}", output::human(&request, &answer));
    }
    match answer.get("problems").and_then(Value::as_array) {
        Some(problems) if !problems.is_empty() => Err(Failed {
            message: format!("the store has {} problem(s)", problems.len()),
            code: "STORE_PROBLEMS".into(),
        }),
        _ => Ok(()),
    }
}

/// Prints the provisioning log's entries (with `follow`, then each new one as it comes: through
/// the running server's socket, or read from the store each second).
async fn provisioning_log(
    data_dir: &std::path::Path,
    mut request: Request,
    follow: bool,
    json: bool,
) -> Result<(), Failed> {
    let mut first = true;
    loop {
        let answer = execute::admin_call(data_dir, request.clone()).await?;
        let list = answer.get("entries").and_then(Value::as_array);
        let entries = list.map_or(0, Vec::len);
        if json && !follow {
            println!("{}", serde_json::to_string_pretty(&answer).map_err(|e| e.to_string())?);
        } else if json {
            // JSON lines: one entry each, so a follower can pipe them on.
            for e in list.into_iter().flatten() {
                println!("{e}");
            }
        } else if entries > 0 || first {
            print!("{}", output::provisioning_lines(&answer, first));
        }
        if !follow {
            return Ok(());
        }
        first = false;
        if let Request::ProvisioningLog { after, .. } = &mut request {
            *after = answer.get("next_after").and_then(Value::as_u64).unwrap_or(*after);
        }
        if entries == 0 {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
}

/// Beside each tenant's own setting (None: the server's), the limit its keys get: this
/// command's configured `rate_limit` where the tenant has none (0: unlimited).
fn with_effective_rate_limits(answer: &mut Value, default: u32) {
    let fill = |t: &mut Value| {
        if let Some(fields) = t.as_object_mut().filter(|f| f.contains_key("rate_limit_per_minute"))
        {
            let own = fields.get("rate_limit_per_minute").and_then(Value::as_u64);
            let effective = own.unwrap_or(u64::from(default));
            fields.insert("effective_rate_limit_per_minute".into(), effective.into());
        }
    };
    fill(answer);
    for t in answer.get_mut("tenants").and_then(Value::as_array_mut).into_iter().flatten() {
        fill(t);
    }
}

fn tenant_request(cmd: TenantCommand) -> Result<Request, String> {
    Ok(match cmd {
        TenantCommand::Create { name, slug, seats } => {
            Request::TenantCreate { name: name.unwrap_or_else(|| slug.clone()), slug, seats }
        }
        TenantCommand::List => Request::TenantList,
        TenantCommand::Delete { slug, yes: true } => Request::TenantDelete { slug },
        TenantCommand::Delete { slug, yes: false } => {
            return Err(format!(
                "deleting tenant {slug} removes its users, rooms, keys, webhooks and logs for \
                 good: say --yes (keep an export or a backup first)"
            ));
        }
        TenantCommand::Export { .. } | TenantCommand::Import { .. } => {
            return Err("a file command, handled before".into());
        }
        TenantCommand::Show { slug } => Request::TenantShow { slug },
        TenantCommand::SetSeats { slug, seats } => Request::TenantSetSeats { slug, seats },
        TenantCommand::SetMaintenance { slug, state } => {
            Request::TenantSetMaintenance { slug, on: state }
        }
        TenantCommand::SetScimProfile { slug, profile } => {
            Request::TenantSetScimProfile { slug, profile }
        }
        TenantCommand::SetRateLimit { slug, per_minute } => {
            let per_minute = match per_minute.as_str() {
                "default" => None,
                n => Some(n.parse::<u32>().map_err(|_| {
                    format!(
                        "rate limit {n:?}: give requests per minute, 0 for unlimited, or `default`"
                    )
                })?),
            };
            Request::TenantSetRateLimit { slug, per_minute }
        }
    })
}

fn key_request(cmd: KeyCommand) -> Result<Request, String> {
    Ok(match cmd {
        KeyCommand::Create { tenant, scopes, description, expires_in, scim_profile } => {
            Request::KeyCreate { tenant, scopes, description, expires_in, scim_profile }
        }
        KeyCommand::SetScimProfile { key_id, profile } => {
            let profile = ScimProfile::parse_choice(&profile)?;
            Request::KeySetScimProfile { key_id, profile }
        }
        KeyCommand::List { tenant } => Request::KeyList { tenant },
        KeyCommand::Revoke { key_id } => Request::KeyRevoke { key_id },
        KeyCommand::Rotate { key_id } => Request::KeyRotate { key_id },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every argument of every command says what it is (`--help`, the man page, completions).
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.get_help().is_none() && !matches!(id, "help" | "version") {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "whoot-mgmt", &mut missing);
        assert!(missing.is_empty(), "no help: {missing:?}");
    }
}

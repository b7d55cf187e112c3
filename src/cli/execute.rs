//! Running an admin command: through the server's socket when it runs, else on the store
//! directly (reading commands open it read-only); backups placed where the operator asked.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use super::output;
use crate::admin::{self, Failed, Request, socket};
use crate::auth::App;
use crate::store::STORE_FILE;

/// The server may write only in its data directory (systemd's `ProtectSystem=strict`), so it
/// copies the store there, and this process, which reaches that directory too, puts the copy
/// where the operator asked: a new file (never overwriting), mode 0600, fsynced.
///
/// Interrupted (Ctrl-C, SIGTERM, SIGHUP), it leaves nothing behind: before the server answers,
/// closing the connection makes the server remove its copy; after, the staged copy is already
/// unlinked (it is read through an open file) and the half-written one is discarded (`NewFile`).
/// Killed between the answer and the open, it leaves the staged copy to the server, which
/// removes it `STAGED_BACKUP_LIFETIME` after answering.
pub(super) async fn backup(data_dir: &Path, to: &Path, json: bool) -> Result<(), String> {
    let staged = format!("backup-{}.redb", crate::time::now_ms());
    copy_out(data_dir, to, json, &staged, "backup", |to| Request::Backup { to }).await
}

/// `tenant export`: a file the server stages like a backup's copy, placed the same way.
pub(super) async fn export(
    data_dir: &Path,
    slug: String,
    to: &Path,
    json: bool,
) -> Result<(), String> {
    let staged = format!("export-{}{}", crate::time::now_ms(), socket::STAGED_SUFFIX);
    copy_out(data_dir, to, json, &staged, "file", |to| Request::TenantExport {
        slug: slug.clone(),
        to,
    })
    .await
}

/// A file the server writes for the operator (`request` names where): staged as `staged` in
/// the data directory and placed at `to` when a server runs, else written at `to` directly.
/// The answer's `field` names `to`.
async fn copy_out(
    data_dir: &Path,
    to: &Path,
    json: bool,
    staged: &str,
    field: &str,
    request: impl Fn(PathBuf) -> Request,
) -> Result<(), String> {
    let to = absolute(to)?;
    if to.exists() {
        return Err(format!("{} already exists; choose a new file", to.display()));
    }
    if let Some(dir) = to.parent().filter(|d| !d.is_dir()) {
        return Err(format!(
            "cannot create {}: {} is not a directory",
            to.display(),
            dir.display()
        ));
    }
    let mut interrupted = std::pin::pin!(interruption()?);
    let nothing_written =
        || format!("interrupted: nothing was written ({} does not exist)", to.display());
    let staged = absolute(&data_dir.join(staged))?;
    let live = request(staged.clone());
    let socket_path = data_dir.join(socket::SOCKET_FILE);
    let called = tokio::select! {
        called = socket::call(&socket_path, &live) => called,
        () = &mut interrupted => return Err(nothing_written()),
    };
    let mut answer = match called.map_err(|e| e.message)? {
        Some(answer) => {
            let cancel = Arc::new(AtomicBool::new(false));
            let mut placing = tokio::task::spawn_blocking({
                let (to, cancel) = (to.clone(), cancel.clone());
                move || place(&staged, &to, &cancel)
            });
            let placed = tokio::select! {
                placed = &mut placing => placed,
                () = &mut interrupted => {
                    cancel.store(true, Ordering::Relaxed);
                    // The copy stops at its next chunk and removes what it wrote.
                    let _ = placing.await;
                    return Err(if to.exists() {
                        format!("interrupted after {} was complete", to.display())
                    } else {
                        nothing_written()
                    });
                }
            };
            placed.map_err(|e| e.to_string())??;
            answer
        }
        // No server: straight from the store into the file asked for.
        None => {
            let offline = admin_call(data_dir, request(to.clone()));
            tokio::select! {
                answer = offline => answer.map_err(|e| e.message)?,
                () = &mut interrupted => {
                    // The copy is renamed into place only once committed: `to` is whole or absent.
                    let _ = std::fs::remove_file(partial_of(&to));
                    return Err(nothing_written());
                }
            }
        }
    };
    crate::repr::input::set_field(&mut answer, field, Value::from(to.display().to_string()));
    if json {
        println!("{}", serde_json::to_string_pretty(&answer).map_err(|e| e.to_string())?);
    } else {
        print!("{}", output::human(&live, &answer));
    }
    Ok(())
}

/// `tenant import`: through the running server, which reads a copy staged in its data
/// directory (it may not see the operator's path, nor read a file only root may), else on the
/// store directly.
pub(super) async fn import(
    data_dir: &Path,
    from: &Path,
    slug: Option<String>,
    json: bool,
) -> Result<(), Failed> {
    let from = absolute(from)?;
    let socket_path = data_dir.join(socket::SOCKET_FILE);
    let answer = match socket_path.exists() {
        true => {
            let staged =
                data_dir.join(format!("import-{}{}", crate::time::now_ms(), socket::STAGED_SUFFIX));
            let staged = absolute(&staged)?;
            stage(&from, &staged, data_dir)?;
            let request = Request::TenantImport { from: staged.clone(), slug: slug.clone() };
            let called = socket::call(&socket_path, &request).await;
            // The server removes what it read; this covers a server that never answered.
            let _ = std::fs::remove_file(&staged);
            match called? {
                Some(answer) => answer,
                None => {
                    admin_call(data_dir, Request::TenantImport { from, slug: slug.clone() }).await?
                }
            }
        }
        false => admin_call(data_dir, Request::TenantImport { from, slug: slug.clone() }).await?,
    };
    let request = Request::TenantImport { from: PathBuf::new(), slug };
    if json {
        println!("{}", serde_json::to_string_pretty(&answer).map_err(|e| e.to_string())?);
    } else {
        print!("{}", output::human(&request, &answer));
    }
    Ok(())
}

/// Copies `from` to `staged` (mode 0600) for the server, owned by the data directory's owner
/// (the service's user) when this runs as root.
fn stage(from: &Path, staged: &Path, data_dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let fail = |e: std::io::Error| format!("staging {} for the server: {e}", from.display());
    let mut source =
        std::fs::File::open(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(staged)
        .map_err(fail)?;
    let copied = std::io::copy(&mut source, &mut file).and_then(|_| file.sync_all());
    let owner = std::fs::metadata(data_dir).map_err(fail)?;
    let owned = match rustix::process::geteuid().is_root() {
        true => rustix::fs::fchown(
            &file,
            Some(rustix::fs::Uid::from_raw(owner.uid())),
            Some(rustix::fs::Gid::from_raw(owner.gid())),
        )
        .map_err(std::io::Error::from),
        false => Ok(()),
    };
    if let Err(e) = copied.and(owned) {
        let _ = std::fs::remove_file(staged);
        return Err(fail(e));
    }
    Ok(())
}

/// Resolves at the first SIGINT, SIGTERM or SIGHUP; the handlers are installed before it
/// returns, so from then on those signals no longer end the process before it cleans up.
fn interruption() -> Result<impl std::future::Future<Output = ()>, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let install = |kind| signal(kind).map_err(|e| format!("installing a signal handler: {e}"));
    let mut int = install(SignalKind::interrupt())?;
    let mut term = install(SignalKind::terminate())?;
    let mut hup = install(SignalKind::hangup())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
    })
}

fn partial_of(to: &Path) -> PathBuf {
    let mut partial = to.as_os_str().to_owned();
    partial.push(".partial");
    PathBuf::from(partial)
}

/// Moves the server's staged copy to `to`. The staged file is unlinked as soon as it is open,
/// so the data directory is clean whatever happens next; `cancel` stops the copy between chunks.
fn place(staged: &Path, to: &Path, cancel: &AtomicBool) -> Result<(), String> {
    use std::io::{Read, Write};
    let fail = |what: &str, e: std::io::Error| format!("{what} {}: {e}", to.display());
    let mut from = std::fs::File::open(staged).map_err(|e| {
        let late = e.kind() == std::io::ErrorKind::NotFound;
        let why =
            if late { " (the server removes an untaken copy; run the backup again)" } else { "" };
        format!("reading the server's copy for {}: {e}{why}", to.display())
    })?;
    let _ = std::fs::remove_file(staged);
    let mut file = NewFile::create(to).map_err(|e| fail("writing", e))?;
    let copied = (|| {
        let mut chunk = vec![0u8; 1 << 20];
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "interrupted"));
            }
            let n = from.read(&mut chunk)?;
            let Some(read) = chunk.get(..n).filter(|r| !r.is_empty()) else { break };
            file.file().write_all(read)?;
        }
        file.file().sync_all()
    })();
    if let Err(e) = copied {
        file.discard();
        return Err(fail("writing", e));
    }
    file.link(to).map_err(|e| fail("creating", e))?;
    if let Some(dir) = to.parent() {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| fail("syncing", e))?;
    }
    Ok(())
}

/// A file written before it has a name: unnamed (`O_TMPFILE`) where the filesystem allows, so
/// even `kill -9` or a power loss leaves nothing; else `<to>.partial`, removed on failure.
enum NewFile {
    Unnamed(std::fs::File),
    Partial(std::fs::File, PathBuf),
}

impl NewFile {
    fn create(to: &Path) -> std::io::Result<NewFile> {
        use rustix::fs::{Mode, OFlags};
        let dir = to.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
        // Naming it later goes through /proc.
        if Path::new("/proc/self/fd").is_dir()
            && let Ok(fd) = rustix::fs::open(dir, flags, Mode::from_raw_mode(0o600))
        {
            return Ok(NewFile::Unnamed(std::fs::File::from(fd)));
        }
        use std::os::unix::fs::OpenOptionsExt;
        let partial = partial_of(to);
        let _ = std::fs::remove_file(&partial);
        let file =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&partial)?;
        Ok(NewFile::Partial(file, partial))
    }

    fn file(&mut self) -> &mut std::fs::File {
        match self {
            NewFile::Unnamed(file) | NewFile::Partial(file, _) => file,
        }
    }

    fn discard(self) {
        if let NewFile::Partial(_, partial) = self {
            let _ = std::fs::remove_file(partial);
        }
    }

    /// Gives the written file its name; a link, unlike a rename, never replaces a file that
    /// appeared meanwhile.
    fn link(self, to: &Path) -> std::io::Result<()> {
        match self {
            NewFile::Unnamed(file) => {
                use std::os::fd::AsRawFd;
                let proc = format!("/proc/self/fd/{}", file.as_raw_fd());
                let (cwd, follow) = (rustix::fs::CWD, rustix::fs::AtFlags::SYMLINK_FOLLOW);
                Ok(rustix::fs::linkat(cwd, proc.as_str(), cwd, to, follow)?)
            }
            NewFile::Partial(_, partial) => {
                let linked = std::fs::hard_link(&partial, to);
                let _ = std::fs::remove_file(&partial);
                linked
            }
        }
    }
}

/// Paths sent to the server are made absolute: its working directory is not ours.
fn absolute(path: &Path) -> Result<PathBuf, String> {
    std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))
}

pub(super) fn restore(data_dir: &Path, from: &Path, json: bool) -> Result<(), String> {
    if data_dir.join(socket::SOCKET_FILE).exists() {
        return Err(format!(
            "{} has an admin socket: stop the server before restoring",
            data_dir.display()
        ));
    }
    let report = crate::store::restore(from, data_dir).map_err(|e| e.to_string())?;
    let answer = serde_json::to_value(&report).map_err(|e| e.to_string())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&answer).map_err(|e| e.to_string())?);
    } else {
        print!("{}", output::human(&Request::Check, &answer));
    }
    if !report.problems.is_empty() {
        return Err(format!(
            "{} has {} problem(s); nothing was restored",
            from.display(),
            report.problems.len()
        ));
    }
    if !json {
        println!("restored {} into {}", from.display(), data_dir.display());
    }
    Ok(())
}

/// `recover --accept-loss`: on the store directly; the server must be stopped (its lock on the
/// store file refuses this otherwise).
pub(super) fn recover(data_dir: &Path, accept_loss: bool, json: bool) -> Result<(), String> {
    if !accept_loss {
        return Err("recover drops the writes a damaged or lost log held: say so with \
                    --accept-loss (or restore the last backup instead)"
            .into());
    }
    let done = crate::store::recover_accepting_loss(data_dir).map_err(|e| e.to_string())?;
    if json {
        let answer = serde_json::to_value(&done).map_err(|e| e.to_string())?;
        println!("{}", serde_json::to_string_pretty(&answer).map_err(|e| e.to_string())?);
        return Ok(());
    }
    println!("replayed {} commit(s) from the store's log", done.commits);
    match (&done.loss, &done.kept) {
        (Some(loss), kept) => {
            let to = loss.to.map_or("unknown".to_owned(), |t| t.to_string());
            println!("lost: writes {} to {to} of the log: {}", loss.from, loss.why);
            if let Some(kept) = kept {
                println!("the log as it was is kept in {}", kept.display());
            }
        }
        (None, _) => println!("nothing was lost: the log was whole"),
    }
    println!("the store is consistent again; start the server");
    Ok(())
}

/// Through the running server if there is one, else directly on the store.
pub(super) async fn admin_call(data_dir: &Path, request: Request) -> Result<Value, Failed> {
    if let Some(answer) = socket::call(&data_dir.join(socket::SOCKET_FILE), &request).await? {
        return Ok(answer);
    }
    if let Request::ConsoleLogin { .. } = request {
        return Err(Failed {
            message: format!(
                "no server is running on {}: a sign-in link is kept by the running server",
                data_dir.display()
            ),
            code: "SERVER_NOT_RUNNING".into(),
        });
    }
    if !request.may_create_store() && !data_dir.join(STORE_FILE).exists() {
        return Err(Failed {
            message: format!(
                "no store in {} (wrong --data-dir? create a tenant or run `serve` first)",
                data_dir.display()
            ),
            code: "NO_STORE".into(),
        });
    }
    // Reading commands open the store read-only: they change nothing, even an old schema, and
    // work on a store they may not write.
    match &request {
        Request::Check => {
            let report = crate::store::check_offline(data_dir)?;
            return serde_json::to_value(&report).map_err(|e| Failed::from(e.to_string()));
        }
        Request::Status => {
            let status = crate::store::status_offline(data_dir)?;
            return Ok(admin::status_json(Some(&status), &data_dir.join(STORE_FILE), false, None));
        }
        Request::Backup { to } => {
            let started = std::time::Instant::now();
            let rows = crate::store::backup_offline(data_dir, to)?;
            let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
            return Ok(serde_json::json!({"backup": to, "rows": rows, "bytes": bytes,
                "duration_ms": crate::time::elapsed_ms(started)}));
        }
        _ => {}
    }
    let app = App::open(data_dir)?;
    admin::execute(&app, request.clone())
        .await
        .map_err(|e| Failed { message: request.message(&e), ..Failed::from(e) })
}

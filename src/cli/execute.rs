//! Running an admin command: through the server's socket when it runs, else on the store
//! directly (reading commands open it read-only); backups placed where the operator asked.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::output;
use crate::admin::{self, Failed, Request, socket};
use crate::auth::App;
use crate::store::STORE_FILE;

/// The server may write only in its data directory (systemd's `ProtectSystem=strict`), so it
/// copies the store there, and this process, which reaches that directory too, puts the copy
/// where the operator asked: a new file (never overwriting), mode 0600, fsynced.
pub(super) async fn backup(data_dir: &Path, to: &Path, json: bool) -> Result<(), String> {
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
    let staged = absolute(&data_dir.join(format!("backup-{}.redb", crate::time::now_ms())))?;
    let request = Request::Backup { to: staged.clone() };
    let answer = match socket::call(&data_dir.join(socket::SOCKET_FILE), &request)
        .await
        .map_err(|e| e.message)?
    {
        Some(answer) => {
            let placed = place(&staged, &to);
            let _ = std::fs::remove_file(&staged);
            placed.map(|()| answer)?
        }
        // No server: straight from the store, opened read-only, into the file asked for.
        None => {
            admin_call(data_dir, Request::Backup { to: to.clone() }).await.map_err(|e| e.message)?
        }
    };
    let mut answer = answer;
    crate::repr::input::set_field(&mut answer, "backup", Value::from(to.display().to_string()));
    if json {
        println!("{}", serde_json::to_string_pretty(&answer).map_err(|e| e.to_string())?);
    } else {
        print!("{}", output::human(&request, &answer));
    }
    Ok(())
}

fn place(staged: &Path, to: &Path) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |what: &str, e: std::io::Error| format!("{what} {}: {e}", to.display());
    let mut partial = to.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let _ = std::fs::remove_file(&partial);
    let copied = (|| {
        let mut from = std::fs::File::open(staged)?;
        let mut file =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&partial)?;
        std::io::copy(&mut from, &mut file)?;
        file.sync_all()
    })();
    copied.map_err(|e| fail("writing", e))?;
    // A link, unlike a rename, never replaces a file that appeared meanwhile.
    let linked = std::fs::hard_link(&partial, to);
    let _ = std::fs::remove_file(&partial);
    linked.map_err(|e| fail("creating", e))?;
    if let Some(dir) = to.parent() {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| fail("syncing", e))?;
    }
    Ok(())
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

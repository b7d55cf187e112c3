//! Backup while writes flow, restore into an empty data dir, and `check` on the result; `check`
//! finding damage; restore refusing what it must.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;

use crate::harness::{Server, cli_in, cli_json_in};

#[test]
fn backup_under_load_restores_every_acknowledged_write_and_checks_clean() {
    let s = Arc::new(Server::start());
    let key = s.root_key();
    s.cli_json(&["tenant", "set-seats", "default", "100000"]);
    let room_id = crate::rooms::room(&s, "ops");

    // Writers: users created and added to the room, until told to stop; each records what the
    // server acknowledged, and when.
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (s, key, stop, room_id) = (s.clone(), key.clone(), stop.clone(), room_id.clone());
        writers.push(std::thread::spawn(move || {
            let mut acked = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let email = format!("w{w}-{i}@backup.example");
                let r = s.send("POST", "/users", &key, &json!({"email": email}));
                assert_eq!(r.status, 201, "{}", r.body);
                let id = r.json()["user"]["id"].as_str().unwrap().to_owned();
                let m = s.send(
                    "POST",
                    &format!("/rooms/{room_id}/members"),
                    &key,
                    &json!({"user_id": id, "tx_permission": i % 2 == 0}),
                );
                assert!(m.status == 200 || m.status == 201, "{}", m.body);
                acked.push((std::time::Instant::now(), email));
                i += 1;
            }
            acked
        }));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let backup_dir = tempfile::tempdir().unwrap();
    let file = backup_dir.path().join("whoot.backup");
    let started = std::time::Instant::now();
    let answer = s.cli_json(&["backup", "--to", file.to_str().unwrap()]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<(std::time::Instant, String)> =
        writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    assert!(answer["rows"].as_u64().unwrap() > 0, "{answer}");
    assert_eq!(answer["backup"], file.to_str().unwrap());
    // The server wrote it in its data dir (all a hardened unit lets it write); the CLI moved it
    // out, private, and left nothing behind.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let staged: Vec<_> = std::fs::read_dir(&s.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("backup-"))
        .collect();
    assert!(staged.is_empty(), "{staged:?}");
    let before: Vec<&String> =
        acked.iter().filter(|(at, _)| *at < started).map(|(_, e)| e).collect();
    let after = acked.len() - before.len();
    assert!(
        !before.is_empty() && after > 0,
        "writes flowed before ({}) and during/after ({after})",
        before.len()
    );

    // A second backup to the same file is refused, not overwritten.
    let again = s.cli(&["backup", "--to", file.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    // A path in a missing directory is the operator's mistake, told as such.
    let nowhere = backup_dir.path().join("missing/dir/b.redb");
    let out = s.cli(&["backup", "--to", nowhere.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot create"), "{out:?}");

    // The live store checks clean too.
    let live = s.cli_json(&["check"]);
    assert_eq!(live["problems"], json!([]), "{live}");

    // Restore into an empty dir, then serve from it.
    let restored = tempfile::tempdir().unwrap();
    let out = cli_json_in(restored.path(), &["restore", "--from", file.to_str().unwrap()]);
    assert_eq!(out["problems"], json!([]), "{out}");
    let checked = cli_json_in(restored.path(), &["check"]);
    assert_eq!(checked["problems"], json!([]), "{checked}");
    assert!(checked["users"].as_u64().unwrap() >= before.len() as u64);

    let r = Server::start_in(restored.path(), &[]);
    for email in &before {
        let filter = format!("emails%20eq%20%22{}%22", email.replace('@', "%40"));
        let found = r.get(&format!("/scim/v2/Users?filter={filter}"), Some(&key)).json();
        assert_eq!(found["totalResults"], 1, "{email} lost: {found}");
    }
    let members = r.get(&format!("/rooms/{room_id}"), Some(&key)).json();
    assert!(members["member_count"].as_u64().unwrap() >= before.len() as u64, "{members}");

    // Restoring over a store is refused.
    let over = cli_in(restored.path(), &["restore", "--from", file.to_str().unwrap()]);
    assert!(!over.status.success());
    let why = String::from_utf8_lossy(&over.stderr);
    assert!(why.contains("admin socket") || why.contains("already holds a store"), "{why}");
}

/// A restore gives the backup's state, whatever log a crashed server left in the data dir: the
/// log's writes came after the backup (or from another store) and are not replayed onto it.
#[test]
fn restore_leaves_a_crashed_servers_log_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // No checkpoint: what is acknowledged after the backup lives only in the log.
    let never = ["--checkpoint-every", "100000000", "--checkpoint-idle-ms", "600000"];
    let s = Server::start_in(&data, &never);
    let key = s.root_key();
    let create = |email: &str| {
        let r = s.send("POST", "/users", &key, &json!({"email": email}));
        assert_eq!(r.status, 201, "{}", r.body);
    };
    create("before@restore.example");
    let file = tmp.path().join("whoot.backup");
    s.cli_json(&["backup", "--to", file.to_str().unwrap()]);
    create("after@restore.example");
    drop(s); // SIGKILL: the log holds both creates, the file neither
    assert!(data.join("whoot.log").exists());

    // The operator's steps: the crashed store and its socket aside, the backup in.
    std::fs::remove_file(data.join("whoot.redb")).unwrap();
    let _ = std::fs::remove_file(data.join("admin.sock"));
    let out = cli_json_in(&data, &["restore", "--from", file.to_str().unwrap()]);
    assert_eq!(out["problems"], json!([]), "{out}");
    let r = Server::start_in(&data, &[]);
    let emails: Vec<String> = r.get("/users?limit=100", Some(&key)).json()["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["email"].as_str().map(str::to_owned))
        .collect();
    assert!(emails.contains(&"before@restore.example".to_owned()), "{emails:?}");
    assert!(!emails.contains(&"after@restore.example".to_owned()), "{emails:?}");
    assert!(r.stop());
    assert_eq!(cli_json_in(&data, &["check"])["problems"], json!([]));
}

#[test]
fn restore_refuses_a_file_that_is_not_a_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk");
    std::fs::write(&junk, b"not a database").unwrap();
    let target = tmp.path().join("data");
    let out = cli_in(&target, &["restore", "--from", junk.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a whoot-mgmt backup"));
    assert!(!target.join("whoot.redb").exists());
}

#[test]
fn check_reports_a_drifted_counter_and_changes_nothing() {
    use whoot_mgmt::store::{Store, counters, tenants};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let s = Server::start_in(dir, &[]);
    let key = s.root_key();
    for i in 0..3 {
        let r = s.send("POST", "/users", &key, &json!({"email": format!("c{i}@check.example")}));
        assert_eq!(r.status, 201);
    }
    let clean = s.cli_json(&["check"]);
    assert_eq!((clean["users"].clone(), clean["problems"].clone()), (json!(3), json!([])));
    assert!(s.stop());

    // Damage the store behind the server's back: one counter off by 2.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = Store::open(dir).unwrap();
        store
            .write(|txn| {
                let t = tenants::get_by_slug(txn, "default")?;
                counters::add(txn, t.id, counters::USERS, 2)
            })
            .await
            .unwrap();
    });
    // Reported the same way twice: check changed nothing.
    for _ in 0..2 {
        let out = cli_in(dir, &["check", "--json"]);
        assert_eq!(out.status.code(), Some(1), "problems exit 1");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let problems = report["problems"].as_array().unwrap();
        assert_eq!(problems.len(), 1, "{report}");
        assert!(
            problems[0].as_str().unwrap().contains("counter users is 5, recount 3"),
            "{report}"
        );
    }
}

fn bytes(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn offline_check_and_backup_read_the_store_without_changing_it_even_an_old_schema() {
    // A current store, with the server stopped.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let s = Server::start_in(&data, &[]);
    let key = s.root_key();
    assert_eq!(s.send("POST", "/users", &key, &json!({"email": "ro@example.com"})).status, 201);
    assert!(s.stop());
    let store = data.join("whoot.redb");
    let before = bytes(&store);
    assert_eq!(cli_json_in(&data, &["check"])["problems"], json!([]));
    let copy = tmp.path().join("copy.redb");
    let out = cli_in(&data, &["backup", "--to", copy.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(bytes(&store), before, "check and backup left the store as it was");
    let restored = tmp.path().join("restored");
    let out = cli_in(&restored, &["restore", "--from", copy.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A schema 1 store: checked as it is, not upgraded, no copy made.
    let old = tmp.path().join("old");
    std::fs::create_dir_all(&old).unwrap();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/store-v1/whoot.redb");
    std::fs::copy(fixture, old.join("whoot.redb")).unwrap();
    let before = bytes(&old.join("whoot.redb"));
    let report = cli_json_in(&old, &["check"]);
    assert_eq!((report["problems"].clone(), report["users"].clone()), (json!([]), json!(3)));
    assert_eq!(bytes(&old.join("whoot.redb")), before);
    assert_eq!(std::fs::read_dir(&old).unwrap().count(), 1, "nothing written beside it");
}

/// After a crash the store needs the repair only a writable open runs: offline commands say so
/// and how to get it, and work once the server has started and stopped.
#[test]
fn offline_commands_after_a_crash_say_that_starting_the_server_repairs_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut s = Server::start_in(&data, &[]);
    let key = s.root_key();
    assert_eq!(s.send("POST", "/users", &key, &json!({"email": "kill@example.com"})).status, 201);
    s.signal("KILL");
    while s.alive() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(s);
    let out = cli_in(&data, &["check"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("was not closed cleanly") && stderr.contains("serve"), "{stderr}");

    let s = Server::start_in(&data, &[]);
    assert!(s.stop());
    let report = cli_json_in(&data, &["check"]);
    assert_eq!((report["problems"].clone(), report["users"].clone()), (json!([]), json!(1)));
}

#[test]
fn what_an_interrupted_backup_left_is_removed_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_in(tmp.path(), &[]);
    assert!(s.stop());
    let leftovers = [
        "backup-1764579600000.redb",
        "backup-1764579600000.redb.partial",
        "whoot-schema-v3-1.redb.partial",
    ];
    for name in leftovers {
        std::fs::write(tmp.path().join(name), vec![0u8; 4096]).unwrap();
    }
    let s = Server::start_in(tmp.path(), &[]);
    for name in leftovers {
        assert!(!tmp.path().join(name).exists(), "{name} is still there");
    }
    assert_eq!(s.get("/me", Some(&s.root_key())).status, 200);
}

/// A `whoot-mgmt backup` stopped at any point (Ctrl-C, or kill -9) leaves no copy in the data
/// directory while the server runs, and no half-written file where it was asked to write: the
/// backup is whole or absent.
#[test]
fn an_interrupted_backup_leaves_nothing_behind() {
    let s = Server::start();
    let key = s.root_key();
    s.cli_json(&["tenant", "set-seats", "default", "100000"]);
    for batch in 0..8 {
        let ops: Vec<_> = (0..1000)
            .map(|i| {
                json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"),
                    "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": format!("b{batch}-{i}@backup.example")}})
            })
            .collect();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": ops});
        assert_eq!(s.send("POST", "/scim/v2/Bulk", &key, &body).status, 200);
    }
    let out = tempfile::tempdir().unwrap();
    let left_in = |dir: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("backup-") || n.ends_with(".partial"))
            .collect()
    };
    // Signals spread over the time of one whole backup, and as long again past it.
    let started = std::time::Instant::now();
    s.cli_json(&["backup", "--to", out.path().join("whole.redb").to_str().unwrap()]);
    let whole_ms = started.elapsed().as_millis() as u64;
    let delays: Vec<u64> = (0..=16).map(|i| whole_ms * i / 6).collect();
    let (mut interrupted, mut whole) = (0, 0);
    for (round, delay_ms) in delays.iter().enumerate() {
        for signal in ["INT", "KILL"] {
            let to = out.path().join(format!("{round}-{signal}.redb"));
            let child = std::process::Command::new(crate::harness::BIN)
                .args(["backup", "--to", to.to_str().unwrap(), "--data-dir"])
                .arg(s.dir.as_path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(*delay_ms));
            let sent = std::process::Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(child.id().to_string())
                .status()
                .unwrap();
            assert!(sent.success());
            let done = child.wait_with_output().unwrap();
            if done.status.success() {
                whole += 1;
            } else {
                interrupted += 1;
                // Ctrl-C before the handlers are installed ends the process the default way.
                use std::os::unix::process::ExitStatusExt;
                if signal == "INT" && done.status.signal().is_none() {
                    let stderr = String::from_utf8_lossy(&done.stderr);
                    assert!(stderr.contains("interrupted"), "{stderr}");
                }
            }
            // The server removes a copy nobody waits for once it is done, and one nobody took
            // (killed between the answer and the open) 30 s after answering.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(45);
            while !left_in(&s.dir).is_empty() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            assert_eq!(left_in(&s.dir), Vec::<String>::new(), "{signal} after {delay_ms} ms");
            assert_eq!(left_in(out.path()), Vec::<String>::new(), "{signal} after {delay_ms} ms");
            if to.exists() {
                let restored = tempfile::tempdir().unwrap();
                let data = restored.path().join("data");
                let r = cli_in(&data, &["restore", "--from", to.to_str().unwrap()]);
                assert!(r.status.success(), "{signal} after {delay_ms} ms: a partial backup");
            }
        }
    }
    assert!(interrupted > 0 && whole > 0, "{interrupted} interrupted, {whole} whole");
    assert_eq!(s.get("/me", Some(&key)).status, 200);
    eprintln!("{interrupted} interrupted, {whole} whole; a backup takes {whole_ms} ms");
}

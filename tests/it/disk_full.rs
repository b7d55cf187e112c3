//! A full disk. With the reserve (`disk_reserve_mb`): writes answer 503 with Retry-After (never
//! 500) and change nothing, reads go on, `/readyz` says so, and once space is freed writes resume
//! by themselves; a log line the full disk cannot take costs no request its answer. Without it
//! (a write meets the full disk itself): 503s until space is back, then the store reopens, replays
//! its log and takes writes again, with every acknowledged write still there. Runs on small
//! tmpfs volumes; skipped where one cannot be mounted.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::Server;

struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn small_tmpfs(at: &Path, mib: u32) -> Option<Mounted> {
    std::fs::create_dir_all(at).ok()?;
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
        .arg(at)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| Mounted(at.to_owned()))
}

/// Fills the file system with `path`, then gives `room` bytes back.
fn fill_leaving(path: &Path, room: u64) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![7u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.flush();
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(room)).unwrap();
}

/// Bytes the file system has free for `path`'s directory.
fn free(path: &Path) -> u64 {
    let out = Command::new("df").args(["--output=avail", "-B1"]).arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse().unwrap()
}

/// The case: a 20 MiB volume filled, then 4 MiB freed. Writes stop at the reserve
/// without redb ever meeting the full disk, so reads never answer 503; they resume by themselves
/// within seconds of the space coming back. The server's log goes to a file on the same full
/// volume, and every request is answered all the same.
#[test]
fn under_the_reserve_writes_stop_reads_go_on_and_writes_resume_when_space_is_freed() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mount) = small_tmpfs(&tmp.path().join("small"), 20) else {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    };
    let data = mount.0.join("data");
    let log = std::fs::File::create(mount.0.join("server.log")).unwrap();
    let env = [("WHOOT_LOG", "debug")];
    // The default reserve (16 MiB), which on this volume is a sixteenth of it: 1.25 MiB.
    let args = ["--rate-limit", "0"];
    let s = Server::start_with(&data, &args, &env, std::process::Stdio::from(log));
    let key = s.root_key();
    s.cli_json(&["tenant", "set-seats", "default", "100000"]);
    let r = s.send("POST", "/users", &key, &json!({"email": "first@example.com"}));
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["user"]["id"].as_str().unwrap().to_owned();
    let ballast = mount.0.join("ballast");
    fill_leaving(&ballast, 0);
    assert!(free(&mount.0) < 64 << 10, "the volume is full");

    // Every request is answered (the log lines about them cannot be written), writes with 503,
    // reads as ever.
    let mut writes_refused = 0;
    for i in 0..100 {
        let r = s.send("POST", "/users", &key, &json!({"email": format!("full{i}@example.com")}));
        assert_eq!(r.status, 503, "{}", r.body);
        assert_eq!(r.json()["code"], "STORE_UNWRITABLE");
        assert_eq!(r.header("retry-after"), Some("30"));
        writes_refused += 1;
        for path in ["/usage".to_owned(), format!("/users/{id}"), "/users?limit=5".into()] {
            let read = s.get(&path, Some(&key));
            assert_eq!(read.status, 200, "{path}: {}", read.body);
        }
    }
    assert_eq!(writes_refused, 100);
    assert_eq!(s.get("/readyz", None).status, 503);
    // The admin's read-only commands keep working, and `status` says what is wrong.
    let status = s.cli_json(&["status"]);
    assert!(status["writes_refused_since"].is_string(), "{status}");
    assert!(status["disk_free_bytes"].as_u64().unwrap() < 2 << 20, "{status}");
    assert_eq!(status["users"], 1);
    let human = String::from_utf8(s.cli(&["status"]).stdout).unwrap();
    assert!(human.contains("writes refused since") && human.contains("disk full?"), "{human}");
    assert_eq!(s.cli_json(&["tenant", "list"])["tenants"].as_array().map(Vec::len), Some(1));

    // 4 MiB back: writes resume by themselves, within seconds.
    let len = std::fs::metadata(&ballast).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&ballast)
        .unwrap()
        .set_len(len - (4 << 20))
        .unwrap();
    let started = Instant::now();
    while s.get("/readyz", None).status != 200 {
        assert!(started.elapsed() < Duration::from_secs(5), "writes did not resume");
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("writes resumed {} ms after 4 MiB were freed", started.elapsed().as_millis());
    let r = s.send("POST", "/users", &key, &json!({"email": "back@example.com"}));
    assert_eq!(r.status, 201, "{}", r.body);
    let total = s.get("/users?limit=1", Some(&key)).json()["total"].as_u64().unwrap();
    assert_eq!(total, 2, "the refused writes changed nothing");
    assert!(s.cli_json(&["status"]).get("writes_refused_since").is_none());
    assert!(s.stop());
    let report = crate::harness::cli_json_in(&data, &["check"]);
    assert_eq!(report["problems"], json!([]));
}

/// Without a reserve the writes meet the full disk: 503s (never 500), and once space is back the
/// store reopens, replays its log and writes again, with every acknowledged write there; while
/// the disk stays full, the recovery does not eat the volume. Then a crash with writes in the
/// log and a start on the full disk: it refuses saying the disk is full, and starts once space is
/// freed, with everything acknowledged.
#[test]
fn a_full_disk_answers_503_and_the_store_recovers_when_space_is_back() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mount) = small_tmpfs(&tmp.path().join("small"), 16) else {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    };
    let data = mount.0.join("data");
    let s = Server::start_in(&data, &["--rate-limit", "0", "--disk-reserve-mb", "0"]);
    let key = s.root_key();
    s.cli_json(&["tenant", "set-seats", "default", "100000"]);
    let ballast = mount.0.join("ballast");
    fill_leaving(&ballast, 2 << 20);

    let mut acknowledged = 0u64;
    let full = loop {
        let body =
            json!({"email": format!("u{acknowledged}@example.com"), "full_name": "x".repeat(2000)});
        let r = s.send("POST", "/users", &key, &body);
        match r.status {
            201 => acknowledged += 1,
            _ => break r,
        }
        assert!(acknowledged < 20_000, "the disk never filled");
    };
    assert_eq!(full.status, 503, "{}", full.body);
    assert_eq!(full.json()["code"], "STORE_UNWRITABLE");
    assert_eq!(full.header("retry-after"), Some("30"));
    assert!(acknowledged > 0);
    // While the disk stays full: a write that fits may still commit, any other is a 503, never
    // a 500; /readyz says so.
    let mut readyz_said_full = false;
    for i in 0..30 {
        let body = json!({"email": format!("more{i}@example.com"), "full_name": "x".repeat(2000)});
        let r = s.send("POST", "/users", &key, &body);
        match r.status {
            201 => acknowledged += 1,
            503 => {
                readyz_said_full |= s.get("/readyz", None).status == 503;
                assert_eq!(r.json()["code"], "STORE_UNWRITABLE");
            }
            other => panic!("{other}: {}", r.body),
        }
        // A read may meet the store while it reopens: a 503 then too, never a 500.
        let read = s.get("/users?limit=1", Some(&key)).status;
        assert!(read == 200 || read == 503, "{read}");
    }
    assert!(readyz_said_full, "/readyz never said the store cannot write");
    // Attempts to recover while the disk stays full do not take what little is free.
    let before = free(&mount.0);
    std::thread::sleep(Duration::from_secs(3));
    assert!(free(&mount.0) + (256 << 10) >= before, "{before} -> {}", free(&mount.0));

    std::fs::remove_file(&ballast).unwrap();
    let started = Instant::now();
    while s.get("/readyz", None).status != 200 {
        assert!(started.elapsed() < Duration::from_secs(15), "the store did not recover");
        std::thread::sleep(Duration::from_millis(100));
    }
    let body = json!({"email": "back@example.com", "full_name": "x".repeat(2000)});
    let r = s.send("POST", "/users", &key, &body);
    assert_eq!(r.status, 201, "{}", r.body);
    let total = s.get("/users?limit=1", Some(&key)).json()["total"].as_u64().unwrap();
    assert_eq!(total, acknowledged + 1, "every acknowledged write is there, nothing else");

    // A crash with writes only in the log, and a start on a full disk.
    let r = s.send("POST", "/users", &key, &json!({"email": "last@example.com"}));
    assert_eq!(r.status, 201, "{}", r.body);
    drop(s); // SIGKILL
    fill_leaving(&ballast, 0);
    // Either it replays and serves, or it refuses saying the disk is full.
    match start_or_refusal(&data) {
        Ok(s) => {
            let total = s.get("/users?limit=1", Some(&key)).json()["total"].as_u64().unwrap();
            assert_eq!(total, acknowledged + 2);
            eprintln!("started on the full disk");
            drop(s);
        }
        Err(why) => {
            assert!(why.contains("disk is full"), "{why}");
            eprintln!("refused on the full disk: {why}");
        }
    }
    std::fs::remove_file(&ballast).unwrap();
    let s = Server::start_in(&data, &["--disk-reserve-mb", "0"]);
    let total = s.get("/users?limit=1", Some(&key)).json()["total"].as_u64().unwrap();
    assert_eq!(total, acknowledged + 2);
    assert!(s.stop());
    let report = crate::harness::cli_json_in(&data, &["check"]);
    assert_eq!(report["problems"], json!([]));
}

/// `serve` on `data`: the running server, or what it said when it exited.
fn start_or_refusal(data: &Path) -> Result<Server, String> {
    let stderr = tempfile::NamedTempFile::new().unwrap();
    let file = stderr.reopen().unwrap();
    let run = std::panic::catch_unwind(|| {
        let env = [("WHOOT_LOG", "warn")];
        Server::start_with(data, &["--disk-reserve-mb", "0"], &env, std::process::Stdio::from(file))
    });
    run.map_err(|_| std::fs::read_to_string(stderr.path()).unwrap())
}

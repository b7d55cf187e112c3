//! A full disk: writes answer 503 with Retry-After (never 500) and change nothing, `/readyz` says
//! so, and once space is back the store reopens and takes writes again by itself, with every
//! acknowledged write still there. Runs on a small tmpfs; skipped where one cannot be mounted.
//! The space given back must hold the checkpoint of what the store's log acknowledged since the
//! last one (up to `checkpoint_every` commits), so the tmpfs is 16 MiB and most of it comes back.

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

fn small_tmpfs(at: &Path) -> Option<Mounted> {
    std::fs::create_dir_all(at).ok()?;
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
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

#[test]
fn a_full_disk_answers_503_and_the_store_recovers_when_space_is_back() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mount) = small_tmpfs(&tmp.path().join("small")) else {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    };
    let data = mount.0.join("data");
    let s = Server::start_in(&data, &["--rate-limit", "0"]);
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
    assert!(s.stop());
    let report = crate::harness::cli_json_in(&data, &["check"]);
    assert_eq!(report["problems"], json!([]));
}

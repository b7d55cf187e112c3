//! The store's log when things go wrong, with the real binary: a damaged record refuses the
//! start instead of being replayed stale later, a lost log is noticed (and an existing store is
//! never bootstrapped again), and `recover --accept-loss` is the explicit way on.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};

use crate::harness::{Server, cli_in, cli_json_in, serve_refused};

/// No checkpoint by count or by idling: everything acknowledged is only in the log.
const NEVER: [&str; 4] = ["--checkpoint-every", "100000000", "--checkpoint-idle-ms", "600000"];
const PAGE: usize = 4096;

fn emails(s: &Server, key: &str) -> BTreeSet<String> {
    let page = s.get("/users?limit=1000", Some(key)).json();
    let users = page["users"].as_array().cloned().unwrap_or_default();
    users.iter().filter_map(|u| u["email"].as_str().map(str::to_owned)).collect()
}

fn create(s: &Server, key: &str, email: &str) {
    let r = s.send("POST", "/users", key, &json!({ "email": email }));
    assert_eq!(r.status, 201, "{}", r.body);
}

/// A store bootstrapped and stopped cleanly, then serving with every write only in the log.
fn serving_from_the_log(data: &Path) -> (Server, String) {
    let s = Server::start_in(data, &[]);
    let key = s.root_key();
    s.cli_json(&["tenant", "set-seats", "default", "100000"]);
    assert!(s.stop());
    (Server::start_in(data, &NEVER), key)
}

fn refused_offline(data: &Path, args: &[&str], says: &str) {
    let out = cli_in(data, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains(says), "{args:?}: {stderr}");
}

/// One byte flipped in the first record of 50 acknowledged creates: the start is refused with
/// the lost range and the ways out (it used to serve none of the 50 without a word, and bring 47
/// back after the next writes). `recover --accept-loss` keeps what verifies, sets the log aside,
/// and no later start resurrects what was dropped.
#[test]
fn a_damaged_record_refuses_the_start_and_is_never_replayed_later() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (s, key) = serving_from_the_log(&data);
    for i in 0..50 {
        create(&s, &key, &format!("old{i:02}@example.com"));
    }
    drop(s); // SIGKILL: the 50 only in the log
    let log = data.join("whoot.log");
    let mut bytes = std::fs::read(&log).unwrap();
    // Page 0 holds the round's header, page 1 its first write (here: inside its checksum).
    bytes[PAGE + 40] ^= 0x20;
    std::fs::write(&log, &bytes).unwrap();

    let why = serve_refused(&data, &[]);
    for words in ["damaged", "does not verify", "recover --accept-loss", "restore"] {
        assert!(why.contains(words), "{words:?} in {why}");
    }
    refused_offline(&data, &["check"], "damaged");
    refused_offline(&data, &["recover"], "--accept-loss");

    let done = cli_json_in(&data, &["recover", "--accept-loss"]);
    let (from, to) = (done["loss"]["from"].as_u64().unwrap(), done["loss"]["to"].as_u64().unwrap());
    assert!(from < to, "{done}");
    let kept = done["kept"].as_str().unwrap();
    assert_eq!(std::fs::read(kept).unwrap(), bytes, "the log as it was is set aside");

    let s = Server::start_in(&data, &NEVER);
    assert!(!s.stdout.contains("bootstrap"), "{}", s.stdout);
    let served = emails(&s, &key);
    // What was kept is a leading run of the creates (they were made one after another).
    let prefix: BTreeSet<String> =
        (0..served.len()).map(|i| format!("old{i:02}@example.com")).collect();
    assert_eq!(served, prefix);
    assert!(served.len() < 50);
    let new: BTreeSet<String> = (0..3).map(|i| format!("new{i}@example.com")).collect();
    for email in &new {
        create(&s, &key, email);
    }
    drop(s); // SIGKILL: the 3 in the new round of the log, the old round's records behind them

    let s = Server::start_in(&data, &[]);
    let all: BTreeSet<String> = served.union(&new).cloned().collect();
    assert_eq!(emails(&s, &key), all, "nothing of the dropped round comes back");
    assert!(s.stop());
    assert_eq!(cli_json_in(&data, &["check"])["problems"], json!([]));
    let s = Server::start_in(&data, &[]);
    assert_eq!(emails(&s, &key), all);
    assert!(s.stop());
}

/// After a crash, a log deleted, emptied or cut short refuses the start (it used to serve the
/// last checkpoint and say nothing); put back whole, it replays everything.
#[test]
fn a_missing_emptied_or_cut_log_after_a_crash_refuses_the_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (s, key) = serving_from_the_log(&data);
    let acked: BTreeSet<String> = (0..20).map(|i| format!("u{i}@example.com")).collect();
    for email in &acked {
        create(&s, &key, email);
    }
    drop(s); // SIGKILL
    let (log, aside) = (data.join("whoot.log"), tmp.path().join("whoot.log.aside"));
    std::fs::rename(&log, &aside).unwrap();
    assert!(serve_refused(&data, &[]).contains("is missing"));
    refused_offline(&data, &["check"], "is missing");
    refused_offline(&data, &["backup", "--to", "/tmp/never.redb"], "is missing");
    std::fs::write(&log, b"").unwrap();
    assert!(serve_refused(&data, &[]).contains("emptied"));
    let whole = std::fs::read(&aside).unwrap();
    std::fs::write(&log, &whole[..3 * PAGE]).unwrap();
    assert!(serve_refused(&data, &[]).contains("cut short"));

    std::fs::write(&log, &whole).unwrap();
    let s = Server::start_in(&data, &[]);
    assert!(emails(&s, &key).is_superset(&acked));
    assert!(s.stop());
    assert_eq!(cli_json_in(&data, &["check"])["problems"], json!([]));
}

/// A store whose bootstrap was only in its log, which is then lost: the start is refused, and
/// after `recover --accept-loss` the store is not bootstrapped again (it used to make a new
/// tenant and write a new key over `initial-api-key`, refusing the old one).
#[test]
fn an_existing_store_is_never_bootstrapped_again() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let s = Server::start_in(&data, &NEVER);
    assert!(s.stdout.contains("bootstrap"), "{}", s.stdout);
    let key = s.root_key();
    drop(s); // SIGKILL: the bootstrap only in the log
    std::fs::remove_file(data.join("whoot.log")).unwrap();
    assert!(serve_refused(&data, &[]).contains("is missing"));

    let done: Value = cli_json_in(&data, &["recover", "--accept-loss"]);
    assert_eq!(done["loss"]["to"], Value::Null, "how many were lost is unknown: {done}");
    let s = Server::start_in(&data, &[]);
    assert!(!s.stdout.contains("bootstrap"), "{}", s.stdout);
    assert_eq!(s.root_key(), key, "initial-api-key is not written over");
    assert!(s.stop());
}

/// A start after `kill -9` loads the allocator state the last durable commit recorded instead of
/// walking the whole file (2 s at a million users): after an idle checkpoint, and with writes
/// only in the log. redb says when it has to repair; here it never does.
#[test]
fn a_start_after_kill_9_needs_no_repair_of_the_store_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let log = |name: &str| {
        let path = tmp.path().join(name);
        (std::fs::File::create(&path).unwrap(), path)
    };
    let start = |name: &str, args: &[&str]| {
        let (file, path) = log(name);
        let env = [("WHOOT_LOG", "info")];
        (Server::start_with(&data, args, &env, std::process::Stdio::from(file)), path)
    };
    let (s, _) = start("first.log", &[]);
    let key = s.root_key();
    create(&s, &key, "before@example.com");
    // Idle past the checkpoint's wait: the last commit is a durable one.
    std::thread::sleep(std::time::Duration::from_millis(600));
    drop(s); // SIGKILL
    let (s, after_idle) = start("second.log", &NEVER);
    create(&s, &key, "only-in-the-log@example.com");
    drop(s); // SIGKILL, the last create only in the log
    let (s, after_log) = start("third.log", &[]);
    assert!(emails(&s, &key).contains("only-in-the-log@example.com"));
    drop(s);
    let replayed = std::fs::read_to_string(&after_log).unwrap();
    // The server's log is captured (it says what it replayed), and says nothing of a repair.
    assert!(replayed.contains("replayed the store's log"), "{replayed}");
    for path in [after_idle, after_log] {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("repairing"), "{}: {text}", path.display());
    }
}

//! Bootstrap, restarts, key lifecycle through the CLI while the server runs and while it does not.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::harness::{Server, cli_in, cli_json_in};

#[test]
fn bootstrap_creates_tenant_and_key_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let s = Server::start_in(&data, &[]);
    assert!(s.stdout.contains("bootstrap: created tenant \"default\""), "{}", s.stdout);
    let key = s.root_key();
    assert!(s.stdout.contains(&key), "the secret is printed once");
    let mode = std::fs::metadata(s.dir.join("initial-api-key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let sock = std::fs::metadata(s.dir.join("admin.sock")).unwrap().permissions().mode();
    assert_eq!(sock & 0o777, 0o600);
    let dir = std::fs::metadata(&data).unwrap().permissions().mode();
    assert_eq!(dir & 0o777, 0o700, "a data dir we create is private");
    assert!(s.stop());
    // A second start on the same store does not bootstrap again.
    let again = Server::start_in(&data, &[]);
    assert!(!again.stdout.contains("bootstrap"), "{}", again.stdout);
    assert_eq!(again.get("/me", Some(&key)).status, 200);
    let tenants = again.cli_json(&["tenant", "list"]);
    assert_eq!(tenants["tenants"].as_array().unwrap().len(), 1);
}

#[test]
fn under_systemd_the_bootstrap_secret_stays_out_of_the_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // systemd sets JOURNAL_STREAM when stdout goes to the journal.
    let s = Server::start_with(
        &data,
        &[],
        &[("WHOOT_LOG", "warn"), ("JOURNAL_STREAM", "8:12345")],
        std::process::Stdio::inherit(),
    );
    let key = s.root_key();
    assert!(s.stdout.contains("bootstrap: created tenant"), "{}", s.stdout);
    assert!(!s.stdout.contains(&key), "the secret went to the journal: {}", s.stdout);
    assert!(s.stdout.contains("initial-api-key"), "{}", s.stdout);
    assert_eq!(s.get("/me", Some(&key)).status, 200);
}

#[test]
fn no_bootstrap_leaves_the_store_empty() {
    let s = Server::start_args(&["--no-bootstrap"]);
    assert!(!s.dir.join("initial-api-key").exists());
    assert_eq!(s.cli_json(&["tenant", "list"])["tenants"], serde_json::json!([]));
}

#[test]
fn restart_keeps_tenants_keys_and_last_used() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_in(tmp.path(), &[]);
    s.cli_json(&["tenant", "create", "acme", "--name", "Acme Corp", "--seats", "25"]);
    let (key, key_id) = s.create_key("acme", &["usage", "api:users:read"]);
    assert_eq!(s.get("/v1/acme/usage", Some(&key)).status, 200);
    assert!(s.stop(), "graceful shutdown exits 0");
    assert!(!tmp.path().join("admin.sock").exists(), "socket removed on shutdown");

    let s = Server::start_in(tmp.path(), &[]);
    let usage = s.get("/v1/acme/usage", Some(&key)).json();
    assert_eq!(usage["seat_capacity"], 25);
    let keys = s.cli_json(&["key", "list", "--tenant", "acme"]);
    let listed = &keys["keys"][0];
    assert_eq!(listed["key_id"], key_id.as_str());
    assert_eq!(listed["status"], "active");
    assert!(listed["last_used_at"].is_string(), "flushed at shutdown: {listed}");
    assert!(listed.get("secret").is_none());
    assert!(!keys.to_string().contains(&key), "a listing never shows a secret");
    let t = s.cli_json(&["tenant", "show", "acme"]);
    assert_eq!(t["name"], "Acme Corp");
}

#[test]
fn cli_works_directly_on_the_store_when_no_server_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let t = cli_json_in(tmp.path(), &["tenant", "create", "acme", "--seats", "3"]);
    assert_eq!(t["slug"], "acme");
    assert_eq!(t["name"], "acme");
    let created = cli_json_in(
        tmp.path(),
        &["key", "create", "--tenant", "acme", "--scope", "usage", "--description", "ci"],
    );
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("wh_live_"));
    assert!(secret.starts_with(created["prefix"].as_str().unwrap()));
    assert_eq!(created["scopes"], serde_json::json!(["usage"]));
    cli_json_in(tmp.path(), &["tenant", "set-seats", "acme", "7"]);

    let s = Server::start_in(tmp.path(), &[]);
    assert!(!s.stdout.contains("bootstrap"), "a store with tenants is not bootstrapped");
    assert_eq!(s.get("/usage", Some(&secret)).json()["seat_capacity"], 7);
}

#[test]
fn revoking_through_the_cli_fails_the_very_next_request() {
    let s = Server::start();
    let (key, id) = s.create_key("default", &["usage"]);
    assert_eq!(s.get("/usage", Some(&key)).status, 200);
    let revoked = s.cli_json(&["key", "revoke", &id]);
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(s.get("/usage", Some(&key)).status, 401);
    let listed = s.cli_json(&["key", "list", "--tenant", "default"]);
    let entry =
        listed["keys"].as_array().unwrap().iter().find(|k| k["key_id"] == id.as_str()).unwrap();
    assert_eq!(entry["status"], "revoked");
    assert!(entry["revoked_at"].is_string());
}

#[test]
fn an_expired_key_fails() {
    let s = Server::start();
    let v = s.cli_line("key create --tenant default --scope usage --expires-in 2s");
    let key = v["secret"].as_str().unwrap();
    assert!(v["expires_at"].is_string());
    assert_eq!(s.get("/usage", Some(key)).status, 200);
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(s.get("/usage", Some(key)).status, 401);
    let listed = s.cli_json(&["key", "list", "--tenant", "default"]);
    assert!(listed["keys"].as_array().unwrap().iter().any(|k| k["status"] == "expired"));
}

#[test]
fn rotation_keeps_both_keys_valid_until_the_old_is_revoked() {
    let s = Server::start();
    let (old, old_id) = s.create_key("default", &["usage", "scim:read"]);
    let rotated = s.cli_json(&["key", "rotate", &old_id]);
    let new = rotated["secret"].as_str().unwrap();
    assert_eq!(rotated["replaces"], old_id.as_str());
    assert_eq!(
        rotated["scopes"],
        serde_json::json!(["scim:users:read", "scim:groups:read", "usage"])
    );
    assert_eq!(s.get("/usage", Some(&old)).status, 200);
    assert_eq!(s.get("/usage", Some(new)).status, 200);
    s.cli_json(&["key", "revoke", &old_id]);
    assert_eq!(s.get("/usage", Some(&old)).status, 401);
    assert_eq!(s.get("/usage", Some(new)).status, 200);
}

#[test]
fn cli_errors_are_clear_and_exit_nonzero() {
    let s = Server::start();
    let cases: &[(&[&str], &str)] = &[
        (&["key", "create", "--tenant", "nope", "--scope", "usage"], "tenant nope not found"),
        (&["tenant", "show", "acme"], "tenant acme not found"),
        (&["tenant", "set-seats", "default", "-3"], "seats must be a whole number, 0 or more"),
        (
            &["room", "delete", "--tenant", "acme", "00000000-0000-0000-0000-000000000000"],
            "tenant acme not found",
        ),
        (&["key", "create", "--tenant", "default", "--scope", "root"], "unknown scope"),
        (
            &["key", "create", "--tenant", "default", "--scope", "usage", "--expires-in", "soon"],
            "invalid duration",
        ),
        (&["tenant", "create", "Bad Slug", "--seats", "1"], "invalid tenant slug"),
        (&["tenant", "create", "default", "--seats", "1"], "already exists"),
        (
            &["key", "revoke", "00000000-0000-0000-0000-000000000000"],
            "API key 00000000-0000-0000-0000-000000000000 not found",
        ),
        (&["tenant", "set-rate-limit", "default", "fast"], "rate limit"),
    ];
    for (args, expected) in cases {
        let out = s.cli(args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    // The same offline, through the store directly.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    assert!(cli_in(&data, &["tenant", "create", "acme", "--seats", "1"]).status.success());
    let out = cli_in(&data, &["tenant", "show", "nope"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("tenant nope not found"));
    // `config show --json`: the settings in force, as JSON.
    let out = cli_in(&data, &["config", "show", "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["listen"], "127.0.0.1:8080", "{shown}");
    // A typo in --data-dir does not silently create a new store.
    let tmp = tempfile::tempdir().unwrap();
    let out = cli_in(&tmp.path().join("typo"), &["tenant", "list"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no store"));
    assert!(!tmp.path().join("typo").exists());
}

#[test]
fn help_reads_well() {
    let out = cli_in(std::path::Path::new("."), &["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["serve", "tenant", "key", "--data-dir", "--json"] {
        assert!(text.contains(word), "{word} missing from --help:\n{text}");
    }
    let out = cli_in(std::path::Path::new("."), &["key", "create", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--expires-in"));
}

/// A stop that comes as soon as the server says it listens (systemd may send one right after
/// READY=1) is a clean shutdown: the handlers exist before the server starts.
#[test]
fn sigterm_right_after_start_is_a_clean_stop() {
    let tmp = tempfile::tempdir().unwrap();
    for round in 0..40 {
        let s = Server::start_in(tmp.path(), &[]);
        assert!(s.stop(), "round {round}: the server did not exit cleanly");
    }
}

/// The bootstrap key's file, emptied (as a power loss could leave an unsynced one): the next
/// start says so and how to make a key; the file is written durably in the first place.
#[test]
fn a_start_says_when_the_bootstrap_keys_file_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let s = crate::harness::Server::start_in(&data, &[]);
    let key = s.root_key();
    assert!(key.starts_with("wh_live_"));
    assert!(s.stop());
    std::fs::write(data.join("initial-api-key"), "").unwrap();
    let s = crate::harness::Server::start_in(&data, &[]);
    assert!(s.stdout.contains("is empty or missing"), "{}", s.stdout);
    assert!(s.stdout.contains("whoot-mgmt key create --tenant default --scope all"));
    assert_eq!(s.get("/me", Some(&key)).status, 200, "the key itself was never lost");
    assert!(s.stop());
    std::fs::remove_file(data.join("initial-api-key")).unwrap();
    let s = crate::harness::Server::start_in(&data, &[]);
    assert!(s.stdout.contains("is empty or missing"), "{}", s.stdout);
    assert!(s.stop());
}

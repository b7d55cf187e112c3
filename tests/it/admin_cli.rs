//! The admin socket's HTTP front: body limits and JSON errors never crash or change anything.

use serde_json::{Value, json};

use crate::harness::Server;

fn post(body: &str) -> Vec<u8> {
    format!(
        "POST /admin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn malformed_oversized_and_unknown_requests_are_4xx() {
    let s = Server::start();
    let bad_json = s.admin_raw(&post("{\"op\": "));
    assert!(bad_json.starts_with("HTTP/1.1 400"), "{bad_json}");
    assert!(bad_json.contains("Invalid JSON body"), "{bad_json}");

    let unknown = s.admin_raw(&post("{\"op\": \"drop-everything\"}"));
    assert!(unknown.starts_with("HTTP/1.1 400"), "{unknown}");

    let huge = format!(
        "{{\"op\":\"tenant-create\",\"slug\":\"x\",\"name\":\"{}\",\"seats\":1}}",
        "a".repeat(100_000)
    );
    let too_big = s.admin_raw(&post(&huge));
    assert!(too_big.starts_with("HTTP/1.1 413"), "{too_big}");
    assert!(too_big.contains("too large"), "{too_big}");

    let wrong_type =
        s.admin_raw(&post("{\"op\":\"tenant-create\",\"slug\":\"x\",\"name\":\"x\",\"seats\":-1}"));
    assert!(wrong_type.starts_with("HTTP/1.1 400"), "{wrong_type}");

    let get = s.admin_raw(b"GET /admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(get.starts_with("HTTP/1.1 404"), "{get}");

    // None of it created anything.
    let tenants = s.cli_json(&["tenant", "list"]);
    assert_eq!(tenants["tenants"].as_array().unwrap().len(), 1);
}

#[test]
fn a_well_formed_request_over_the_socket_works() {
    let s = Server::start();
    let ok = s.admin_raw(&post(
        "{\"op\":\"tenant-create\",\"slug\":\"raw\",\"name\":\"Raw\",\"seats\":2}",
    ));
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert_eq!(s.cli_json(&["tenant", "show", "raw"])["seat_capacity"], 2);
}

#[test]
fn key_list_shows_when_each_key_expires() {
    let s = Server::start();
    let made = s.cli_line("key create --tenant default --scope usage --expires-in 7d");
    let expires = made["expires_at"].as_str().unwrap().to_owned();
    let out = s.cli(&["key", "list", "--tenant", "default"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().next().unwrap().contains("EXPIRES"), "{text}");
    let row = text.lines().find(|l| l.starts_with(made["key_id"].as_str().unwrap())).unwrap();
    assert!(row.contains(&expires), "{row}");
    let bootstrap = text.lines().nth(1).unwrap();
    assert!(bootstrap.contains("never"), "{text}");
}

#[test]
fn json_errors_status_effective_rate_limits_completions_and_man_pages() {
    let (s, key) = Server::keyed();
    // With --json, a failure is JSON on stderr with the API's stable code.
    let out = s.cli(&["--json", "tenant", "show", "nope"]);
    assert!(!out.status.success());
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err, json!({"error": "tenant nope not found", "code": "NOT_FOUND"}));
    // The tenant's effective limit beside its own setting (none: the server default).
    let t = s.cli_line("tenant show default");
    assert_eq!(
        (t["rate_limit_per_minute"].clone(), t["effective_rate_limit_per_minute"].clone()),
        (Value::Null, json!(600))
    );
    let text = String::from_utf8(s.cli(&["tenant", "show", "default"]).stdout).unwrap();
    assert!(text.contains("rate limit: default (600/min)"), "{text}");
    // status, through the running server.
    s.send("POST", "/users", &key, &json!({"email": "st@example.com"}));
    let st = s.cli_line("status");
    assert_eq!(
        (st["server_running"].clone(), st["schema_version"].clone()),
        (json!(true), json!(whoot_mgmt::store::SCHEMA_VERSION))
    );
    assert_eq!((st["tenants"].clone(), st["users"].clone()), (json!(1), json!(1)));
    assert!(st["store_bytes"].as_u64().unwrap() > 0 && st["last_commit_age_ms"].is_u64(), "{st}");
    // Completions for three shells, and a man page per command.
    for shell in ["bash", "zsh", "fish"] {
        let out = s.cli(&["completions", shell]);
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success() && script.contains("tenant") && script.contains("audit"),
            "{shell}"
        );
    }
    let pages = tempfile::tempdir().unwrap();
    assert!(s.cli(&["manpage", "--dir", pages.path().to_str().unwrap()]).status.success());
    for page in ["whoot-mgmt.1", "whoot-mgmt-key-create.1", "whoot-mgmt-audit-list.1"] {
        let roff = std::fs::read_to_string(pages.path().join(page)).unwrap();
        assert!(roff.contains(".TH"), "{page}");
    }
    // The synopsis names the command as it is typed.
    let roff = std::fs::read_to_string(pages.path().join("whoot-mgmt-key-create.1")).unwrap();
    let synopsis = roff.split(".SH SYNOPSIS").nth(1).unwrap().lines().nth(1).unwrap();
    assert!(synopsis.starts_with(r"\fBwhoot\-mgmt key create\fR"), "{synopsis}");
}

#[test]
fn status_reads_a_stopped_store() {
    let dir = tempfile::tempdir().unwrap();
    let made = crate::harness::cli_in(dir.path(), &["tenant", "create", "acme", "--seats", "2"]);
    assert!(made.status.success());
    let st = crate::harness::cli_json_in(dir.path(), &["status"]);
    assert_eq!((st["server_running"].clone(), st["tenants"].clone()), (json!(false), json!(1)));
    assert_eq!(st["last_commit_age_ms"], Value::Null);
}

/// Bash completes past the first word: `whoot-mgmt key <Tab>` offers key's subcommands, in a real
/// bash with the script the package installs.
#[test]
fn bash_completes_subcommands_past_the_first_word() {
    let script = crate::harness::cli_in(std::path::Path::new("."), &["completions", "bash"]);
    assert!(script.status.success());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("whoot-mgmt.bash");
    std::fs::write(&file, &script.stdout).unwrap();
    let complete = |words: &str, cur: &str, prev: &str| -> String {
        let line = format!(
            "source {}; COMP_WORDS=({words} \"{cur}\"); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             _whoot__mgmt whoot-mgmt \"{cur}\" {prev}; echo \"${{COMPREPLY[@]}}\"",
            file.display()
        );
        let out = std::process::Command::new("bash").args(["-c", &line]).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let key = complete("whoot-mgmt key", "", "key");
    for sub in ["create", "list", "revoke", "rotate"] {
        assert!(key.split_whitespace().any(|w| w == sub), "{sub} in {key:?}");
    }
    let tenant = complete("whoot-mgmt tenant", "set", "tenant");
    assert_eq!(
        tenant.split_whitespace().collect::<Vec<_>>(),
        ["set-seats", "set-rate-limit", "set-maintenance", "set-scim-profile"]
    );
}

/// A tenant in maintenance (being moved) refuses provisioning writes with 503 and Retry-After,
/// in both API styles, and serves reads; the setting is the tenant's own and survives a restart.
#[test]
fn a_tenant_in_maintenance_refuses_writes_and_serves_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let s = Server::start_in(&data, &[]);
    let key = s.root_key();
    let made = s.send("POST", "/users", &key, &json!({"email": "before@example.com"}));
    assert_eq!(made.status, 201);
    let t = s.cli_json(&["tenant", "set-maintenance", "default", "on"]);
    assert_eq!(t["maintenance"], true, "{t}");
    let text = String::from_utf8(s.cli(&["tenant", "show", "default"]).stdout).unwrap();
    assert!(text.contains("maintenance: on"), "{text}");
    let check = |s: &Server| {
        let r = s.send("POST", "/users", &key, &json!({"email": "during@example.com"}));
        assert_eq!((r.status, r.header("retry-after")), (503, Some("30")), "{}", r.body);
        assert_eq!(r.json()["code"], "MAINTENANCE");
        let scim = s.send("POST", "/scim/v2/Users", &key, &json!({"userName": "during@x.example"}));
        assert_eq!(scim.status, 503, "{}", scim.body);
        assert_eq!(scim.json()["status"], "503");
        assert_eq!(s.get("/users?limit=10", Some(&key)).status, 200);
        let search =
            s.send("POST", "/scim/v2/Users/.search", &key, &json!({"filter": "userName pr"}));
        assert_eq!(search.status, 200, "a search reads: {}", search.body);
    };
    check(&s);
    assert!(s.stop());
    let s = Server::start_in(&data, &[]);
    check(&s);
    s.cli_json(&["tenant", "set-maintenance", "default", "off"]);
    let r = s.send("POST", "/users", &key, &json!({"email": "after@example.com"}));
    assert_eq!(r.status, 201, "{}", r.body);
    let audit = s.get("/audit-log?after=0&limit=100", Some(&key)).json().to_string();
    assert!(audit.contains("tenant.maintenance_changed"), "{audit}");
    assert!(!s.cli(&["tenant", "set-maintenance", "default", "maybe"]).status.success());
}

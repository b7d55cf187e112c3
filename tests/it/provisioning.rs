//! The provisioning log: entries for the Okta and Entra sequences (client, quirks, operations),
//! failure reasons in an operator's words, Bulk operations linked to their request, who may
//! read what, the per-tenant bound, and no secret in any entry.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{PATCH_OP, Server};
use crate::idp::replay_on;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const OKTA: &str = "Okta SCIM Client 1.0.0";
const ENTRA: &str = "Microsoft Azure Active Directory SCIM Client";

/// Every entry (oldest first), once at least `at_least` are there (failure entries are
/// committed within the flush time).
fn entries(s: &Server, key: &str, query: &str, at_least: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = s.get(&format!("/provisioning-log?limit=1000{query}"), Some(key));
        assert_eq!(r.status, 200, "{}", r.body);
        let list = r.json()["entries"].as_array().unwrap().clone();
        if list.len() >= at_least || Instant::now() > deadline {
            return list;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn as_okta(
    s: &Server,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> crate::harness::Resp {
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
    let headers = [("Content-Type", "application/json"), ("User-Agent", OKTA)];
    s.request_with(method, path, Some(key), bytes.as_deref(), &headers)
}

/// Failed steps of a script (what the log must hold a failed entry for).
fn failed_steps(script: &str) -> usize {
    let v: Value = serde_json::from_str(script).unwrap();
    v["steps"].as_array().unwrap().iter().filter(|s| s["status"].as_u64().unwrap() >= 400).count()
}

#[test]
fn the_okta_sequence_is_logged_with_its_client_and_operations() {
    let (s, key) = Server::keyed();
    let script = include_str!("idp/okta.json");
    replay_on(&s, &key, script, Some(OKTA));
    let failed = failed_steps(script);
    let fails = entries(&s, &key, "&outcome=failed", failed);
    assert_eq!(fails.len(), failed, "{fails:?}");
    let all = entries(&s, &key, "", 1);
    assert!(!all.is_empty());
    for e in &all {
        assert_eq!(
            (e["client"].as_str(), e["client_label"].as_str()),
            (Some("Okta"), Some("okta")),
            "{e}"
        );
        assert_eq!(e["source"], "127.0.0.1", "{e}");
        assert!(e["path"].as_str().unwrap().starts_with("/scim/v2/"), "{e}");
    }
    let operations: Vec<&str> = all.iter().map(|e| e["operation"].as_str().unwrap()).collect();
    assert!(operations.contains(&"create user"), "{operations:?}");
    assert!(operations.iter().any(|o| o.contains("deactivate user")), "{operations:?}");
    assert!(operations.iter().any(|o| o.contains("member")), "{operations:?}");
    // A create names the user and every attribute it set.
    let created = all.iter().find(|e| e["operation"] == "create user").unwrap();
    assert_eq!(created["resource"]["type"], "user");
    assert!(created["resource"]["name"].is_string());
    assert_eq!(created["status"], 201);
    let names: Vec<&str> = created["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"userName") && names.contains(&"active"), "{names:?}");
    // A user's entries, by resource.
    let id = created["resource"]["id"].as_str().unwrap();
    let of_user = entries(&s, &key, &format!("&resource={id}"), 1);
    assert!(of_user.iter().all(|e| e["resource"]["id"] == id));
    assert!(of_user.len() >= 2, "{of_user:?}");
    // Reads are counted, not stored.
    assert!(all.iter().all(|e| !e["operation"].as_str().unwrap().starts_with("list")));
    let metrics = s.get("/metrics", None).body;
    assert!(
        metrics.contains(r#"whoot_provisioning_requests_total{client="okta",operation="list users",outcome="succeeded"}"#),
        "{metrics}"
    );
    // Nothing secret: the key is in no entry, nor in the export.
    let export = s.get("/provisioning-log?format=jsonl&limit=10000", Some(&key));
    assert_eq!(export.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(export.body.lines().count(), all.len());
    let secret_part = key.trim_start_matches("wh_live_");
    for text in [export.body.as_str(), &serde_json::to_string(&all).unwrap()] {
        assert!(!text.contains(secret_part));
    }
}

#[test]
fn the_entra_sequence_names_the_quirks_it_needed() {
    let (s, key) = Server::keyed();
    let script = include_str!("idp/entra.json");
    replay_on(&s, &key, script, Some(ENTRA));
    let failed = failed_steps(script);
    assert_eq!(entries(&s, &key, "&outcome=failed", failed).len(), failed);
    let all = entries(&s, &key, "", 1);
    assert!(all.iter().all(|e| e["client"] == "Microsoft Entra"));
    let quirks: Vec<&str> = all
        .iter()
        .flat_map(|e| e["quirks"].as_array().unwrap().iter().map(|q| q.as_str().unwrap()))
        .collect();
    for q in ["capitalised_op", "string_boolean"] {
        assert!(quirks.contains(&q), "{q} not in {quirks:?}");
    }
    assert_eq!(entries(&s, &key, "&client=entra", 1).len(), all.len());
    assert!(entries(&s, &key, "&client=okta", 0).is_empty());
    let secret_part = key.trim_start_matches("wh_live_");
    assert!(!serde_json::to_string(&all).unwrap().contains(secret_part));
}

#[test]
fn failures_say_why_in_an_operators_words() {
    let (s, key) = Server::keyed();
    let user = |name: &str| json!({"schemas": [USER], "userName": name, "active": true});
    let r = as_okta(&s, "POST", "/scim/v2/Users", &key, Some(&user("alex@x")));
    assert_eq!(r.status, 201);
    let alex = r.json()["id"].as_str().unwrap().to_owned();
    let off = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    assert_eq!(
        as_okta(&s, "PATCH", &format!("/scim/v2/Users/{alex}"), &key, Some(&off)).status,
        200
    );

    // A duplicate userName: who holds it, who created it, that it is deactivated.
    assert_eq!(as_okta(&s, "POST", "/scim/v2/Users", &key, Some(&user("ALEX@x"))).status, 409);
    // If-Match behind the resource's version.
    let r = s.request_with(
        "PUT",
        &format!("/scim/v2/Users/{alex}"),
        Some(&key),
        Some(serde_json::to_vec(&user("alex@x")).unwrap().as_slice()),
        &[("Content-Type", "application/json"), ("If-Match", "W/\"1\""), ("User-Agent", OKTA)],
    );
    assert_eq!(r.status, 412, "{}", r.body);
    // A deactivated member, natively.
    let g = as_okta(
        &s,
        "POST",
        "/scim/v2/Groups",
        &key,
        Some(&json!({"schemas": [GROUP], "displayName": "Ops"})),
    );
    assert_eq!(g.status, 201);
    let room = g.json()["id"].as_str().unwrap().to_owned();
    let r = s.send("POST", &format!("/rooms/{room}/members"), &key, &json!({"user_id": alex}));
    assert_eq!(r.status, 400, "{}", r.body);
    // A full tenant.
    let used = s.get("/usage", Some(&key)).json()["seats_provisioned"].as_u64().unwrap();
    s.cli_json(&["tenant", "set-seats", "default", &used.to_string()]);
    let r = as_okta(&s, "POST", "/scim/v2/Users", &key, Some(&user("bo@x")));
    assert!(r.status >= 400, "{}", r.body);

    let fails = entries(&s, &key, "&outcome=failed", 4);
    let reasons: Vec<&str> = fails.iter().map(|e| e["reason"].as_str().unwrap_or("")).collect();
    let has = |needle: &str| reasons.iter().any(|r| r.contains(needle));
    let today = &jiff::Timestamp::now().to_string()[..10];
    assert!(
        has(&format!(
            "userName alex@x is already used by user {alex} (created by Okta on {today}; deactivated)"
        )),
        "{reasons:#?}"
    );
    assert!(has("If-Match W/\"1\" but the resource is at W/\"2\""), "{reasons:#?}");
    assert!(has(&format!("member {alex} (alex@x) is deactivated")), "{reasons:#?}");
    assert!(
        has(&format!("no free seat: {used} of {used} used")) && has("tenant set-seats"),
        "{reasons:#?}"
    );
    let dup = fails.iter().find(|e| e["status"] == 409).unwrap();
    assert_eq!(
        (dup["code"].as_str(), dup["operation"].as_str()),
        (Some("uniqueness"), Some("create user"))
    );
    assert!(dup["detail"].as_str().unwrap().contains("user name"), "{dup}");
}

#[test]
fn bulk_operations_are_linked_to_their_request() {
    let (s, key) = Server::keyed();
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"schemas": [USER], "userName": "kim"}},
            {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"schemas": [USER], "userName": "kim"}},
        ]
    });
    let r = s.request_with(
        "POST",
        "/scim/v2/Bulk",
        Some(&key),
        Some(&serde_json::to_vec(&body).unwrap()),
        &[
            ("Content-Type", "application/scim+json"),
            ("X-Request-Id", "bulk-42"),
            ("User-Agent", OKTA),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let all = entries(&s, &key, "", 2);
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all.iter().all(|e| e["request_id"] == "bulk-42" && e["path"] == "/scim/v2/Users"));
    let mut ops: Vec<(&str, u64)> = all
        .iter()
        .map(|e| (e["bulk_operation"].as_str().unwrap(), e["status"].as_u64().unwrap()))
        .collect();
    ops.sort();
    assert_eq!(ops, [("bulkId a", 201), ("bulkId b", 409)]);
}

#[test]
fn a_key_without_key_management_reads_only_its_own_entries() {
    let (s, root) = Server::keyed();
    let (scim, scim_id) = s.create_key("default", &["scim:users:read", "scim:users:write"]);
    let user = json!({"schemas": [USER], "userName": "own"});
    assert_eq!(s.send("POST", "/scim/v2/Users", &scim, &user).status, 201);
    assert_eq!(
        s.send("POST", "/scim/v2/Users", &root, &json!({"schemas": [USER], "userName": "other"}))
            .status,
        201
    );
    // Refused a scope: logged against the key.
    assert_eq!(s.get("/rooms", Some(&scim)).status, 403);
    let r = s.get("/provisioning-log", Some(&scim));
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["required_scope"], "api_keys.manage");
    let mine = entries(&s, &scim, "&key=me", 2);
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert!(mine.iter().all(|e| e["key"]["id"] == scim_id.as_str()));
    assert_eq!(mine[1]["code"], "INSUFFICIENT_SCOPE");
    assert!(
        mine[1]["reason"].as_str().unwrap().contains("lacks the scope api:rooms:read"),
        "{}",
        mine[1]
    );
    // The tenant's admin sees both keys' entries, and filters by key.
    assert_eq!(entries(&s, &root, "", 3).len(), 3);
    assert_eq!(entries(&s, &root, &format!("&key={scim_id}"), 2).len(), 2);
    let bad = s.get("/v1/default/provisioning-log?outcome=maybe", Some(&root));
    assert_eq!(bad.status, 400);
    assert_eq!(
        s.get("/v1/default/provisioning-log?since=1h", Some(&root)).json()["entries"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn the_log_is_held_to_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &[]);
    let key = s.root_key();
    for i in 0..8 {
        let user = json!({"schemas": [USER], "userName": format!("u{i}")});
        assert_eq!(s.send("POST", "/scim/v2/Users", &key, &user).status, 201);
    }
    assert_eq!(entries(&s, &key, "", 8).len(), 8);
    assert!(s.stop());
    let s = Server::start_in(dir.path(), &["--provisioning-log-max-entries", "5"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let left = loop {
        let left = entries(&s, &key, "", 0);
        if left.len() <= 5 || Instant::now() > deadline {
            break left;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let names: Vec<&str> = left.iter().map(|e| e["resource"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["u3", "u4", "u5", "u6", "u7"]);
}

#[test]
fn with_the_log_off_nothing_is_recorded() {
    let s = Server::start_args(&["--provisioning-log", "false"]);
    let key = s.root_key();
    assert_eq!(
        s.send("POST", "/scim/v2/Users", &key, &json!({"schemas": [USER], "userName": "x"})).status,
        201
    );
    assert_eq!(
        s.send("POST", "/scim/v2/Users", &key, &json!({"schemas": [USER], "userName": "x"})).status,
        409
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(entries(&s, &key, "", 0).is_empty());
}

#[test]
fn the_cli_reads_the_log_live_and_offline_and_follows_it() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &[]);
    let key = s.root_key();
    let user = json!({"schemas": [USER], "userName": "cli"});
    assert_eq!(as_okta(&s, "POST", "/scim/v2/Users", &key, Some(&user)).status, 201);
    assert_eq!(as_okta(&s, "POST", "/scim/v2/Users", &key, Some(&user)).status, 409);
    entries(&s, &key, "", 2);
    let live =
        s.cli_json(&["provisioning-log", "--tenant", "default", "--failed", "--since", "1h"]);
    let live = live["entries"].as_array().unwrap().clone();
    assert_eq!(live.len(), 1);
    assert!(live[0]["reason"].as_str().unwrap().contains("userName cli is already used"));
    let text = s.cli(&["provisioning-log", "--tenant", "default"]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.contains("create user") && text.contains("Okta") && text.contains("already used"),
        "{text}"
    );

    // --follow prints new entries as they come, one JSON object a line.
    let mut follower = std::process::Command::new(crate::harness::BIN)
        .args(["--json", "provisioning-log", "--tenant", "default", "--follow", "--data-dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follower.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["seq"], 1);
    lines.next().unwrap().unwrap();
    let other = json!({"schemas": [USER], "userName": "later"});
    assert_eq!(as_okta(&s, "POST", "/scim/v2/Users", &key, Some(&other)).status, 201);
    let next: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!((next["seq"].as_u64(), next["resource"]["name"].as_str()), (Some(3), Some("later")));
    follower.kill().unwrap();
    let _ = follower.wait();

    // Offline: read from the store itself.
    assert!(s.stop());
    let offline =
        crate::harness::cli_json_in(dir.path(), &["provisioning-log", "--tenant", "default"]);
    assert_eq!(offline["entries"].as_array().unwrap().len(), 3);
}

//! Upgrades: a store written by schema version 1 (the fixture in tests/fixtures/store-v1) is
//! copied aside and migrated in one transaction when opened; everything in it stays.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::harness::{Server, cli_in, cli_json_in};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/store-v1");

fn copy_fixture(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for name in ["whoot.redb", "initial-api-key"] {
        std::fs::copy(Path::new(FIXTURE).join(name), to.join(name)).unwrap();
    }
}

fn upgrade_backups(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("whoot-schema-v1-"))
        .collect()
}

#[test]
fn a_schema_1_store_is_backed_up_and_migrated_keeping_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_fixture(&data);
    let s = Server::start_in(&data, &[]);
    let key = s.root_key();

    // The store as it was is kept aside, and is itself a restorable (schema 1) backup.
    let backups = upgrade_backups(&data);
    assert_eq!(backups.len(), 1, "{backups:?}");
    let restored = tmp.path().join("restored");
    let out = cli_in(&restored, &["restore", "--from", backups[0].to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Everything the fixture holds is served.
    let users = s.get("/users?limit=10", Some(&key)).json();
    let mut emails: Vec<_> =
        users["users"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
    emails.sort();
    assert_eq!(emails, ["ada@fixture.example", "edsger@fixture.example", "grace@fixture.example"]);
    let edsger = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "edsger@fixture.example")
        .unwrap();
    assert_eq!(edsger["active"], false);
    let rooms = s.get("/rooms", Some(&key)).json();
    let room = &rooms["rooms"][0];
    assert_eq!(
        (room["name"].clone(), room["member_count"].clone()),
        (json!("Trading Floor"), json!(2))
    );
    // Keys from before SCIM profiles follow the tenant's default, compatible (schema 9).
    assert_eq!(s.get("/me", Some(&key)).json()["scim_profile"], "compatible");
    let hooks = s.get("/webhooks", Some(&key)).json();
    let hooks = hooks["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 2);
    let users_hook = hooks.iter().find(|h| h["description"] == "fixture: users").unwrap();
    let paused = hooks.iter().find(|h| h["description"] == "fixture: paused").unwrap();
    assert_eq!(paused["active"], false);
    let uid = users_hook["id"].as_str().unwrap();
    let log = s.get(&format!("/webhooks/{uid}/deliveries"), Some(&key)).json();
    assert_eq!(log["deliveries"][0]["event_type"], "user.deactivated");

    // Events now go by the new subscription index: user.created reaches the registration that
    // subscribed to it, and not the paused one.
    let created = s.send("POST", "/users", &key, &json!({"email": "barbara@fixture.example"}));
    assert_eq!(created.status, 201, "{}", created.body);
    let mut types = Vec::new();
    for _ in 0..100 {
        let log = s.get(&format!("/webhooks/{uid}/deliveries"), Some(&key)).json();
        types = log["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["event_type"].as_str().unwrap().to_owned())
            .collect();
        if types.iter().any(|t| t == "user.created") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(types.iter().any(|t| t == "user.created"), "{types:?}");
    let pid = paused["id"].as_str().unwrap();
    let none = s.get(&format!("/webhooks/{pid}/deliveries"), Some(&key)).json();
    assert_eq!(none["deliveries"].as_array().unwrap().len(), 0);

    // The upgraded store is consistent (the subscription and display-name indexes included); a
    // restart upgrades nothing more.
    assert!(s.stop());
    let report = cli_json_in(&data, &["check"]);
    assert_eq!(report["problems"], json!([]));
    let again = Server::start_in(&data, &[]);
    assert_eq!(again.get("/me", Some(&key)).status, 200);
    assert_eq!(upgrade_backups(&data).len(), 1);
}

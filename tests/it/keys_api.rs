//! `/api-keys` and `/audit-log`: keys managed over HTTP through the same operations as the CLI,
//! no escalation, a revoke refused on the very next request, a secret shown only once, and
//! every admin change in the audit log.

use serde_json::{Value, json};

use crate::harness::Server;

fn entries(s: &Server, key: &str) -> Vec<Value> {
    let r = s.get("/audit-log?limit=1000", Some(key));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["entries"].as_array().unwrap().clone()
}

#[test]
fn create_use_revoke_and_find_it_all_in_the_audit_log() {
    let (s, admin) = Server::keyed();
    let wanted = json!({"description": "Okta SCIM", "scopes": ["scim:users:read", "usage"],
        "expires_in": "30d"});
    let r = s.send("POST", "/v1/default/api-keys", &admin, &wanted);
    assert_eq!(r.status, 201, "{}", r.body);
    let made = r.json();
    let (id, secret) = (made["key_id"].as_str().unwrap(), made["secret"].as_str().unwrap());
    assert_eq!(made["scopes"], json!(["scim:users:read", "usage"]));
    assert_eq!(made["status"], "active");
    assert!(made["expires_at"].is_string());
    // It works, with what it was given and nothing more.
    assert_eq!(s.get("/usage", Some(secret)).status, 200);
    assert_eq!(s.get("/users", Some(secret)).status, 403);
    // Never the secret again: not in the list, not by id, not in the audit log.
    let list = s.get("/api-keys", Some(&admin));
    assert_eq!(list.status, 200);
    let one = s.get(&format!("/api-keys/{id}"), Some(&admin));
    assert_eq!(one.json()["description"], "Okta SCIM");
    assert!(one.json()["last_used_at"].is_string(), "used once: {}", one.body);
    let log = serde_json::to_string(&entries(&s, &admin)).unwrap();
    for body in [&list.body, &one.body, &log] {
        assert!(!body.contains(secret), "{body}");
        assert!(!body.contains("hash"), "{body}");
    }
    assert!(list.json()["keys"].as_array().unwrap().iter().any(|k| k["key_id"] == id));

    // Revoked: refused from the very next request.
    let r = s.request("POST", &format!("/api-keys/{id}/revoke"), Some(&admin), None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "revoked");
    assert_eq!(s.get("/usage", Some(secret)).status, 401);

    let log = entries(&s, &admin);
    let about: Vec<&Value> = log.iter().filter(|e| e["target"] == id).collect();
    let actions: Vec<&str> = about.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["api_key.created", "api_key.revoked"]);
    let me = s.get("/me", Some(&admin)).json();
    assert_eq!(
        about[0]["actor"],
        json!({"key_id": me["key_id"], "description": me["description"]})
    );
    let scopes = about[0]["fields"].as_array().unwrap().iter().find(|f| f["name"] == "scopes");
    assert_eq!(scopes.unwrap()["new"], "scim:users:read usage");
    // The bootstrap and the CLI are in the log too, under their own names.
    assert!(log.iter().any(|e| e["action"] == "tenant.created" && e["actor"] == "system"));
    assert!(s.cli(&["tenant", "set-seats", "default", "7"]).status.success());
    let last = entries(&s, &admin).pop().unwrap();
    assert_eq!(
        (last["action"].clone(), last["actor"].clone()),
        (json!("tenant.seats_changed"), json!("cli"))
    );
    assert_eq!(last["fields"], json!([{"name": "seat_capacity", "old": "100", "new": "7"}]));
    let cli = s.cli_line("audit list --tenant default");
    assert_eq!(cli["entries"].as_array().unwrap().last().unwrap()["seq"], last["seq"]);
    let text = s.cli(&["audit", "list", "--tenant", "default"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("tenant.seats_changed"));
    // Webhook registrations are admin changes too.
    let hook = s.send("POST", "/webhooks", &admin, &json!({"url": "http://127.0.0.1:9/x"})).json();
    let last = entries(&s, &admin).pop().unwrap();
    assert_eq!(
        (last["action"].clone(), last["target"].clone()),
        (json!("webhook.created"), hook["id"].clone())
    );
    assert_eq!(last["actor"]["key_id"], me["key_id"]);
    assert!(!serde_json::to_string(&last).unwrap().contains(hook["secret"].as_str().unwrap()));
    // Paging: after the last seq there is nothing.
    let after = s.get(&format!("/audit-log?after={}", last["seq"]), Some(&admin)).json();
    assert_eq!(after["entries"], json!([]));
}

#[test]
fn no_key_grants_more_than_it_holds_or_outlives_itself() {
    let (s, _) = Server::keyed();
    let made = s.cli_line(
        "key create --tenant default --scope api_keys.manage --scope usage --expires-in 1h",
    );
    let limited = made["secret"].as_str().unwrap().to_owned();
    let r = s.send(
        "POST",
        "/api-keys",
        &limited,
        &json!({"scopes": ["usage", "webhooks", "scim:read"]}),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["code"], "INSUFFICIENT_SCOPE");
    assert_eq!(
        r.json()["lacking_scopes"],
        json!(["scim:users:read", "scim:groups:read", "webhooks"])
    );
    // A longer life than its own is refused; none asked for means its own.
    let r =
        s.send("POST", "/api-keys", &limited, &json!({"scopes": ["usage"], "expires_in": "2h"}));
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.send("POST", "/api-keys", &limited, &json!({"scopes": ["usage"]}));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["expires_at"], made["expires_at"]);
    // Rotating a key with scopes it lacks would hand it a fresh secret for them.
    let (_, wide) = s.create_key("default", &["webhooks"]);
    assert_eq!(
        s.request("POST", &format!("/api-keys/{wide}/rotate"), Some(&limited), None).status,
        403
    );
    // Rotation obeys the same rule: a never-expiring key rotated by the 1 h key gets its 1 h.
    let (_, forever) = s.create_key("default", &["usage"]);
    let r = s.request("POST", &format!("/api-keys/{forever}/rotate"), Some(&limited), None);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["expires_at"], made["expires_at"], "{}", r.body);
    let new_id = r.json()["key_id"].as_str().unwrap().to_owned();
    let stored = s.get(&format!("/api-keys/{new_id}"), Some(&limited)).json();
    assert_eq!(stored["expires_at"], made["expires_at"], "{stored}");
    // Without the scope, none of it.
    let (plain, _) = s.create_key("default", &["usage"]);
    assert_eq!(s.get("/api-keys", Some(&plain)).status, 403);
    assert_eq!(s.get("/audit-log", Some(&plain)).status, 403);
    // Bad input: unknown scopes, a past expiry, both expiry forms.
    for body in [
        json!({"scopes": ["root"]}),
        json!({"scopes": ["usage"], "expires_at": "2001-01-01T00:00:00Z"}),
        json!({"scopes": ["usage"], "expires_in": "1h", "expires_at": "2999-01-01T00:00:00Z"}),
        json!({"description": "no scopes"}),
    ] {
        let r = s.send("POST", "/api-keys", &limited, &body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
    }
}

#[test]
fn rotation_overlaps_and_other_tenants_keys_are_not_found() {
    let (s, admin) = Server::keyed();
    let (old_secret, old) = s.create_key("default", &["usage"]);
    let r =
        s.send("POST", &format!("/api-keys/{old}/rotate"), &admin, &json!({"expire_old_in": "1h"}));
    assert_eq!(r.status, 201, "{}", r.body);
    let new = r.json();
    assert_eq!(
        (new["replaces"].as_str(), new["scopes"].clone()),
        (Some(old.as_str()), json!(["usage"]))
    );
    // Both work during the overlap; the old one now expires by itself.
    assert_eq!(s.get("/usage", Some(new["secret"].as_str().unwrap())).status, 200);
    assert_eq!(s.get("/usage", Some(&old_secret)).status, 200);
    let was = s.get(&format!("/api-keys/{old}"), Some(&admin)).json();
    assert!(was["expires_at"].is_string(), "{was}");
    // Rotating without a body keeps the old key until it is revoked.
    let r = s.request("POST", &format!("/api-keys/{old}/rotate"), Some(&admin), None);
    assert_eq!(r.status, 201, "{}", r.body);
    // Another tenant's key is not there for this tenant.
    s.cli_line("tenant create other --seats 1");
    let (_, theirs) = s.create_key("other", &["usage"]);
    assert_eq!(s.get(&format!("/api-keys/{theirs}"), Some(&admin)).status, 404);
    assert_eq!(
        s.request("POST", &format!("/api-keys/{theirs}/revoke"), Some(&admin), None).status,
        404
    );
    assert_eq!(s.get("/api-keys/not-a-uuid", Some(&admin)).status, 404);
}

/// An expiry that is not in the future is refused (one rule, in `grant::order`); the CLI's
/// durations are positive to begin with.
#[test]
fn an_expiry_in_the_past_is_refused_everywhere() {
    let (s, key) = Server::keyed();
    let r = s.send(
        "POST",
        "/api-keys",
        &key,
        &json!({"scopes": ["usage"], "expires_at": "2020-01-01T00:00:00Z"}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("must be in the future"), "{}", r.body);
    let out =
        s.cli(&["key", "create", "--tenant", "default", "--scope", "usage", "--expires-in", "0s"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("must be positive"), "{said}");
    let keys = s.get("/api-keys", Some(&key)).json();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1, "nothing was made: {keys}");
}

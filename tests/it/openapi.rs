//! The OpenAPI document against the server it describes: every native operation in it is called
//! on a real server, and each answer's status and body must be what the document says (a
//! response schema allows no field it does not name, so a field added to a form without its
//! schema fails here). Errors are checked against the `default` response.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{BIN, Resp, Server};
use crate::receiver::Receiver;

struct Checker {
    doc: Value,
    covered: BTreeSet<(String, String)>,
}

impl Checker {
    /// Checks `resp` (to `method` on a path of `template`) against the document.
    fn check(&mut self, method: &str, template: &str, resp: &Resp) {
        let op = &self.doc["paths"][template][method.to_ascii_lowercase()];
        assert!(op.is_object(), "{method} {template} is not in the document");
        self.covered.insert((method.to_ascii_lowercase(), template.to_owned()));
        let status = resp.status.to_string();
        let (answer, label) = match op["responses"].get(&status) {
            Some(answer) => (answer, status.clone()),
            None => {
                assert!(resp.status >= 400, "{method} {template}: {status} undocumented");
                (&op["responses"]["default"], "default".to_owned())
            }
        };
        let Some(content) = answer.get("content") else {
            assert!(resp.body.is_empty(), "{method} {template}: a body: {}", resp.body);
            return;
        };
        let (media, spec) = content.as_object().unwrap().iter().next().unwrap();
        let sent = resp.header("content-type").unwrap_or_default();
        assert!(sent.starts_with(media.as_str()), "{method} {template}: {sent} is not {media}");
        if media != "application/json" {
            return;
        }
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": spec["schema"]["$ref"].as_str().unwrap_or("#/$defs/any"),
            "$defs": {"any": spec["schema"]},
            "components": self.doc["components"],
        });
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|e| panic!("{method} {template}: schema does not build: {e}"));
        let body = resp.json();
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {template} {label}: {errors:#?}\nbody: {}",
            serde_json::to_string_pretty(&body).unwrap()
        );
    }

    fn operations(&self) -> BTreeSet<(String, String)> {
        let mut all = BTreeSet::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys().filter(|k| *k != "servers") {
                all.insert((method.clone(), path.clone()));
            }
        }
        all
    }
}

#[test]
fn every_operation_answers_as_the_document_says() {
    let (s, key) = Server::keyed();
    let served = s.get("/openapi.json", None);
    assert_eq!(served.status, 200, "no key needed: {}", served.body);
    let doc = served.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let printed = std::process::Command::new(BIN).arg("openapi").output().unwrap();
    assert!(printed.status.success());
    assert_eq!(serde_json::from_slice::<Value>(&printed.stdout).unwrap(), doc, "CLI = served");
    let mut c = Checker { doc, covered: BTreeSet::new() };
    c.check("GET", "/openapi.json", &served);
    let k = Some(key.as_str());

    for path in ["/healthz", "/readyz", "/metrics", "/.well-known/jwks.json"] {
        c.check("GET", path, &s.get(path, None));
    }
    c.check("GET", "/me", &s.get("/me", k));
    c.check("GET", "/usage", &s.get("/v1/default/usage", k));

    // Webhooks first, so the changes below are delivered.
    let rx = Receiver::start();
    let r = s.send("POST", "/webhooks", &key, &json!({"url": rx.url(), "events": ["*"]}));
    c.check("POST", "/webhooks", &r);
    let hook = r.json()["id"].as_str().unwrap().to_owned();
    c.check("GET", "/webhooks", &s.get("/webhooks", k));
    c.check("GET", "/webhooks/{id}", &s.get(&format!("/webhooks/{hook}"), k));
    let r = s.send("PATCH", &format!("/webhooks/{hook}"), &key, &json!({"description": "all"}));
    c.check("PATCH", "/webhooks/{id}", &r);
    let r = s.request("POST", &format!("/webhooks/{hook}/test"), k, None);
    assert_eq!(r.json()["delivered"], true, "{}", r.body);
    c.check("POST", "/webhooks/{id}/test", &r);
    let r =
        s.send("POST", &format!("/webhooks/{hook}/rotate-secret"), &key, &json!({"overlap": "1h"}));
    assert_eq!(r.status, 200, "{}", r.body);
    c.check("POST", "/webhooks/{id}/rotate-secret", &r);
    let r = s.request("POST", &format!("/webhooks/{hook}/end-overlap"), k, None);
    assert_eq!(r.status, 200, "{}", r.body);
    c.check("POST", "/webhooks/{id}/end-overlap", &r);
    let since = json!({"since": "2026-01-01T00:00:00Z"});
    let r = s.send("POST", &format!("/webhooks/{hook}/redeliver-failed"), &key, &since);
    assert_eq!(r.status, 202, "{}", r.body);
    c.check("POST", "/webhooks/{id}/redeliver-failed", &r);

    // Users.
    let r = s.send("POST", "/users", &key, &json!({"email": "ada@example.com"}));
    c.check("POST", "/users", &r);
    let ada = r.json()["user"]["id"].as_str().unwrap().to_owned();
    let r = s.send(
        "POST",
        "/users",
        &key,
        &json!({"email": "bob@example.com",
        "full_name": "Bob B", "roles": ["editor"], "active": "True"}),
    );
    c.check("POST", "/users", &r);
    let bob = r.json()["user"]["id"].as_str().unwrap().to_owned();
    c.check("GET", "/users", &s.get("/users?limit=1", k));
    c.check("GET", "/users", &s.get("/users?offset=1", k));
    c.check("GET", "/users/{id}", &s.get(&format!("/users/{ada}"), k));
    let r = s.send(
        "PUT",
        &format!("/users/{ada}"),
        &key,
        &json!({"email": "ada@example.com", "given_name": "Ada", "family_name": "L"}),
    );
    c.check("PUT", "/users/{id}", &r);
    let r = s.send("PATCH", &format!("/users/{ada}"), &key, &json!({"external_id": "00u1"}));
    c.check("PATCH", "/users/{id}", &r);

    // Rooms, under both names.
    for base in ["/rooms", "/channels"] {
        let room = s.cli_line(&format!("room create --tenant default Hangar{}", &base[1..]));
        let room = room["id"].as_str().unwrap().to_owned();
        let one = format!("{base}/{room}");
        let members = format!("{one}/members");
        let t = |rest: &str| format!("{base}{rest}");
        c.check("GET", base, &s.get(base, k));
        c.check("GET", &t("/{id}"), &s.get(&one, k));
        let r = s.send(
            "PATCH",
            &one,
            &key,
            &json!({"display_name": "Hangar 2",
            "external_id": format!("ext-{base}")}),
        );
        c.check("PATCH", &t("/{id}"), &r);
        let r = s.send("POST", &members, &key, &json!({"user_id": ada, "tx_permission": true}));
        assert_eq!(r.status, 201, "{}", r.body);
        c.check("POST", &t("/{id}/members"), &r);
        let r = s.send("POST", &members, &key, &json!({"user_id": ada, "tx_permission": "false"}));
        assert_eq!(r.status, 200, "{}", r.body);
        c.check("POST", &t("/{id}/members"), &r);
        c.check("GET", &t("/{id}/members"), &s.get(&format!("{members}?limit=1"), k));
        let r = s.send(
            "PUT",
            &members,
            &key,
            &json!({"members": [{"user_id": ada},
            {"user_id": bob, "tx_permission": true}]}),
        );
        c.check("PUT", &t("/{id}/members"), &r);
        let cursor = s.get(&format!("{members}?limit=1"), k).json()["next_cursor"].clone();
        let r = s.get(&format!("{members}?cursor={}", cursor.as_str().unwrap()), k);
        c.check("GET", &t("/{id}/members"), &r);
        let r = s.get(&format!("{members}/{ada}"), k);
        assert_eq!(r.status, 200, "{}", r.body);
        c.check("GET", &t("/{id}/members/{user}"), &r);
        let r = s.send("DELETE", &members, &key, &json!({"user_id": bob}));
        c.check("DELETE", &t("/{id}/members"), &r);
        let r = s.request("DELETE", &format!("{members}/{ada}"), k, None);
        c.check("DELETE", &t("/{id}/members/{user}"), &r);
        c.check("DELETE", &t("/{id}"), &s.request("DELETE", &one, k, None));
    }

    // The change stream, and a delivery of it to redeliver.
    c.check("GET", "/events", &s.get("/events?after=0&limit=5", k));

    // SET receivers, pushed and polled.
    let r = s.send("POST", "/event-receivers", &key, &json!({"url": rx.url(), "format": "full"}));
    c.check("POST", "/event-receivers", &r);
    let pushed = r.json()["id"].as_str().unwrap().to_owned();
    let r = s.send("POST", "/event-receivers", &key, &json!({"delivery": "poll"}));
    c.check("POST", "/event-receivers", &r);
    c.check("GET", "/event-receivers", &s.get("/event-receivers", k));
    let one = format!("/event-receivers/{pushed}");
    c.check("GET", "/event-receivers/{id}", &s.get(&one, k));
    let r = s.send("PATCH", &one, &key, &json!({"events": ["prov:create"], "format": "notice"}));
    c.check("PATCH", "/event-receivers/{id}", &r);
    c.check("GET", "/event-receivers/{id}/deliveries", &s.get(&format!("{one}/deliveries"), k));
    let r = s.send("POST", "/events/poll", &key, &json!({"returnImmediately": true}));
    c.check("POST", "/events/poll", &r);
    c.check("DELETE", "/event-receivers/{id}", &s.request("DELETE", &one, k, None));
    rx.wait_for(10, "a user event", |got| got.iter().any(|r| r.json()["type"] == "user.created"));
    let r = s.get(&format!("/webhooks/{hook}/deliveries?limit=10"), k);
    c.check("GET", "/webhooks/{id}/deliveries", &r);
    let delivery = r.json()["deliveries"][0]["id"].as_str().unwrap().to_owned();
    let r =
        s.request("POST", &format!("/webhooks/{hook}/deliveries/{delivery}/redeliver"), k, None);
    c.check("POST", "/webhooks/{id}/deliveries/{delivery}/redeliver", &r);

    // Keys and the audit log.
    let wanted = json!({"description": "Okta", "scopes": ["usage"], "expires_in": "30d"});
    let r = s.send("POST", "/api-keys", &key, &wanted);
    c.check("POST", "/api-keys", &r);
    let made = r.json()["key_id"].as_str().unwrap().to_owned();
    c.check("GET", "/api-keys", &s.get("/api-keys", k));
    c.check("GET", "/api-keys/{id}", &s.get(&format!("/api-keys/{made}"), k));
    let r = s.send("PATCH", &format!("/api-keys/{made}"), &key, &json!({"scim_profile": "strict"}));
    assert_eq!(r.status, 200, "{}", r.body);
    c.check("PATCH", "/api-keys/{id}", &r);
    let r =
        s.send("POST", &format!("/api-keys/{made}/rotate"), &key, &json!({"expire_old_in": "1h"}));
    c.check("POST", "/api-keys/{id}/rotate", &r);
    let next = r.json()["key_id"].as_str().unwrap().to_owned();
    let r = s.request("POST", &format!("/api-keys/{next}/rotate"), k, None);
    c.check("POST", "/api-keys/{id}/rotate", &r);
    let r = s.request("POST", &format!("/api-keys/{made}/revoke"), k, None);
    c.check("POST", "/api-keys/{id}/revoke", &r);
    c.check("GET", "/audit-log", &s.get("/audit-log?after=0&limit=100", k));
    c.check("GET", "/provisioning-log", &s.get("/provisioning-log?outcome=failed&since=1h", k));

    let r = s.request("DELETE", &format!("/users/{bob}"), k, None);
    c.check("DELETE", "/users/{id}", &r);
    c.check(
        "DELETE",
        "/webhooks/{id}",
        &s.request("DELETE", &format!("/webhooks/{hook}"), k, None),
    );

    // Errors take the `default` response's shape.
    let nobody = Uuid::new_v4();
    for (method, template, path, body) in [
        ("GET", "/users/{id}", format!("/users/{nobody}"), None),
        ("POST", "/users", "/users".to_owned(), Some(json!({"user_name": "no-email"}))),
        ("GET", "/users", "/users?limit=ten".to_owned(), None),
        ("POST", "/api-keys", "/api-keys".to_owned(), Some(json!({"scopes": ["nope"]}))),
        ("GET", "/webhooks/{id}", format!("/webhooks/{nobody}"), None),
    ] {
        let r = match body {
            Some(body) => s.send(method, &path, &key, &body),
            None => s.request(method, &path, k, None),
        };
        assert!(r.status >= 400, "{method} {path}: {}", r.body);
        c.check(method, template, &r);
    }
    let r = s.get("/users", None);
    assert_eq!(r.status, 401);
    c.check("GET", "/users", &r);

    let missing: Vec<_> = c.operations().difference(&c.covered).cloned().collect();
    assert!(missing.is_empty(), "operations in the document this test never called: {missing:?}");
}

/// The checker fails on a form that strays from its schema (so the test above can fail).
#[test]
fn a_field_the_schema_does_not_name_fails_the_check() {
    let (s, key) = Server::keyed();
    let mut c = Checker { doc: s.get("/openapi.json", None).json(), covered: BTreeSet::new() };
    let mut me = s.get("/me", Some(&key));
    me.body = me.body.replacen('{', r#"{"surprise":1,"#, 1);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        c.check("GET", "/me", &me);
    }));
    assert!(caught.is_err(), "an undocumented field passed");
}

/// The document's `webhooks` section names every event type, and every event the server
/// makes matches its entry: each type made for real, read from the feed (full) and from a
/// thin registration's deliveries, checked by a JSON Schema validator.
#[test]
fn every_event_matches_the_event_catalog() {
    let (s, key) = Server::keyed();
    let doc = s.get("/openapi.json", None).json();
    let catalog = doc["webhooks"].as_object().unwrap().clone();
    let rx = crate::receiver::Receiver::start();
    let thin = s.send("POST", "/webhooks", &key, &json!({"url": rx.url(), "payload": "thin"}));
    assert_eq!(thin.status, 201, "{}", thin.body);

    // Every event type, made.
    s.cli_json(&["tenant", "set-seats", "default", "2"]);
    let user = |email: &str| {
        let r = s.send("POST", "/users", &key, &json!({"email": email}));
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()["user"]["id"].as_str().unwrap().to_owned()
    };
    let (a, b) = (user("a@catalog.example"), user("b@catalog.example"));
    assert_eq!(s.send("POST", "/users", &key, &json!({"email": "c@catalog.example"})).status, 403);
    s.send("PATCH", &format!("/users/{a}"), &key, &json!({"full_name": "A"}));
    s.send("PATCH", &format!("/users/{b}"), &key, &json!({"active": false}));
    s.send("PATCH", &format!("/users/{b}"), &key, &json!({"active": true}));
    let room = s.cli_json(&["room", "create", "--tenant", "default", "Catalog"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let members = format!("/rooms/{room}/members");
    s.send("POST", &members, &key, &json!({"user_id": a}));
    s.send("POST", &members, &key, &json!({"user_id": a, "tx_permission": true}));
    s.send("PUT", &members, &key, &json!({"members": [{"user_id": b}]}));
    s.request("DELETE", &format!("{members}/{b}"), Some(&key), None);
    s.send("PATCH", &format!("/rooms/{room}"), &key, &json!({"external_id": "catalog"}));
    s.request("DELETE", &format!("/rooms/{room}"), Some(&key), None);
    s.cli_json(&["room", "delete", "--tenant", "default", &room]);
    s.request("DELETE", &format!("/scim/v2/Users/{a}"), Some(&key), None);
    let later = [("Prefer", "respond-async")];
    let r = s.request_with("DELETE", &format!("/scim/v2/Users/{a}"), Some(&key), None, &later);
    assert_eq!(r.status, 202, "{}", r.body);

    // The asynchronous request's outcome comes a moment after its answer.
    let mut feed = s.get("/events?after=0&limit=1000", Some(&key)).json();
    for _ in 0..100 {
        if feed["events"].as_array().unwrap().iter().any(|e| e["type"] == "scim.async_response") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        feed = s.get("/events?after=0&limit=1000", Some(&key)).json();
    }
    let events = feed["events"].as_array().unwrap().clone();
    let made: BTreeSet<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let listed: BTreeSet<&str> = catalog.keys().map(String::as_str).collect();
    assert_eq!(made, listed, "every type made, and the catalog names each");
    let deliveries = rx.wait_for(10, "the thin deliveries", |g| g.len() >= events.len());

    let check = |event: &Value, how: &str| {
        let event_type = event["type"].as_str().unwrap();
        let body = &catalog[event_type]["post"]["requestBody"]["content"]["application/json"];
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": "#/$defs/body",
            "$defs": {"body": body["schema"]},
            "components": doc["components"],
        });
        let validator = jsonschema::options().should_validate_formats(true).build(&schema).unwrap();
        let errors: Vec<String> = validator.iter_errors(event).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{how} {event_type}: {errors:#?}\n{event}");
    };
    for e in &events {
        check(e, "feed");
    }
    for d in &deliveries {
        let body = d.json();
        check(&body, "thin delivery");
        if body["type"].as_str().is_some_and(|t| t.starts_with("user.")) {
            assert!(body["data"].get("email").is_none(), "thin: {body}");
        }
    }
    eprintln!(
        "{} event types; {} events and {} thin deliveries checked",
        listed.len(),
        events.len(),
        deliveries.len()
    );
}

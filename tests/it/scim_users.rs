//! SCIM Users: the RFC 7644 operations, meta and ETags, soft delete, owner protection, roles.

use serde_json::{Value, json};

use crate::harness::{Resp, Server};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

pub fn create(s: &Server, key: &str, body: Value) -> Value {
    let r = s.send("POST", "/scim/v2/Users", key, &body);
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

fn patch(s: &Server, key: &str, id: &str, ops: Value) -> Resp {
    s.scim_patch(&format!("/scim/v2/Users/{id}"), key, json!(ops))
}

#[test]
fn create_answers_201_with_location_meta_and_etag() {
    let (s, key) = Server::keyed();
    let body = json!({"schemas": [USER], "externalId": "00u123", "userName": "alex@example.com", "active": true,
        "name": {"formatted": "Alex Morgan"}, "emails": [{"value": "alex@example.com", "primary": true}]});
    let r = s.send("POST", "/v1/default/scim/v2/Users", &key, &body);
    assert_eq!(r.status, 201);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    let u = r.json();
    let id = u["id"].as_str().unwrap();
    let location = format!("http://{}/v1/default/scim/v2/Users/{id}", s.addr);
    assert_eq!(r.header("location"), Some(location.as_str()));
    assert_eq!(u["meta"]["location"], location.as_str());
    assert_eq!(u["meta"]["resourceType"], "User");
    assert_eq!(u["meta"]["version"], "W/\"1\"");
    assert_eq!(r.header("etag"), Some("W/\"1\""));
    assert_eq!(u["meta"]["created"], u["meta"]["lastModified"]);
    assert_eq!(u["schemas"], json!([USER]));
    assert_eq!(u["userName"], "alex@example.com");
    assert_eq!(u["externalId"], "00u123");
    assert_eq!(u["name"]["formatted"], "Alex Morgan");
    assert_eq!(u["emails"], json!([{"value": "alex@example.com", "primary": true}]));
    assert_eq!(u["roles"], json!([{"value": "member"}]));
    // At the root, locations use the root form.
    let got = s.get(&format!("/scim/v2/Users/{id}"), Some(&key)).json();
    assert_eq!(got["meta"]["location"], format!("http://{}/scim/v2/Users/{id}", s.addr));
}

#[test]
fn public_url_drives_locations() {
    let s = Server::start_args(&["--public-url", "https://idm.example.com/"]);
    let key = s.root_key();
    let r =
        s.send("POST", "/v1/default/scim/v2/Users", &key, &json!({"userName": "p@example.com"}));
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let expected = format!("https://idm.example.com/v1/default/scim/v2/Users/{id}");
    assert_eq!(r.header("location"), Some(expected.as_str()));
    assert_eq!(r.json()["meta"]["location"], expected.as_str());
}

#[test]
fn get_by_id_or_external_id_and_put() {
    let (s, key) = Server::keyed();
    let u = create(&s, &key, json!({"userName": "bo@example.com", "externalId": "okta|00u 9"}));
    let id = u["id"].as_str().unwrap();
    assert_eq!(s.get(&format!("/scim/v2/Users/{id}"), Some(&key)).json()["id"], id);
    let by_ext = s.get("/scim/v2/Users/okta%7C00u%209", Some(&key));
    assert_eq!(by_ext.status, 200);
    assert_eq!(by_ext.json()["id"], id);
    assert_eq!(s.get("/scim/v2/Users/nobody", Some(&key)).status, 404);

    let put = s.send("PUT", "/scim/v2/Users/okta%7C00u%209", &key, &json!({"schemas": [USER],
        "userName": "bo@example.com", "externalId": "okta|00u 9", "name": {"givenName": "Bo", "familyName": "Li"},
        "emails": [{"value": "bo@work.example.com", "type": "work", "primary": true}], "active": true, "title": "Lead"}));
    assert_eq!(put.status, 200, "{}", put.body);
    let p = put.json();
    // No formatted name sent: it is derived from the parts.
    assert_eq!(p["name"], json!({"formatted": "Bo Li", "familyName": "Li", "givenName": "Bo"}));
    assert_eq!(p["title"], "Lead");
    assert_eq!(p["meta"]["version"], "W/\"2\"");
    // Attributes a PUT omits are gone.
    let put2 = s.send(
        "PUT",
        &format!("/scim/v2/Users/{id}"),
        &key,
        &json!({"userName": "bo@example.com"}),
    );
    let p2 = put2.json();
    assert!(
        p2.get("title").is_none() && p2.get("name").is_none() && p2.get("externalId").is_none()
    );
}

#[test]
fn etags_and_if_match() {
    let (s, key) = Server::keyed();
    let u = create(&s, &key, json!({"userName": "e@example.com"}));
    let id = u["id"].as_str().unwrap();
    let path = format!("/scim/v2/Users/{id}");
    let get = s.get(&path, Some(&key));
    assert_eq!(get.header("etag"), Some("W/\"1\""));
    let body = serde_json::to_vec(&json!({"userName": "e@example.com", "title": "One"})).unwrap();
    let put = |if_match: &str| {
        let headers = [("If-Match", if_match), ("Content-Type", "application/json")];
        s.request_with("PUT", &path, Some(&key), Some(&body), &headers)
    };
    let ok = put("W/\"1\"");
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("etag"), Some("W/\"2\""));
    let stale = put("W/\"1\"");
    assert_eq!(stale.status, 412);
    assert_eq!(stale.json()["status"], "412");
    let any = put("*");
    assert_eq!(any.status, 200);
    assert_eq!(
        any.header("etag"),
        Some("W/\"2\""),
        "an identical PUT changes nothing, not even the version"
    );
    let del = s.request_with("DELETE", &path, Some(&key), None, &[("If-Match", "W/\"7\"")]);
    assert_eq!(del.status, 412);
    assert_eq!(s.get(&path, Some(&key)).status, 200);
}

#[test]
fn patch_shapes_from_okta_and_entra() {
    let (s, key) = Server::keyed();
    let body = json!({"userName": "p@example.com", "name": {"givenName": "P"},
        "emails": [{"value": "p@example.com", "type": "work", "primary": true}]});
    let u = create(&s, &key, body);
    let id = u["id"].as_str().unwrap();
    let r = patch(
        &s,
        &key,
        id,
        json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "p2@example.com"},
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"},
            {"op": "replace", "path": "name.familyName", "value": "Q"},
            {"op": "add", "value": {"title": "CTO", "displayName": "P Q", "nonsense": 1,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Ops"}},
            {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": {"value": "m-1"}},
            {"op": "replace", "path": "roles", "value": [{"value": "editor"}]},
        ]),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let p = r.json();
    assert_eq!(p["emails"][0]["value"], "p2@example.com");
    assert_eq!(p["phoneNumbers"], json!([{"type": "mobile", "value": "+1 555 0100"}]));
    assert_eq!(p["name"]["familyName"], "Q");
    assert_eq!(p["displayName"], "P Q");
    assert!(p["name"].get("formatted").is_none(), "displayName is its own attribute");
    let native = s.get(&format!("/users/{id}"), Some(&key)).json();
    assert_eq!(native["user"]["full_name"], "P Q", "the native name falls back to displayName");
    assert_eq!(p["title"], "CTO");
    assert_eq!(p[ENTERPRISE]["department"], "Ops");
    assert_eq!(p[ENTERPRISE]["manager"], json!({"value": "m-1"}));
    assert_eq!(p["roles"], json!([{"value": "editor"}]));
    assert!(p.get("nonsense").is_none());
    assert_eq!(p["schemas"], json!([USER, ENTERPRISE]));
    // The primary email moved, so the email index did too.
    let found =
        s.get("/scim/v2/Users?filter=emails%20eq%20%22P2@example.com%22", Some(&key)).json();
    assert_eq!(found["totalResults"], 1);
    // Manager as a plain string (Entra), then removal.
    let r = patch(
        &s,
        &key,
        id,
        json!([{"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m-2"}]),
    );
    assert_eq!(r.json()[ENTERPRISE]["manager"], json!({"value": "m-2"}));
    let r = patch(
        &s,
        &key,
        id,
        json!([{"op": "remove", "path": "title"}, {"op": "remove", "path": "phoneNumbers[type eq \"mobile\"]"}]),
    );
    assert!(r.json().get("title").is_none() && r.json().get("phoneNumbers").is_none());
    // Deactivate the Okta way: no path, string boolean.
    let r = patch(&s, &key, id, json!([{"op": "replace", "value": {"active": "False"}}]));
    assert_eq!(r.json()["active"], false);
    assert_eq!(s.get("/usage", Some(&key)).json()["seats_provisioned"], 0);
    // Errors: no path on remove, a bad path, an unknown op, a bad value.
    for (ops, scim_type) in [
        (json!([{"op": "remove"}]), "noTarget"),
        (json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]), "invalidPath"),
        (json!([{"op": "copy", "path": "title"}]), "invalidSyntax"),
    ] {
        let r = patch(&s, &key, id, ops.clone());
        assert_eq!(r.status, 400, "{ops}");
        assert_eq!(r.json()["scimType"], scim_type, "{ops}");
    }
    let r = patch(&s, &key, id, json!([{"op": "replace", "path": "active", "value": "perhaps"}]));
    assert_eq!(r.status, 400);
    assert_eq!(
        s.get(&format!("/scim/v2/Users/{id}"), Some(&key)).json()["active"],
        false,
        "unchanged"
    );
}

#[test]
fn delete_is_soft_and_frees_unique_values() {
    let (s, key) = Server::keyed();
    let body = json!({"userName": "gone@example.com", "externalId": "x-1", "emails": [{"value": "gone@example.com", "primary": true}]});
    let u = create(&s, &key, body.clone());
    let id = u["id"].as_str().unwrap().to_owned();
    assert_eq!(s.get("/usage", Some(&key)).json()["seats_provisioned"], 1);
    assert_eq!(s.request("DELETE", &format!("/scim/v2/Users/{id}"), Some(&key), None).status, 204);
    assert_eq!(s.get("/usage", Some(&key)).json()["seats_provisioned"], 0);
    for (method, path) in [
        ("GET", format!("/scim/v2/Users/{id}")),
        ("GET", "/scim/v2/Users/x-1".to_owned()),
        ("DELETE", format!("/scim/v2/Users/{id}")),
        ("GET", format!("/users/{id}")),
    ] {
        assert_eq!(s.request(method, &path, Some(&key), None).status, 404, "{method} {path}");
    }
    let r = patch(&s, &key, &id, json!([{"op": "replace", "path": "active", "value": true}]));
    assert_eq!(r.status, 404);
    assert_eq!(s.get("/scim/v2/Users", Some(&key)).json()["totalResults"], 0);
    // The IdP re-creates the person: the unique values are free.
    let again = create(&s, &key, body);
    assert_ne!(again["id"], id.as_str());
    // The record is kept for the admin.
    let deleted = s.cli_line("user list --tenant default --deleted");
    assert_eq!(deleted["users"][0]["id"], id.as_str());
    assert!(deleted["users"][0]["deleted_at"].is_string());
    assert_eq!(deleted["users"][0]["active"], false);
}

#[test]
fn the_account_owner_cannot_be_deactivated_or_deleted() {
    let (s, key) = Server::keyed();
    let u = create(&s, &key, json!({"userName": "owner@example.com", "externalId": "own"}));
    let id = u["id"].as_str().unwrap().to_owned();
    let t = s.cli_json(&["user", "set-owner", "--tenant", "default", &id]);
    assert_eq!(t["owner_user_id"], id.as_str());
    let attempts = [
        patch(&s, &key, &id, json!([{"op": "replace", "path": "active", "value": false}])),
        s.send(
            "PUT",
            &format!("/scim/v2/Users/{id}"),
            &key,
            &json!({"userName": "owner@example.com", "active": false}),
        ),
        s.request("DELETE", &format!("/scim/v2/Users/{id}"), Some(&key), None),
        s.request("DELETE", &format!("/users/{id}"), Some(&key), None),
        s.send("PATCH", &format!("/users/{id}"), &key, &json!({"active": false})),
    ];
    for r in attempts {
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.body.contains("account owner"), "{}", r.body);
    }
    assert_eq!(s.get(&format!("/scim/v2/Users/{id}"), Some(&key)).json()["active"], true);
    // Other changes to the owner are fine.
    let r = patch(&s, &key, &id, json!([{"op": "replace", "path": "title", "value": "Founder"}]));
    assert_eq!(r.status, 200);
    // An unknown user cannot become owner.
    let out = s.cli(&[
        "user",
        "set-owner",
        "--tenant",
        "default",
        "00000000-0000-0000-0000-000000000000",
    ]);
    assert!(!out.status.success());
}

#[test]
fn roles_accept_every_form() {
    let (s, key) = Server::keyed();
    let cases = [
        (json!({"admin": true}), json!([{"value": "admin"}])),
        (
            json!({"admin": true, "member": true, "editor": false}),
            json!([{"value": "admin"}, {"value": "member"}]),
        ),
        (json!(["editor"]), json!([{"value": "editor"}])),
        (
            json!([{"value": "member"}, {"value": "editor", "primary": true}]),
            json!([{"value": "member"}, {"value": "editor"}]),
        ),
        (json!(null), json!([{"value": "member"}])),
    ];
    for (i, (roles, expected)) in cases.into_iter().enumerate() {
        let u = create(&s, &key, json!({"userName": format!("r{i}@example.com"), "roles": roles}));
        assert_eq!(u["roles"], expected, "case {i}");
    }
    let native = s.send(
        "POST",
        "/users",
        &key,
        &json!({"email": "n@example.com", "roles": {"editor": true}}),
    );
    assert_eq!(
        native.json()["user"]["roles"],
        json!({"admin": false, "member": false, "editor": true})
    );
    let bad = s.send(
        "POST",
        "/scim/v2/Users",
        &key,
        &json!({"userName": "bad@example.com", "roles": ["root"]}),
    );
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["scimType"], "invalidValue");
}

#[test]
fn uniqueness_is_409_with_scim_type() {
    let (s, key) = Server::keyed();
    create(&s, &key, json!({"userName": "u@example.com", "externalId": "e"}));
    for body in [
        json!({"userName": "U@EXAMPLE.COM"}),
        json!({"userName": "v@example.com", "externalId": "e"}),
    ] {
        let r = s.send("POST", "/scim/v2/Users", &key, &body);
        assert_eq!(r.status, 409, "{body}");
        assert_eq!(r.json()["scimType"], "uniqueness");
        assert_eq!(r.json()["status"], "409");
    }
    let missing = s.send("POST", "/scim/v2/Users", &key, &json!({"active": true}));
    assert_eq!(missing.status, 400);
    let from_email =
        create(&s, &key, json!({"emails": [{"value": "only@example.com", "primary": true}]}));
    assert_eq!(from_email["userName"], "only@example.com");
}

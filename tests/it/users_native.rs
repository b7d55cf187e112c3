//! The native user API: shapes of `001_…`/`002_…`, validation, conflicts, soft delete.

use serde_json::json;

use crate::harness::Server;

#[test]
fn create_get_list_update_and_deactivate() {
    let (s, key) = Server::keyed();
    let r = s.send(
        "POST",
        "/v1/default/users",
        &key,
        &json!({"email": "alex@example.com", "full_name": "Alex Morgan", "external_id": "hris-123", "active": true}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let u = r.json()["user"].clone();
    let id = u["id"].as_str().unwrap().to_owned();
    assert_eq!(u["email"], "alex@example.com");
    assert_eq!(u["full_name"], "Alex Morgan");
    assert_eq!(u["display_name"], "Alex Morgan");
    assert_eq!(u["external_id"], "hris-123");
    assert_eq!(u["active"], true);
    assert_eq!(u["roles"], json!({"admin": false, "member": true, "editor": false}));
    assert!(u["created_at"].as_str().unwrap().ends_with('Z'));

    let got = s.get(&format!("/users/{id}"), Some(&key));
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["user"], u);

    let list = s.get("/users?limit=20&offset=0", Some(&key)).json();
    assert_eq!(list["total"], 1);
    assert_eq!(list["limit"], 20);
    assert_eq!(list["offset"], 0);
    assert_eq!(list["users"][0]["id"], id.as_str());

    let patched = s.send(
        "PATCH",
        &format!("/users/{id}"),
        &key,
        &json!({"display_name": "Alex M.", "roles": ["admin", "member"]}),
    );
    assert_eq!(patched.status, 200, "{}", patched.body);
    let p = patched.json()["user"].clone();
    assert_eq!(p["full_name"], "Alex M.");
    assert_eq!(p["email"], "alex@example.com", "PATCH leaves other fields alone");
    assert_eq!(p["roles"], json!({"admin": true, "member": true, "editor": false}));

    let replaced =
        s.send("PUT", &format!("/users/{id}"), &key, &json!({"email": "alex@new.example.com"}));
    assert_eq!(replaced.status, 200);
    let p = replaced.json()["user"].clone();
    assert_eq!(p["email"], "alex@new.example.com");
    assert_eq!(p["full_name"], json!(null), "PUT replaces: omitted fields are cleared");
    assert_eq!(p["roles"], json!({"admin": false, "member": true, "editor": false}));

    assert_eq!(s.get("/usage", Some(&key)).json()["seats_provisioned"], 1);
    let del = s.request("DELETE", &format!("/users/{id}"), Some(&key), None);
    assert_eq!(del.status, 204);
    let after = s.get(&format!("/users/{id}"), Some(&key)).json();
    assert_eq!(after["user"]["active"], false, "soft: the user stays, inactive");
    assert_eq!(s.get("/usage", Some(&key)).json()["seats_provisioned"], 0);
    // Reactivating takes the seat again.
    let back = s.send("PATCH", &format!("/users/{id}"), &key, &json!({"active": "true"}));
    assert_eq!(back.json()["user"]["active"], true);
    assert_eq!(s.get("/usage", Some(&key)).json()["seats_provisioned"], 1);
}

#[test]
fn pagination_is_exact_and_ordered() {
    let (s, key) = Server::keyed();
    for i in 0..5 {
        let r = s.send("POST", "/users", &key, &json!({"email": format!("u{i}@example.com")}));
        assert_eq!(r.status, 201);
    }
    let page = s.get("/users?limit=2&offset=1", Some(&key)).json();
    assert_eq!(page["total"], 5);
    let emails: Vec<&str> =
        page["users"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["u1@example.com", "u2@example.com"]);
    let beyond = s.get("/users?offset=10", Some(&key)).json();
    assert_eq!(beyond["users"], json!([]));
    assert_eq!(beyond["total"], 5);
    assert_eq!(s.get("/users?limit=100000", Some(&key)).json()["limit"], 1000, "limit is capped");
    assert_eq!(s.get("/users?limit=abc", Some(&key)).status, 400);
    assert_eq!(s.get("/users?offset=-1", Some(&key)).status, 400);
}

#[test]
fn bad_input_is_a_clear_4xx_and_changes_nothing() {
    let s = Server::start_args(&["--max-body-bytes", "2000"]);
    let key = s.root_key();
    let cases = [
        (json!({"full_name": "No Email"}), "email is required"),
        (json!({"email": "not-an-email"}), "not a valid address"),
        (json!({"email": "a@b.c", "roles": ["owner"]}), "unknown role"),
        (json!({"email": "a@b.c", "roles": 5}), "roles must be"),
        (json!({"email": "a@b.c", "active": "sometimes"}), "active must be"),
        (json!({"email": "a@b.c", "full_name": 12}), "full_name must be"),
        (json!(["email"]), "JSON object"),
    ];
    for (body, message) in cases {
        let r = s.send("POST", "/users", &key, &body);
        assert_eq!(r.status, 400, "{body}");
        assert!(r.json()["error"].as_str().unwrap().contains(message), "{body}: {}", r.body);
    }
    let malformed = s.send_raw("POST", "/users", &key, b"{\"email\": ");
    assert_eq!(malformed.status, 400);
    assert!(malformed.json()["error"].as_str().unwrap().starts_with("Invalid JSON body"));
    let empty = s.send_raw("POST", "/users", &key, b"");
    assert_eq!(empty.status, 400);
    let big = json!({"email": "a@b.c", "full_name": "x".repeat(5000)});
    let r = s.send("POST", "/users", &key, &big);
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["code"], "PAYLOAD_TOO_LARGE");
    let text = s.request_with(
        "POST",
        "/users",
        Some(&key),
        Some(b"email=a"),
        &[("Content-Type", "text/plain")],
    );
    assert_eq!(text.status, 415);
    assert_eq!(s.get("/users/not-a-uuid", Some(&key)).status, 404);
    assert_eq!(s.get("/users/01a20654-2276-7691-aa25-1874547ce5b4", Some(&key)).status, 404);
    assert_eq!(s.get("/users", Some(&key)).json()["total"], 0, "nothing was created");
    // A bad PATCH on a real user changes nothing either.
    let id = s.send("POST", "/users", &key, &json!({"email": "ok@b.c"})).json()["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s.send(
        "PATCH",
        &format!("/users/{id}"),
        &key,
        &json!({"email": null, "full_name": "Changed"}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(s.get(&format!("/users/{id}"), Some(&key)).json()["user"]["full_name"], json!(null));
}

#[test]
fn duplicates_are_409_and_scopes_are_enforced() {
    let (s, key) = Server::keyed();
    assert_eq!(
        s.send("POST", "/users", &key, &json!({"email": "a@x.com", "external_id": "e1"})).status,
        201
    );
    let dup_email = s.send("POST", "/users", &key, &json!({"email": "A@X.COM"}));
    assert_eq!(dup_email.status, 409);
    assert_eq!(dup_email.json()["code"], "CONFLICT");
    assert_eq!(
        s.send("POST", "/users", &key, &json!({"email": "b@x.com", "external_id": "e1"})).status,
        409
    );
    assert_eq!(
        s.send("POST", "/users", &key, &json!({"email": "c@x.com", "user_name": "A@x.com"})).status,
        409
    );

    let (read_only, _) = s.create_key("default", &["api:users:read"]);
    assert_eq!(s.get("/users", Some(&read_only)).status, 200);
    let r = s.send("POST", "/users", &read_only, &json!({"email": "d@x.com"}));
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["required_scope"], "api:users:write");
    let (write_only, _) = s.create_key("default", &["api:users:write"]);
    assert_eq!(s.get("/users", Some(&write_only)).json()["required_scope"], "api:users:read");
}

//! Seat accounting: capacity errors in both styles, reactivation, and the concurrency test.

use std::sync::{Arc, Barrier};

use serde_json::json;

use crate::harness::Server;

#[test]
fn full_tenants_refuse_active_users_in_both_styles() {
    let s = Server::start();
    s.cli_line("tenant create small --seats 2");
    let (key, _) = s.create_key(
        "small",
        &["scim:write", "scim:read", "api:users:write", "api:users:read", "usage"],
    );
    for i in 0..2 {
        assert_eq!(
            s.send("POST", "/scim/v2/Users", &key, &json!({"userName": format!("s{i}@x.com")}))
                .status,
            201
        );
    }
    let scim = s.send("POST", "/v1/small/scim/v2/Users", &key, &json!({"userName": "s2@x.com"}));
    assert_eq!(scim.status, 403);
    assert_eq!(scim.header("content-type"), Some("application/scim+json"));
    let body = scim.json();
    assert_eq!(body["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:Error"]));
    assert_eq!(body["status"], "403");
    assert_eq!(body["scimType"], "invalidValue");
    assert_eq!(body["detail"], "Not enough user licenses available");
    assert_eq!(body["code"], "NO_LICENSE_CAPACITY");
    assert_eq!((body["licensed"].clone(), body["used"].clone()), (json!(2), json!(2)));

    let native = s.send("POST", "/users", &key, &json!({"email": "n@x.com"}));
    assert_eq!(native.status, 403);
    let body = native.json();
    assert_eq!(body["code"], "NO_LICENSE_CAPACITY");
    assert_eq!(body["error"], "Not enough user licenses available");
    assert_eq!((body["licensed"].clone(), body["used"].clone()), (json!(2), json!(2)));

    // Inactive users take no seat; reactivating one needs a free seat.
    let idle = s.send("POST", "/users", &key, &json!({"email": "idle@x.com", "active": false}));
    assert_eq!(idle.status, 201);
    let idle_id = idle.json()["user"]["id"].as_str().unwrap().to_owned();
    let r = s.send("PATCH", &format!("/users/{idle_id}"), &key, &json!({"active": true}));
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["code"], "NO_LICENSE_CAPACITY");
    let first = s.get("/scim/v2/Users?count=1", Some(&key)).json()["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(s.request("DELETE", &format!("/users/{first}"), Some(&key), None).status, 204);
    assert_eq!(
        s.send("PATCH", &format!("/users/{idle_id}"), &key, &json!({"active": true})).status,
        200
    );
    assert_eq!(
        s.get("/usage", Some(&key)).json(),
        json!({"seat_capacity": 2, "seats_provisioned": 2, "seats_available": 0})
    );
    // More seats, and the refused create now works.
    s.cli_json(&["tenant", "set-seats", "small", "3"]);
    assert_eq!(
        s.send("POST", "/scim/v2/Users", &key, &json!({"userName": "s2@x.com"})).status,
        201
    );
}

#[test]
fn three_hundred_concurrent_creates_fill_exactly_one_hundred_seats() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_in(tmp.path(), &[]);
    s.cli_line("tenant create busy --seats 100");
    s.cli_json(&["tenant", "set-rate-limit", "busy", "0"]);
    let (key, _) = s.create_key("busy", &["scim:write", "api:users:read", "usage"]);
    let s = Arc::new(s);
    let barrier = Arc::new(Barrier::new(300));
    let threads: Vec<_> = (0..300)
        .map(|i| {
            let (s, key, barrier) = (s.clone(), key.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let r = s.send(
                    "POST",
                    "/scim/v2/Users",
                    &key,
                    &json!({"userName": format!("c{i}@x.com")}),
                );
                let code = if r.status == 403 {
                    r.json()["code"].as_str().unwrap_or("").to_owned()
                } else {
                    String::new()
                };
                (r.status, code)
            })
        })
        .collect();
    let results: Vec<(u16, String)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let created = results.iter().filter(|(st, _)| *st == 201).count();
    let refused =
        results.iter().filter(|(st, code)| *st == 403 && code == "NO_LICENSE_CAPACITY").count();
    assert_eq!((created, refused), (100, 200), "{results:?}");
    let usage = s.get("/usage", Some(&key)).json();
    assert_eq!(
        usage,
        json!({"seat_capacity": 100, "seats_provisioned": 100, "seats_available": 0})
    );

    // After a restart the counters still match a recount of the records.
    let s = Arc::try_unwrap(s).ok().unwrap();
    assert!(s.stop());
    let s = Server::start_in(tmp.path(), &[]);
    let usage = s.get("/usage", Some(&key)).json();
    let listed = s.get("/users?limit=1000", Some(&key)).json();
    let active = listed["users"].as_array().unwrap().iter().filter(|u| u["active"] == true).count();
    assert_eq!(listed["total"], 100);
    assert_eq!(active, 100);
    assert_eq!(usage["seats_provisioned"], active);
}

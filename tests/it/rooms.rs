//! Native rooms and members: both names, both path forms, add/update/remove, full-replace sync,
//! unmapping, cascade on deactivation, and the admin's real delete.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::harness::Server;

pub fn room(s: &Server, name: &str) -> String {
    s.cli_json(&["room", "create", "--tenant", "default", name])["id"].as_str().unwrap().to_owned()
}

/// A room with one member (`a@x.com`): their ids.
fn room_with_member(s: &Server, key: &str, name: &str) -> (String, String) {
    let (room, a) = (room(s, name), user(s, key, "a@x.com"));
    s.send("POST", &format!("/rooms/{room}/members"), key, &json!({"user_id": a}));
    (room, a)
}

pub fn user(s: &Server, key: &str, email: &str) -> String {
    let r = s.send("POST", "/users", key, &json!({"email": email}));
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["user"]["id"].as_str().unwrap().to_owned()
}

fn members(s: &Server, key: &str, room: &str) -> Vec<(String, bool)> {
    let list = s.get(&format!("/rooms/{room}/members?limit=1000"), Some(key)).json();
    list["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user_id"].as_str().unwrap().to_owned(), m["tx_permission"].as_bool().unwrap()))
        .collect()
}

#[test]
fn rooms_and_channels_are_one_resource() {
    let (s, key) = Server::keyed();
    let id = room(&s, "Equities Desk");
    for path in [
        format!("/rooms/{id}"),
        format!("/channels/{id}"),
        format!("/v1/default/rooms/{id}"),
        format!("/v1/default/channels/{id}"),
    ] {
        let r = s.get(&path, Some(&key));
        assert_eq!(r.status, 200, "{path}");
        let room = r.json();
        assert_eq!(room["id"], id.as_str());
        assert_eq!(room["name"], "Equities Desk");
        assert_eq!(room["display_name"], "Equities Desk");
        assert_eq!(room["external_id"], Value::Null);
        assert_eq!(room["member_count"], 0);
        assert!(room["created_at"].is_string());
    }
    let list = s.get("/channels", Some(&key)).json();
    assert_eq!(list["total"], 1);
    assert_eq!(list["rooms"][0]["id"], id.as_str());
    assert_eq!(s.get("/rooms/not-a-uuid", Some(&key)).status, 404);
    // Duplicate names are refused.
    let out = s.cli(&["room", "create", "--tenant", "default", "equities desk"]);
    assert!(!out.status.success());

    let (reader, _) = s.create_key("default", &["api:channels:read"]);
    assert_eq!(s.get(&format!("/channels/{id}/members"), Some(&reader)).status, 200);
    let r = s.send("POST", &format!("/channels/{id}/members"), &reader, &json!({"user_id": id}));
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["required_scope"], "api:rooms:write");
}

#[test]
fn add_update_list_and_remove_members() {
    let (s, key) = Server::keyed();
    let room = room(&s, "Ops");
    let (a, b) = (user(&s, &key, "a@x.com"), user(&s, &key, "b@x.com"));
    let r = s.send(
        "POST",
        &format!("/rooms/{room}/members"),
        &key,
        &json!({"user_id": a, "tx_permission": true}),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.json(), json!({"ok": true, "user_id": a, "room_id": room, "tx_permission": true}));
    let r = s.send("POST", &format!("/channels/{room}/members"), &key, &json!({"user_id": b}));
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["tx_permission"], false, "tx_permission defaults to false");
    // Already a member: 200, permission updated; without one given, kept.
    let r = s.send(
        "POST",
        &format!("/rooms/{room}/members"),
        &key,
        &json!({"user_id": b, "tx_permission": true}),
    );
    assert_eq!((r.status, r.json()["tx_permission"].clone()), (200, json!(true)));
    let r = s.send("POST", &format!("/rooms/{room}/members"), &key, &json!({"user_id": b}));
    assert_eq!((r.status, r.json()["tx_permission"].clone()), (200, json!(true)));
    assert_eq!(members(&s, &key, &room), [(a.clone(), true), (b.clone(), true)]);
    let page = s.get(&format!("/rooms/{room}/members?limit=1&offset=1"), Some(&key)).json();
    assert_eq!(page["total"], 2);
    assert_eq!(page["members"][0]["user_id"], b.as_str());
    assert_eq!(page["members"][0]["email"], "b@x.com");
    assert_eq!(s.get(&format!("/rooms/{room}"), Some(&key)).json()["member_count"], 2);
    // One member, from its membership row.
    let one = s.get(&format!("/v1/default/channels/{room}/members/{b}"), Some(&key));
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(
        one.json(),
        json!({"user_id": b, "tx_permission": true, "email": "b@x.com", "display_name": null})
    );

    // Unknown and inactive users cannot join.
    let ghost = "01a20654-2276-7691-aa25-1874547ce5b4";
    let r = s.send("POST", &format!("/rooms/{room}/members"), &key, &json!({"user_id": ghost}));
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains(ghost));

    assert_eq!(
        s.request("DELETE", &format!("/rooms/{room}/members/{a}"), Some(&key), None).status,
        204
    );
    assert_eq!(
        s.request("DELETE", &format!("/rooms/{room}/members/{a}"), Some(&key), None).status,
        404
    );
    assert_eq!(s.get(&format!("/rooms/{room}/members/{a}"), Some(&key)).status, 404);
    assert_eq!(s.get(&format!("/rooms/{ghost}/members/{b}"), Some(&key)).status, 404);
    let body = serde_json::to_vec(&json!({"user_id": b})).unwrap();
    let r = s.send_raw("DELETE", &format!("/v1/default/channels/{room}/members"), &key, &body);
    assert_eq!(r.status, 204);
    assert_eq!(s.get(&format!("/rooms/{room}"), Some(&key)).json()["member_count"], 0);
}

#[test]
fn put_sync_counts_and_is_atomic() {
    let (s, key) = Server::keyed();
    let room = room(&s, "Sync");
    let ids: Vec<String> = (0..4).map(|i| user(&s, &key, &format!("s{i}@x.com"))).collect();
    let put = |body: Value| s.send("PUT", &format!("/rooms/{room}/members"), &key, &body);
    let r =
        put(json!({"members": [{"user_id": ids[0], "tx_permission": true}, {"user_id": ids[1]}]}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"room_id": room, "members_added": 2, "members_updated": 0, "members_removed": 0})
    );
    // Keep 0 (same), flip 1's permission, add 2 and 3... then drop 0.
    let r = put(
        json!({"members": [{"user_id": ids[1], "tx_permission": true}, {"user_id": ids[2], "tx_permission": false}, {"user_id": ids[3]}]}),
    );
    assert_eq!(
        r.json(),
        json!({"room_id": room, "members_added": 2, "members_updated": 1, "members_removed": 1})
    );
    let before = members(&s, &key, &room);
    assert_eq!(before, [(ids[1].clone(), true), (ids[2].clone(), false), (ids[3].clone(), false)]);

    // One bad id anywhere: 400 naming every bad one, nothing changes.
    let inactive = user(&s, &key, "idle@x.com");
    assert_eq!(
        s.send("PATCH", &format!("/users/{inactive}"), &key, &json!({"active": false})).status,
        200
    );
    let ghost = "01a20654-2276-7691-aa25-1874547ce5b4";
    let r =
        put(json!({"members": [{"user_id": ids[0]}, {"user_id": ghost}, {"user_id": inactive}]}));
    assert_eq!(r.status, 400);
    let msg = r.json()["error"].as_str().unwrap().to_owned();
    assert!(msg.contains(ghost) && msg.contains(&inactive), "{msg}");
    let r = put(json!({"members": [{"user_id": ids[0]}, {"user_id": "nonsense"}]}));
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("nonsense"));
    assert_eq!(members(&s, &key, &room), before, "nothing changed");
    assert_eq!(put(json!({"members": "all"})).status, 400);
    // An empty list empties the room.
    assert_eq!(put(json!({"members": []})).json()["members_removed"], 3);
    assert_eq!(s.get(&format!("/rooms/{room}"), Some(&key)).json()["member_count"], 0);
}

#[test]
fn patch_and_unmap_rooms() {
    let (s, key) = Server::keyed();
    let (room, _) = room_with_member(&s, &key, "Rates");
    let r = s.send(
        "PATCH",
        &format!("/rooms/{room}"),
        &key,
        &json!({"display_name": "Rates Desk", "external_id": "okta-rates"}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["display_name"], "Rates Desk");
    assert_eq!(r.json()["external_id"], "okta-rates");
    assert_eq!(r.json()["name"], "Rates");
    let group = s.get("/scim/v2/Groups/okta-rates", Some(&key));
    assert_eq!(group.status, 200, "an external id maps the room");
    assert_eq!(group.json()["displayName"], "Rates Desk");
    assert_eq!(
        s.send("PATCH", &format!("/rooms/{room}"), &key, &json!({"display_name": 4})).status,
        400
    );

    assert_eq!(s.request("DELETE", &format!("/rooms/{room}"), Some(&key), None).status, 204);
    let after = s.get(&format!("/rooms/{room}"), Some(&key)).json();
    assert_eq!(after["external_id"], Value::Null);
    assert_eq!(after["member_count"], 1, "members stay");
    assert_eq!(s.get(&format!("/scim/v2/Groups/{room}"), Some(&key)).status, 404);
    assert_eq!(s.get("/scim/v2/Groups", Some(&key)).json()["totalResults"], 0);
}

#[test]
fn deactivation_removes_every_membership() {
    let (s, key) = Server::keyed();
    let (r1, r2) = (room(&s, "One"), room(&s, "Two"));
    let (a, b) = (user(&s, &key, "a@x.com"), user(&s, &key, "b@x.com"));
    for r in [&r1, &r2] {
        for u in [&a, &b] {
            assert_eq!(
                s.send("POST", &format!("/rooms/{r}/members"), &key, &json!({"user_id": u})).status,
                201
            );
        }
    }
    assert_eq!(s.request("DELETE", &format!("/users/{a}"), Some(&key), None).status, 204);
    for r in [&r1, &r2] {
        assert_eq!(members(&s, &key, r), [(b.clone(), false)]);
        assert_eq!(s.get(&format!("/rooms/{r}"), Some(&key)).json()["member_count"], 1);
    }
    // Through SCIM too.
    let r = s.send(
        "PATCH",
        &format!("/scim/v2/Users/{b}"),
        &key,
        &json!({"Operations": [{"op": "replace", "path": "active", "value": "False"}]}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(members(&s, &key, &r1), []);
    // Reactivated users do not come back by themselves.
    s.send("PATCH", &format!("/users/{a}"), &key, &json!({"active": true}));
    assert_eq!(members(&s, &key, &r1), []);
}

#[test]
fn the_admin_deletes_a_room_for_real() {
    let (s, key) = Server::keyed();
    let (r, a) = room_with_member(&s, &key, "Doomed");
    s.cli_json(&["room", "delete", "--tenant", "default", &r]);
    assert_eq!(s.get(&format!("/rooms/{r}"), Some(&key)).status, 404);
    assert_eq!(s.get(&format!("/rooms/{r}/members"), Some(&key)).status, 404);
    let filter: String =
        form_urlencoded::byte_serialize(format!("members[value eq \"{a}\"]").as_bytes()).collect();
    assert_eq!(
        s.get(&format!("/scim/v2/Groups?filter={filter}"), Some(&key)).json()["totalResults"],
        0
    );
    assert_eq!(s.cli_json(&["room", "list", "--tenant", "default"])["rooms"], json!([]));
    // The name is free again.
    room(&s, "Doomed");
}

#[test]
fn a_large_room_syncs_pages_and_patches() {
    let s = Arc::new(Server::start());
    let key = s.root_key();
    s.cli_json(&["tenant", "set-seats", "default", "5000"]);
    s.cli_json(&["tenant", "set-rate-limit", "default", "0"]);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (s, key) = (s.clone(), key.clone());
            std::thread::spawn(move || {
                (0..250).map(|i| user(&s, &key, &format!("big{t}-{i}@x.com"))).collect::<Vec<_>>()
            })
        })
        .collect();
    let ids: Vec<String> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let room = room(&s, "Big");
    let list: Vec<Value> =
        ids.iter().map(|id| json!({"user_id": id, "tx_permission": false})).collect();
    let r = s.send("PUT", &format!("/rooms/{room}/members"), &key, &json!({"members": list}));
    assert_eq!(r.json()["members_added"], 2000);
    // Half changed: 1,000 flipped to transmit, 500 dropped, the rest the same.
    let list: Vec<Value> = ids[..1500]
        .iter()
        .enumerate()
        .map(|(i, id)| json!({"user_id": id, "tx_permission": i < 1000}))
        .collect();
    let r = s.send("PUT", &format!("/rooms/{room}/members"), &key, &json!({"members": list}));
    assert_eq!(
        r.json(),
        json!({"room_id": room, "members_added": 0, "members_updated": 1000, "members_removed": 500})
    );
    let mut seen = 0;
    let mut offset = 0;
    loop {
        let page =
            s.get(&format!("/rooms/{room}/members?limit=1000&offset={offset}"), Some(&key)).json();
        assert_eq!(page["total"], 1500);
        let n = page["members"].as_array().unwrap().len();
        if n == 0 {
            break;
        }
        seen += n;
        offset += n;
    }
    assert_eq!(seen, 1500);
    let r = s.send(
        "PATCH",
        &format!("/scim/v2/Groups/{room}"),
        &key,
        &json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": ids[1999]}]}]}),
    );
    assert_eq!(r.status, 404, "unmapped rooms are not groups");
    s.send("PATCH", &format!("/rooms/{room}"), &key, &json!({"external_id": "big"}));
    let r = s.send(
        "PATCH",
        &format!("/scim/v2/Groups/{room}"),
        &key,
        &json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": ids[1999]}]}]}),
    );
    assert_eq!(r.status, 204);
    assert_eq!(s.get(&format!("/rooms/{room}"), Some(&key)).json()["member_count"], 1501);
}

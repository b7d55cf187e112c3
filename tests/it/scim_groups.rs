//! SCIM Groups: mapped rooms, member references, PATCH shapes of Okta and Entra, unmapping.

use serde_json::{Value, json};

use crate::harness::{PATCH_OP, Server};
use crate::rooms::{room, user};

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn create_group(s: &Server, key: &str, body: Value) -> Value {
    let r = s.send("POST", "/scim/v2/Groups", key, &body);
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

fn patch(s: &Server, key: &str, id: &str, ops: Value) -> crate::harness::Resp {
    s.send(
        "PATCH",
        &format!("/scim/v2/Groups/{id}"),
        key,
        &json!({"schemas": [PATCH_OP], "Operations": ops}),
    )
}

fn member_values(g: &Value) -> Vec<String> {
    g["members"]
        .as_array()
        .map(|m| m.iter().map(|x| x["value"].as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn create_get_list_and_filter_groups() {
    let (s, key) = Server::keyed();
    let (a, b) = (user(&s, &key, "a@x.com"), user(&s, &key, "b@x.com"));
    let r = s.send(
        "POST",
        "/v1/default/scim/v2/Groups",
        &key,
        &json!({"schemas": [GROUP], "displayName": "Operations",
        "externalId": "ops-channel", "members": [{"value": a}]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let g = r.json();
    let id = g["id"].as_str().unwrap().to_owned();
    let location = format!("http://{}/v1/default/scim/v2/Groups/{id}", s.addr);
    assert_eq!(r.header("location"), Some(location.as_str()));
    assert_eq!(g["meta"]["location"], location.as_str());
    assert_eq!(g["meta"]["resourceType"], "Group");
    assert_eq!(g["displayName"], "Operations");
    assert_eq!(g["externalId"], "ops-channel");
    assert_eq!(
        g["members"],
        json!([{"value": a, "display": "a@x.com", "type": "User", "$ref": format!("http://{}/v1/default/scim/v2/Users/{a}", s.addr)}])
    );
    // It is a room with that mapping; SCIM members do not transmit.
    let native = s.get(&format!("/rooms/{id}"), Some(&key)).json();
    assert_eq!(
        (native["external_id"].clone(), native["member_count"].clone()),
        (json!("ops-channel"), json!(1))
    );
    assert_eq!(
        s.get(&format!("/rooms/{id}/members"), Some(&key)).json()["members"][0]["tx_permission"],
        false
    );

    create_group(&s, &key, json!({"displayName": "Sales", "members": [{"value": b}]}));
    room(&s, "Unmapped");
    let all = s.get("/scim/v2/Groups", Some(&key)).json();
    assert_eq!(all["totalResults"], 2, "unmapped rooms are not groups");
    let q = |f: &str| {
        let f: String = form_urlencoded::byte_serialize(f.as_bytes()).collect();
        s.get(&format!("/scim/v2/Groups?filter={f}"), Some(&key)).json()
    };
    assert_eq!(q(r#"displayName eq "operations""#)["Resources"][0]["id"], id.as_str());
    assert_eq!(q(r#"externalId eq "ops-channel""#)["totalResults"], 1);
    assert_eq!(q(r#"externalId eq "OPS-CHANNEL""#)["totalResults"], 0);
    assert_eq!(q(&format!(r#"members[value eq "{b}"]"#))["Resources"][0]["displayName"], "Sales");
    assert_eq!(
        q(&format!(r#"members.value eq "{a}""#))["Resources"][0]["displayName"],
        "Operations"
    );
    assert_eq!(q(r#"displayName sw "s""#)["totalResults"], 1);
    let lean = s.get("/scim/v2/Groups?excludedAttributes=members", Some(&key)).json();
    assert!(lean["Resources"].as_array().unwrap().iter().all(|g| g.get("members").is_none()));
    let one = s.get(&format!("/scim/v2/Groups/{id}?excludedAttributes=members"), Some(&key)).json();
    assert!(one.get("members").is_none() && one["displayName"] == "Operations");
    assert_eq!(s.get("/scim/v2/Groups/ops-channel", Some(&key)).json()["id"], id.as_str());
}

#[test]
fn creating_a_group_maps_an_unmapped_room_of_that_name() {
    let (s, key) = Server::keyed();
    let existing = room(&s, "Equities Desk");
    let g =
        create_group(&s, &key, json!({"displayName": "Equities Desk", "externalId": "okta-eq"}));
    assert_eq!(g["id"], existing.as_str());
    let dup = s.send("POST", "/scim/v2/Groups", &key, &json!({"displayName": "equities desk"}));
    assert_eq!(dup.status, 409);
    assert_eq!(dup.json()["scimType"], "uniqueness");
    // An unknown member is a 400 and creates nothing.
    let r = s.send("POST", "/scim/v2/Groups", &key, &json!({"displayName": "New", "members": [{"value": "01a20654-2276-7691-aa25-1874547ce5b4"}]}));
    assert_eq!(r.status, 400);
    assert_eq!(s.get("/rooms", Some(&key)).json()["total"], 1);
    assert_eq!(s.send("POST", "/scim/v2/Groups", &key, &json!({"externalId": "x"})).status, 400);
}

#[test]
fn patch_members_the_okta_and_entra_ways() {
    let (s, key) = Server::keyed();
    let ids: Vec<String> = (0..4).map(|i| user(&s, &key, &format!("m{i}@x.com"))).collect();
    let g = create_group(&s, &key, json!({"displayName": "Desk", "externalId": "d"}));
    let id = g["id"].as_str().unwrap().to_owned();
    let get = || s.get(&format!("/scim/v2/Groups/{id}"), Some(&key)).json();

    // Okta: add with a path and a value array; re-adding is a no-op.
    let r = patch(
        &s,
        &key,
        &id,
        json!([{"op": "add", "path": "members", "value": [{"value": ids[0]}, {"value": ids[1]}]}]),
    );
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    let r = patch(
        &s,
        &key,
        &id,
        json!([{"op": "Add", "path": "members", "value": [{"value": ids[0]}]}]),
    );
    assert_eq!(r.status, 204);
    assert_eq!(member_values(&get()), [ids[0].clone(), ids[1].clone()]);
    let to_204 = |ops: Value| assert_eq!(patch(&s, &key, &id, ops).status, 204);
    // 002's shape: no path, value with members.
    to_204(json!([{"op": "add", "value": {"members": [{"value": ids[2]}]}}]));
    // Remove by filter, and Entra's remove with a value list.
    to_204(json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", ids[0])}]));
    to_204(json!([{"op": "Remove", "path": "members", "value": [{"value": ids[1]}]}]));
    assert_eq!(member_values(&get()), [ids[2].clone()]);
    // Rename and re-key, with and without a path; ask for the result back.
    let r = s.send(
        "PATCH",
        &format!("/scim/v2/Groups/{id}?attributes=displayName,externalId"),
        &key,
        &json!({"Operations": [
        {"op": "replace", "path": "displayName", "value": "Desk 2"},
        {"op": "replace", "value": {"externalId": "d2"}}]}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["displayName"], "Desk 2");
    assert_eq!(r.json()["externalId"], "d2");
    assert!(r.json().get("members").is_none());
    // An unknown user anywhere in the request: 400, and nothing in the request happens.
    let r = patch(
        &s,
        &key,
        &id,
        json!([
        {"op": "add", "path": "members", "value": [{"value": ids[3]}]},
        {"op": "add", "path": "members", "value": [{"value": "01a20654-2276-7691-aa25-1874547ce5b4"}]}]),
    );
    assert_eq!(r.status, 400);
    assert_eq!(member_values(&get()), [ids[2].clone()]);
    // Replace the whole list.
    assert_eq!(
        patch(
            &s,
            &key,
            &id,
            json!([{"op": "replace", "path": "members", "value": [{"value": ids[3]}]}])
        )
        .status,
        204
    );
    assert_eq!(member_values(&get()), [ids[3].clone()]);
    assert_eq!(patch(&s, &key, &id, json!([{"op": "remove", "path": "members"}])).status, 204);
    assert_eq!(member_values(&get()), Vec::<String>::new());
    assert_eq!(patch(&s, &key, &id, json!([{"op": "remove", "path": "displayName"}])).status, 400);
}

#[test]
fn scim_never_changes_transmit_permission() {
    let (s, key) = Server::keyed();
    let (a, b) = (user(&s, &key, "a@x.com"), user(&s, &key, "b@x.com"));
    let g = create_group(&s, &key, json!({"displayName": "Tx"}));
    let id = g["id"].as_str().unwrap().to_owned();
    s.send(
        "POST",
        &format!("/rooms/{id}/members"),
        &key,
        &json!({"user_id": a, "tx_permission": true}),
    );
    patch(
        &s,
        &key,
        &id,
        json!([{"op": "add", "path": "members", "value": [{"value": a}, {"value": b}]}]),
    );
    let put = s.send(
        "PUT",
        &format!("/scim/v2/Groups/{id}"),
        &key,
        &json!({"displayName": "Tx", "members": [{"value": a}, {"value": b}]}),
    );
    assert_eq!(put.status, 200);
    let m = s.get(&format!("/rooms/{id}/members"), Some(&key)).json();
    let tx: Vec<(String, bool)> = m["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["user_id"].as_str().unwrap().to_owned(), x["tx_permission"].as_bool().unwrap()))
        .collect();
    assert_eq!(tx, [(a, true), (b, false)]);
}

#[test]
fn put_replaces_and_delete_unmaps() {
    let (s, key) = Server::keyed();
    let (a, b) = (user(&s, &key, "a@x.com"), user(&s, &key, "b@x.com"));
    let body = json!({"displayName": "P", "externalId": "p", "members": [{"value": a}]});
    let g = create_group(&s, &key, body);
    let id = g["id"].as_str().unwrap().to_owned();
    let etag =
        s.get(&format!("/scim/v2/Groups/{id}"), Some(&key)).header("etag").unwrap().to_owned();
    let body =
        serde_json::to_vec(&json!({"displayName": "P2", "members": [{"value": b}]})).unwrap();
    let put = || {
        let headers = [("If-Match", etag.as_str()), ("Content-Type", "application/json")];
        s.request_with("PUT", &format!("/scim/v2/Groups/{id}"), Some(&key), Some(&body), &headers)
    };
    let r = put();
    assert_eq!(r.status, 200, "{}", r.body);
    let p = r.json();
    assert_eq!(p["displayName"], "P2");
    assert!(p.get("externalId").is_none(), "PUT clears what it omits");
    assert_eq!(member_values(&p), [b.as_str()]);
    let stale = put();
    assert_eq!(stale.status, 412);

    assert_eq!(s.request("DELETE", &format!("/scim/v2/Groups/{id}"), Some(&key), None).status, 204);
    for (m, path) in
        [("GET", format!("/scim/v2/Groups/{id}")), ("DELETE", format!("/scim/v2/Groups/{id}"))]
    {
        assert_eq!(s.request(m, &path, Some(&key), None).status, 404, "{m} {path}");
    }
    assert_eq!(
        patch(&s, &key, &id, json!([{"op": "add", "path": "members", "value": [{"value": a}]}]))
            .status,
        404
    );
    let native = s.get(&format!("/rooms/{id}"), Some(&key)).json();
    assert_eq!(
        (native["mapped"].clone(), native["member_count"].clone()),
        (json!(false), json!(1)),
        "the room and its members stay"
    );
}

#[test]
fn groups_need_group_scopes() {
    let s = Server::start();
    let (users_only, _) = s.create_key("default", &["scim:users:read", "scim:users:write"]);
    let r = s.get("/scim/v2/Groups", Some(&users_only));
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["required_scope"], "scim:groups:read");
    let r = s.send("POST", "/scim/v2/Groups", &users_only, &json!({"displayName": "x"}));
    assert_eq!(r.json()["required_scope"], "scim:groups:write");
}

#[test]
fn search_at_the_root_and_per_resource_type() {
    let (s, key) = Server::keyed();
    let a = user(&s, &key, "findme@x.com");
    create_group(&s, &key, json!({"displayName": "findme", "members": [{"value": a}]}));
    create_group(&s, &key, json!({"displayName": "other"}));
    let search = |path: &str, k: &str, body: Value| {
        let r = s.send("POST", path, k, &body);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        r.json()
    };
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "userName sw \"findme\" or displayName eq \"findme\"", "excludedAttributes": ["members"]});
    let both = search("/v1/default/scim/v2/.search", &key, body.clone());
    assert_eq!(both["totalResults"], 2);
    assert_eq!(both["Resources"][0]["meta"]["resourceType"], "User");
    assert_eq!(both["Resources"][1]["meta"]["resourceType"], "Group");
    assert!(both["Resources"][1].get("members").is_none());
    let groups =
        search("/scim/v2/Groups/.search", &key, json!({"filter": "displayName eq \"other\""}));
    assert_eq!(groups["totalResults"], 1);
    // A key that reads only users searches only users.
    let (users_reader, _) = s.create_key("default", &["scim:users:read"]);
    let users_only = search("/scim/v2/.search", &users_reader, body);
    assert_eq!(users_only["totalResults"], 1);
    assert_eq!(users_only["Resources"][0]["userName"], "findme@x.com");
}

/// SCIM adds any user of the tenant to a group, active or not (IdPs push membership whatever a
/// user's status); an unknown user is a 400 and nothing of the request is applied.
#[test]
fn scim_adds_an_inactive_user_and_refuses_an_unknown_one() {
    let (s, key) = Server::keyed();
    let (idle, active) = (user(&s, &key, "idle@x.com"), user(&s, &key, "on@x.com"));
    let r = s.send("PATCH", &format!("/users/{idle}"), &key, &json!({"active": false}));
    assert_eq!(r.status, 200, "{}", r.body);
    let g = create_group(&s, &key, json!({"schemas": [GROUP], "displayName": "Night shift"}));
    let id = g["id"].as_str().unwrap();
    let add = |who: &[&str]| {
        let values: Vec<Value> = who.iter().map(|v| json!({"value": v})).collect();
        patch(&s, &key, id, json!([{"op": "add", "path": "members", "value": values}]))
    };
    assert_eq!(add(&[&idle]).status, 204);
    let ghost = "01a2f000-0000-7000-8000-000000000000";
    let r = add(&[&active, ghost]);
    assert_eq!(r.status, 400, "{}", r.body);
    let got = s.get(&format!("/scim/v2/Groups/{id}"), Some(&key)).json();
    assert_eq!(member_values(&got), vec![idle.clone()], "the inactive user only: {got}");
}

/// Entra's membership check, `id eq "G" and members[value eq "U"]`, is answered from indexes:
/// it runs where a scan of the rooms is refused (`--scan-limit 1`, three groups), alone or under
/// `and`, with or without the member list in the answer.
#[test]
fn the_membership_check_reads_one_row() {
    let s = Server::start_args(&["--scan-limit", "1"]);
    let key = s.root_key();
    let (a, b) = (user(&s, &key, "a@x.com"), user(&s, &key, "b@x.com"));
    let g1 = create_group(&s, &key, json!({"displayName": "One", "members": [{"value": a}]}));
    let g2 = create_group(
        &s,
        &key,
        json!({"displayName": "Two", "externalId": "two",
        "members": [{"value": a}, {"value": b}]}),
    );
    create_group(&s, &key, json!({"displayName": "Three"}));
    let (g1, g2) = (g1["id"].as_str().unwrap(), g2["id"].as_str().unwrap());
    let q = |f: &str, extra: &str| {
        let f: String = form_urlencoded::byte_serialize(f.as_bytes()).collect();
        let r = s.get(&format!("/scim/v2/Groups?filter={f}{extra}"), Some(&key));
        assert_eq!(r.status, 200, "{f}: {}", r.body);
        let list = r.json();
        let ids: Vec<String> = list["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["id"].as_str().unwrap().to_owned())
            .collect();
        (ids, list)
    };
    let lean = "&excludedAttributes=members";
    for (filter, expected) in [
        (format!(r#"id eq "{g1}" and members[value eq "{a}"]"#), vec![g1]),
        (format!(r#"id eq "{g1}" and members[value eq "{b}"]"#), vec![]),
        (format!(r#"members[value eq "{b}"] and id eq "{g2}""#), vec![g2]),
        (format!(r#"members[value eq "{a}"]"#), vec![g1, g2]),
        (format!(r#"externalId eq "two" and members.value eq "{b}""#), vec![g2]),
        (format!(r#"id eq "{g1}" and not (members[value eq "{b}"])"#), vec![g1]),
        (format!(r#"id eq "{g2}" and members[value eq "not-a-uuid"]"#), vec![]),
        (r#"displayName eq "TWO""#.to_owned(), vec![g2]),
        (format!(r#"displayName eq "one" and members[value eq "{a}"]"#), vec![g1]),
        (r#"displayName eq "On""#.to_owned(), vec![]),
        (r#"id eq "not-a-uuid""#.to_owned(), vec![]),
    ] {
        let (ids, list) = q(&filter, lean);
        assert_eq!(ids, expected, "{filter}");
        assert!(list["Resources"].as_array().unwrap().iter().all(|g| g.get("members").is_none()));
        let (ids, list) = q(&filter, "");
        assert_eq!(ids, expected, "{filter} with members");
        for g in list["Resources"].as_array().unwrap() {
            assert!(!member_values(g).is_empty(), "the answer shows the members: {g}");
        }
    }
    // A rename moves the display-name entry.
    let r = s.send(
        "PATCH",
        &format!("/scim/v2/Groups/{g1}"),
        &key,
        &json!({"schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Uno"}]}),
    );
    assert!(r.status < 300, "{}", r.body);
    assert_eq!(q(r#"displayName eq "uno""#, lean).0, vec![g1.to_owned()]);
    assert_eq!(q(r#"displayName eq "one""#, lean).0, Vec::<String>::new());
    // A condition on members other than equality needs the lists, so it is a scan, refused here.
    let f: String =
        form_urlencoded::byte_serialize(br#"members[display sw "a"]"#.as_slice()).collect();
    assert_eq!(s.get(&format!("/scim/v2/Groups?filter={f}"), Some(&key)).status, 400);
}

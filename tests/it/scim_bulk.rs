//! SCIM Bulk: bulkId graphs, failOnErrors, limits, non-atomicity, scopes and rate limiting.

use serde_json::{Value, json};

use crate::harness::Server;

const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

fn bulk(s: &Server, key: &str, body: Value) -> Value {
    let r = s.send("POST", "/scim/v2/Bulk", key, &body);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn statuses(resp: &Value) -> Vec<String> {
    resp["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn bulk_ids_link_users_and_groups_in_any_order() {
    let (s, key) = Server::keyed();
    let body = json!({"schemas": [BULK], "Operations": [
        // The group comes first and refers to users created after it.
        {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"displayName": "Tour Guides",
            "members": [{"type": "User", "value": "bulkId:alice"}, {"type": "User", "value": "bulkId:bob"}]}},
        {"method": "POST", "path": "/Users", "bulkId": "alice", "data": {"userName": "alice@example.com"}},
        {"method": "POST", "path": "/Users", "bulkId": "bob", "data": {"userName": "bob@example.com"}},
        {"method": "PATCH", "path": "/Groups/bulkId:g", "data": {"Operations": [
            {"op": "add", "path": "members", "value": [{"value": "bulkId:carol"}]}]}},
        {"method": "POST", "path": "/Users", "bulkId": "carol", "data": {"userName": "carol@example.com"}},
    ]});
    let resp = bulk(&s, &key, body);
    assert_eq!(resp["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:BulkResponse"]));
    assert_eq!(statuses(&resp), ["201", "201", "201", "204", "201"], "{resp}");
    let ops = resp["Operations"].as_array().unwrap();
    assert_eq!(ops[1]["bulkId"], "alice");
    assert_eq!(ops[1]["method"], "POST");
    let alice_location = ops[1]["location"].as_str().unwrap();
    assert!(alice_location.starts_with(&format!("http://{}/scim/v2/Users/", s.addr)));
    assert_eq!(ops[1]["version"], "W/\"1\"");
    let alice = s.get(alice_location.split(&s.addr).nth(1).unwrap(), Some(&key)).json();
    assert_eq!(alice["userName"], "alice@example.com");
    let group_path = ops[0]["location"].as_str().unwrap().split(&s.addr).nth(1).unwrap().to_owned();
    let group = s.get(&group_path, Some(&key)).json();
    let members = crate::harness::strings(&group["members"], "display");
    assert_eq!(members, ["alice@example.com", "bob@example.com", "carol@example.com"]);
}

#[test]
fn fail_on_errors_stops_and_otherwise_each_operation_stands_alone() {
    let (s, key) = Server::keyed();
    bulk(
        &s,
        &key,
        json!({"Operations": [{"method": "POST", "path": "/Users", "bulkId": "x", "data": {"userName": "taken@example.com"}}]}),
    );
    let ops = json!([
        {"method": "POST", "path": "/Users", "bulkId": "d1", "data": {"userName": "taken@example.com"}},
        {"method": "POST", "path": "/Users", "bulkId": "ok1", "data": {"userName": "ok1@example.com"}},
        {"method": "POST", "path": "/Users", "bulkId": "d2", "data": {"userName": "TAKEN@example.com"}},
        {"method": "POST", "path": "/Users", "bulkId": "ok2", "data": {"userName": "ok2@example.com"}},
    ]);
    let one = bulk(&s, &key, json!({"failOnErrors": 1, "Operations": ops}));
    assert_eq!(statuses(&one), ["409"], "stops after the first error");
    assert_eq!(one["Operations"][0]["response"]["scimType"], "uniqueness");
    assert_eq!(s.get("/scim/v2/Users", Some(&key)).json()["totalResults"], 1);
    let two = bulk(&s, &key, json!({"failOnErrors": 2, "Operations": ops}));
    assert_eq!(statuses(&two), ["409", "201", "409"]);
    // Not atomic: without failOnErrors every operation runs, and failures undo nothing.
    let body = json!({"Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "n1@example.com"}},
        {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "taken@example.com"}},
        {"method": "POST", "path": "/Users", "bulkId": "c", "data": {"userName": "n2@example.com"}},
    ]});
    let all = bulk(&s, &key, body);
    assert_eq!(statuses(&all), ["201", "409", "201"]);
    assert_eq!(s.get("/scim/v2/Users", Some(&key)).json()["totalResults"], 4);
}

#[test]
fn references_to_failed_or_unknown_operations_fail_cleanly() {
    let (s, key) = Server::keyed();
    let body = json!({"Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "bad", "data": {"active": true}},
        {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": {"displayName": "G1", "members": [{"value": "bulkId:bad"}]}},
        {"method": "POST", "path": "/Groups", "bulkId": "g2", "data": {"displayName": "G2", "members": [{"value": "bulkId:nobody"}]}},
        {"method": "POST", "path": "/Users", "data": {"userName": "no-bulk-id@example.com"}},
        {"method": "GET", "path": "/Users"},
        {"method": "DELETE", "path": "/Users"},
        {"method": "POST", "path": "/Widgets", "bulkId": "w", "data": {}},
    ]});
    let resp = bulk(&s, &key, body);
    assert_eq!(statuses(&resp), ["400", "409", "409", "400", "400", "400", "400"], "{resp}");
    assert_eq!(s.get("/scim/v2/Groups", Some(&key)).json()["totalResults"], 0);
}

#[test]
fn limits_scopes_and_rate_limit() {
    let s = Server::start_args(&["--max-body-bytes", "300000"]);
    let key = s.root_key();
    let spc = s.get("/scim/v2/ServiceProviderConfig", Some(&key)).json();
    assert_eq!(
        spc["bulk"],
        json!({"supported": true, "maxOperations": 1000, "maxPayloadSize": 300000})
    );
    let many: Vec<Value> =
        (0..1001).map(|i| json!({"method": "DELETE", "path": format!("/Users/{i}")})).collect();
    let r = s.send("POST", "/scim/v2/Bulk", &key, &json!({"Operations": many}));
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["scimType"], "tooMany");
    let big: Vec<Value> = (0..1000).map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": {"userName": format!("{i}-{}", "x".repeat(300))}})).collect();
    let r = s.send("POST", "/scim/v2/Bulk", &key, &json!({"Operations": big}));
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["scimType"], "tooLarge");

    // Each operation needs its own scope.
    let (users_writer, _) = s.create_key("default", &["scim:users:write"]);
    let resp = bulk(
        &s,
        &users_writer,
        json!({"Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "u", "data": {"userName": "scoped@example.com"}},
            {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"displayName": "Nope"}},
        ]}),
    );
    assert_eq!(statuses(&resp), ["201", "403"]);
    assert_eq!(resp["Operations"][1]["response"]["required_scope"], "scim:groups:write");
    let (reader, _) = s.create_key("default", &["scim:read"]);
    assert_eq!(s.send("POST", "/scim/v2/Bulk", &reader, &json!({"Operations": []})).status, 403);

    // A Bulk request counts once against the rate limit, however many operations it holds.
    s.cli_json(&["tenant", "set-rate-limit", "default", "3"]);
    let ops: Vec<Value> = (0..20).map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("r{i}"), "data": {"userName": format!("r{i}@example.com")}})).collect();
    let r = s.send("POST", "/v1/default/scim/v2/Bulk", &key, &json!({"Operations": ops}));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("ratelimit-limit"), Some("3"));
    assert_eq!(statuses(&r.json()).iter().filter(|st| *st == "201").count(), 20);
}

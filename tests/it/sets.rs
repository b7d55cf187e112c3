//! SCIM security events (RFC 9967): every SET is verified by jsonwebtoken with RustCrypto's
//! P-256 (not the ring code that signs them) against `/.well-known/jwks.json`; pushed to a real
//! receiver, in order and across a key rotation; polled with acknowledgements across a restart.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::Jwk};
use serde_json::{Value, json};

use crate::harness::{PATCH_OP, Server};
use crate::receiver::Receiver;

const PREFIX: &str = "urn:ietf:params:scim:event:";

/// The claims of `jwt` once its signature checks out against `jwks` and its `aud` is `aud`.
fn verified(jwt: &str, jwks: &Value, aud: &str) -> Value {
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.typ.as_deref(), Some("secevent+jwt"));
    let kid = header.kid.expect("a kid");
    let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str());
    let jwk: Jwk = serde_json::from_value(jwk.expect("the kid is published").clone()).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[aud]);
    validation.required_spec_claims = HashSet::new();
    validation.validate_exp = false;
    let key = DecodingKey::from_jwk(&jwk).unwrap();
    jsonwebtoken::decode::<Value>(jwt, &key, &validation).expect("a valid SET").claims
}

fn jwks(s: &Server) -> Value {
    let r = s.get("/.well-known/jwks.json", None);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

/// The one event of a SET's `events`: its URI and payload.
fn event(claims: &Value) -> (String, Value) {
    let events = claims["events"].as_object().unwrap();
    assert_eq!(events.len(), 1, "{claims}");
    let (uri, payload) = events.iter().next().unwrap();
    (uri.clone(), payload.clone())
}

fn scim_user(s: &Server, key: &str, name: &str, external: &str) -> (String, String) {
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name, "externalId": external, "name": {"givenName": "Ada"}});
    let r = s.send("POST", "/scim/v2/Users", key, &body);
    assert_eq!(r.status, 201, "{}", r.body);
    (r.json()["id"].as_str().unwrap().to_owned(), r.header("x-request-id").unwrap().to_owned())
}

#[test]
fn pushed_sets_verify_against_the_published_keys_across_a_rotation() {
    let (s, key) = Server::keyed();
    let rx = Receiver::start();
    let events = json!([format!("{PREFIX}prov:create"), "prov:patch", "prov:deactivate"]);
    let r = s.send("POST", "/event-receivers", &key, &json!({"url": rx.url(), "events": events}));
    assert_eq!(r.status, 201, "{}", r.body);
    let receiver = r.json();
    assert_eq!(
        (receiver["delivery"].as_str(), receiver["format"].as_str()),
        (Some("push"), Some("notice"))
    );
    assert_eq!(receiver["audience"], rx.url().as_str(), "the audience defaults to the URL");
    // A receiver is not a webhook, nor the other way round.
    let rid = receiver["id"].as_str().unwrap();
    assert_eq!(s.get(&format!("/webhooks/{rid}"), Some(&key)).status, 404);
    assert!(s.get("/webhooks", Some(&key)).json()["webhooks"].as_array().unwrap().is_empty());
    // Both path forms.
    let tenant_form = s.get(&format!("/v1/default/event-receivers/{rid}"), Some(&key));
    assert_eq!(tenant_form.json()["id"], rid, "{}", tenant_form.body);

    let (id, created_by) = scim_user(&s, &key, "set1@example.com", "ext-1");
    let ops = json!([{"op": "replace", "path": "name.familyName", "value": "Lovelace"}]);
    let patched = s.scim_patch(&format!("/scim/v2/Users/{id}"), &key, ops);
    assert_eq!(patched.status, 200, "{}", patched.body);
    let off = s.scim_patch(
        &format!("/scim/v2/Users/{id}"),
        &key,
        json!([{"op": "replace", "path": "active", "value": false}]),
    );
    assert_eq!(off.status, 200, "{}", off.body);
    let got = rx.wait_for(10, "three SETs", |g| g.len() >= 3);
    let keys = jwks(&s);
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
    let claims: Vec<Value> = got.iter().map(|g| verified(&g.body, &keys, &rx.url())).collect();
    for (g, c) in got.iter().zip(&claims) {
        assert_eq!(g.content_type, "application/secevent+jwt");
        assert_eq!(c["iss"], format!("http://{}", s.addr).as_str());
        assert_eq!(
            c["sub_id"],
            json!({"format": "scim", "uri": format!("/Users/{id}"), "externalId": "ext-1"})
        );
        assert_eq!(c["jti"].as_str().unwrap().len(), 32, "a jti per event: {c}");
    }
    let (uri, payload) = event(&claims[0]);
    assert_eq!(uri, format!("{PREFIX}prov:create:notice"));
    let attributes: Vec<&str> =
        payload["attributes"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(
        ["id", "userName", "externalId", "name.givenName"].iter().all(|a| attributes.contains(a)),
        "{payload}"
    );
    assert_eq!(payload["version"], "W/\"1\"");
    assert_eq!(claims[0]["txn"], created_by.as_str(), "txn is the request's id");
    let (uri, payload) = event(&claims[1]);
    assert_eq!(uri, format!("{PREFIX}prov:patch:notice"));
    assert_eq!(payload["attributes"], json!(["name.familyName"]));
    assert_eq!(claims[1]["txn"], patched.header("x-request-id").unwrap());
    let (uri, payload) = event(&claims[2]);
    assert_eq!((uri, payload), (format!("{PREFIX}prov:deactivate"), json!({})));

    // The CLI lists receivers apart from webhooks, with their deliveries.
    let listed = s.cli_line("receiver list --tenant default");
    assert_eq!(listed["receivers"][0]["id"], rid, "{listed}");
    assert!(s.cli_line("webhook list --tenant default")["webhooks"].as_array().unwrap().is_empty());
    let text =
        String::from_utf8(s.cli(&["receiver", "list", "--tenant", "default"]).stdout).unwrap();
    assert!(
        text.lines().any(|l| l.starts_with(rid) && l.contains("push") && l.contains("notice")),
        "{text}"
    );
    // The worker records an attempt a moment after the receiver has seen it.
    let statuses = || -> Vec<String> {
        let deliveries = s.cli_json(&["receiver", "deliveries", "--tenant", "default", rid]);
        let list = deliveries["deliveries"].as_array().unwrap().iter();
        list.filter_map(|d| d["status"].as_str().map(str::to_owned)).collect()
    };
    let mut seen = statuses();
    for _ in 0..100 {
        if seen.len() == 3 && seen.iter().all(|st| st == "succeeded") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        seen = statuses();
    }
    assert_eq!(seen, ["succeeded"; 3]);

    // A new key signs what follows; the old one stays published, so what it signed verifies.
    let rotated = s.cli_line("set-key rotate");
    let new_kid = rotated["rotated"].as_str().unwrap().to_owned();
    assert_eq!(rotated["keys"].as_array().unwrap().len(), 2, "{rotated}");
    let ops = json!([{"op": "replace", "path": "name.familyName", "value": "Byron"}]);
    assert_eq!(s.scim_patch(&format!("/scim/v2/Users/{id}"), &key, ops).status, 200);
    let got = rx.wait_for(10, "the SET after the rotation", |g| g.len() >= 4);
    let keys = jwks(&s);
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    let header = jsonwebtoken::decode_header(&got[3].body).unwrap();
    assert_eq!(header.kid.as_deref(), Some(new_kid.as_str()));
    verified(&got[3].body, &keys, &rx.url());
    verified(&got[0].body, &keys, &rx.url());
    // A SET with a byte changed does not verify.
    let mut forged = got[3].body.clone().into_bytes();
    let at = forged.iter().position(|b| *b == b'.').unwrap() + 5;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let jwk: Jwk = serde_json::from_value(keys["keys"][0].clone()).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[rx.url()]);
    validation.required_spec_claims = HashSet::new();
    validation.validate_exp = false;
    let key2 = DecodingKey::from_jwk(&jwk).unwrap();
    assert!(jsonwebtoken::decode::<Value>(&forged, &key2, &validation).is_err());

    // The discovery document names what is issued, to a key on the 2026 profile (older clients
    // refuse attributes RFC 7643 does not define).
    let compatible = s.get("/scim/v2/ServiceProviderConfig", Some(&key)).json();
    assert!(compatible.get("securityEvents").is_none(), "{compatible}");
    let strict = s.cli_line("key create --tenant default --scope all --scim-profile strict");
    let strict = strict["secret"].as_str().unwrap();
    let spc = s.get("/scim/v2/ServiceProviderConfig", Some(strict)).json();
    let uris = spc["securityEvents"]["eventUris"].as_array().unwrap();
    assert!(uris.contains(&json!(format!("{PREFIX}prov:create:full"))));
    assert!(uris.contains(&json!(format!("{PREFIX}prov:deactivate"))));
}

/// Retries and order per resource come from the webhook outbox: a SET the receiver refused is
/// sent again, and the next one about the same user waits for it.
#[test]
fn a_refused_set_is_retried_before_the_next_about_the_same_user() {
    let (s, key) = Server::keyed();
    let rx = Receiver::start();
    rx.answers.lock().extend([503]);
    let r = s.send(
        "POST",
        "/event-receivers",
        &key,
        &json!({"url": rx.url(), "audience": "https://idp.example/aud", "format": "full"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let (id, _) = scim_user(&s, &key, "retry@example.com", "ext-r");
    let ops = json!([{"op": "replace", "path": "displayName", "value": "Retried"}]);
    assert_eq!(s.scim_patch(&format!("/scim/v2/Users/{id}"), &key, ops).status, 200);
    let got = rx.wait_for(30, "the retry and the patch", |g| g.len() >= 3);
    let keys = jwks(&s);
    let uris: Vec<String> =
        got.iter().map(|g| event(&verified(&g.body, &keys, "https://idp.example/aud")).0).collect();
    assert_eq!(
        uris[..3],
        [
            format!("{PREFIX}prov:create:full"),
            format!("{PREFIX}prov:create:full"),
            format!("{PREFIX}prov:patch:full")
        ]
    );
    let (_, full) = event(&verified(&got[2].body, &keys, "https://idp.example/aud"));
    assert_eq!(full["data"]["displayName"], "Retried");
    assert_eq!(full["data"]["userName"], "retry@example.com");
}

fn poll(s: &Server, key: &str, body: Value) -> Value {
    let r = s.send("POST", "/events/poll", key, &body);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[test]
fn a_polled_receiver_gets_its_sets_until_it_acknowledges_them_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_in(tmp.path(), &[]);
    let key = s.root_key();
    // Before it registers: not news to it.
    scim_user(&s, &key, "before@example.com", "ext-0");
    let r = s.send(
        "POST",
        "/event-receivers",
        &key,
        &json!({"delivery": "poll", "events": ["prov:create"], "audience": "poller"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["delivery"], "poll");
    // Two users by one Bulk: their SETs' txn is the Bulk's, then the operation's index.
    let ops: Vec<Value> = (1..=2)
        .map(|i| {
            json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"),
            "data": {"userName": format!("bulk{i}@example.com")}})
        })
        .collect();
    let bulk = s.request_with(
        "POST",
        "/scim/v2/Bulk",
        Some(&key),
        Some(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": ops})
            .to_string()
            .as_bytes(),
        ),
        &[("Content-Type", "application/scim+json"), ("X-Request-Id", "bulk-7")],
    );
    assert_eq!(bulk.status, 200, "{}", bulk.body);
    scim_user(&s, &key, "third@example.com", "ext-3");

    let got = poll(&s, &key, json!({"returnImmediately": true}));
    let keys = jwks(&s);
    let sets = got["sets"].as_object().unwrap();
    assert_eq!(sets.len(), 3, "{got}");
    assert_eq!(got["moreAvailable"], false);
    let mut by_name = std::collections::HashMap::new();
    for (jti, jwt) in sets {
        let claims = verified(jwt.as_str().unwrap(), &keys, "poller");
        assert_eq!(claims["jti"], jti.as_str());
        let (uri, payload) = event(&claims);
        assert_eq!(uri, format!("{PREFIX}prov:create:notice"));
        assert!(payload["attributes"].as_array().unwrap().contains(&json!("userName")));
        let name = claims["sub_id"]["uri"].as_str().unwrap().to_owned();
        by_name.insert(name, (jti.clone(), claims["txn"].clone()));
    }
    let txns: HashSet<String> =
        by_name.values().filter_map(|(_, t)| t.as_str().map(str::to_owned)).collect();
    assert!(txns.contains("bulk-7:0") && txns.contains("bulk-7:1"), "{txns:?}");

    // Two acknowledged (one as an error report): only the third comes again, after a restart.
    let mut jtis: Vec<(String, String)> =
        by_name.values().map(|(j, t)| (t.as_str().unwrap_or("").to_owned(), j.clone())).collect();
    jtis.sort();
    let third = jtis.iter().find(|(t, _)| !t.starts_with("bulk-7")).unwrap().1.clone();
    let bulk_jtis: Vec<String> =
        jtis.iter().filter(|(t, _)| t.starts_with("bulk-7")).map(|(_, j)| j.clone()).collect();
    let errs = json!({ bulk_jtis[1].clone(): {"err": "invalid_request", "description": "x"} });
    let again =
        poll(&s, &key, json!({"ack": [bulk_jtis[0]], "setErrs": errs, "returnImmediately": true}));
    assert_eq!(again["sets"].as_object().unwrap().keys().collect::<Vec<_>>(), [&third]);
    assert!(s.stop());
    let s = Server::start_in(tmp.path(), &[]);
    let again = poll(&s, &key, json!({"returnImmediately": true, "maxEvents": 10}));
    assert_eq!(again["sets"].as_object().unwrap().keys().collect::<Vec<_>>(), [&third]);
    let done = poll(&s, &key, json!({"ack": [third], "returnImmediately": true}));
    assert!(done["sets"].as_object().unwrap().is_empty(), "{done}");
    let receivers = s.get("/event-receivers", Some(&key)).json();
    assert!(receivers["receivers"][0]["acknowledged_through"].as_u64().unwrap() >= 4);

    // Without returnImmediately it waits for the next one.
    let started = Instant::now();
    let s2 = &s;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            scim_user(s2, &key, "later@example.com", "ext-4");
        });
        let waited = poll(s2, &key, json!({}));
        assert_eq!(waited["sets"].as_object().unwrap().len(), 1, "{waited}");
    });
    assert!(started.elapsed() < Duration::from_secs(20));

    // Bad polls: 4xx, nothing changes.
    let r = s.send("POST", "/events/poll", &key, &json!({"ack": ["not-a-jti"]}));
    assert_eq!(r.status, 400, "{}", r.body);
    let r =
        s.send("POST", "/event-receivers", &key, &json!({"delivery": "poll", "url": "http://x"}));
    assert_eq!(r.status, 400, "{}", r.body);
    let r = s.send(
        "POST",
        "/event-receivers",
        &key,
        &json!({"url": "http://127.0.0.1:9/", "events": ["prov:nope"]}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
}

/// Polls until `done` holds for what came (each SET's claims, verified), acknowledging as it goes.
fn poll_until(s: &Server, key: &str, aud: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let (keys, mut all) = (jwks(s), Vec::new());
    for _ in 0..20 {
        let got = poll(s, key, json!({"maxEvents": 50}));
        let sets = got["sets"].as_object().unwrap();
        let ack: Vec<&String> = sets.keys().collect();
        all.extend(sets.values().map(|jwt| verified(jwt.as_str().unwrap(), &keys, aud)));
        poll(s, key, json!({"ack": ack, "maxEvents": 0}));
        if done(&all) {
            break;
        }
    }
    all
}

/// The `misc:asyncresp` payload of the SET whose `txn` is `txn`.
fn asyncresp(all: &[Value], txn: &str) -> Value {
    let found = all
        .iter()
        .find(|c| c["txn"] == txn && c["events"].get(format!("{PREFIX}misc:asyncresp")).is_some());
    let claims = found.unwrap_or_else(|| panic!("no asyncresp for {txn} in {all:?}"));
    claims["events"][format!("{PREFIX}misc:asyncresp")].clone()
}

#[test]
fn asynchronous_requests_answer_202_and_report_each_operation_as_an_asyncresp_set() {
    let (s, key) = Server::keyed();
    let r = s.send(
        "POST",
        "/event-receivers",
        &key,
        &json!({"delivery": "poll", "events": ["misc:asyncresp", "prov:create"], "audience": "idp"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let (taken, _) = scim_user(&s, &key, "taken@example.com", "ext-t");
    let ops = json!([
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "async@example.com"}},
        {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "taken@example.com"}},
        {"method": "PATCH", "path": "/Users/bulkId:a", "data": {"Operations":
            [{"op": "replace", "path": "displayName", "value": "Async"}]}},
    ]);
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops});
    let r = s.request_with(
        "POST",
        "/scim/v2/Bulk",
        Some(&key),
        Some(body.to_string().as_bytes()),
        &[("Content-Type", "application/scim+json"), ("Prefer", "respond-async")],
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(r.body.is_empty(), "an asynchronous answer has no body: {}", r.body);
    assert_eq!(r.header("preference-applied"), Some("respond-async"));
    let txn = r.header("set-txn").expect("Set-Txn").to_owned();
    let all = poll_until(&s, &key, "idp", |all| {
        all.iter().filter(|c| c["txn"].as_str().is_some_and(|t| t.starts_with(&txn))).count() >= 4
    });
    let created = asyncresp(&all, &format!("{txn}:0"));
    assert_eq!(
        (created["method"].as_str(), created["status"].as_str(), created["bulkId"].as_str()),
        (Some("POST"), Some("201"), Some("a"))
    );
    let location = created["location"].as_str().unwrap();
    let id = location.rsplit('/').next().unwrap();
    let dup = asyncresp(&all, &format!("{txn}:1"));
    assert_eq!(dup["status"], "409", "{dup}");
    assert_eq!(dup["response"]["scimType"], "uniqueness", "{dup}");
    let patched = asyncresp(&all, &format!("{txn}:2"));
    assert_eq!(
        (patched["method"].as_str(), patched["status"].as_str()),
        (Some("PATCH"), Some("200"))
    );
    assert_eq!(patched["version"], "W/\"2\"");
    // The change itself names the operation too.
    let create = all.iter().find(|c| {
        c["events"].get(format!("{PREFIX}prov:create:notice")).is_some()
            && c["txn"] == format!("{txn}:0")
    });
    assert_eq!(create.expect("the create's SET")["sub_id"]["uri"], format!("/Users/{id}"));
    let shown = s.get(&format!("/scim/v2/Users/{id}"), Some(&key)).json();
    assert_eq!(shown["displayName"], "Async");

    // A single write, and a failing one.
    let ops = json!({"schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let r = s.request_with(
        "PATCH",
        &format!("/scim/v2/Users/{taken}"),
        Some(&key),
        Some(ops.to_string().as_bytes()),
        &[("Content-Type", "application/scim+json"), ("Prefer", "respond-async, wait=10")],
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(r.header("location").unwrap().ends_with(&format!("/scim/v2/Users/{taken}")));
    let single = r.header("set-txn").unwrap().to_owned();
    let r = s.request_with(
        "DELETE",
        "/scim/v2/Users/0190a5a0-0000-7000-8000-000000000000",
        Some(&key),
        None,
        &[("Prefer", "respond-async")],
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let missing = r.header("set-txn").unwrap().to_owned();
    let all = poll_until(&s, &key, "idp", |all| {
        [&single, &missing].iter().all(|t| all.iter().any(|c| c["txn"] == t.as_str()))
    });
    let off = asyncresp(&all, &single);
    assert_eq!((off["method"].as_str(), off["status"].as_str()), (Some("PATCH"), Some("200")));
    let gone = asyncresp(&all, &missing);
    assert_eq!((gone["method"].as_str(), gone["status"].as_str()), (Some("DELETE"), Some("404")));
    assert_eq!(s.get(&format!("/scim/v2/Users/{taken}"), Some(&key)).json()["active"], false);

    // The feed carries the outcomes too, and the strict discovery document says so.
    let feed = s.get("/events?limit=1000", Some(&key)).json();
    let outcomes: Vec<&Value> = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "scim.async_response")
        .collect();
    assert_eq!(outcomes.len(), 5, "{feed}");
    assert!(outcomes.iter().any(|e| e["data"]["txn"] == single.as_str()));
    let strict = s.cli_line("key create --tenant default --scope all --scim-profile strict");
    let spc =
        s.get("/scim/v2/ServiceProviderConfig", Some(strict["secret"].as_str().unwrap())).json();
    assert_eq!(spc["securityEvents"]["asyncRequest"], "request");
}

/// A retired key is published for `set_key_retired_days`, then no longer, and a start removes it.
#[test]
fn a_retired_key_is_published_only_for_its_days() {
    let tmp = tempfile::tempdir().unwrap();
    let env = [("WHOOT_LOG", "warn"), ("WHOOT_SET_KEY_RETIRED_DAYS", "0")];
    let s = Server::start_with(tmp.path(), &[], &env, std::process::Stdio::inherit());
    let first = jwks(&s)["keys"][0]["kid"].as_str().unwrap().to_owned();
    let rotated = s.cli_line("set-key rotate");
    let keys = jwks(&s);
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1, "{keys}");
    assert_eq!(keys["keys"][0]["kid"], rotated["rotated"]);
    assert_ne!(keys["keys"][0]["kid"], first.as_str());
    assert_eq!(
        s.cli_line("set-key list")["keys"].as_array().unwrap().len(),
        2,
        "kept until a start"
    );
    assert!(s.stop());
    let s = Server::start_with(tmp.path(), &[], &env, std::process::Stdio::inherit());
    let listed = s.cli_line("set-key list");
    assert_eq!(listed["keys"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["current"], rotated["rotated"]);
}

/// Memberships are SCIM events only in rooms that are SCIM groups: `prov:patch` on the group
/// with `members`; a native room's members get none.
#[test]
fn members_of_a_scim_group_are_patch_events_and_of_a_native_room_none() {
    let (s, key) = Server::keyed();
    let r = s.send(
        "POST",
        "/event-receivers",
        &key,
        &json!({"delivery": "poll", "events": ["prov:patch"], "audience": "groups", "format": "full"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let (user, _) = scim_user(&s, &key, "member@example.com", "ext-m");
    let room =
        s.cli_line("room create --tenant default native-only")["id"].as_str().unwrap().to_owned();
    let added = s.send("POST", &format!("/rooms/{room}/members"), &key, &json!({"user_id": user}));
    assert!(added.status < 300, "{}", added.body);
    let g = s.send("POST", "/scim/v2/Groups", &key, &json!({"displayName": "Pilots"}));
    assert_eq!(g.status, 201, "{}", g.body);
    let group = g.json()["id"].as_str().unwrap().to_owned();
    let ops = json!([{"op": "add", "path": "members", "value": [{"value": user}]}]);
    let patched = s.scim_patch(&format!("/scim/v2/Groups/{group}"), &key, ops).status;
    assert!(patched == 200 || patched == 204, "{patched}");

    let got = poll(&s, &key, json!({"returnImmediately": true}));
    let keys = jwks(&s);
    let sets: Vec<Value> = got["sets"]
        .as_object()
        .unwrap()
        .values()
        .map(|jwt| verified(jwt.as_str().unwrap(), &keys, "groups"))
        .collect();
    assert_eq!(sets.len(), 1, "only the group's member: {sets:?}");
    assert_eq!(sets[0]["sub_id"]["uri"], format!("/Groups/{group}"));
    let (uri, payload) = event(&sets[0]);
    assert_eq!(uri, format!("{PREFIX}prov:patch:full"));
    assert_eq!(payload["data"]["Operations"][0]["op"], "add");
    assert_eq!(payload["data"]["Operations"][0]["value"][0]["value"], user.as_str());
}

/// Past `max_async_requests` in the background, `Prefer: respond-async` gets the normal answer.
#[test]
fn with_no_room_for_asynchronous_requests_the_answer_is_the_normal_one() {
    let tmp = tempfile::tempdir().unwrap();
    let env = [("WHOOT_LOG", "warn"), ("WHOOT_MAX_ASYNC_REQUESTS", "0")];
    let s = Server::start_with(tmp.path(), &[], &env, std::process::Stdio::inherit());
    let key = s.root_key();
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "now@example.com"});
    let r = s.request_with(
        "POST",
        "/scim/v2/Users",
        Some(&key),
        Some(body.to_string().as_bytes()),
        &[("Content-Type", "application/scim+json"), ("Prefer", "respond-async")],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["userName"], "now@example.com");
    assert!(r.header("set-txn").is_none() && r.header("preference-applied").is_none());
}

//! The two SCIM profiles, chosen per key: `compatible` accepts the identity providers' quirks
//! and counts them; `strict` (the 2026 interop profiles) answers each of them 400 with the
//! scimType the profile names, and serves everything the profiles require.

use serde_json::{Value, json};

use crate::harness::{PATCH_OP, Server};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

fn strict_key(s: &Server) -> String {
    let v = s.cli_json(&[
        "key",
        "create",
        "--tenant",
        "default",
        "--scope",
        "all",
        "--scim-profile",
        "strict",
    ]);
    assert_eq!(v["scim_profile"], "strict", "{v}");
    v["secret"].as_str().unwrap().to_owned()
}

/// A user and a group of one member, made by `key`.
fn fixtures(s: &Server, key: &str, tag: &str) -> (String, String) {
    let u = s.send(
        "POST",
        "/scim/v2/Users",
        key,
        &json!({"schemas": [USER], "userName": format!("{tag}@x.example"), "active": true}),
    );
    assert_eq!(u.status, 201, "{}", u.body);
    let user = u.json()["id"].as_str().unwrap().to_owned();
    let g = s.send(
        "POST",
        "/scim/v2/Groups",
        key,
        &json!({"schemas": [GROUP], "displayName": format!("g-{tag}"), "members": [{"value": user}]}),
    );
    assert_eq!(g.status, 201, "{}", g.body);
    (user, g.json()["id"].as_str().unwrap().to_owned())
}

/// One MUST NOT of the profiles: what is sent, and the scimType a strict key gets.
struct Case {
    what: &'static str,
    method: &'static str,
    /// `{user}` and `{group}` stand for the fixtures' ids.
    path: &'static str,
    body: Option<Value>,
    scim_type: &'static str,
}

fn cases() -> Vec<Case> {
    let case = |what, method, path, body: Option<Value>, scim_type| Case {
        what,
        method,
        path,
        body,
        scim_type,
    };
    vec![
        case(
            "an unknown attribute",
            "POST",
            "/scim/v2/Users",
            Some(json!({"schemas": [USER], "userName": "n1@x.example", "shoeSize": 44})),
            "invalidSyntax",
        ),
        case(
            "an unknown schema URI",
            "POST",
            "/scim/v2/Users",
            Some(json!({"schemas": [USER, "urn:example:custom:1.0"], "userName": "n2@x.example"})),
            "invalidSyntax",
        ),
        case(
            "an unknown sub-attribute",
            "POST",
            "/scim/v2/Users",
            Some(json!({"schemas": [USER], "userName": "n3@x.example", "name": {"nick": "n"}})),
            "invalidSyntax",
        ),
        case(
            "a password (not supported)",
            "POST",
            "/scim/v2/Users",
            Some(json!({"schemas": [USER], "userName": "n4@x.example", "password": "hunter2"})),
            "invalidSyntax",
        ),
        case(
            "a string boolean",
            "POST",
            "/scim/v2/Users",
            Some(json!({"schemas": [USER], "userName": "n5@x.example", "active": "True"})),
            "invalidValue",
        ),
        case(
            "an unknown attribute in a replacement",
            "PUT",
            "/scim/v2/Users/{user}",
            Some(json!({"schemas": [USER], "userName": "{tag}@x.example", "nickname2": "x"})),
            "invalidSyntax",
        ),
        case(
            "an unknown attribute of a group",
            "POST",
            "/scim/v2/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "n6", "owner": "x"})),
            "invalidSyntax",
        ),
        case(
            "a filter on an unknown attribute",
            "GET",
            "/scim/v2/Users?filter=shoeSize%20gt%2040",
            None,
            "invalidFilter",
        ),
        case(
            "a group filter on an unknown attribute",
            "GET",
            "/scim/v2/Groups?filter=owner%20eq%20%22x%22",
            None,
            "invalidFilter",
        ),
        case(
            "a root .search filter on an attribute no resource declares",
            "POST",
            "/scim/v2/.search",
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": "shoeSize gt 40"})),
            "invalidFilter",
        ),
        case(
            "a capitalised op",
            "PATCH",
            "/scim/v2/Users/{user}",
            Some(patch(json!([{"op": "Replace", "path": "title", "value": "Boss"}]))),
            "invalidSyntax",
        ),
        case(
            "a PATCH operation without a path",
            "PATCH",
            "/scim/v2/Users/{user}",
            Some(patch(json!([{"op": "replace", "value": {"title": "Boss"}}]))),
            "invalidPath",
        ),
        case(
            "a string boolean in PATCH",
            "PATCH",
            "/scim/v2/Users/{user}",
            Some(patch(json!([{"op": "replace", "path": "active", "value": "False"}]))),
            "invalidValue",
        ),
        case(
            "a filtered path without a sub-attribute",
            "PATCH",
            "/scim/v2/Users/{user}",
            Some(patch(json!([{"op": "replace", "path": "emails[type eq \"work\"]",
                "value": {"value": "w@x.example", "type": "work"}}]))),
            "invalidPath",
        ),
        case(
            "an unknown attribute in a PATCH path",
            "PATCH",
            "/scim/v2/Users/{user}",
            Some(patch(json!([{"op": "add", "path": "shoeSize", "value": 44}]))),
            "invalidSyntax",
        ),
        case(
            "remove with a value (Entra's member removal)",
            "PATCH",
            "/scim/v2/Groups/{group}",
            Some(patch(
                json!([{"op": "remove", "path": "members", "value": [{"value": "{user}"}]}]),
            )),
            "invalidValue",
        ),
        case(
            "a path-less group replace (Okta's group push)",
            "PATCH",
            "/scim/v2/Groups/{group}",
            Some(patch(json!([{"op": "replace", "value": {"displayName": "g-renamed"}}]))),
            "invalidPath",
        ),
    ]
}

fn fill(v: &Value, user: &str, group: &str, tag: &str) -> Value {
    let text =
        v.to_string().replace("{user}", user).replace("{group}", group).replace("{tag}", tag);
    serde_json::from_str(&text).unwrap()
}

#[test]
fn strict_keys_are_refused_every_quirk_that_compatible_keys_are_served() {
    let (s, compatible) = Server::keyed();
    let strict = strict_key(&s);
    let all = cases();
    for (n, c) in all.iter().enumerate() {
        for (profile, key) in [("strict", &strict), ("compatible", &compatible)] {
            let tag = format!("{profile}{n}");
            let (user, group) = fixtures(&s, key, &tag);
            let path = c.path.replace("{user}", &user).replace("{group}", &group);
            let r = match &c.body {
                Some(body) => {
                    let mut body = fill(body, &user, &group, &tag);
                    // Each case's new resources get names of their own.
                    if let Some(name) = body.get("userName").and_then(Value::as_str) {
                        let name = name.replace("@", &format!("-{tag}@"));
                        body["userName"] = json!(name);
                    }
                    if let Some(name) = body.get("displayName").and_then(Value::as_str) {
                        body["displayName"] = json!(format!("{name}-{tag}"));
                    }
                    s.send(c.method, &path, key, &body)
                }
                None => s.request(c.method, &path, Some(key), None),
            };
            if profile == "strict" {
                assert_eq!(r.status, 400, "{}: {}", c.what, r.body);
                let body = r.json();
                assert_eq!(body["scimType"], c.scim_type, "{}: {body}", c.what);
                let detail = body["detail"].as_str().unwrap_or_default();
                assert!(detail.contains("strict SCIM profile"), "{}: {detail}", c.what);
            } else {
                assert!(r.status < 300, "{} (compatible): {} {}", c.what, r.status, r.body);
            }
        }
    }
    eprintln!(
        "{} strict-profile cases, each refused to a strict key and served to a compatible one",
        all.len()
    );

    // A refused request changed nothing.
    let (user, _) = fixtures(&s, &strict, "unchanged");
    let r = s.send(
        "PATCH",
        &format!("/scim/v2/Users/{user}"),
        &strict,
        &patch(json!([{"op": "replace", "path": "title", "value": "A"},
            {"op": "Replace", "path": "title", "value": "B"}])),
    );
    assert_eq!(r.status, 400);
    let now = s.get(&format!("/scim/v2/Users/{user}"), Some(&strict)).json();
    assert!(now.get("title").is_none(), "{now}");
}

/// What the profiles require, served to a strict key: discovery claims the profile; the
/// standard shapes work (add on a single-valued attribute replaces, 50+ member operations in
/// one PATCH, an empty group, count 100 honoured, DELETE then 404 with the identifiers free).
#[test]
fn strict_keys_get_what_the_profiles_require() {
    let (s, compatible) = Server::keyed();
    let strict = strict_key(&s);
    s.cli_json(&["tenant", "set-seats", "default", "1000"]);
    let spc = |key: &str| s.get("/scim/v2/ServiceProviderConfig", Some(key)).json();
    assert_eq!(spc(&strict)["interopProfileConformant"], true);
    assert_eq!(spc(&compatible).get("interopProfileConformant"), None);
    assert_eq!(s.get("/me", Some(&strict)).json()["scim_profile"], "strict");
    assert_eq!(s.get("/me", Some(&compatible)).json()["scim_profile"], "compatible");

    let mut members = Vec::new();
    for i in 0..120 {
        let r = s.send(
            "POST",
            "/scim/v2/Users",
            &strict,
            &json!({"schemas": [USER, ENT], "userName": format!("m{i}@x.example"),
                "emails": [{"value": format!("m{i}@x.example"), "type": "work", "primary": true}],
                ENT: {"department": "Ops"}}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        members.push(r.json()["id"].as_str().unwrap().to_owned());
    }
    let g = s.send(
        "POST",
        "/scim/v2/Groups",
        &strict,
        &json!({"schemas": [GROUP], "displayName": "Empty"}),
    );
    assert_eq!(g.status, 201, "an empty group: {}", g.body);
    let group = g.json()["id"].as_str().unwrap().to_owned();
    let ops: Vec<Value> = members[..60]
        .iter()
        .map(|m| json!({"op": "add", "path": "members", "value": [{"value": m}]}))
        .collect();
    let r = s.send("PATCH", &format!("/scim/v2/Groups/{group}"), &strict, &patch(json!(ops)));
    assert!(r.status < 300, "60 member operations: {}", r.body);
    let shown = s.get(&format!("/scim/v2/Groups/{group}"), Some(&strict)).json();
    assert_eq!(shown["members"].as_array().unwrap().len(), 60);
    let r = s.send(
        "PATCH",
        &format!("/scim/v2/Groups/{group}"),
        &strict,
        &patch(json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", members[0])}])),
    );
    assert!(r.status < 300, "{}", r.body);

    let user = &members[0];
    for title in ["First", "Second"] {
        let r = s.send(
            "PATCH",
            &format!("/scim/v2/Users/{user}"),
            &strict,
            &patch(json!([{"op": "add", "path": "title", "value": title}])),
        );
        assert_eq!((r.status, r.json()["title"].clone()), (200, json!(title)), "{}", r.body);
    }
    let page = s.get("/scim/v2/Users?count=100&startIndex=1", Some(&strict)).json();
    assert_eq!(page["itemsPerPage"], 100);
    let filtered = s
        .get("/scim/v2/Users?filter=emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22m5%40x.example%22", Some(&strict))
        .json();
    assert_eq!(filtered["totalResults"], 1, "{filtered}");

    assert_eq!(
        s.request("DELETE", &format!("/scim/v2/Users/{user}"), Some(&strict), None).status,
        204
    );
    assert_eq!(s.get(&format!("/scim/v2/Users/{user}"), Some(&strict)).status, 404);
    let again = s.send(
        "POST",
        "/scim/v2/Users",
        &strict,
        &json!({"schemas": [USER], "userName": "m0@x.example"}),
    );
    assert_eq!(again.status, 201, "the userName is free again: {}", again.body);
}

/// The profile is a key's, or its tenant's default; the key API, the CLI and the audit log
/// know it; compatible keys' quirks are counted per quirk and client.
#[test]
fn the_profile_is_set_per_key_and_per_tenant_and_quirks_are_counted() {
    let (s, root) = Server::keyed();
    let (plain, plain_id) = s.create_key("default", &["all"]);
    let quirk = patch(json!([{"op": "Replace", "path": "title", "value": "Boss"}]));
    let (user, _) = fixtures(&s, &root, "p");
    let path = format!("/scim/v2/Users/{user}");
    assert_eq!(s.send("PATCH", &path, &plain, &quirk).status, 200);

    // The tenant's default moves the keys without a profile of their own.
    let t = s.cli_json(&["tenant", "set-scim-profile", "default", "strict"]);
    assert_eq!(t["scim_profile"], "strict");
    assert_eq!(s.send("PATCH", &path, &plain, &quirk).status, 400);
    // A key's own profile wins, through the key API.
    let r = s.send(
        "PATCH",
        &format!("/api-keys/{plain_id}"),
        &root,
        &json!({"scim_profile": "compatible"}),
    );
    assert_eq!(
        (r.status, r.json()["scim_profile"].clone()),
        (200, json!("compatible")),
        "{}",
        r.body
    );
    assert_eq!(s.send("PATCH", &path, &plain, &quirk).status, 200);
    let r =
        s.send("PATCH", &format!("/api-keys/{plain_id}"), &root, &json!({"scim_profile": null}));
    assert_eq!(r.json()["scim_profile"], Value::Null);
    assert_eq!(s.send("PATCH", &path, &plain, &quirk).status, 400);
    let bad = s.send(
        "PATCH",
        &format!("/api-keys/{plain_id}"),
        &root,
        &json!({"scim_profile": "lenient"}),
    );
    assert_eq!(bad.status, 400);
    // The CLI, and keys made by the API.
    let v = s.cli_json(&["key", "set-scim-profile", &plain_id, "compatible"]);
    assert_eq!(v["scim_profile"], "compatible");
    let made = s.send(
        "POST",
        "/api-keys",
        &root,
        &json!({"scopes": ["scim:users:read"], "scim_profile": "compatible"}),
    );
    assert_eq!((made.status, made.json()["scim_profile"].clone()), (201, json!("compatible")));
    s.cli_json(&["tenant", "set-scim-profile", "default", "compatible"]);
    let audit = s.get("/audit-log?after=0&limit=500", Some(&root)).json().to_string();
    assert!(audit.contains("tenant.scim_profile_changed"), "{audit}");
    assert!(audit.contains("api_key.scim_profile_changed"), "{audit}");

    // Counted by quirk and client, accepted or refused.
    let r = s.request_with(
        "PATCH",
        &path,
        Some(&plain),
        Some(quirk.to_string().as_bytes()),
        &[("Content-Type", "application/scim+json"), ("User-Agent", "Okta SCIM Client 1.0.0")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let metrics = s.get("/metrics", None).body;
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("whoot_scim_quirks_total")
                && l.contains("quirk=\"capitalised_op\"")
                && l.contains("client=\"okta\"")
                && l.contains("outcome=\"accepted\"")
        })
        .unwrap_or_else(|| panic!("no quirk series in {metrics}"));
    assert!(line.ends_with(" 1"), "{line}");
    // And on the key: what its client would have to change to move to strict.
    let shown = s.get(&format!("/api-keys/{plain_id}"), Some(&root)).json();
    assert_eq!(shown["scim_quirks"]["capitalised_op"], 3, "{shown}");
    let listed = s.get("/api-keys", Some(&root)).json();
    let root_row = listed["keys"].as_array().unwrap().iter().find(|k| k["key_id"] != plain_id);
    assert!(root_row.is_some_and(|k| k["scim_quirks"] == json!({})), "{listed}");
    assert!(metrics.contains("outcome=\"refused\""), "strict refusals are counted too");
}

//! SCIM details IdPs and the RFCs ask for: Entra's value-path matching filter, ordering operators
//! on booleans, PUT without userName, display names derived from the name's parts, and resource
//! paths in any case.

use serde_json::{Value, json};

use crate::harness::{PATCH_OP, Server};

fn create(s: &Server, key: &str, doc: Value) -> Value {
    let r = s.send("POST", "/scim/v2/Users", key, &doc);
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

fn filter(s: &Server, key: &str, f: &str) -> (u16, Value) {
    let q: String = form_urlencoded::byte_serialize(f.as_bytes()).collect();
    let r = s.get(&format!("/scim/v2/Users?filter={q}"), Some(key));
    (r.status, r.json())
}

fn user_names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn entras_matching_filter_respects_the_bracket() {
    let (s, key) = Server::keyed();
    create(
        &s,
        &key,
        json!({"userName": "worker", "emails": [
        {"value": "user@contoso.com", "type": "work", "primary": true}]}),
    );
    create(
        &s,
        &key,
        json!({"userName": "homer", "emails": [
        {"value": "home@contoso.com", "type": "work", "primary": true},
        {"value": "user@contoso.com", "type": "home"}]}),
    );
    create(
        &s,
        &key,
        json!({"userName": "caller", "phoneNumbers": [
        {"value": "+1 555 0100", "type": "mobile"}, {"value": "+1 555 0199", "type": "work"}]}),
    );
    for (f, expected) in [
        (r#"emails[type eq "work"].value eq "user@contoso.com""#, vec!["worker"]),
        (r#"emails[type eq "home"].value eq "user@contoso.com""#, vec!["homer"]),
        (r#"emails[type eq "work"].value eq "USER@contoso.com""#, vec!["worker"]),
        (r#"emails eq "user@contoso.com""#, vec!["homer", "worker"]),
        (r#"emails[type eq "work"].value sw "home""#, vec!["homer"]),
        (r#"phoneNumbers[type eq "work"].value eq "+1 555 0199""#, vec!["caller"]),
        (r#"phoneNumbers[type eq "work"].value eq "+1 555 0100""#, vec![]),
        (r#"emails[type eq "work"].value pr and userName eq "worker""#, vec!["worker"]),
        (r#"not (emails[type eq "work"].value eq "user@contoso.com")"#, vec!["caller", "homer"]),
    ] {
        let (status, list) = filter(&s, &key, f);
        assert_eq!(status, 200, "{f}: {list}");
        assert_eq!(user_names(&list), expected, "{f}");
    }
    // An index lookup: it runs where a scan would be refused.
    let s = Server::start_args(&["--scan-limit", "1"]);
    let key = s.root_key();
    for i in 0..3 {
        create(
            &s,
            &key,
            json!({"userName": format!("u{i}"), "emails": [
            {"value": format!("u{i}@contoso.com"), "type": "work"}]}),
        );
    }
    // IPSIE's forms too: the value inside the brackets, alone or beside the type.
    for f in [
        r#"emails[type eq "work"].value eq "u1@contoso.com""#,
        r#"emails[type eq "work" and value eq "u1@contoso.com"]"#,
        r#"emails[value eq "u1@contoso.com"]"#,
    ] {
        let (status, list) = filter(&s, &key, f);
        assert_eq!((status, user_names(&list)), (200, vec!["u1".to_owned()]), "{f}: {list}");
    }
    let (status, _) = filter(&s, &key, r#"emails[type eq "work"].value sw "u1""#);
    assert_eq!(status, 400, "a scan past the limit");
}

#[test]
fn ordering_operators_on_booleans_are_invalid_filters() {
    let (s, key) = Server::keyed();
    for op in ["gt", "ge", "lt", "le"] {
        let (status, body) = filter(&s, &key, &format!("active {op} true"));
        assert_eq!(
            (status, body["scimType"].clone()),
            (400, json!("invalidFilter")),
            "{op}: {body}"
        );
        let (status, _) = filter(&s, &key, &format!("x509Certificates.value {op} \"a\""));
        assert_eq!(status, 400, "binary {op}");
    }
    assert_eq!(filter(&s, &key, "active eq true").0, 200);
}

#[test]
fn put_without_user_name_is_refused_and_changes_nothing() {
    let (s, key) = Server::keyed();
    let body = json!({"userName": "kept@example.com",
        "emails": [{"value": "mail@example.com", "primary": true}]});
    let u = create(&s, &key, body);
    let id = u["id"].as_str().unwrap();
    let put = json!({"emails": [{"value": "other@example.com", "primary": true}], "active": true});
    let r = s.send("PUT", &format!("/scim/v2/Users/{id}"), &key, &put);
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["scimType"], "invalidValue");
    assert!(r.json()["detail"].as_str().unwrap().contains("userName"));
    let now = s.get(&format!("/scim/v2/Users/{id}"), Some(&key)).json();
    assert_eq!(
        (now["userName"].clone(), now["meta"]["version"].clone()),
        (json!("kept@example.com"), u["meta"]["version"].clone())
    );
    // POST keeps its fallback to the primary email.
    let posted =
        create(&s, &key, json!({"emails": [{"value": "fallback@example.com", "primary": true}]}));
    assert_eq!(posted["userName"], "fallback@example.com");
    let schema =
        s.get("/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", Some(&key)).json();
    let user_name = schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "userName")
        .unwrap()
        .clone();
    assert_eq!(user_name["required"], true);
    assert!(user_name["description"].as_str().unwrap().contains("POST"), "{user_name}");
}

#[test]
fn a_display_name_follows_the_name_parts_until_one_is_set() {
    let (s, key) = Server::keyed();
    // What Okta sends: the parts only.
    let body = json!({"userName": "ada@example.com",
        "name": {"givenName": "Ada", "familyName": "Lovelace", "honorificPrefix": "Countess"}});
    let u = create(&s, &key, body);
    let id = u["id"].as_str().unwrap().to_owned();
    assert_eq!(u["name"]["formatted"], "Countess Ada Lovelace");
    let native = s.get(&format!("/users/{id}"), Some(&key)).json();
    assert_eq!(
        (native["user"]["display_name"].clone(), native["user"]["full_name"].clone()),
        (json!("Countess Ada Lovelace"), json!("Countess Ada Lovelace"))
    );
    // The group's member list shows it.
    let g = s.send(
        "POST",
        "/scim/v2/Groups",
        &key,
        &json!({"displayName": "Analysts", "members": [{"value": id}]}),
    );
    assert_eq!(g.json()["members"][0]["display"], "Countess Ada Lovelace", "{}", g.body);
    // A part changes: the name follows.
    let patch = json!({"schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "name.familyName", "value": "King"}]});
    let patched = s.send("PATCH", &format!("/scim/v2/Users/{id}"), &key, &patch).json();
    assert_eq!(patched["name"]["formatted"], "Countess Ada King");
    let (_, found) = filter(&s, &key, r#"name.formatted eq "Countess Ada King""#);
    assert_eq!(found["totalResults"], 1);
    // Set explicitly: it stays, whatever the parts do.
    let set = json!({"schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "name.formatted", "value": "A. Lovelace"}]});
    s.send("PATCH", &format!("/scim/v2/Users/{id}"), &key, &set);
    let renamed = json!({"schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "name.givenName", "value": "Augusta"}]});
    let after = s.send("PATCH", &format!("/scim/v2/Users/{id}"), &key, &renamed).json();
    assert_eq!(after["name"]["formatted"], "A. Lovelace");
    // Nothing to derive from: no formatted name, and the member display falls back to userName.
    let plain = create(&s, &key, json!({"userName": "plain@example.com"}));
    assert!(plain.get("name").is_none(), "{plain}");
}

#[test]
fn scim_paths_in_any_case_reach_the_same_endpoints() {
    let (s, key) = Server::keyed();
    let r = s.send("POST", "/scim/v2/users", &key, &json!({"userName": "lower@example.com"}));
    assert_eq!(r.status, 201, "{}", r.body);
    // meta.location stays canonical.
    assert!(
        r.json()["meta"]["location"].as_str().unwrap().contains("/scim/v2/Users/"),
        "{}",
        r.body
    );
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(s.get(&format!("/scim/v2/USERS/{id}"), Some(&key)).status, 200);
    assert_eq!(s.get("/v1/default/scim/v2/groups", Some(&key)).status, 200);
    assert_eq!(s.get("/scim/v2/serviceproviderconfig", Some(&key)).status, 200);
    assert_eq!(s.get("/scim/v2/resourcetypes", Some(&key)).status, 200);
    assert_eq!(s.get("/scim/v2/SCHEMAS", Some(&key)).status, 200);
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName pr"});
    assert_eq!(s.send("POST", "/scim/v2/Users/.SEARCH", &key, &search).status, 200);
    assert_eq!(s.send("POST", "/scim/v2/.Search", &key, &search).status, 200);
    let bulk =
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": []});
    assert_eq!(s.send("POST", "/scim/v2/bulk", &key, &bulk).status, 200);
    // Native paths stay as they are.
    assert_eq!(s.get("/USERS", Some(&key)).status, 404);
}

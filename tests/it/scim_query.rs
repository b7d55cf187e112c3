//! SCIM queries: a table of filters with their expected matches, paging edges, sorting,
//! projection, `.search`, and discovery.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::harness::Server;
use crate::scim_users::create;

const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Five users a..e, created in that order.
fn seed(s: &Server, key: &str) {
    let users = [
        json!({"userName": "alice@example.com", "externalId": "ext-1", "title": "Engineer",
            "name": {"givenName": "Alice", "familyName": "Anders", "formatted": "Alice Anders"},
            "emails": [{"value": "alice@example.com", "type": "work", "primary": true}, {"value": "alice@home.org", "type": "home"}],
            "roles": ["admin"], ENT: {"department": "R&D", "employeeNumber": "100"}}),
        json!({"userName": "bob@example.com", "externalId": "ext-2", "title": "Manager", "displayName": "Bob Brown",
            "name": {"givenName": "Bob", "familyName": "Brown", "formatted": "Bob Brown"},
            "emails": [{"value": "bob@example.com", "type": "work", "primary": true}],
            "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}],
            ENT: {"department": "Sales", "employeeNumber": "200"}}),
        json!({"userName": "carol@example.org", "externalId": "ext-3", "active": false,
            "name": {"givenName": "Carol", "familyName": "Chen", "formatted": "Carol Chen"},
            "emails": [{"value": "carol@example.org", "type": "work", "primary": true}], ENT: {"department": "R&D"}}),
        json!({"userName": "dave@example.org", "title": "Engineer", "roles": ["editor"],
            "name": {"givenName": "Dave", "familyName": "Diaz", "formatted": "Dave Diaz"},
            "emails": [{"value": "dave@example.org", "type": "work", "primary": true}, {"value": "DAVE@personal.net", "type": "other"}]}),
        json!({"userName": "Eve.Evans@Example.com", "externalId": "EXT-5", "title": "intern"}),
    ];
    for u in users {
        create(s, key, u);
    }
}

fn names(list: &Value) -> BTreeSet<String> {
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["userName"]
                .as_str()
                .unwrap()
                .split('@')
                .next()
                .unwrap()
                .to_lowercase()
                .chars()
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn query(s: &Server, key: &str, q: &str) -> (u16, Value) {
    let r = s.get(&format!("/scim/v2/Users?{q}"), Some(key));
    (r.status, r.json())
}

fn encode(filter: &str) -> String {
    form_urlencoded::byte_serialize(filter.as_bytes()).collect()
}

#[test]
fn filter_table() {
    let (s, key) = Server::keyed();
    seed(&s, &key);
    let table: &[(&str, &str)] = &[
        (r#"userName eq "alice@example.com""#, "a"),
        (r#"userName eq "ALICE@EXAMPLE.COM""#, "a"),
        (r#"userName eq "eve.evans@example.com""#, "e"),
        (r#"userName ne "alice@example.com""#, "bcde"),
        (r#"userName co "example.org""#, "cd"),
        (r#"userName sw "b""#, "b"),
        (r#"userName ew ".com""#, "abe"),
        (r#"externalId eq "ext-1""#, "a"),
        (r#"externalId eq "EXT-1""#, ""),
        (r#"externalId eq "EXT-5""#, "e"),
        (r#"externalId pr"#, "abce"),
        (r#"not (externalId pr)"#, "d"),
        (r#"title pr"#, "abde"),
        (r#"title eq "engineer""#, "ad"),
        (r#"active eq true"#, "abde"),
        (r#"active eq false"#, "c"),
        (r#"active eq true and title eq "Engineer""#, "ad"),
        (r#"title eq "Manager" or title eq "intern""#, "be"),
        (r#"(title eq "Manager" or title eq "intern") and active eq true"#, "be"),
        (r#"title eq "Manager" or title eq "intern" and active eq false"#, "b"),
        (r#"emails[type eq "home"]"#, "a"),
        (r#"emails[type eq "work" and value co "example.org"]"#, "cd"),
        (r#"emails co "personal""#, "d"),
        (r#"emails.value eq "dave@personal.net""#, "d"),
        (r#"emails eq "bob@example.com""#, "b"),
        (r#"emails.type eq "other""#, "d"),
        (r#"name.givenName eq "Carol""#, "c"),
        (r#"name.familyName sw "b""#, "b"),
        (r#"name.formatted co "an""#, "a"),
        (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "R&D""#, "ac"),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber gt "150""#,
            "b",
        ),
        (r#"phoneNumbers[type eq "mobile"]"#, "b"),
        (r#"phoneNumbers pr"#, "b"),
        (r#"roles[value eq "admin"]"#, "a"),
        (r#"roles.value eq "editor""#, "d"),
        (r#"meta.resourceType eq "User""#, "abcde"),
        (r#"meta.created gt "2000-01-01T00:00:00Z""#, "abcde"),
        (r#"meta.lastModified lt "2000-01-01T00:00:00Z""#, ""),
        (r#"not (active eq true) or userName sw "a""#, "ac"),
        (r#"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName eq "dave""#, "d"),
        (r#"displayName eq "Bob Brown""#, "b"),
        (r#"USERNAME Eq "bob@example.com""#, "b"),
        (r#"id pr"#, "abcde"),
        (r#"title eq null"#, "c"),
        (r#"userName eq "bob@example.com" and active eq false"#, ""),
        (r#"emails[type eq "work" and primary eq true] and not (title eq "Engineer")"#, "bc"),
    ];
    for (filter, expected) in table {
        let (status, list) = query(&s, &key, &format!("filter={}", encode(filter)));
        assert_eq!(status, 200, "{filter}: {list}");
        let want: BTreeSet<String> = expected.chars().map(|c| c.to_string()).collect();
        assert_eq!(names(&list), want, "{filter}");
        assert_eq!(list["totalResults"], want.len(), "{filter}");
        assert_eq!(list["itemsPerPage"], want.len(), "{filter}");
    }
    for bad in [
        r#"userName eq"#,
        r#"userName xx "a""#,
        r#"(userName eq "a""#,
        r#"userName eq bob"#,
        r#"emails[type eq "work""#,
        r#"userName eq "a" and"#,
        r#"userName eq "unterminated"#,
    ] {
        let (status, body) = query(&s, &key, &format!("filter={}", encode(bad)));
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["scimType"], "invalidFilter", "{bad}");
    }
}

#[test]
fn paging_edges_and_order() {
    let (s, key) = Server::keyed();
    seed(&s, &key);
    let (_, all) = query(&s, &key, "");
    assert_eq!(all["totalResults"], 5);
    assert_eq!(all["startIndex"], 1);
    let order = crate::harness::strings(&all["Resources"], "userName");
    assert_eq!(order[0], "alice@example.com", "creation order");
    assert_eq!(order[4], "Eve.Evans@Example.com");

    let (_, page) = query(&s, &key, "startIndex=2&count=2");
    assert_eq!(page["itemsPerPage"], 2);
    assert_eq!(page["startIndex"], 2);
    assert_eq!(page["totalResults"], 5);
    assert_eq!(page["Resources"][0]["userName"], "bob@example.com");
    let (_, beyond) = query(&s, &key, "startIndex=100");
    assert_eq!(
        (beyond["totalResults"].clone(), beyond["itemsPerPage"].clone()),
        (json!(5), json!(0))
    );
    assert_eq!(beyond["Resources"], json!([]));
    let (_, zero) = query(&s, &key, "count=0");
    assert_eq!((zero["totalResults"].clone(), zero["itemsPerPage"].clone()), (json!(5), json!(0)));
    let (_, low) = query(&s, &key, "startIndex=0&count=1");
    assert_eq!(low["startIndex"], 1);
    assert_eq!(low["Resources"][0]["userName"], "alice@example.com");
    let (_, filtered_page) =
        query(&s, &key, &format!("filter={}&startIndex=2&count=1", encode("active eq true")));
    assert_eq!(filtered_page["totalResults"], 4);
    assert_eq!(filtered_page["Resources"][0]["userName"], "bob@example.com");
    assert_eq!(query(&s, &key, "startIndex=abc").0, 400);
    assert_eq!(query(&s, &key, "count=1.5").0, 400);

    // Okta's existence check.
    let (_, okta) = query(
        &s,
        &key,
        &format!("filter={}&startIndex=1&count=100", encode(r#"userName eq "nobody@example.com""#)),
    );
    assert_eq!(
        okta,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []})
    );
}

#[test]
fn sorting_projection_and_search() {
    let (s, key) = Server::keyed();
    seed(&s, &key);
    let (_, sorted) = query(&s, &key, "sortBy=name.givenName&sortOrder=descending");
    let given: Vec<&str> = sorted["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"]["givenName"].as_str())
        .collect();
    assert_eq!(given, ["Dave", "Carol", "Bob", "Alice"]);
    assert!(sorted["Resources"][4]["name"].is_null(), "users without the attribute sort last");
    let (_, by_name) = query(&s, &key, "sortBy=userName&count=2");
    assert_eq!(by_name["Resources"][1]["userName"], "bob@example.com");
    assert_eq!(query(&s, &key, "sortBy=userName&sortOrder=sideways").0, 400);

    let (_, projected) = query(&s, &key, "attributes=userName,name.givenName&count=1");
    assert_eq!(
        projected["Resources"][0],
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
        "id": projected["Resources"][0]["id"], "userName": "alice@example.com", "name": {"givenName": "Alice"}})
    );
    let (_, excluded) = query(&s, &key, "excludedAttributes=emails,meta,id&count=1");
    let first = &excluded["Resources"][0];
    assert!(first.get("emails").is_none() && first.get("meta").is_none());
    assert!(first["id"].is_string(), "id is always returned");

    let search = s.send("POST", "/scim/v2/Users/.search", &key, &json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "title eq \"Engineer\"", "attributes": ["userName"], "sortBy": "userName", "sortOrder": "descending",
        "startIndex": 1, "count": 10}));
    assert_eq!(search.status, 200, "{}", search.body);
    let found = search.json();
    assert_eq!(found["totalResults"], 2);
    assert_eq!(found["Resources"][0]["userName"], "dave@example.org");
    assert!(found["Resources"][0].get("title").is_none());
    let bad =
        s.send("POST", "/v1/default/scim/v2/Users/.search", &key, &json!({"filter": "title eq"}));
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["scimType"], "invalidFilter");

    let one = s
        .get(
            &format!("/scim/v2/Users/{}?attributes=userName", first["id"].as_str().unwrap()),
            Some(&key),
        )
        .json();
    assert_eq!(one.as_object().unwrap().len(), 3, "{one}");
}

#[test]
fn discovery_describes_the_server() {
    let s = Server::start();
    let (groups_reader, _) = s.create_key("default", &["scim:groups:read"]);
    let (usage_only, _) = s.create_key("default", &["usage"]);
    let denied = s.get("/scim/v2/ServiceProviderConfig", Some(&usage_only));
    assert_eq!(denied.status, 403);
    assert_eq!(denied.json()["required_scope"], "scim:users:read");
    assert_eq!(denied.json()["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");

    let spc = s.get("/v1/default/scim/v2/ServiceProviderConfig", Some(&groups_reader)).json();
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["filter"], json!({"supported": true, "maxResults": 1000}));
    assert_eq!(spc["sort"]["supported"], true);
    assert_eq!(spc["etag"]["supported"], true);
    assert_eq!(spc["changePassword"]["supported"], false);
    assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");

    let types = s.get("/scim/v2/ResourceTypes", Some(&groups_reader)).json();
    assert_eq!(types["totalResults"], 2);
    assert_eq!(types["Resources"][1]["endpoint"], "/Groups");
    assert_eq!(types["Resources"][0]["schemaExtensions"][0]["schema"], ENT);
    assert_eq!(
        s.get("/scim/v2/ResourceTypes/User", Some(&groups_reader)).json()["endpoint"],
        "/Users"
    );
    assert_eq!(s.get("/scim/v2/ResourceTypes/Nope", Some(&groups_reader)).status, 404);

    let schemas = s.get("/scim/v2/Schemas", Some(&groups_reader)).json();
    assert_eq!(schemas["totalResults"], 3);
    let user = s
        .get("/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", Some(&groups_reader))
        .json();
    let user_name =
        user["attributes"].as_array().unwrap().iter().find(|a| a["name"] == "userName").unwrap();
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["caseExact"], false);
    assert_eq!(user_name["required"], true);
    let ent = s.get(&format!("/scim/v2/Schemas/{ENT}"), Some(&groups_reader)).json();
    assert!(ent["attributes"].as_array().unwrap().iter().any(|a| a["name"] == "manager"));
}

/// `sw` on userName or externalId walks the index: it answers past the scan budget (which
/// refuses the same question asked of a non-indexed attribute), with the same matches, in
/// creation order, and with externalId's case kept exact.
#[test]
fn starts_with_on_an_indexed_attribute_is_an_index_walk() {
    let s = Server::start_args(&["--scan-limit", "3"]);
    let key = s.root_key();
    seed(&s, &key);
    let q = |f: &str| query(&s, &key, &format!("filter={}", encode(f)));
    let (status, list) = q(r#"userName sw "ALI""#);
    assert_eq!(status, 200, "{list}");
    assert_eq!(names(&list), BTreeSet::from(["a".to_string()]));
    let (status, list) = q(r#"userName sw "e""#);
    assert_eq!((status, list["totalResults"].clone()), (200, json!(1)), "{list}");
    // Case-exact externalId: "ext-" is three users, not EXT-5.
    let (status, list) = q(r#"externalId sw "ext-""#);
    assert_eq!(status, 200, "{list}");
    assert_eq!(names(&list), BTreeSet::from(["a", "b", "c"].map(String::from)));
    let order: Vec<&str> = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["externalId"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["ext-1", "ext-2", "ext-3"], "creation order");
    // Combined with another condition, the walk finds the candidates and the filter decides.
    let (status, list) = q(r#"externalId sw "ext-" and active eq false"#);
    assert_eq!((status, names(&list)), (200, BTreeSet::from(["c".to_string()])));
    // More prefix matches than the budget, or a prefix no index serves: 400 tooMany.
    let (status, list) = q(r#"userName sw """#);
    assert_eq!((status, list["scimType"].clone()), (400, json!("tooMany")), "{list}");
    let (status, list) = q(r#"title sw "Eng""#);
    assert_eq!((status, list["scimType"].clone()), (400, json!("tooMany")), "{list}");
}

/// A plain page is written straight from the records; it must be byte for byte what the
/// filtered path (through a JSON tree, with the filter matching everyone) answers.
#[test]
fn a_plain_page_is_the_same_bytes_as_the_general_path() {
    let (s, key) = Server::keyed();
    seed(&s, &key);
    let plain = s.get("/scim/v2/Users?startIndex=1&count=10", Some(&key));
    let general =
        s.get(&format!("/scim/v2/Users?count=10&filter={}", encode("userName pr")), Some(&key));
    assert_eq!((plain.status, general.status), (200, 200));
    assert_eq!(plain.json()["totalResults"], 5);
    assert_eq!(plain.body, general.body);
    // And with a projection, the general path's answer.
    let some = s.get("/scim/v2/Users?count=2&attributes=userName", Some(&key)).json();
    assert_eq!(some["Resources"][0].as_object().unwrap().len(), 3, "{some}");
}

/// An equality on an indexed attribute answers from the index straight to bytes: the same bytes
/// the general path gives for the same matches (the extra `pr` sends a filter down that path).
#[test]
fn an_indexed_equality_is_the_same_bytes_as_the_general_path() {
    let (s, key) = Server::keyed();
    seed(&s, &key);
    for (filter, q) in [
        (r#"userName eq "BOB@example.com""#, ""),
        (r#"emails eq "alice@home.org""#, ""),
        (r#"emails.value eq "dave@personal.net""#, ""),
        (r#"externalId eq "EXT-5""#, ""),
        (r#"externalId eq "ext-5""#, ""),
        (r#"userName eq "bob@example.com""#, "&startIndex=2"),
        (r#"userName eq "bob@example.com""#, "&count=0"),
    ] {
        let fast = s.get(&format!("/scim/v2/Users?filter={}{q}", encode(filter)), Some(&key));
        let general = format!("({filter}) and userName pr");
        let general = s.get(&format!("/scim/v2/Users?filter={}{q}", encode(&general)), Some(&key));
        assert_eq!((fast.status, general.status), (200, 200), "{filter}");
        assert_eq!(fast.body, general.body, "{filter}{q}");
    }
    let (_, hit) = query(&s, &key, &format!("filter={}", encode(r#"emails eq "alice@home.org""#)));
    assert_eq!(names(&hit), BTreeSet::from(["a".to_string()]));
    let (_, none) = query(&s, &key, &format!("filter={}", encode(r#"externalId eq "ext-5""#)));
    assert_eq!(none["totalResults"], 0, "externalId is case-exact");
}

/// `active eq` and `meta.lastModified gt|ge` walk indexes: past the scan budget, exact (a
/// timestamp to the millisecond, `gt` excluding it, `ge` including it), `active` in creation
/// order with its total from the seat counter, modification times in modification order.
#[test]
fn sync_filters_walk_indexes_past_the_scan_budget() {
    let s = Server::start_args(&["--scan-limit", "2"]);
    let key = s.root_key();
    seed(&s, &key);
    let q = |f: &str, rest: &str| query(&s, &key, &format!("filter={}{rest}", encode(f)));
    let (status, on) = q("active eq true", "");
    assert_eq!((status, on["totalResults"].clone()), (200, json!(4)), "{on}");
    assert_eq!(names(&on), BTreeSet::from(["a", "b", "d", "e"].map(String::from)));
    let (_, off) = q("active eq false", "");
    assert_eq!(names(&off), BTreeSet::from(["c".to_string()]));
    let (_, page) = q("active eq true", "&startIndex=2&count=2");
    let got: Vec<&str> = page["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(
        (page["totalResults"].clone(), got),
        (json!(4), vec!["bob@example.com", "dave@example.org"])
    );

    // Alice changes last: after Bob's time, she and everyone created after Bob, in that order.
    let all = query(&s, &key, "count=10").1;
    let bob = all["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["userName"] == "bob@example.com")
        .unwrap()
        .clone();
    let alice = all["Resources"][0]["id"].as_str().unwrap().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let r = s.scim_patch(
        &format!("/scim/v2/Users/{alice}"),
        &key,
        json!([{"op": "replace", "path": "title", "value": "Lead"}]),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let since = bob["meta"]["lastModified"].as_str().unwrap();
    let (status, after) = q(&format!(r#"meta.lastModified gt "{since}""#), "");
    assert_eq!(status, 200, "{after}");
    let order: Vec<&str> = after["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(order.first(), Some(&"carol@example.org"), "{order:?}");
    assert_eq!(order.last(), Some(&"alice@example.com"), "modification order: {order:?}");
    assert!(!order.contains(&"bob@example.com"), "gt excludes Bob's own time");
    let (_, from) = q(&format!(r#"meta.lastModified ge "{since}""#), "");
    assert_eq!(
        from["totalResults"].as_u64(),
        Some(after["totalResults"].as_u64().unwrap() + 1),
        "ge includes Bob"
    );
    // A projection walks the same index, past the budget too.
    let (status, projected) = q("active eq true", "&attributes=userName");
    assert_eq!(status, 200, "{projected}");
    let first = &projected["Resources"][0];
    assert!(first["userName"].is_string() && first.get("emails").is_none(), "{first}");
    // Not an exact index question (an `or`): the general path, with its budget.
    let (status, _) = q("active eq true or title eq \"x\"", "");
    assert_eq!(status, 400);
}

/// A deleted user leaves the walks that sync filters and deep pages take: `active eq`,
/// `meta.lastModified ge` and `startIndex` answer as if it had never been.
#[test]
fn deleted_users_leave_the_sync_filters_and_the_positions() {
    let (s, key) = Server::keyed();
    seed(&s, &key);
    let (_, all) = query(&s, &key, "");
    let ids = crate::harness::strings(&all["Resources"], "id");
    // bob (active) and carol (inactive).
    for id in &ids[1..3] {
        assert_eq!(
            s.request("DELETE", &format!("/scim/v2/Users/{id}"), Some(&key), None).status,
            204
        );
    }
    for (filter, expected) in [
        (r#"active eq true"#, "ade"),
        (r#"active eq false"#, ""),
        (r#"meta.lastModified ge "2000-01-01T00:00:00Z""#, "ade"),
    ] {
        let (status, list) = query(&s, &key, &format!("filter={}", encode(filter)));
        assert_eq!(status, 200, "{filter}: {list}");
        assert_eq!(names(&list), expected.chars().map(|c| c.to_string()).collect(), "{filter}");
        assert_eq!(list["totalResults"], expected.len(), "{filter}");
    }
    let (_, page) = query(&s, &key, "startIndex=2&count=2");
    assert_eq!(page["totalResults"], 3);
    assert_eq!(crate::harness::strings(&page["Resources"], "id"), [ids[3].clone(), ids[4].clone()]);
    let (_, past) = query(&s, &key, "startIndex=4");
    assert_eq!(past["Resources"], json!([]));
    // The active ones are a, d, e: the second of them is d.
    let q = format!("filter={}&startIndex=2&count=1", encode("active eq true"));
    let (_, second) = query(&s, &key, &q);
    assert_eq!(
        (names(&second), second["totalResults"].clone()),
        (["d".to_owned()].into(), json!(3))
    );
    let (_, beyond) = query(&s, &key, &format!("filter={}&startIndex=9", encode("active eq true")));
    assert_eq!(
        (beyond["Resources"].clone(), beyond["totalResults"].clone()),
        (json!([]), json!(3))
    );
    // And `check` finds the store consistent.
    assert_eq!(s.cli_json(&["check"])["problems"], json!([]));
}

/// A user by id is written straight from the record: the same bytes as through a JSON tree
/// (a projection that leaves everything sends it down that path).
#[test]
fn a_user_by_id_is_the_same_bytes_as_the_projected_path() {
    let (s, key) = Server::keyed();
    seed(&s, &key);
    let (_, all) = query(&s, &key, "");
    for id in crate::harness::strings(&all["Resources"], "id") {
        let fast = s.get(&format!("/scim/v2/Users/{id}"), Some(&key));
        let general =
            s.get(&format!("/scim/v2/Users/{id}?excludedAttributes=nickName"), Some(&key));
        assert_eq!((fast.status, general.status), (200, 200));
        assert_eq!(fast.body, general.body, "{id}");
        assert_eq!(fast.header("etag"), general.header("etag"));
    }
}

/// An index prefix walk stays within its tenant: a later tenant's keys sort right after this
/// one's, and a walk that ran on into them matched users that are not this tenant's (404).
#[test]
fn prefix_filters_stay_within_the_tenant() {
    let (s, key) = Server::keyed();
    create(&s, &key, json!({"userName": "alice"}));
    s.cli_json(&["tenant", "create", "later", "--seats", "5"]);
    let (other, _) = s.create_key("later", &["scim:users:read", "scim:users:write"]);
    create(&s, &other, json!({"userName": "zed-later"}));
    for filter in [r#"userName sw "z""#, r#"userName sw "zed""#] {
        let (status, list) = query(&s, &key, &format!("filter={}", encode(filter)));
        assert_eq!((status, list["totalResults"].clone()), (200, json!(0)), "{filter}: {list}");
        let (status, list) = query(&s, &other, &format!("filter={}", encode(filter)));
        assert_eq!((status, list["totalResults"].clone()), (200, json!(1)), "{filter}: {list}");
    }
}

/// Entra's gallery validator flattens `/Schemas` into attribute names (a multi-valued
/// attribute's sub-attributes once per canonical `type`: `emails[type eq "work"].value`;
/// extension attributes behind their URN) and looks every attribute of its default mapping up
/// in that list, case-insensitively. Every `type` sub-attribute declares its canonical values.
#[test]
fn the_schemas_hold_every_attribute_entra_maps() {
    let (s, key) = Server::keyed();
    let schemas = s.get("/scim/v2/Schemas", Some(&key)).json();
    let mut names = BTreeSet::new();
    for schema in schemas["Resources"].as_array().unwrap() {
        let id = schema["id"].as_str().unwrap();
        let prefix = if id.contains(":extension:") { format!("{id}:") } else { String::new() };
        for a in schema["attributes"].as_array().unwrap() {
            let name = format!("{prefix}{}", a["name"].as_str().unwrap());
            names.insert(name.to_lowercase());
            let subs = a["subAttributes"].as_array().cloned().unwrap_or_default();
            let types = subs.iter().find(|s| s["name"] == "type").map(|t| {
                let canonical = t["canonicalValues"].as_array();
                assert!(canonical.is_some_and(|c| !c.is_empty()), "{name}.type: {t}");
                canonical.unwrap().clone()
            });
            for sub in &subs {
                let sub = sub["name"].as_str().unwrap();
                names.insert(format!("{name}.{sub}").to_lowercase());
                for t in types.iter().flatten() {
                    let t = t.as_str().unwrap();
                    names.insert(format!("{name}[type eq \"{t}\"].{sub}").to_lowercase());
                }
            }
        }
    }
    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let entra_default_mapping = [
        "userName".to_owned(),
        "active".to_owned(),
        "displayName".to_owned(),
        "title".to_owned(),
        "emails[type eq \"work\"].value".to_owned(),
        "preferredLanguage".to_owned(),
        "name.givenName".to_owned(),
        "name.familyName".to_owned(),
        "name.formatted".to_owned(),
        "addresses[type eq \"work\"].formatted".to_owned(),
        "addresses[type eq \"work\"].streetAddress".to_owned(),
        "addresses[type eq \"work\"].locality".to_owned(),
        "addresses[type eq \"work\"].region".to_owned(),
        "addresses[type eq \"work\"].postalCode".to_owned(),
        "addresses[type eq \"work\"].country".to_owned(),
        "phoneNumbers[type eq \"work\"].value".to_owned(),
        "phoneNumbers[type eq \"mobile\"].value".to_owned(),
        "phoneNumbers[type eq \"fax\"].value".to_owned(),
        "externalId".to_owned(),
        format!("{ENT}:employeeNumber"),
        format!("{ENT}:department"),
        format!("{ENT}:manager"),
        // Groups
        "members".to_owned(),
    ];
    let missing: Vec<_> =
        entra_default_mapping.iter().filter(|n| !names.contains(&n.to_lowercase())).collect();
    assert!(missing.is_empty(), "not in /Schemas: {missing:?}");
}

/// Sorted by userName, a page at any `startIndex` (ascending or descending, over every user or
/// the active ones) is the slice of the whole sorted list, past the scan budget too, and so is a
/// page of `meta.lastModified ge` in modification order; and they stay so while users are
/// renamed, deactivated, deleted and created between pages.
#[test]
fn deep_pages_in_index_order_are_slices_of_the_whole_through_changes() {
    let s = Server::start_args(&["--scan-limit", "50"]);
    let key = s.root_key();
    s.cli_json(&["tenant", "set-seats", "default", "1000"]);
    // Names in no particular order, of mixed case (sorting ignores case).
    let name = |i: usize| match i % 3 {
        0 => format!("User{:03}@Example.com", (i * 37) % 400),
        _ => format!("user{:03}@example.com", (i * 37) % 400),
    };
    let ops: Vec<Value> = (0..400)
        .map(|i| {
            json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"),
            "data": {"userName": name(i), "active": i % 5 != 0}})
        })
        .collect();
    let r = s.send("POST", "/scim/v2/Bulk", &key, &json!({"schemas": [BULK], "Operations": ops}));
    assert_eq!(r.status, 200, "{}", r.body);
    let ids: Vec<String> = r.json()["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| {
            op["location"]
                .as_str()
                .unwrap_or_else(|| panic!("{op}"))
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();

    // The whole list as the client sees it.
    let everyone = |s: &Server| -> Vec<Value> {
        let mut all = Vec::new();
        for start in (1..).step_by(100) {
            let page = s.get(&format!("/scim/v2/Users?startIndex={start}&count=100"), Some(&key));
            let page = page.json();
            let got = page["Resources"].as_array().unwrap().clone();
            let last = got.len() < 100;
            all.extend(got);
            if last {
                break;
            }
        }
        all
    };
    let check_pages = |s: &Server| {
        let users = everyone(s);
        // (lowercase userName, active), sorted.
        let mut all: Vec<(String, bool)> = users
            .iter()
            .map(|u| (u["userName"].as_str().unwrap().to_lowercase(), u["active"] == json!(true)))
            .collect();
        all.sort();
        for (filter, active) in [("", None), ("&filter=active%20eq%20true", Some(true))] {
            let mut want: Vec<String> = all
                .iter()
                .filter(|(_, on)| active.is_none_or(|a| a == *on))
                .map(|(n, _)| n.clone())
                .collect();
            for order in ["ascending", "descending"] {
                if order == "descending" {
                    want.reverse();
                }
                for start in [1, 2, 77, 150, want.len() - 3, want.len() + 5] {
                    let path = format!(
                        "/scim/v2/Users?sortBy=userName&sortOrder={order}&startIndex={start}\
                         &count=25{filter}"
                    );
                    let r = s.get(&path, Some(&key));
                    assert_eq!(r.status, 200, "{path}: {}", r.body);
                    let page = r.json();
                    let got: Vec<String> = crate::harness::strings(&page["Resources"], "userName")
                        .iter()
                        .map(|n| n.to_lowercase())
                        .collect();
                    let expected: Vec<String> =
                        want.iter().skip(start - 1).take(25).cloned().collect();
                    assert_eq!(got, expected, "{path}");
                    assert_eq!(page["totalResults"], json!(want.len()), "{path}");
                    assert_eq!(page["startIndex"], json!(start), "{path}");
                }
            }
        }
        // `meta.lastModified ge` pages through modification order (then id), from a time in
        // the middle: every page the slice of the whole, and the total exact.
        let mut by_time: Vec<(jiff::Timestamp, String)> = users
            .iter()
            .map(|u| {
                let at = u["meta"]["lastModified"].as_str().unwrap().parse().unwrap();
                (at, u["id"].as_str().unwrap().to_owned())
            })
            .collect();
        by_time.sort();
        let since = by_time[by_time.len() / 3].0;
        let want: Vec<&str> =
            by_time.iter().filter(|(at, _)| *at >= since).map(|(_, id)| id.as_str()).collect();
        let filter = format!("meta.lastModified%20ge%20%22{since}%22");
        for start in [1, 2, 77, want.len() - 3, want.len() + 5] {
            let path = format!("/scim/v2/Users?filter={filter}&startIndex={start}&count=25");
            let page = s.get(&path, Some(&key)).json();
            let got = crate::harness::strings(&page["Resources"], "id");
            let expected: Vec<&str> = want.iter().skip(start - 1).take(25).copied().collect();
            assert_eq!(got, expected, "{path}");
            assert_eq!(page["totalResults"], json!(want.len()), "{path}");
        }
    };
    check_pages(&s);

    // Renames (to a new place, and in case only), deactivations, deletions and new users.
    for (n, id) in ids.iter().enumerate().step_by(7) {
        let ops = match n % 3 {
            0 => {
                json!([{"op": "replace", "path": "userName", "value": format!("aaa-{n}@example.com")}])
            }
            1 => json!([{"op": "replace", "path": "active", "value": false}]),
            _ => json!([{"op": "replace", "path": "userName", "value": name(n).to_uppercase()}]),
        };
        let body = json!({"schemas": [crate::harness::PATCH_OP], "Operations": ops});
        let r = s.send("PATCH", &format!("/scim/v2/Users/{id}"), &key, &body);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    for id in ids.iter().skip(3).step_by(11) {
        let r = s.request("DELETE", &format!("/scim/v2/Users/{id}"), Some(&key), None);
        assert_eq!(r.status, 204, "{}", r.body);
    }
    for i in 0..40 {
        let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("new{i:02}@example.com"), "active": i % 2 == 0});
        assert_eq!(s.send("POST", "/scim/v2/Users", &key, &user).status, 201);
    }
    check_pages(&s);

    // The largest startIndex: an empty page, not an overflow.
    for query in [
        "sortBy=userName&sortOrder=descending",
        "filter=meta.lastModified%20ge%20%222000-01-01T00:00:00Z%22",
        "filter=active%20eq%20true&sortBy=userName",
    ] {
        let path = format!("/scim/v2/Users?{query}&startIndex=9223372036854775807");
        let r = s.get(&path, Some(&key));
        assert_eq!((r.status, r.json()["itemsPerPage"].clone()), (200, json!(0)), "{path}");
    }
    // A projection of a sorted page keeps the order.
    let page = s.get("/scim/v2/Users?sortBy=userName&count=3&attributes=userName", Some(&key));
    let page = page.json();
    let names = crate::harness::strings(&page["Resources"], "userName");
    assert_eq!(names.len(), 3);
    assert!(names[0].starts_with("aaa-"), "{names:?}");
    assert!(page["Resources"][0].get("emails").is_none());
}

//! Requests meant to take the server down: an 8,000-term filter through every place that parses
//! one, and a sort over values of mixed JSON types. Each gets a clear 4xx, and the server keeps
//! serving everyone.

use serde_json::{Value, json};

use crate::harness::{PATCH_OP, Server};

const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

fn long_filter() -> String {
    vec!["userName pr"; 8000].join(" and ")
}

#[test]
fn a_filter_of_8000_terms_is_a_400_everywhere_and_the_server_lives() {
    let (s, key) = Server::keyed();
    let user = s.send("POST", "/scim/v2/Users", &key, &json!({"userName": "x@example.com"}));
    let id = user.json()["id"].as_str().unwrap().to_owned();
    let filter = long_filter();
    let search = json!({"schemas": [SEARCH], "filter": filter});
    let patch_path = format!("emails[{filter}].value");
    let patch =
        json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": patch_path}]});
    let cases: Vec<(&str, String, Value, &str)> = vec![
        ("POST", "/scim/v2/Users/.search".into(), search.clone(), "invalidFilter"),
        ("POST", "/scim/v2/Groups/.search".into(), search.clone(), "invalidFilter"),
        ("POST", "/scim/v2/.search".into(), search, "invalidFilter"),
        ("PATCH", format!("/scim/v2/Users/{id}"), patch.clone(), "invalidPath"),
    ];
    for (method, path, body, scim_type) in cases {
        let r = s.send(method, &path, &key, &body);
        assert_eq!(r.status, 400, "{method} {path}: {}", r.body);
        assert_eq!(r.json()["scimType"], scim_type, "{method} {path}");
        assert!(r.json()["detail"].as_str().unwrap().contains("8192"), "{}", r.body);
    }
    let short = vec!["userName pr"; 300].join(" and ");
    let r = s.get(&format!("/scim/v2/Users?filter={}", short.replace(' ', "%20")), Some(&key));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["detail"].as_str().unwrap().contains("256 comparisons"), "{}", r.body);
    let bulk = json!({"schemas": [BULK], "Operations": [
        {"method": "PATCH", "path": format!("/Users/{id}"), "data": patch}]});
    let r = s.send("POST", "/scim/v2/Bulk", &key, &bulk);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["Operations"][0]["status"], "400", "{}", r.body);
    // Still serving, and nothing changed.
    assert_eq!(s.get("/me", Some(&key)).status, 200);
    let after = s.get(&format!("/scim/v2/Users/{id}"), Some(&key)).json();
    assert_eq!(after["meta"]["version"], user.json()["meta"]["version"]);
}

#[test]
fn sorting_on_values_of_mixed_types_is_a_total_order() {
    let (s, key) = Server::keyed();
    let phones =
        [json!("+1 555 0100"), json!(5550101), json!(true), json!(null), json!({"n": 1}), json!(2)];
    for (i, phone) in phones.iter().enumerate() {
        let body = json!({"userName": format!("p{i}@example.com"),
            "phoneNumbers": [{"value": phone, "type": "work"}]});
        assert_eq!(s.send("POST", "/scim/v2/Users", &key, &body).status, 201);
    }
    for order in ["ascending", "descending"] {
        let r = s.get(
            &format!("/scim/v2/Users?sortBy=phoneNumbers.value&sortOrder={order}"),
            Some(&key),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["totalResults"], 6);
    }
    let r = s.get("/scim/v2/Users?sortBy=phoneNumbers.value", Some(&key)).json();
    let first: Vec<Value> = r["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["phoneNumbers"][0]["value"].clone())
        .collect();
    // Booleans, then numbers, then strings, then objects; the user without a value last.
    assert_eq!(first[0], json!(true), "{first:?}");
    assert_eq!((first[1].clone(), first[2].clone()), (json!(2), json!(5550101)), "{first:?}");
    assert_eq!(s.get("/me", Some(&key)).status, 200);
}

#[test]
fn a_scan_past_scan_limit_is_400_too_many_and_an_index_lookup_is_not() {
    let s = Server::start_args(&["--scan-limit", "50"]);
    let key = s.root_key();
    let ops: Vec<Value> = (0..60)
        .map(|i| {
            json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"),
            "data": {"userName": format!("u{i}@example.com"), "active": i % 2 == 0}})
        })
        .collect();
    let r = s.send("POST", "/scim/v2/Bulk", &key, &json!({"schemas": [BULK], "Operations": ops}));
    assert_eq!(r.status, 200, "{}", r.body);
    for query in ["filter=title%20eq%20%22x%22", "sortBy=title", "filter=userName%20sw%20%22u%22"] {
        let r = s.get(&format!("/scim/v2/Users?{query}"), Some(&key));
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert_eq!(r.json()["scimType"], "tooMany", "{query}");
        assert!(r.json()["detail"].as_str().unwrap().contains("scan_limit of 50"), "{}", r.body);
    }
    let search = json!({"schemas": [SEARCH], "filter": "active eq false"});
    assert_eq!(s.send("POST", "/scim/v2/.search", &key, &search).json()["scimType"], "tooMany");
    let r = s.get("/scim/v2/Users?filter=userName%20eq%20%22u7@example.com%22", Some(&key));
    assert_eq!((r.status, r.json()["totalResults"].clone()), (200, json!(1)), "{}", r.body);
    // `active eq` walks its index: past the budget too.
    let r = s.get("/scim/v2/Users?filter=active%20eq%20true", Some(&key));
    assert_eq!((r.status, r.json()["totalResults"].clone()), (200, json!(30)), "{}", r.body);
    // Nor does sorting by userName: its order is kept with counts.
    let r = s.get("/scim/v2/Users?sortBy=userName&startIndex=55", Some(&key));
    assert_eq!((r.status, r.json()["itemsPerPage"].clone()), (200, json!(6)), "{}", r.body);
    // Plain paging needs no scan.
    assert_eq!(
        s.get("/scim/v2/Users?startIndex=55&count=10", Some(&key)).json()["itemsPerPage"],
        6
    );
}

#[test]
fn a_filtered_list_keeps_only_its_page() {
    let (s, key) = Server::keyed();
    let ops: Vec<Value> = (0..30)
        .map(|i| {
            json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"),
            "data": {"userName": format!("p{i:02}@example.com"), "active": i % 3 != 0}})
        })
        .collect();
    s.send("POST", "/scim/v2/Bulk", &key, &json!({"schemas": [BULK], "Operations": ops}));
    let page =
        s.get("/scim/v2/Users?filter=active%20eq%20true&startIndex=4&count=3", Some(&key)).json();
    assert_eq!((page["totalResults"].clone(), page["itemsPerPage"].clone()), (json!(20), json!(3)));
    let names = crate::harness::strings(&page["Resources"], "userName");
    // Active ones are those with i % 3 != 0: 01 02 04 05 07 08 …; the 4th to 6th of them.
    assert_eq!(names, ["p05@example.com", "p07@example.com", "p08@example.com"]);
    let sorted = s
        .get(
            "/scim/v2/Users?filter=active%20eq%20true&sortBy=userName&sortOrder=descending&count=2",
            Some(&key),
        )
        .json();
    assert_eq!(sorted["totalResults"], 20);
    assert_eq!(sorted["Resources"][0]["userName"], "p29@example.com");
    let beyond = s.get("/scim/v2/Users?filter=active%20eq%20true&startIndex=25", Some(&key)).json();
    assert_eq!(
        (beyond["totalResults"].clone(), beyond["itemsPerPage"].clone()),
        (json!(20), json!(0))
    );
}

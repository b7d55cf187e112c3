//! Cursor paging (RFC 9865 in SCIM, `cursor` natively): walks that return each resource once, in
//! creation order, also while others create and delete; bad cursors; discovery.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use crate::harness::Server;

const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

fn seed(s: &Server, key: &str, n: usize, prefix: &str) -> Vec<String> {
    let ops: Vec<Value> = (0..n)
        .map(|i| {
            json!({"method": "POST", "path": "/Users", "bulkId": format!("{prefix}{i}"),
            "data": {"userName": format!("{prefix}{i:03}@example.com"), "active": i % 3 != 0}})
        })
        .collect();
    let r = s.send("POST", "/scim/v2/Bulk", key, &json!({"schemas": [BULK], "Operations": ops}));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["location"].as_str().unwrap().rsplit('/').next().unwrap().to_owned())
        .collect()
}

/// Walks `path` (which ends in `cursor=`) to the end; every page's ids, and the last page.
fn walk(s: &Server, key: &str, path: &str) -> (Vec<Vec<String>>, Value) {
    let mut pages = Vec::new();
    let mut url = path.to_owned();
    loop {
        let r = s.get(&url, Some(key));
        assert_eq!(r.status, 200, "{url}: {}", r.body);
        let page = r.json();
        let ids: Vec<String> = page["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect();
        pages.push(ids);
        match page["nextCursor"].as_str() {
            Some(next) => {
                let base = path.rsplit_once("cursor=").unwrap().0;
                url = format!("{base}cursor={next}");
            }
            None => return (pages, page),
        }
        assert!(pages.len() < 1000, "the walk does not end");
    }
}

#[test]
fn a_scim_cursor_walk_returns_everyone_once_in_order() {
    let (s, key) = Server::keyed();
    let ids = seed(&s, &key, 25, "c");
    let (pages, last) = walk(&s, &key, "/scim/v2/Users?count=7&cursor=");
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [7, 7, 7, 4]);
    assert_eq!(pages.concat(), ids, "each once, in creation order");
    assert_eq!((last["totalResults"].clone(), last["itemsPerPage"].clone()), (json!(25), json!(4)));
    assert!(last.get("nextCursor").is_none());

    // With a filter no index serves: only matches, and pages may be short.
    let (pages, _) = walk(&s, &key, "/scim/v2/Users?filter=active%20eq%20true&count=4&cursor=");
    let active: Vec<String> =
        ids.iter().enumerate().filter(|(i, _)| i % 3 != 0).map(|(_, id)| id.clone()).collect();
    assert_eq!(pages.concat(), active);
    // The same through .search, with projection.
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "cursor": "", "count": 30, "attributes": ["userName"]});
    let r = s.send("POST", "/scim/v2/Users/.search", &key, &search).json();
    assert_eq!(r["itemsPerPage"], 25);
    assert!(r["Resources"][0].get("emails").is_none() && r["Resources"][0]["userName"].is_string());
    // An indexed filter pages too.
    let r =
        s.get("/scim/v2/Users?filter=userName%20eq%20%22c004@example.com%22&cursor=", Some(&key));
    assert_eq!(r.json()["Resources"][0]["id"], ids[4].as_str());

    // A page that ends exactly where a scan budget stops still leads on.
    let s2 = Server::start_args(&["--scan-limit", "5"]);
    let k2 = s2.root_key();
    let ids2 = seed(&s2, &k2, 12, "b");
    let (pages, _) = walk(
        &s2,
        &k2,
        "/scim/v2/Users?filter=userName%20ew%20%22b011@example.com%22&count=10&cursor=",
    );
    assert_eq!(pages.concat(), [ids2[11].clone()], "{pages:?}");
    assert!(pages.len() >= 3, "each page examines at most 5 users: {pages:?}");
}

#[test]
fn bad_cursors_and_cursor_with_sort_are_refused() {
    let (s, key) = Server::keyed();
    seed(&s, &key, 5, "x");
    let page = s.get("/scim/v2/Users?count=2&cursor=", Some(&key)).json();
    let next = page["nextCursor"].as_str().unwrap().to_owned();
    for bad in ["garbage".to_owned(), format!("{next}x"), "AAAA".to_owned()] {
        let r = s.get(&format!("/scim/v2/Users?cursor={bad}"), Some(&key));
        assert_eq!(
            (r.status, r.json()["scimType"].clone()),
            (400, json!("invalidCursor")),
            "{bad}"
        );
    }
    // A cursor serves only the query that made it.
    let r = s.get(&format!("/scim/v2/Users?filter=active%20eq%20true&cursor={next}"), Some(&key));
    assert_eq!(r.json()["scimType"], "invalidCursor");
    let r = s.get("/scim/v2/Users?sortBy=userName&cursor=", Some(&key));
    assert_eq!(r.status, 400);
    let spc = s.get("/scim/v2/ServiceProviderConfig", Some(&key)).json();
    assert_eq!(
        (spc["pagination"]["cursor"].clone(), spc["pagination"]["index"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(spc["pagination"]["maxPageSize"], 1000);
}

#[test]
fn a_cursor_walk_misses_and_repeats_nobody_while_others_come_and_go() {
    let s = Arc::new(Server::start_args(&["--rate-limit", "0"]));
    let key = s.root_key();
    s.cli_json(&["tenant", "set-seats", "default", "1000"]);
    let stable: HashSet<String> = seed(&s, &key, 200, "s").into_iter().collect();
    let doomed: Vec<String> = seed(&s, &key, 60, "d");
    let stop = Arc::new(AtomicBool::new(false));
    let churned = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let churn = {
        let (s, key, stop, churned) = (s.clone(), key.clone(), stop.clone(), churned.clone());
        std::thread::spawn(move || {
            for (i, id) in doomed.into_iter().enumerate() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                assert_eq!(
                    s.request("DELETE", &format!("/scim/v2/Users/{id}"), Some(&key), None).status,
                    204
                );
                churned.fetch_add(1, Ordering::Relaxed);
                let r = s.send(
                    "POST",
                    "/scim/v2/Users",
                    &key,
                    &json!({"userName": format!("new{i}@example.com")}),
                );
                assert_eq!(r.status, 201);
            }
        })
    };
    while churned.load(Ordering::Relaxed) == 0 {
        std::thread::yield_now();
    }
    let (pages, _) = walk(&s, &key, "/scim/v2/Users?count=2&cursor=");
    let during = churned.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    assert!(during > 1, "the walk overlapped the churn: {during} deletions before it ended");
    churn.join().unwrap();
    let all = pages.concat();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for id in &all {
        *seen.entry(id.as_str()).or_default() += 1;
    }
    assert!(seen.values().all(|&n| n == 1), "someone returned twice");
    for id in &stable {
        assert_eq!(seen.get(id.as_str()), Some(&1), "{id}, present throughout, missed");
    }
}

#[test]
fn groups_and_native_lists_page_by_cursor_too() {
    let (s, key) = Server::keyed();
    let ids = seed(&s, &key, 13, "n");
    let mut groups = Vec::new();
    for i in 0..5 {
        let r = s.send("POST", "/scim/v2/Groups", &key, &json!({"displayName": format!("g{i}")}));
        groups.push(r.json()["id"].as_str().unwrap().to_owned());
    }
    let (pages, last) = walk(&s, &key, "/scim/v2/Groups?count=2&cursor=");
    assert_eq!(pages.concat(), groups);
    assert_eq!(last["totalResults"], 5);

    // Native users: next_cursor until the end; offset paging offers one too.
    let mut walked = Vec::new();
    let mut url = "/users?limit=5&cursor=".to_owned();
    loop {
        let page = s.get(&url, Some(&key)).json();
        walked.extend(
            page["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => url = format!("/users?limit=5&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(walked, ids);
    let offset = s.get("/users?limit=5&offset=5", Some(&key)).json();
    assert_eq!((offset["offset"].clone(), offset["total"].clone()), (json!(5), json!(13)));
    let next = offset["next_cursor"].as_str().unwrap();
    let after = s.get(&format!("/users?limit=5&cursor={next}"), Some(&key)).json();
    assert_eq!(after["users"][0]["id"], ids[10].as_str());
    assert_eq!(s.get("/users?cursor=nonsense", Some(&key)).status, 400);

    // Native room members.
    let room = s.cli_line("room create --tenant default Paged")["id"].as_str().unwrap().to_owned();
    let members: Vec<Value> =
        ids.iter().filter(|_| true).map(|id| json!({"user_id": id})).collect();
    let active: Vec<String> =
        ids.iter().enumerate().filter(|(i, _)| i % 3 != 0).map(|(_, id)| id.clone()).collect();
    let body = json!({"members": members.iter().enumerate().filter(|(i, _)| i % 3 != 0).map(|(_, m)| m.clone()).collect::<Vec<_>>()});
    let r = s.send("PUT", &format!("/rooms/{room}/members"), &key, &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let mut walked = Vec::new();
    let mut url = format!("/rooms/{room}/members?limit=3&cursor=");
    loop {
        let page = s.get(&url, Some(&key)).json();
        walked.extend(
            page["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["user_id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => url = format!("/rooms/{room}/members?limit=3&cursor={next}"),
            None => break,
        }
    }
    let mut expected = active.clone();
    expected.sort();
    assert_eq!(walked, expected, "members in user-id order");
}

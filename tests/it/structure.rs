//! What the structure step promised beyond "behaviour unchanged": one version bump for many
//! members, protocol errors that keep their RFC type through the writer, the admin socket
//! answering with the API's error mapping, and the layers of the source tree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Value, json};

use crate::harness::{PATCH_OP, Server};

/// `n` users made in one Bulk request; their ids.
fn users(s: &Server, key: &str, n: usize) -> Vec<String> {
    let ops: Vec<Value> = (0..n)
        .map(|i| {
            json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"),
                "data": {"userName": format!("member{i}@example.com")}})
        })
        .collect();
    let r = s.send("POST", "/scim/v2/Bulk", key, &json!({"Operations": ops}));
    assert_eq!(r.status, 200, "{}", r.body);
    let results = r.json()["Operations"].as_array().unwrap().clone();
    results
        .iter()
        .map(|o| {
            assert_eq!(o["status"], "201", "{o}");
            o["location"].as_str().unwrap().rsplit('/').next().unwrap().to_owned()
        })
        .collect()
}

fn version(s: &Server, key: &str, group: &str) -> u64 {
    let g = s.get(&format!("/scim/v2/Groups/{group}?excludedAttributes=members"), Some(key));
    assert_eq!(g.status, 200, "{}", g.body);
    let etag = g.json()["meta"]["version"].as_str().unwrap().to_owned();
    etag.trim_start_matches("W/").trim_matches('"').parse().unwrap()
}

#[test]
fn adding_two_hundred_members_moves_the_group_version_by_one() {
    let (s, key) = Server::keyed();
    assert!(s.cli(&["tenant", "set-seats", "default", "1000"]).status.success());
    let ids = users(&s, &key, 400);
    let g = s.send("POST", "/scim/v2/Groups", &key, &json!({"displayName": "Everyone"}));
    assert_eq!(g.status, 201, "{}", g.body);
    let group = g.json()["id"].as_str().unwrap().to_owned();
    let before = version(&s, &key, &group);

    // Okta's shape: one operation listing every member.
    let (first, second) = ids.split_at(200);
    let values: Vec<Value> = first.iter().map(|id| json!({"value": id})).collect();
    let ops = json!([{"op": "add", "path": "members", "value": values}]);
    let r = s.scim_patch(&format!("/scim/v2/Groups/{group}"), &key, json!(ops));
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(version(&s, &key, &group), before + 1);

    // Entra's shape: one operation per member.
    let ops: Vec<Value> = second
        .iter()
        .map(|id| json!({"op": "add", "path": "members", "value": [{"value": id}]}))
        .collect();
    let r = s.scim_patch(&format!("/scim/v2/Groups/{group}"), &key, json!(ops));
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(version(&s, &key, &group), before + 2);

    let room = s.get(&format!("/rooms/{group}"), Some(&key)).json();
    assert_eq!(room["member_count"], 400);
    // Still one event per member, all in the stream.
    let feed = s.get("/events?limit=1000", Some(&key)).json();
    let added = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "room.member_added" && e["data"]["room_id"] == group.as_str())
        .count();
    assert_eq!(added, 400);
}

#[test]
fn a_patch_error_found_while_applying_keeps_its_scim_type() {
    let (s, key) = Server::keyed();
    let r = s.send("POST", "/scim/v2/Users", &key, &json!({"userName": "pat@example.com"}));
    let id = r.json()["id"].as_str().unwrap().to_owned();
    // Found only when the operation meets the stored user (userName is not complex), so on the
    // writer's thread: it must come back as invalidPath, not a flattened invalidValue.
    let ops = json!([{"op": "replace", "path": "userName.first", "value": "x"}]);
    let r = s.scim_patch(&format!("/scim/v2/Users/{id}"), &key, json!(ops));
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["scimType"], "invalidPath", "{}", r.body);
    // A group member path the parser refuses inside a no-path value: invalidPath too.
    let g = s.send("POST", "/scim/v2/Groups", &key, &json!({"displayName": "G"})).json();
    let ops = json!([{"op": "add", "value": {"members[": []}}]);
    let r = s.send(
        "PATCH",
        &format!("/scim/v2/Groups/{}", g["id"].as_str().unwrap()),
        &key,
        &json!({"schemas": [PATCH_OP], "Operations": ops}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["scimType"], "invalidPath", "{}", r.body);
    // Nothing changed.
    let u = s.get(&format!("/scim/v2/Users/{id}"), Some(&key)).json();
    assert_eq!(u["userName"], "pat@example.com");
    assert_eq!(u["meta"]["version"], "W/\"1\"");
}

#[test]
fn the_admin_socket_answers_with_the_api_error_mapping() {
    let s = Server::start();
    let request = |body: &str| {
        s.admin_raw(
            format!(
                "POST /admin HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    };
    let missing = request(r#"{"op": "tenant-show", "slug": "nope"}"#);
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    assert!(missing.contains(r#""code":"NOT_FOUND""#), "{missing}");
    assert!(missing.contains("tenant nope not found"), "{missing}");
    let taken = request(r#"{"op": "tenant-create", "slug": "default", "name": "x", "seats": 1}"#);
    assert!(taken.starts_with("HTTP/1.1 409"), "{taken}");
    assert!(taken.contains(r#""code":"CONFLICT""#), "{taken}");
    let bad = request(
        r#"{"op": "key-create", "tenant": "default", "scopes": ["nope"],
        "description": "", "expires_in": null}"#,
    );
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    assert!(bad.contains(r#""code":"INVALID_REQUEST""#), "{bad}");
}

/// Which top-level modules each top-level module names (`crate::x`), outside comments.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, code) in source_files() {
        let top = module.split("::").next().unwrap_or_default().to_owned();
        let named = graph.entry(top.clone()).or_default();
        for path in named_after(&code, "crate::") {
            if let Some(first) = path.first().filter(|f| **f != top && **f != "self") {
                named.insert((*first).to_owned());
            }
        }
    }
    graph
}

#[test]
fn the_layers_have_no_circles_and_the_faces_do_not_meet() {
    let graph = imports();
    let faces = ["native", "scim", "console"];
    let above = ["api", "server", "cli", "admin"];
    for face in faces {
        for other in faces.iter().chain(&above).filter(|o| **o != face) {
            let names = graph.get(face).is_some_and(|n| n.contains(*other));
            assert!(!names, "{face} imports {other}");
        }
    }
    // Below the faces: nothing imports a face or the layers above them.
    for low in ["http", "repr", "store", "auth", "webhooks", "metrics", "shutdown", "time"] {
        for high in faces.iter().chain(&above) {
            let names = graph.get(low).is_some_and(|n| n.contains(*high));
            assert!(!names, "{low} imports {high}");
        }
    }
    for leaf in ["metrics", "shutdown", "time"] {
        assert!(graph.get(leaf).is_none_or(BTreeSet::is_empty), "{leaf} imports {:?}", graph[leaf]);
    }
    // No circle between top-level modules: a depth-first walk never meets a module on its path.
    fn walk<'a>(
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        at: &'a str,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(at) {
            return;
        }
        assert!(!path.contains(&at), "import circle: {} -> {at}", path.join(" -> "));
        path.push(at);
        for next in graph.get(at).into_iter().flatten() {
            walk(graph, next, path, done);
        }
        path.pop();
        done.insert(at);
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        walk(&graph, module, &mut Vec::new(), &mut done);
    }
    assert!(graph.contains_key("api") && graph["api"].contains("scim"), "the walk saw the tree");
}

/// Every source file's module path (`src/scim/groups/mod.rs` → `scim::groups`) and its code
/// without comment lines and without its unit tests.
fn source_files() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(&src).unwrap().with_extension("");
                let mut parts: Vec<String> =
                    rel.components().map(|c| c.as_os_str().to_string_lossy().into()).collect();
                if parts.last().is_some_and(|p| p == "mod" || p == "lib" || p == "main") {
                    parts.pop();
                }
                let text = std::fs::read_to_string(&path).unwrap();
                // A file's unit tests may reach anywhere: what they name is no part of the shape.
                let text = without_unit_tests(&text);
                let code: Vec<&str> =
                    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
                out.push((parts.join("::"), code.join("\n")));
            }
        }
    }
    out
}

/// `text` up to its `#[cfg(test)] mod tests` (with any `#[allow(…)]` between them).
fn without_unit_tests(text: &str) -> &str {
    for (at, tag) in text.match_indices("#[cfg(test)]\n") {
        let mut rest = &text[at + tag.len()..];
        while rest.starts_with("#[") {
            rest = rest.split_once('\n').map_or("", |(_, r)| r);
        }
        if rest.starts_with("mod tests") {
            return &text[..at];
        }
    }
    text
}

/// The paths a file names after `prefix` (`crate::` or `super::`), braces expanded one level.
fn named_after<'a>(code: &'a str, prefix: &str) -> Vec<Vec<&'a str>> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices(prefix) {
        if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        let path: &str = rest
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '{'))
            .next()
            .unwrap_or("");
        let (head, list) = match path.split_once('{') {
            Some((head, _)) => {
                let inner = rest[head.len() + 1..].split('}').next().unwrap_or("");
                (head.trim_end_matches("::"), inner.split(',').map(str::trim).collect())
            }
            None => ("", vec![path]),
        };
        for item in list {
            let mut parts: Vec<&str> = head.split("::").filter(|p| !p.is_empty()).collect();
            parts.extend(item.split("::").map(|p| p.trim()).filter(|p| !p.is_empty()));
            out.push(parts);
        }
    }
    out
}

#[test]
fn no_source_file_imports_in_a_circle() {
    let graph = file_graph();
    let modules: BTreeSet<&String> = graph.keys().collect();
    // Strongly connected groups of modules (Tarjan's algorithm).
    #[derive(Default)]
    struct Walk<'a> {
        next: usize,
        /// Each module's (index, lowest index it reaches).
        seen: BTreeMap<&'a str, (usize, usize)>,
        stack: Vec<&'a str>,
        groups: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(v: &'a str, graph: &'a BTreeMap<String, BTreeSet<String>>, walk: &mut Walk<'a>) {
        walk.seen.insert(v, (walk.next, walk.next));
        walk.next += 1;
        walk.stack.push(v);
        for w in graph.get(v).into_iter().flatten().map(String::as_str) {
            let reach = match walk.seen.get(w).copied() {
                None => {
                    visit(w, graph, walk);
                    walk.seen[w].1
                }
                Some((index, _)) if walk.stack.contains(&w) => index,
                Some(_) => continue,
            };
            let low = reach.min(walk.seen[v].1);
            walk.seen.insert(v, (walk.seen[v].0, low));
        }
        if walk.seen[v].0 == walk.seen[v].1 {
            let mut group = Vec::new();
            while let Some(w) = walk.stack.pop() {
                group.push(w);
                if w == v {
                    break;
                }
            }
            walk.groups.push(group);
        }
    }
    let mut walk = Walk::default();
    for m in &modules {
        if !walk.seen.contains_key(m.as_str()) {
            visit(m, &graph, &mut walk);
        }
    }
    let circles: Vec<&Vec<&str>> = walk.groups.iter().filter(|g| g.len() > 1).collect();
    assert!(circles.is_empty(), "import circles: {circles:?}");
    // The walk saw the tree: edges through `super::` and `crate::` both count.
    assert!(graph["api::table"].contains("api::bulk"));
    assert!(graph["scim::groups::changes"].contains("scim::groups::resource"));
    assert!(graph["native::users"].contains("repr::users"));
    assert!(graph["store::lifecycle"].contains("store::rooms"));
    assert!(graph["store::lifecycle"].contains("store::users"));
}

/// The module graph at file level: which module files each one names (`crate::`, `super::`).
fn file_graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = source_files();
    let modules: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, code) in &files {
        let parent: Vec<&str> = module.split("::").collect();
        let parent = &parent[..parent.len().saturating_sub(1)];
        let mut paths = named_after(code, "crate::");
        for p in named_after(code, "super::") {
            paths.push(parent.iter().copied().chain(p).collect());
        }
        let named = graph.entry(module.clone()).or_default();
        for p in paths {
            let target =
                (1..=p.len()).rev().map(|n| p[..n].join("::")).find(|m| modules.contains(m));
            if let Some(t) = target.filter(|t| t != module) {
                named.insert(t);
            }
        }
    }
    graph
}

/// The store's rooms: its façade (`store/mod.rs`) is on top, and no module inside names it
/// (the helpers every domain module shares live below them, in `record` and `txn`); nothing
/// outside `store/` touches redb, so no face or worker opens a table.
#[test]
fn the_store_is_entered_from_the_top_and_its_tables_only_from_inside() {
    let graph = file_graph();
    // Modules compiled only for tests (the crash simulation) drive the whole store from above.
    let facade =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/mod.rs"))
            .unwrap();
    let test_only: Vec<String> = facade
        .split("#[cfg(test)]\n")
        .skip(1)
        .filter_map(|rest| rest.lines().next())
        .filter_map(|line| line.trim_start_matches("pub(crate) ").strip_prefix("mod "))
        .map(|name| format!("store::{}", name.trim_end_matches(';')))
        .collect();
    assert!(test_only.contains(&"store::crash".to_owned()), "{test_only:?}");
    let inside: Vec<&String> = graph.keys().filter(|m| m.starts_with("store::")).collect();
    assert!(inside.len() > 20, "{inside:?}");
    for module in inside.into_iter().filter(|m| !test_only.contains(m)) {
        assert!(!graph[module].contains("store"), "{module} names the store's façade");
    }
    for (module, code) in source_files() {
        if module == "store" || module.starts_with("store::") {
            continue;
        }
        for word in ["redb::", "open_table(", ".table("] {
            assert!(!code.contains(word), "{module} names {word}: tables are the store's");
        }
    }
}

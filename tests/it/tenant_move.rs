//! Moving a tenant between instances: `tenant export` on one, `tenant import` on another, live
//! through the admin socket or on a stopped store; and the files it refuses.

use serde_json::{Value, json};

use crate::harness::{PATCH_OP, Server, cli_in, cli_json_in};

/// `v` as another server would answer it: its own address in each `meta.location`.
fn moved(v: &Value, from: &Server, to: &str) -> Value {
    serde_json::from_str(&v.to_string().replace(&from.url(""), to)).unwrap()
}

/// Every event of the tenant's change stream, oldest first.
fn feed(s: &Server, key: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = s.get(&format!("/events?after={after}&limit=250"), Some(key)).json();
        let events = page["events"].as_array().expect("events").clone();
        if events.is_empty() {
            return all;
        }
        after = page["next_after"].as_u64().expect("next_after");
        all.extend(events);
    }
}

/// A tenant with something in every kind of table: users (one deactivated, one SCIM-deleted),
/// a group with members, a second key, a webhook, seats and a rate limit of its own.
fn populate(s: &Server, key: &str) -> (String, String) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("u{i}@move.example"), "externalId": format!("ext-{i}")});
        let r = s.send("POST", "/scim/v2/Users", key, &body);
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(r.json()["id"].as_str().unwrap().to_owned());
    }
    let group = s.send(
        "POST",
        "/scim/v2/Groups",
        key,
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Ops",
            "members": [{"value": ids[0]}, {"value": ids[1]}]}),
    );
    assert_eq!(group.status, 201, "{}", group.body);
    let off = json!({"schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    assert_eq!(s.send("PATCH", &format!("/scim/v2/Users/{}", ids[2]), key, &off).status, 200);
    let gone = s.request("DELETE", &format!("/scim/v2/Users/{}", ids[3]), Some(key), None);
    assert_eq!(gone.status, 204);
    let hook = s.send("POST", "/webhooks", key, &json!({"url": "https://hooks.example.com/in"}));
    assert_eq!(hook.status, 201, "{}", hook.body);
    s.cli_json(&["tenant", "set-seats", "default", "40"]);
    s.cli_json(&["tenant", "set-rate-limit", "default", "900"]);
    let (second, _) = s.create_key("default", &["api:users:read"]);
    (ids[0].clone(), second)
}

/// Live on both sides: the tenant arrives with the same ids, versions, keys (the second,
/// narrower one too), seats, rate limit, deleted users, webhook, audit and provisioning logs,
/// and its change stream goes on from the next `seq`.
#[test]
fn a_tenant_moves_live_with_its_ids_keys_and_change_stream() {
    let (a, key) = Server::keyed();
    let (first_user, second_key) = populate(&a, &key);
    let users_before = a.get("/scim/v2/Users?count=100", Some(&key)).json();
    let user_before = a.get(&format!("/scim/v2/Users/{first_user}"), Some(&key));
    let events_before = feed(&a, &key);
    assert!(events_before.len() >= 9, "{}", events_before.len());

    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("default.tenant");
    let file_arg = file.to_str().unwrap();
    let exported = a.cli_json(&["tenant", "export", "default", "--out", file_arg]);
    assert_eq!(exported["slug"], "default", "{exported}");
    assert_eq!(exported["counts"]["users"], 4, "{exported}");
    assert_eq!(exported["counts"]["deleted_users"], 1, "{exported}");
    assert_eq!(exported["counts"]["keys"], 2, "{exported}");
    assert_eq!(exported["counts"]["webhooks"], 1, "{exported}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Nothing staged is left beside the store, and an existing file is never overwritten.
    let leftovers: Vec<_> = std::fs::read_dir(&a.dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("staged") || n.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let again = a.cli(&["tenant", "export", "default", "--out", file_arg]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    // No key secret is in the file: keys travel as hashes.
    let bytes = std::fs::read(&file).unwrap();
    for secret in [&key, &second_key] {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "a secret in it");
    }

    let b = Server::start_args(&["--no-bootstrap"]);
    let imported = b.cli_json(&["tenant", "import", file_arg]);
    assert_eq!(imported["tenant"]["slug"], "default", "{imported}");
    assert_eq!(imported["tenant"]["seat_capacity"], 40, "{imported}");
    assert_eq!(imported["tenant"]["rate_limit_per_minute"], 900, "{imported}");
    assert_eq!(imported["imported"]["rows"], exported["rows"], "{imported}");

    // The same keys authenticate at once, with the same scopes.
    let users_after = b.get("/scim/v2/Users?count=100", Some(&key)).json();
    assert_eq!(users_after, moved(&users_before, &a, &b.url("")));
    let user_after = b.get(&format!("/scim/v2/Users/{first_user}"), Some(&key));
    assert_eq!(user_after.header("etag"), user_before.header("etag"));
    assert_eq!(user_after.json(), moved(&user_before.json(), &a, &b.url("")));
    assert_eq!(b.get("/users?limit=10", Some(&second_key)).status, 200);
    assert_eq!(b.send("POST", "/users", &second_key, &json!({"email": "x@y.z"})).status, 403);
    let deleted = b.cli_json(&["user", "list", "--tenant", "default", "--deleted"]);
    assert_eq!(deleted["users"].as_array().map(Vec::len), Some(1), "{deleted}");
    let hooks = b.cli_json(&["webhook", "list", "--tenant", "default"]);
    assert_eq!(hooks["webhooks"][0]["url"], "https://hooks.example.com/in", "{hooks}");
    let provisioning = b.get("/provisioning-log?limit=100", Some(&key)).json();
    assert!(provisioning["entries"].as_array().is_some_and(|e| e.len() >= 8), "{provisioning}");
    // The export is noted where it was made (after its snapshot), the import where it landed.
    let audit = |s: &Server| s.get("/audit-log?after=0&limit=100", Some(&key)).json().to_string();
    let (there, here) = (audit(&a), audit(&b));
    assert!(there.contains("tenant.exported") && !here.contains("tenant.exported"), "{there}");
    assert!(here.contains("tenant.imported") && here.contains("webhook.created"), "{here}");

    // The change stream: every event as it was, then the next one numbered on.
    assert_eq!(feed(&b, &key), events_before);
    let last = events_before.last().unwrap()["seq"].as_u64().unwrap();
    let made = b.send("POST", "/scim/v2/Users", &key, &json!({"userName": "new@move.example"}));
    assert_eq!(made.status, 201, "{}", made.body);
    let next = feed(&b, &key);
    assert_eq!(next.last().unwrap()["seq"], last + 1);
    assert_eq!(b.cli_json(&["check"])["problems"], json!([]));

    // Twice is refused and changes nothing; so is another slug for the same tenant.
    for args in
        [vec!["tenant", "import", file_arg], vec!["tenant", "import", file_arg, "--slug", "x"]]
    {
        let refused = b.cli(&args);
        assert!(!refused.status.success());
        let err = String::from_utf8_lossy(&refused.stderr).into_owned();
        assert!(err.contains("already has tenant"), "{err}");
    }
    assert_eq!(b.cli_json(&["tenant", "list"])["tenants"].as_array().map(Vec::len), Some(1));

    // The old home drops it: only with --yes and only in maintenance; then nothing of it is
    // left there and its keys no longer authenticate.
    let unasked = a.cli(&["tenant", "delete", "default"]);
    assert!(String::from_utf8_lossy(&unasked.stderr).contains("--yes"));
    let busy = a.cli(&["tenant", "delete", "default", "--yes"]);
    assert!(String::from_utf8_lossy(&busy.stderr).contains("not in maintenance"));
    assert_eq!(a.get("/scim/v2/Users?count=1", Some(&key)).status, 200);
    a.cli_json(&["tenant", "set-maintenance", "default", "on"]);
    let deleted = a.cli_json(&["tenant", "delete", "default", "--yes"]);
    assert!(deleted["rows"].as_u64().unwrap() >= exported["rows"].as_u64().unwrap());
    assert_eq!(a.get("/scim/v2/Users?count=1", Some(&key)).status, 401);
    assert_eq!(a.get("/users?limit=1", Some(&second_key)).status, 401);
    assert_eq!(a.cli_json(&["tenant", "list"])["tenants"], json!([]));
    let check = a.cli_json(&["check"]);
    assert_eq!(
        (check["problems"].clone(), check["users"].clone()),
        (json!([]), json!(0)),
        "{check}"
    );
    // It was the store's only tenant: a backup now holds nothing but the store's own `meta`.
    let copy = out.path().join("after-delete.redb");
    let backup = a.cli_json(&["backup", "--to", copy.to_str().unwrap()]);
    assert!(backup["rows"].as_u64().unwrap() <= 8, "rows left behind: {backup}");
    // ...and the new home is untouched.
    assert_eq!(b.get("/scim/v2/Users?count=1", Some(&key)).status, 200);
    let staged: Vec<_> = std::fs::read_dir(&b.dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("staged"))
        .collect();
    assert!(staged.is_empty(), "an import's staged copy is removed: {staged:?}");
}

/// Offline on both sides (no server running), and under a new slug.
#[test]
fn a_tenant_moves_offline_and_under_a_new_slug() {
    let tmp = tempfile::tempdir().unwrap();
    let (from, to) = (tmp.path().join("a"), tmp.path().join("b"));
    let a = Server::start_in(&from, &[]);
    let key = a.root_key();
    populate(&a, &key);
    let users = a.get("/scim/v2/Users?count=100", Some(&key)).json();
    let a_url = a.url("");
    assert!(a.stop());
    let file = tmp.path().join("t.export");
    let file_arg = file.to_str().unwrap();
    let exported = cli_json_in(&from, &["tenant", "export", "default", "--out", file_arg]);
    assert_eq!(exported["counts"]["users"], 4, "{exported}");
    let imported = cli_json_in(&to, &["tenant", "import", file_arg, "--slug", "acme"]);
    assert_eq!(imported["tenant"]["slug"], "acme", "{imported}");
    assert_eq!(imported["imported"]["slug"], "default", "{imported}");
    let b = Server::start_in(&to, &["--no-bootstrap"]);
    let moved = b.get("/v1/acme/scim/v2/Users?count=100", Some(&key)).json();
    let expected = users["Resources"].to_string().replace(&a_url, &b.url("/v1/acme"));
    assert_eq!(moved["Resources"].to_string(), expected);
    assert_eq!(b.get("/v1/default/scim/v2/Users", Some(&key)).status, 404);
}

/// Damaged files, another format, another schema, a slug in use: refused with a message that
/// says which, and the store is as it was.
#[test]
fn bad_export_files_are_refused_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (from, to) = (tmp.path().join("a"), tmp.path().join("b"));
    let (key, _) = {
        let a = Server::start_in(&from, &[]);
        let key = a.root_key();
        let r = populate(&a, &key);
        assert!(a.stop());
        (key, r)
    };
    let file = tmp.path().join("good.export");
    cli_json_in(&from, &["tenant", "export", "default", "--out", file.to_str().unwrap()]);
    let good = std::fs::read(&file).unwrap();
    let b = Server::start_in(&to, &[]);
    let before = b.cli_json(&["tenant", "list"]);
    let events_before = b.get("/events?after=0&limit=250", Some(&b.root_key())).json();

    let write = |name: &str, bytes: &[u8]| {
        let path = tmp.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    // With the digest at the end made again, so only the field changed is wrong.
    let resealed = |mut bytes: Vec<u8>| {
        let body = bytes.len() - 32;
        let digest = *blake3::hash(&bytes[..body]).as_bytes();
        bytes[body..].copy_from_slice(&digest);
        bytes
    };
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    let mut format = good.clone();
    format[12] = 9;
    // The header frame starts after magic (12), format (4) and its length (4): its variant
    // (0) and then the schema, a one-byte varint.
    let mut schema = good.clone();
    assert_eq!(schema[20], 0);
    schema[21] -= 1;
    let cases: Vec<(std::path::PathBuf, &str)> = vec![
        (write("cut", &good[..good.len() * 2 / 3]), "ends early"),
        (write("no-digest", &good[..good.len() - 32]), "ends early"),
        (write("flipped", &flipped), "damaged"),
        (write("format", &format), "format 9"),
        (write("schema", &resealed(schema)), "exported by a store of schema"),
        (write("empty", b""), "not a whoot-mgmt tenant export"),
        (write("text", b"{\"users\": []}\n"), "not a whoot-mgmt tenant export"),
    ];
    for (path, says) in &cases {
        let out = b.cli(&["tenant", "import", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success() && err.contains(says), "{}: {err}", path.display());
    }
    // The bootstrap tenant of this instance is `default` too.
    let taken = b.cli(&["tenant", "import", file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&taken.stderr).into_owned();
    assert!(err.contains("already has a tenant default") && err.contains("--slug"), "{err}");
    assert_eq!(b.cli_json(&["tenant", "list"]), before);
    assert_eq!(b.get("/events?after=0&limit=250", Some(&b.root_key())).json(), events_before);
    assert_eq!(b.get("/scim/v2/Users", Some(&key)).status, 401, "no key of the file works");
    let bad_slug = cli_in(&to, &["tenant", "import", file.to_str().unwrap(), "--slug", "Bad Slug"]);
    assert!(String::from_utf8_lossy(&bad_slug.stderr).contains("invalid tenant slug"));
    let resumed = b.cli_json(&["tenant", "import", file.to_str().unwrap(), "--slug", "moved"]);
    assert_eq!(resumed["tenant"]["slug"], "moved", "{resumed}");
    assert_eq!(b.get("/v1/moved/scim/v2/Users", Some(&key)).status, 200);
}

/// HAProxy from Debian's packages, in front of instances, routing `/v1/{slug}` by a map file:
/// the configuration `docs/scaling-out.md` shows.
struct Haproxy {
    child: std::process::Child,
    port: u16,
    map: std::path::PathBuf,
}

impl Haproxy {
    /// None where haproxy is not installed (`WHOOT_PROXY_TESTS=required` makes that a failure).
    fn start(dir: &std::path::Path, backends: &[(&str, &str)], map: &str) -> Option<Haproxy> {
        let found = std::process::Command::new("haproxy").arg("-v").output().is_ok();
        if !found {
            let required = std::env::var("WHOOT_PROXY_TESTS").is_ok_and(|v| v == "required");
            assert!(!required, "haproxy is not installed (apt-get install haproxy)");
            eprintln!("skipped: haproxy is not installed");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let map_file = dir.join("tenants.map");
        std::fs::write(&map_file, map).unwrap();
        let template = include_str!("../../packaging/haproxy/whoot.cfg");
        let mut config = template
            .replace("127.0.0.1:8443", &format!("127.0.0.1:{port}"))
            .replace("/etc/haproxy/whoot-tenants.map", map_file.to_str().unwrap());
        // The shipped example lists two instances; the test's own addresses replace them.
        for (name, addr) in backends {
            config = config.replace(&format!("{name}.whoot.internal:8080"), addr);
        }
        let cfg = dir.join("haproxy.cfg");
        std::fs::write(&cfg, config).unwrap();
        let check = std::process::Command::new("haproxy").arg("-c").arg("-f").arg(&cfg).output();
        let check = check.unwrap();
        assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
        let child = std::process::Command::new("haproxy")
            .args(["-W", "-db", "-f"])
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let proxy = Haproxy { child, port, map: map_file };
        proxy.wait_for(|| proxy.instance("/v1/probe/healthz").is_some());
        Some(proxy)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Which instance answered `path` (the header each backend adds), on a new connection.
    fn instance(&self, path: &str) -> Option<String> {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let resp = agent.get(&self.url(path)).header("Connection", "close").call().ok()?;
        resp.headers().get("x-whoot-instance")?.to_str().ok().map(str::to_owned)
    }

    /// Rewrites the map and reloads (the master process re-reads its configuration on USR2).
    fn route(&self, map: &str) {
        std::fs::write(&self.map, map).unwrap();
        let pid = self.child.id().to_string();
        assert!(
            std::process::Command::new("kill").args(["-USR2", &pid]).status().unwrap().success()
        );
    }

    fn wait_for(&self, mut ready: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !ready() {
            assert!(std::time::Instant::now() < deadline, "haproxy did not get there");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the IdP-like client saw.
#[derive(Default)]
struct Provisioned {
    /// userName -> id, for every create answered 201.
    acknowledged: Vec<(String, String)>,
    /// Creates whose answer was lost (a connection cut by the reload) and whose retry found
    /// the user there (409): written, though never acknowledged.
    found_on_retry: Vec<String>,
    refused_503: u64,
}

/// An identity provider provisioning one tenant through the proxy: creates one user after
/// another, retrying the same one on 503 (maintenance) and on a cut connection, until `stop`.
fn provision(
    proxy_url: String,
    key: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Provisioned {
    let mut seen = Provisioned::default();
    let mut agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut retried = false;
    for i in 0.. {
        let user_name = format!("c{i}@move.example");
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name});
        loop {
            let sent = agent
                .post(&format!("{proxy_url}/v1/default/scim/v2/Users"))
                .header("Authorization", &format!("Bearer {key}"))
                .header("Content-Type", "application/scim+json")
                .send(body.to_string());
            match sent {
                Ok(mut resp) if resp.status() == 201 => {
                    let made: Value = resp.body_mut().read_json().unwrap();
                    let id = made["id"].as_str().unwrap().to_owned();
                    seen.acknowledged.push((user_name.clone(), id));
                    break;
                }
                Ok(resp) if resp.status() == 409 && retried => {
                    seen.found_on_retry.push(user_name.clone());
                    break;
                }
                Ok(resp) if resp.status() == 503 => seen.refused_503 += 1,
                Ok(resp) => panic!("{user_name}: {}", resp.status()),
                // The reload closed the connection: a new one, and the same request again.
                Err(_) => {
                    agent =
                        ureq::Agent::config_builder().http_status_as_error(false).build().into();
                    retried = true;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    continue;
                }
            }
            retried = false;
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return seen;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        retried = false;
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return seen;
        }
    }
    seen
}

/// The move the scaling guide describes, under load: two instances behind HAProxy, an IdP-like
/// client provisioning through it; maintenance on, export, import, the map switched and HAProxy
/// reloaded, maintenance off on the new home. Every acknowledged write is there with its id,
/// the client's key works there, and the change stream has no gap.
#[test]
fn a_tenant_moves_behind_haproxy_without_losing_a_write() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (a, key) = Server::keyed();
    a.cli_json(&["tenant", "set-seats", "default", "1000000"]);
    let b = Server::start_args(&["--no-bootstrap"]);
    let tmp = tempfile::tempdir().unwrap();
    let backends = [("instance-a", a.addr.as_str()), ("instance-b", b.addr.as_str())];
    let Some(proxy) = Haproxy::start(tmp.path(), &backends, "default instance-a\n") else {
        return;
    };
    assert_eq!(proxy.instance("/v1/default/healthz").as_deref(), Some("instance-a"));

    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let client = std::thread::spawn({
        let (url, key, stop) = (proxy.url(""), key.clone(), stop.clone());
        move || provision(url, key, stop)
    });
    let settle = || std::thread::sleep(std::time::Duration::from_millis(600));
    settle();

    let started = std::time::Instant::now();
    a.cli_json(&["tenant", "set-maintenance", "default", "on"]);
    let file = tmp.path().join("default.tenant");
    let file = file.to_str().unwrap();
    let exported = a.cli_json(&["tenant", "export", "default", "--out", file]);
    b.cli_json(&["tenant", "import", file]);
    proxy.route("default instance-b\n");
    proxy.wait_for(|| proxy.instance("/v1/default/healthz").as_deref() == Some("instance-b"));
    b.cli_json(&["tenant", "set-maintenance", "default", "off"]);
    let in_maintenance = started.elapsed();
    settle();
    stop.store(true, Ordering::Relaxed);
    let seen = client.join().unwrap();

    // Every write the client was told succeeded is on the new home, under its id.
    let moved_at = exported["counts"]["users"].as_u64().unwrap_or(0) as usize;
    let mut lost = 0;
    for (user_name, id) in &seen.acknowledged {
        let there = b.get(&format!("/v1/default/scim/v2/Users/{id}"), Some(&key));
        if there.status != 200 || there.json()["userName"] != user_name.as_str() {
            lost += 1;
        }
    }
    let on_b = b.get("/v1/default/scim/v2/Users?count=1", Some(&key)).json();
    let written = seen.acknowledged.len() + seen.found_on_retry.len();
    println!(
        "tenant move behind haproxy: {} writes acknowledged ({} before the move, {} after), \
         {} found on retry, {} answered 503 during it, {lost} lost, {} ms in maintenance",
        seen.acknowledged.len(),
        moved_at,
        seen.acknowledged.len().saturating_sub(moved_at),
        seen.found_on_retry.len(),
        seen.refused_503,
        in_maintenance.as_millis()
    );
    assert_eq!(lost, 0);
    assert_eq!(on_b["totalResults"], written, "nothing but the client's writes, each once");
    assert!(moved_at > 0 && seen.acknowledged.len() > moved_at, "writes on both sides");
    assert!(seen.refused_503 > 0, "the client met the maintenance");
    // The change stream goes on from where it stopped: every seq once, in order, one
    // `user.created` per user.
    let events = feed(&b, &key);
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    let created = events.iter().filter(|e| e["type"] == "user.created").count();
    assert_eq!(created, written);
    // The old home still refuses writes (the operator removes the tenant there when done).
    let old = a.send("POST", "/scim/v2/Users", &key, &json!({"userName": "late@move.example"}));
    assert_eq!(old.status, 503);
}

//! Outbound webhooks against a real local receiver: signatures, subscriptions, retries, 410,
//! redelivery, the test endpoint, and delivery after a crash.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::Server;
use crate::receiver::{Received, Receiver};

fn register(s: &Server, key: &str, url: &str, events: Value) -> Value {
    let r = s.send(
        "POST",
        "/webhooks",
        key,
        &json!({"url": url, "events": events, "description": "test"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

/// What `read` returns once `done` holds for it, or its last answer after 5 s (the worker
/// records an attempt a moment after the receiver has seen it).
fn eventually(read: impl Fn() -> Value, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = read();
    for _ in 0..100 {
        if done(&last) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        last = read();
    }
    last
}

fn verify(secret: &str, r: &Received) {
    let ts: i64 = r.timestamp.parse().unwrap();
    let expected = whoot_mgmt::webhooks::send::signature(secret, &r.id, ts, &r.body).unwrap();
    assert_eq!(r.signature, expected, "signature of {}", r.body);
    assert_eq!(r.json()["id"], r.id.as_str(), "webhook-id is the event id");
}

/// `POST /webhooks/{id}/test` for `hook`, answered.
fn send_test(s: &Server, key: &str, hook: &Value) -> Value {
    let path = format!("/webhooks/{}/test", hook["id"].as_str().unwrap());
    s.request("POST", &path, Some(key), None).json()
}

#[test]
fn subscribed_events_arrive_signed_and_others_do_not() {
    let (s, key) = Server::keyed();
    let rx = Receiver::start();
    let hook = register(
        &s,
        &key,
        &rx.url(),
        json!(["user.created", "user.deactivated", "room.member_added"]),
    );
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert!(
        s.get(&format!("/webhooks/{}", hook["id"].as_str().unwrap()), Some(&key))
            .json()
            .get("secret")
            .is_none(),
        "shown once"
    );

    let user = s.send("POST", "/users", &key, &json!({"email": "hook@example.com"})).json()["user"]
        .clone();
    let id = user["id"].as_str().unwrap();
    s.send("PATCH", &format!("/users/{id}"), &key, &json!({"full_name": "Renamed"})); // user.updated: not subscribed
    assert_eq!(s.send("POST", "/users", &key, &json!({"email": "HOOK@example.com"})).status, 409); // failed: no event
    s.request("DELETE", &format!("/users/{id}"), Some(&key), None);
    let room = s.cli_line("room create --tenant default Hooks")["id"].as_str().unwrap().to_owned();
    let other = s.send("POST", "/users", &key, &json!({"email": "member@example.com"})).json()["user"]["id"].as_str().unwrap().to_owned();
    s.send(
        "POST",
        &format!("/rooms/{room}/members"),
        &key,
        &json!({"user_id": other, "tx_permission": true}),
    );

    let got = rx.wait_for(10, "4 events", |g| g.len() >= 4);
    std::thread::sleep(Duration::from_millis(700));
    let got_now = rx.got.lock().clone();
    assert_eq!(got_now.len(), got.len(), "nothing else arrives: {got_now:?}");
    let types: Vec<String> =
        got.iter().map(|r| r.json()["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(types.iter().filter(|t| *t == "user.created").count(), 2);
    assert!(
        types.contains(&"user.deactivated".to_owned())
            && types.contains(&"room.member_added".to_owned())
    );
    assert!(!types.contains(&"user.updated".to_owned()));
    for r in &got {
        verify(&secret, r);
    }
    let created = rx
        .of_type("user.created")
        .into_iter()
        .find(|r| r.json()["data"]["id"] == id)
        .unwrap()
        .json();
    assert_eq!(created["data"]["email"], "hook@example.com");
    assert_eq!(created["tenant_id"], s.get("/me", Some(&key)).json()["tenant_id"]);
    assert!(created["occurred_at"].as_str().unwrap().ends_with('Z'));
    let added = rx.of_type("room.member_added")[0].json();
    assert_eq!(added["data"], json!({"room_id": room, "user_id": other, "tx_permission": true}));
}

#[test]
fn failures_are_retried_and_410_disables() {
    let (s, key) = Server::keyed();
    let rx = Receiver::answering(&[500]);
    let hook = register(&s, &key, &rx.url(), json!(["*"]));
    let hid = hook["id"].as_str().unwrap().to_owned();
    s.send("POST", "/users", &key, &json!({"email": "retry@example.com"}));
    // First attempt answered 500, the retry (5 s later) 200; the same webhook-id both times.
    let got = rx.wait_for(15, "a retry", |g| g.len() >= 2);
    assert_eq!(got[0].id, got[1].id);
    // The receiver has answered; the worker records that a moment later.
    let d = eventually(
        || {
            s.get(&format!("/webhooks/{hid}/deliveries"), Some(&key)).json()["deliveries"][0]
                .clone()
        },
        |d| d["attempts"] == 2,
    );
    assert_eq!(
        (d["status"].clone(), d["attempts"].clone(), d["last_status_code"].clone()),
        (json!("succeeded"), json!(2), json!(200))
    );

    // Redelivery sends the same event again.
    let r = s.request(
        "POST",
        &format!("/webhooks/{hid}/deliveries/{}/redeliver", d["id"].as_str().unwrap()),
        Some(&key),
        None,
    );
    assert_eq!(r.status, 202);
    let got = rx.wait_for(10, "the redelivery", |g| g.len() >= 3);
    assert_eq!(got[2].id, got[0].id);
    let audit = s.get("/audit-log?after=0&limit=100", Some(&key)).json().to_string();
    assert!(audit.contains("webhook.redelivered"), "a redelivery is audited: {audit}");

    // 410 Gone disables the registration; later events are not sent.
    rx.answer(&[410]);
    s.send("POST", "/users", &key, &json!({"email": "gone@example.com"}));
    rx.wait_for(10, "the 410", |g| g.len() >= 4);
    // The receiver has answered; the worker records that a moment later.
    let h = eventually(
        || s.get(&format!("/webhooks/{hid}"), Some(&key)).json(),
        |h| h["active"] == false,
    );
    assert_eq!(h["active"], false);
    assert!(h["disabled_reason"].as_str().unwrap().contains("410"));
    s.send("POST", "/users", &key, &json!({"email": "after@example.com"}));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(rx.got.lock().len(), 4);
    // The audit log says the server did it, and why.
    let log = s.get("/audit-log?limit=1000", Some(&key)).json();
    let disabled: Vec<&Value> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "webhook.disabled" && e["target"] == hid.as_str())
        .collect();
    assert_eq!(disabled.len(), 1, "{log}");
    assert_eq!(disabled[0]["actor"], "system");
    // Re-enabling works.
    let h = s.send("PATCH", &format!("/webhooks/{hid}"), &key, &json!({"active": true})).json();
    assert_eq!((h["active"].clone(), h["disabled_reason"].clone()), (json!(true), Value::Null));
    rx.answer(&[200]);
    s.send("POST", "/users", &key, &json!({"email": "back@example.com"}));
    rx.wait_for(10, "an event after re-enabling", |g| g.len() >= 5);
    // Narrowing the subscription takes effect at once.
    let narrowed = json!({"events": ["room.member_added"]});
    assert_eq!(s.send("PATCH", &format!("/webhooks/{hid}"), &key, &narrowed).status, 200);
    s.send("POST", "/users", &key, &json!({"email": "narrow@example.com"}));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(rx.got.lock().len(), 5);
    let report = s.cli_json(&["check"]);
    assert_eq!(report["problems"], json!([]));
}

#[test]
fn test_endpoint_validation_and_scope() {
    let (s, key) = Server::keyed();
    let rx = Receiver::answering(&[503]);
    let hook = register(&s, &key, &rx.url(), json!(["user.created"]));
    let hid = hook["id"].as_str().unwrap();
    let r = s.request("POST", &format!("/webhooks/{hid}/test"), Some(&key), None).json();
    assert_eq!((r["delivered"].clone(), r["status_code"].clone()), (json!(false), json!(503)));
    let r = s.request("POST", &format!("/webhooks/{hid}/test"), Some(&key), None).json();
    assert_eq!((r["delivered"].clone(), r["status_code"].clone()), (json!(true), json!(200)));
    assert!(r.get("duration_ms").is_none(), "no timing: {r}");
    let tests = rx.of_type("webhook.test");
    assert_eq!(tests.len(), 2);
    verify(hook["secret"].as_str().unwrap(), &tests[1]);

    for (body, message) in [
        (json!({"url": "ftp://x.example.com", "events": ["*"]}), "http:// or https://"),
        (json!({"url": "not a url", "events": ["*"]}), "invalid url"),
        (json!({"url": rx.url(), "events": ["user.exploded"]}), "unknown event"),
        (json!({"url": rx.url(), "events": []}), "at least one"),
    ] {
        let r = s.send("POST", "/webhooks", &key, &body);
        assert_eq!(r.status, 400, "{body}");
        assert!(r.json()["error"].as_str().unwrap().contains(message), "{}", r.body);
    }
    // The metadata address is refused at send time.
    let meta = register(&s, &key, "http://169.254.169.254/latest", json!(["*"]));
    let r = send_test(&s, &key, &meta);
    assert_eq!(r["delivered"], false);
    assert!(r["error"].as_str().unwrap().contains("denied"), "{r}");

    let (no_scope, _) = s.create_key("default", &["usage"]);
    let r = s.get("/webhooks", Some(&no_scope));
    assert_eq!((r.status, r.json()["required_scope"].clone()), (403, json!("webhooks")));
    assert_eq!(s.request("DELETE", &format!("/webhooks/{hid}"), Some(&key), None).status, 204);
    assert_eq!(s.get(&format!("/webhooks/{hid}"), Some(&key)).status, 404);
}

#[test]
fn events_survive_a_crash_and_arrive_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    // A port with no receiver yet: every first attempt fails and is retried later.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let s = Server::start_in(tmp.path(), &[]);
    let key = s.root_key();
    register(&s, &key, &format!("http://{port}/hooks"), json!(["user.created"]));
    for i in 0..20 {
        assert_eq!(
            s.send("POST", "/users", &key, &json!({"email": format!("crash{i}@example.com")}))
                .status,
            201
        );
    }
    drop(s); // SIGKILL: no graceful shutdown
    let rx = Receiver::start_on(port);
    let s = Server::start_in(tmp.path(), &[]);
    let got = rx.wait_for(20, "20 distinct events", |g| {
        g.iter().map(|r| &r.id).collect::<HashSet<_>>().len() >= 20
    });
    std::thread::sleep(Duration::from_millis(700));
    let unique: HashSet<String> = rx.got.lock().iter().map(|r| r.id.clone()).collect();
    assert_eq!(unique.len(), 20, "every acknowledged change delivered, none invented: {got:?}");
    let emails: HashSet<String> = rx
        .got
        .lock()
        .iter()
        .map(|r| r.json()["data"]["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(emails.len(), 20);
    drop(s);
}

#[test]
fn a_slow_receiver_holds_up_neither_the_api_nor_other_receivers() {
    let (s, key) = Server::keyed();
    let (slow, fast) = (Receiver::start(), Receiver::start());
    *slow.delay.lock() = Duration::from_secs(3);
    register(&s, &key, &slow.url(), json!(["user.created"]));
    register(&s, &key, &fast.url(), json!(["user.created"]));
    let started = std::time::Instant::now();
    for i in 0..40 {
        let r = s.send("POST", "/users", &key, &json!({"email": format!("s{i}@slow.example")}));
        assert_eq!(r.status, 201);
    }
    // The API answered all 40 before the slow receiver answered even once.
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    fast.wait_for(10, "all events at the fast receiver", |g| g.len() >= 40);
    // Meanwhile the slow one has at most its 8 connections' worth in hand.
    let in_hand = slow.got.lock().len();
    assert!((1..=8).contains(&in_hand), "{in_hand}");
}

/// Each of the server's threads: (name, nice value), from /proc.
fn threads(pid: u32) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    // The main thread (task id = pid) first.
    let mut tasks: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|t| t.unwrap().file_name().into_string().unwrap().parse::<u32>().unwrap())
        .collect();
    tasks.sort_by_key(|&t| t != pid);
    for task in tasks {
        let task = std::path::PathBuf::from(format!("/proc/{pid}/task/{task}"));
        let name = std::fs::read_to_string(task.join("comm")).unwrap().trim().to_owned();
        let stat = std::fs::read_to_string(task.join("stat")).unwrap();
        // Fields after the parenthesised name; nice is the 19th field overall.
        let rest: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        out.push((name, rest[16].parse().unwrap()));
    }
    out
}

#[test]
fn the_worker_yields_the_cpu_to_the_api() {
    let (s, key) = Server::keyed();
    let receiver = Receiver::start();
    register(&s, &key, &receiver.url(), json!(["user.created"]));
    // A delivery has run through the worker, so its runtime's threads exist.
    assert_eq!(s.send("POST", "/users", &key, &json!({"email": "n@nice.example"})).status, 201);
    receiver.wait_for(10, "the event", |g| !g.is_empty());
    let threads = threads(s.pid());
    // Relative to the niceness the server was started with (a test run may itself be niced).
    let base = threads[0].1;
    let worker: Vec<_> = threads.iter().filter(|(n, _)| n.starts_with("webhooks")).collect();
    assert!(!worker.is_empty(), "{threads:?}");
    assert!(worker.iter().all(|(_, nice)| *nice == base.max(10)), "{threads:?}");
    let api: Vec<_> =
        threads.iter().filter(|(n, _)| n.starts_with("tokio") || n == "store-writer").collect();
    assert!(!api.is_empty() && api.iter().all(|(_, nice)| *nice == base), "{threads:?}");
}

#[test]
fn a_registration_failing_for_too_long_is_disabled() {
    let s = Server::start_args(&["--webhook-disable-after-secs", "1"]);
    let key = s.root_key();
    let rx = Receiver::answering(&[500; 10]);
    let hook = register(&s, &key, &rx.url(), json!(["*"]));
    let hid = hook["id"].as_str().unwrap().to_owned();
    s.send("POST", "/users", &key, &json!({"email": "failing@example.com"}));
    // First attempt, then the retry 5 s later, more than 1 s into the failure: disabled.
    rx.wait_for(15, "the retry", |g| g.len() >= 2);
    let h = eventually(
        || s.get(&format!("/webhooks/{hid}"), Some(&key)).json(),
        |h| h["active"] == false,
    );
    assert_eq!(h["active"], false, "{h}");
    assert!(h["disabled_reason"].as_str().unwrap().starts_with("failing since"), "{h}");
    let log = s.get(&format!("/webhooks/{hid}/deliveries"), Some(&key)).json();
    let d = &log["deliveries"][0];
    assert_eq!((d["status"].clone(), d["attempts"].clone()), (json!("failed"), json!(2)));
}

#[test]
fn https_receivers_are_verified_and_an_internal_ca_can_be_trusted() {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let rx = Receiver::start_tls(&cert.pem(), &signing_key.serialize_pem());
    let url = format!("https://localhost:{}/hooks", rx.addr.port());

    // Public roots only: the receiver's certificate is not trusted, nothing is sent.
    let (s, key) = Server::keyed();
    let hook = register(&s, &key, &url, json!(["*"]));
    let r = s.request(
        "POST",
        &format!("/webhooks/{}/test", hook["id"].as_str().unwrap()),
        Some(&key),
        None,
    );
    let r = r.json();
    assert_eq!(r["delivered"], false, "{r}");
    assert_eq!(r["error"], whoot_mgmt::webhooks::send::NO_ANSWER, "{r}");
    assert!(rx.got.lock().is_empty());
    drop(s);

    // With the receiver's CA configured: delivered over TLS, signed.
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.pem()).unwrap();
    let s = Server::start_args(&["--webhook-ca-file", ca.to_str().unwrap()]);
    let key = s.root_key();
    let hook = register(&s, &key, &url, json!(["user.created"]));
    s.send("POST", "/users", &key, &json!({"email": "tls@example.com"}));
    let got = rx.wait_for(10, "a delivery over https", |g| !g.is_empty());
    verify(hook["secret"].as_str().unwrap(), &got[0]);
    assert_eq!(got[0].json()["type"], "user.created");
}

/// A webhook must not become a way into the server's own host or a scanner of the networks it
/// reaches.
#[test]
fn loopback_in_any_spelling_is_refused_and_test_results_reveal_no_more_than_delivered() {
    let rx = Receiver::start();
    let port = rx.addr.port();
    let tmp = tempfile::tempdir().unwrap();
    // Started without the tests' usual allowance for 127.0.0.1.
    let s = Server::start_with(
        tmp.path(),
        &[],
        &[("WHOOT_LOG", "warn")],
        std::process::Stdio::inherit(),
    );
    let key = s.root_key();
    for host in [
        "127.0.0.1",
        "127.1",
        "0x7f000001",
        "2130706433",
        "[::1]",
        "localhost",
        "[::ffff:127.0.0.1]",
        "0.0.0.0",
    ] {
        let hook = register(&s, &key, &format!("http://{host}:{port}/hooks"), json!(["*"]));
        let r = send_test(&s, &key, &hook);
        assert_eq!(r["delivered"], false, "{host}: {r}");
        assert!(r["error"].as_str().unwrap().contains("denied"), "{host}: {r}");
    }
    assert!(rx.got.lock().is_empty(), "nothing reached the loopback receiver");
    let r = s.send(
        "POST",
        "/webhooks",
        &key,
        &json!({"url": format!("http://user:pw@example.com:{port}/"), "events": ["*"]}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("credentials"), "{}", r.body);
    drop(s);

    // Where the admin allows the host: a closed port and a port that speaks something else look
    // the same; an HTTP receiver shows its status.
    let (s, key) = Server::keyed();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other_addr = other.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in other.incoming().flatten() {
            let mut stream = stream;
            let _ = std::io::Write::write_all(&mut stream, b"SSH-2.0-OpenSSH_9.2\r\n");
        }
    });
    let test = |url: String| {
        let hook = register(&s, &key, &url, json!(["*"]));
        send_test(&s, &key, &hook)
    };
    let (a, b) = (test(format!("http://{closed}/")), test(format!("http://{other_addr}/")));
    assert_eq!(a, b, "closed and non-HTTP ports are told apart: {a} {b}");
    assert_eq!(
        a,
        json!({"delivered": false, "status_code": null, "error": whoot_mgmt::webhooks::send::NO_ANSWER})
    );
    rx.answer(&[404]);
    let c = test(rx.url());
    assert_eq!(c, json!({"delivered": false, "status_code": 404, "error": null}));
}

/// `whoot-mgmt webhook list|deliveries`: what the API shows, for the operator, with the server
/// running or not; an unknown registration is named.
#[test]
fn the_cli_shows_registrations_and_their_deliveries() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_in(tmp.path(), &[]);
    let key = s.root_key();
    let rx = Receiver::answering(&[500]);
    let hook = register(&s, &key, &rx.url(), json!(["user.created"]));
    let hid = hook["id"].as_str().unwrap().to_owned();
    let paused = register(&s, &key, &rx.url(), json!(["*"]));
    let pid = paused["id"].as_str().unwrap();
    s.send("PATCH", &format!("/webhooks/{pid}"), &key, &json!({"active": false}));
    s.send("POST", "/users", &key, &json!({"email": "cli@example.com"}));
    rx.wait_for(15, "a retry", |g| g.len() >= 2);
    let deliveries = || s.cli_json(&["webhook", "deliveries", "--tenant", "default", &hid]);
    let answer = eventually(deliveries, |a| a["deliveries"][0]["attempts"] == 2);
    let d = &answer["deliveries"][0];
    assert_eq!(
        (d["status"].clone(), d["event_type"].clone(), d["last_status_code"].clone()),
        (json!("succeeded"), json!("user.created"), json!(200))
    );
    assert_eq!(answer, s.get(&format!("/webhooks/{hid}/deliveries"), Some(&key)).json());

    let list = s.cli_json(&["webhook", "list", "--tenant", "default"]);
    let rows = list["webhooks"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{list}");
    let row = rows.iter().find(|h| h["id"] == hid.as_str()).unwrap();
    assert_eq!(
        (row["url"].as_str(), row["active"].clone()),
        (Some(rx.url().as_str()), json!(true))
    );
    let paused_row = rows.iter().find(|h| h["id"] == pid).unwrap();
    assert_eq!(paused_row["active"], false);
    // Delivered, nothing waits; a paused registration is sent nothing, so queues nothing.
    assert_eq!((row["queued"].clone(), paused_row["queued"].clone()), (json!(0), json!(0)));

    // The text form: one line per registration and per delivery.
    let text =
        String::from_utf8(s.cli(&["webhook", "list", "--tenant", "default"]).stdout).unwrap();
    assert!(text.lines().any(|l| l.starts_with(&hid) && l.contains("active")), "{text}");
    assert!(text.lines().any(|l| l.starts_with(pid) && l.contains("paused")), "{text}");
    let out = s.cli(&["webhook", "deliveries", "--tenant", "default", &hid]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().any(|l| l.contains("succeeded") && l.contains("HTTP 200")), "{text}");

    let unknown = "0190a5a0-0000-7000-8000-000000000000";
    let out = s.cli(&["webhook", "deliveries", "--tenant", "default", unknown]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains(&format!("webhook {unknown} not found")));
    let out = s.cli(&["webhook", "list", "--tenant", "nope"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("tenant nope not found"));

    // With the server stopped, straight from the store.
    assert!(s.stop());
    let offline =
        crate::harness::cli_json_in(tmp.path(), &["webhook", "list", "--tenant", "default"]);
    assert_eq!(offline["webhooks"].as_array().unwrap().len(), 2);
}

/// Whether the Standard Webhooks authors' verifier accepts `r` as signed with `secret`.
fn verified_by(secret: &str, r: &Received) -> bool {
    let mut headers = hyper::http::HeaderMap::new();
    headers.insert("webhook-id", r.id.parse().unwrap());
    headers.insert("webhook-timestamp", r.timestamp.parse().unwrap());
    headers.insert("webhook-signature", r.signature.parse().unwrap());
    let verifier = standardwebhooks::Webhook::new(secret).unwrap();
    verifier.verify(r.body.as_bytes(), &headers).is_ok()
}

/// A rotation gives a new secret, shown once; until the overlap ends (24 h by default, or
/// ended early) each delivery carries both signatures, so a receiver holding either verifies
/// it; then only the new one signs. Checked by a verifier we did not write.
#[test]
fn a_rotated_secret_signs_beside_the_old_one_until_the_overlap_ends() {
    let (s, key) = Server::keyed();
    let rx = Receiver::start();
    let hook = register(&s, &key, &rx.url(), json!(["user.created"]));
    let id = hook["id"].as_str().unwrap().to_owned();
    let old = hook["secret"].as_str().unwrap().to_owned();
    let mut made = 0;
    let mut deliver = |s: &Server| -> Received {
        made += 1;
        let email = format!("rot{made}@example.com");
        assert_eq!(s.send("POST", "/users", &key, &json!({"email": email})).status, 201);
        let got = rx.wait_for(10, "the delivery", |g| g.len() >= made);
        got[made - 1].clone()
    };
    let first = deliver(&s);
    assert!(verified_by(&old, &first));

    let r = s.request("POST", &format!("/webhooks/{id}/rotate-secret"), Some(&key), None);
    assert_eq!(r.status, 200, "{}", r.body);
    let rotated = r.json();
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    let until = rotated["previous_secret_until"].as_str().unwrap().to_owned();
    let until = until.parse::<jiff::Timestamp>().unwrap();
    let hours = (until - jiff::Timestamp::now()).total(jiff::Unit::Hour).unwrap();
    assert!((23.9..=24.0).contains(&hours), "the default overlap is 24 h: {hours}");
    let shown = s.get(&format!("/webhooks/{id}"), Some(&key)).json();
    assert!(shown.get("secret").is_none(), "shown once: {shown}");

    let during = deliver(&s);
    assert_eq!(during.signature.split(' ').count(), 2, "{}", during.signature);
    assert!(verified_by(&new, &during) && verified_by(&old, &during));

    let r = s.request("POST", &format!("/webhooks/{id}/end-overlap"), Some(&key), None);
    assert_eq!((r.status, r.json()["previous_secret_until"].clone()), (200, Value::Null));
    let after = deliver(&s);
    assert!(verified_by(&new, &after) && !verified_by(&old, &after));

    // No overlap at all, asked for; a bad one is refused and changes nothing.
    let path = format!("/webhooks/{id}/rotate-secret");
    let bad = s.send("POST", &path, &key, &json!({"overlap": "soon"}));
    assert_eq!(bad.status, 400, "{}", bad.body);
    let r = s.send("POST", &path, &key, &json!({"overlap": "0"}));
    assert_eq!(r.status, 200, "{}", r.body);
    let newest = r.json()["secret"].as_str().unwrap().to_owned();
    assert_eq!(r.json()["previous_secret_until"], Value::Null);
    let last = deliver(&s);
    assert!(verified_by(&newest, &last) && !verified_by(&new, &last));

    // The CLI does the same, through the running server.
    let v =
        s.cli_json(&["webhook", "rotate-secret", "--tenant", "default", &id, "--overlap", "1h"]);
    let by_cli = v["secret"].as_str().unwrap().to_owned();
    assert!(by_cli.starts_with("whsec_") && by_cli != newest, "{v}");
    assert!(v["previous_secret_until"].is_string(), "{v}");
    let during = deliver(&s);
    assert!(verified_by(&by_cli, &during) && verified_by(&newest, &during));
    let v = s.cli_json(&["webhook", "end-overlap", "--tenant", "default", &id]);
    assert_eq!(v["previous_secret_until"], Value::Null, "{v}");
    let text = String::from_utf8(
        s.cli(&["webhook", "rotate-secret", "--tenant", "default", &id, "--overlap", "0"]).stdout,
    )
    .unwrap();
    assert!(text.contains("new signing secret (shown once"), "{text}");
    assert!(text.contains("signed with the current secret only"), "{text}");

    // Audited, never with a secret.
    let audit = s.get("/audit-log?after=0&limit=500", Some(&key)).json().to_string();
    assert!(audit.contains("webhook.secret_rotated"), "{audit}");
    assert!(audit.contains("webhook.secret_overlap_ended"), "{audit}");
    for secret in [&old, &new, &newest, &by_cli] {
        let bare = secret.trim_start_matches("whsec_");
        assert!(!audit.contains(bare), "a secret in the audit log");
    }
}

/// A receiver that was down is back: everything that failed since a time goes again now, not
/// at its next retry; what failed before it stays as it is. Audited.
#[test]
fn what_failed_since_a_time_is_redelivered_at_once() {
    let (s, key) = Server::keyed();
    let rx = Receiver::answering(&[500, 500, 500, 500]);
    let started = jiff::Timestamp::now().to_string();
    let hook = register(&s, &key, &rx.url(), json!(["user.created"]));
    let hid = hook["id"].as_str().unwrap().to_owned();
    for email in ["down1@example.com", "down2@example.com"] {
        assert_eq!(s.send("POST", "/users", &key, &json!({"email": email})).status, 201);
    }
    rx.wait_for(10, "two failed attempts", |g| g.len() >= 2);
    // Each waits for its retry, its attempt recorded as failed.
    let attempted = |l: &Value| {
        let all = l["deliveries"].as_array().unwrap().clone();
        all.iter().filter(|d| d["attempts"] == 1 && d["last_status_code"] == 500).count()
    };
    let failed = eventually(
        || s.get(&format!("/webhooks/{hid}/deliveries"), Some(&key)).json(),
        |l| attempted(l) == 2,
    );
    assert_eq!(attempted(&failed), 2, "{failed}");
    let path = format!("/webhooks/{hid}/redeliver-failed");
    let later = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)).to_string();
    let none = s.send("POST", &path, &key, &json!({"since": later}));
    assert_eq!((none.status, none.json()["redelivered"].clone()), (202, json!(0)));
    let r = s.send("POST", &path, &key, &json!({"since": started}));
    assert_eq!((r.status, r.json()["redelivered"].clone()), (202, json!(2)), "{}", r.body);
    // Sent again now, well before the first retry (5 s after the failure).
    let t = std::time::Instant::now();
    rx.wait_for(4, "both again", |g| g.len() >= 4);
    assert!(t.elapsed() < Duration::from_secs(4));
    assert_eq!(s.send("POST", &path, &key, &json!({"since": "yesterday"})).status, 400);
    let nobody = format!("/webhooks/{}/redeliver-failed", uuid::Uuid::new_v4());
    assert_eq!(s.send("POST", &nobody, &key, &json!({"since": started})).status, 404);
    let audit = s.get("/audit-log?after=0&limit=500", Some(&key)).json().to_string();
    assert!(audit.contains("webhook.failed_redelivered"), "{audit}");
}

/// A registration chooses thin payloads (type, ids, seq, version: the receiver reads the rest)
/// or full ones (the default), and may change its mind.
#[test]
fn thin_payloads_carry_ids_and_full_ones_the_resource() {
    let (s, key) = Server::keyed();
    let (thin_rx, full_rx) = (Receiver::start(), Receiver::start());
    let r = s.send(
        "POST",
        "/webhooks",
        &key,
        &json!({"url": thin_rx.url(), "events": ["user.created"], "payload": "thin"}),
    );
    assert_eq!((r.status, r.json()["payload"].clone()), (201, json!("thin")), "{}", r.body);
    let thin_id = r.json()["id"].as_str().unwrap().to_owned();
    let full = register(&s, &key, &full_rx.url(), json!(["user.created"]));
    assert_eq!(full["payload"], "full");
    let made = s.send("POST", "/users", &key, &json!({"email": "thin@example.com"}));
    let user = made.json()["user"]["id"].as_str().unwrap().to_owned();
    let thin = thin_rx.wait_for(10, "the thin delivery", |g| !g.is_empty())[0].json();
    let whole = full_rx.wait_for(10, "the full delivery", |g| !g.is_empty())[0].json();
    assert_eq!(thin["data"], json!({"user_id": user}), "{thin}");
    assert_eq!(
        (thin["id"].clone(), thin["seq"].clone()),
        (whole["id"].clone(), whole["seq"].clone())
    );
    assert_eq!(thin["version"], whole["version"]);
    assert_eq!(whole["data"]["email"], "thin@example.com", "{whole}");

    let path = format!("/webhooks/{thin_id}");
    assert_eq!(s.send("PATCH", &path, &key, &json!({"payload": "bulky"})).status, 400);
    let r = s.send("PATCH", &path, &key, &json!({"payload": "full"}));
    assert_eq!(r.json()["payload"], "full", "{}", r.body);
    s.send("POST", "/users", &key, &json!({"email": "whole@example.com"}));
    let got = thin_rx.wait_for(10, "the second delivery", |g| g.len() >= 2);
    assert_eq!(got[1].json()["data"]["email"], "whole@example.com");
}

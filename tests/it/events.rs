//! The change stream: an event per committed change with a tenant-wide `seq`, per-resource order
//! at a webhook receiver (also across a crash), lifecycle events from every path, and the pull
//! feed (`GET /events`: paging, long-poll, 410 past the retention).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{PATCH_OP, Server};
use crate::receiver::{Received, Receiver};

const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

/// Every event of the tenant after `after`, through the feed's pages.
fn feed(s: &Server, key: &str, mut after: u64) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let r = s.get(&format!("/events?after={after}&limit=250"), Some(key));
        assert_eq!(r.status, 200, "{}", r.body);
        let page = r.json();
        let events = page["events"].as_array().unwrap().clone();
        if events.is_empty() {
            assert_eq!(page["next_after"], after);
            return all;
        }
        after = page["next_after"].as_u64().unwrap();
        assert_eq!(events.last().unwrap()["seq"], after);
        all.extend(events);
    }
}

fn of_type<'a>(events: &'a [Value], t: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == t).collect()
}

fn register(s: &Server, key: &str, url: &str) -> Value {
    let r = s.send("POST", "/webhooks", key, &json!({"url": url, "events": ["*"]}));
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

fn create_user(s: &Server, key: &str, email: &str) -> String {
    let r = s.send("POST", "/users", key, &json!({"email": email}));
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["user"]["id"].as_str().unwrap().to_owned()
}

#[test]
fn changes_in_one_millisecond_each_get_their_own_event() {
    let (s, key) = Server::keyed();
    let id = create_user(&s, &key, "twice@example.com");
    let start = feed(&s, &key, 0).last().unwrap()["seq"].as_u64().unwrap();
    for round in 0..50 {
        let patch = |name: String| {
            json!({"method": "PATCH", "path": format!("/Users/{id}"), "data": {"schemas": [PATCH_OP],
                "Operations": [{"op": "replace", "path": "displayName", "value": name}]}})
        };
        let body = json!({"schemas": [BULK], "Operations": [
            patch(format!("a{round}")), patch(format!("b{round}"))]});
        let r = s.send("POST", "/scim/v2/Bulk", &key, &body);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let events = feed(&s, &key, start);
    let updated = of_type(&events, "user.updated");
    assert_eq!(updated.len(), 100, "one event per acknowledged change");
    let ids: HashSet<&str> = updated.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 100, "every event has its own id");
    // seq and the user's version both rise strictly, one per change.
    for pair in updated.windows(2) {
        assert!(pair[1]["seq"].as_u64() > pair[0]["seq"].as_u64());
        assert_eq!(pair[1]["version"].as_u64().unwrap(), pair[0]["version"].as_u64().unwrap() + 1);
    }
    assert_eq!(updated[99]["data"]["display_name"], "b49");
    assert_eq!(s.cli_json(&["check"])["problems"], json!([]));
}

/// The versions of `user`'s events in the order they first arrived (duplicates after a crash
/// are what at-least-once allows; a receiver deduplicates on `webhook-id`).
fn first_arrivals(got: &[Received], user: &str) -> Vec<u64> {
    let mut seen = HashSet::new();
    got.iter()
        .filter(|r| seen.insert(r.id.clone()))
        .map(Received::json)
        .filter(|e| e["data"]["id"] == user)
        .map(|e| e["version"].as_u64().unwrap())
        .collect()
}

#[test]
fn a_thousand_updates_of_one_user_arrive_in_order() {
    let s = Server::start_args(&["--rate-limit", "0"]);
    let key = s.root_key();
    let rx = Receiver::start();
    register(&s, &key, &rx.url());
    let id = create_user(&s, &key, "often@example.com");
    for i in 0..1000 {
        let r =
            s.send("PATCH", &format!("/users/{id}"), &key, &json!({"full_name": format!("n{i}")}));
        assert_eq!(r.status, 200, "{}", r.body);
    }
    rx.wait_for(120, "1,001 events", |g| g.len() >= 1001);
    std::thread::sleep(Duration::from_millis(1000));
    let got = rx.got.lock().clone();
    // Without a crash, nothing is sent twice: every version once, in arrival order.
    let arrived: Vec<u64> = got.iter().map(|r| r.json()["version"].as_u64().unwrap()).collect();
    assert_eq!(arrived, (1..=1001).collect::<Vec<u64>>(), "every version once, in order");
    let last = got.last().unwrap().json();
    assert_eq!(last["data"]["full_name"], "n999");
}

#[test]
fn a_failing_event_holds_back_only_later_events_about_its_own_resource() {
    let (s, key) = Server::keyed();
    let rx = Receiver::start();
    register(&s, &key, &rx.url());
    // The first delivery (the user's creation) fails; its retry comes 5 s later.
    rx.answer(&[500]);
    let stuck = create_user(&s, &key, "stuck@example.com");
    rx.wait_for(10, "the failed first attempt", |g| !g.is_empty());
    let r = s.send("PATCH", &format!("/users/{stuck}"), &key, &json!({"full_name": "Later"}));
    assert_eq!(r.status, 200);
    let other = create_user(&s, &key, "free@example.com");
    let got = rx.wait_for(10, "the other user's event", |g| {
        g.iter().any(|r| r.json()["data"]["id"] == other.as_str())
    });
    assert_eq!(first_arrivals(&got, &stuck), [1], "the update waits behind the retry: {got:?}");
    let got = rx.wait_for(20, "the retry and the update behind it", |g| {
        g.iter().filter(|r| r.json()["data"]["id"] == stuck.as_str()).count() >= 3
    });
    let stuck_events: Vec<Value> =
        got.iter().map(Received::json).filter(|e| e["data"]["id"] == stuck.as_str()).collect();
    let order: Vec<(&str, u64)> = stuck_events
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["version"].as_u64().unwrap()))
        .collect();
    assert_eq!(order, [("user.created", 1), ("user.created", 1), ("user.updated", 2)]);
    assert_eq!(s.cli_json(&["check"])["problems"], json!([]));
}

#[test]
fn after_a_crash_every_acknowledged_change_arrives_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let rx = Receiver::start();
    let s = Server::start_in(tmp.path(), &["--rate-limit", "0"]);
    let key = s.root_key();
    register(&s, &key, &rx.url());
    let users: Vec<String> =
        (0..4).map(|i| create_user(&s, &key, &format!("crash{i}@example.com"))).collect();
    // Updates stream in while the server is killed; what it acknowledged must arrive.
    let mut acknowledged: HashMap<String, u64> = users.iter().map(|u| (u.clone(), 1)).collect();
    for round in 0..60u64 {
        for u in &users {
            let r = s.send(
                "PATCH",
                &format!("/users/{u}"),
                &key,
                &json!({"full_name": format!("r{round}")}),
            );
            assert_eq!(r.status, 200);
            // Created at version 1, and each of these changes the name.
            acknowledged.insert(u.clone(), round + 2);
        }
    }
    drop(s); // SIGKILL: whatever the worker had in hand is lost with it
    let s = Server::start_in(tmp.path(), &[]);
    let got = rx.wait_for(60, "every acknowledged version", |g| {
        acknowledged.iter().all(|(u, v)| first_arrivals(g, u).contains(v))
    });
    for (u, v) in &acknowledged {
        let versions = first_arrivals(&got, u);
        assert_eq!(versions, (1..=*v).collect::<Vec<u64>>(), "user {u}: in order, none missing");
    }
    assert_eq!(s.cli_json(&["check"])["problems"], json!([]));
}

#[test]
fn every_path_records_its_lifecycle_events() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_in(tmp.path(), &[]);
    let key = s.root_key();
    let alice = create_user(&s, &key, "alice@example.com");
    let bob = create_user(&s, &key, "bob@example.com");

    // SCIM: a group, then a user deleted (not merely deactivated).
    let r = s.send(
        "POST",
        "/scim/v2/Groups",
        &key,
        &json!({"displayName": "Pilots",
        "members": [{"value": alice}]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let group = r.json()["id"].as_str().unwrap().to_owned();
    let scim_user =
        s.send("POST", "/scim/v2/Users", &key, &json!({"userName": "carol@example.com"}));
    let carol = scim_user.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        s.request("DELETE", &format!("/scim/v2/Users/{carol}"), Some(&key), None).status,
        204
    );

    // The admin: a room made, filled and deleted; the seats changed.
    let room = s.cli_line("room create --tenant default Hangar")["id"].as_str().unwrap().to_owned();
    for u in [&alice, &bob] {
        let r = s.send("POST", &format!("/rooms/{room}/members"), &key, &json!({"user_id": u}));
        assert_eq!(r.status, 201);
    }
    s.cli_json(&["room", "delete", "--tenant", "default", &room]);
    s.cli_json(&["tenant", "set-seats", "default", "77"]);

    let events = feed(&s, &key, 0);
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "no gaps, no repeats");
    let about = |t: &str, id: &str| {
        events.iter().filter(|e| e["type"] == t && e["data"]["id"] == id).count()
    };
    assert_eq!(about("room.created", &group), 1, "SCIM POST /Groups");
    assert_eq!(about("room.created", &room), 1, "room create");
    assert_eq!(about("user.deleted", &carol), 1, "SCIM DELETE");
    assert_eq!(about("user.deactivated", &carol), 0, "a delete is not a deactivation");
    let deleted: Vec<&Value> = of_type(&events, "room.deleted");
    assert_eq!(deleted.len(), 1);
    assert_eq!(
        (deleted[0]["data"]["id"].as_str(), deleted[0]["data"]["members_removed"].clone()),
        (Some(room.as_str()), json!(2))
    );
    let removed: HashSet<&str> = of_type(&events, "room.member_removed")
        .iter()
        .filter(|e| e["data"]["room_id"] == room.as_str())
        .map(|e| e["data"]["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(removed, HashSet::from([alice.as_str(), bob.as_str()]));
    // The members' removal comes before the room's deletion, at the room's last version.
    let last_removed = events.iter().rposition(|e| e["type"] == "room.member_removed").unwrap();
    let room_deleted = events.iter().position(|e| e["type"] == "room.deleted").unwrap();
    assert!(last_removed < room_deleted);
    assert_eq!(events[last_removed]["version"], events[room_deleted]["version"]);
    let seats = of_type(&events, "seats.capacity_changed");
    assert_eq!(seats.len(), 1);
    assert_eq!(seats[0]["data"]["seat_capacity"], 77);
    assert_eq!(seats[0]["data"]["seats_provisioned"], 2);

    // The same from the CLI with the server stopped: the events wait in the store.
    let dir = s.dir.clone();
    assert!(s.stop());
    let out =
        crate::harness::cli_json_in(&dir, &["room", "create", "--tenant", "default", "Offline"]);
    let s = Server::start_in(&dir, &[]);
    let events = feed(&s, &key, seqs.len() as u64);
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0]["type"].as_str(), events[0]["data"]["id"].clone()),
        (Some("room.created"), out["id"].clone())
    );
}

#[test]
fn the_feed_pages_long_polls_and_checks_its_input() {
    let (s, key) = Server::keyed();
    for i in 0..5 {
        create_user(&s, &key, &format!("f{i}@example.com"));
    }
    let page = s.get("/events?after=0&limit=2", Some(&key)).json();
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    assert_eq!(page["next_after"], 2);
    let page = s.get("/v1/default/events?after=2&limit=10", Some(&key)).json();
    assert_eq!(page["events"].as_array().unwrap().len(), 3, "both path forms");
    assert_eq!(page["next_after"], 5);
    let tenant = s.get("/me", Some(&key)).json()["tenant_id"].clone();
    let e = &page["events"][0];
    assert_eq!(
        (e["seq"].clone(), e["type"].clone(), e["tenant_id"].clone()),
        (json!(3), json!("user.created"), tenant)
    );
    assert!(Uuid::parse_str(e["id"].as_str().unwrap()).is_ok());

    // Long-poll: answers as soon as an event commits.
    let url = s.url("/events?after=5&wait=20");
    let (auth, started) = (format!("Bearer {key}"), Instant::now());
    let poll = std::thread::spawn(move || {
        let mut r = ureq::get(&url).header("Authorization", &auth).call().unwrap();
        r.body_mut().read_json::<Value>().unwrap()
    });
    std::thread::sleep(Duration::from_millis(300));
    create_user(&s, &key, "woken@example.com");
    let woke = poll.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(woke["events"][0]["data"]["email"], "woken@example.com");
    assert_eq!(woke["next_after"], 6);
    // With nothing new, it answers an empty page when the wait runs out.
    let started = Instant::now();
    let page = s.get("/events?after=6&wait=1", Some(&key)).json();
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!((page["events"].clone(), page["next_after"].clone()), (json!([]), json!(6)));

    for bad in ["after=-1", "limit=x", "wait=soon"] {
        assert_eq!(s.get(&format!("/events?{bad}"), Some(&key)).status, 400, "{bad}");
    }
    let (no_scope, _) = s.create_key("default", &["usage"]);
    let r = s.get("/events", Some(&no_scope));
    assert_eq!((r.status, r.json()["required_scope"].clone()), (403, json!("webhooks")));
    // Another tenant sees only its own stream.
    s.cli_line("tenant create other --seats 5");
    let (other, _) = s.create_key("other", &["webhooks"]);
    assert_eq!(s.get("/events", Some(&other)).json()["events"], json!([]));
    assert_eq!(s.get("/v1/default/events", Some(&other)).status, 404);
}

#[test]
fn events_past_the_retention_answer_410_with_the_oldest_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_in(tmp.path(), &[]);
    let key = s.root_key();
    for i in 0..3 {
        create_user(&s, &key, &format!("old{i}@example.com"));
    }
    assert!(s.stop());
    // Prune with a retention of zero (every event is older than now), on the real store file.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let pruned = rt.block_on(async {
        let store = whoot_mgmt::store::Store::open(tmp.path()).unwrap();
        let settings = whoot_mgmt::webhooks::Settings {
            event_retention: Duration::ZERO,
            ..Default::default()
        };
        whoot_mgmt::webhooks::prune(&store, &settings).await.unwrap()
    });
    assert_eq!(pruned.1, 3);
    let s = Server::start_in(tmp.path(), &[]);
    let r = s.get("/events?after=0", Some(&key));
    assert_eq!(r.status, 410, "{}", r.body);
    let body = r.json();
    assert_eq!(
        (body["code"].clone(), body["oldest_seq"].clone()),
        (json!("EVENTS_EXPIRED"), json!(4))
    );
    // Reading on from where the stream now starts works, and new events continue the count.
    assert_eq!(s.get("/events?after=3", Some(&key)).json()["events"], json!([]));
    create_user(&s, &key, "new@example.com");
    assert_eq!(s.get("/events?after=3", Some(&key)).json()["events"][0]["seq"], 4);
    assert_eq!(s.cli_json(&["check"])["problems"], json!([]));
}

#[test]
fn failing_time_counts_only_while_the_server_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let rx = Receiver::answering(&[500; 10]);
    let args = ["--webhook-disable-after-secs", "2"];
    let s = Server::start_in(tmp.path(), &args);
    let key = s.root_key();
    let hook = register(&s, &key, &rx.url());
    let hid = hook["id"].as_str().unwrap().to_owned();
    create_user(&s, &key, "down@example.com");
    rx.wait_for(10, "the first attempt", |g| !g.is_empty());
    std::thread::sleep(Duration::from_millis(300)); // recorded
    assert!(s.stop());
    // Stopped for longer than the limit; the retry (5 s after the first attempt) comes after
    // the restart, under 2 s of running time later.
    std::thread::sleep(Duration::from_millis(3500));
    let s = Server::start_in(tmp.path(), &args);
    rx.wait_for(15, "the retry", |g| g.len() >= 2);
    std::thread::sleep(Duration::from_millis(500));
    let h = s.get(&format!("/webhooks/{hid}"), Some(&key)).json();
    assert_eq!(h["active"], true, "stopped time is not failing time: {h}");
    assert!(h["failing_for_secs"].as_u64().unwrap() < 2, "{h}");
}

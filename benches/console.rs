//! The web console's pages on a tenant of 10,000 users, 1,000 rooms (one of 1,000 members), 50
//! keys and 100,000 audit entries: each page fetched 200 times in a row over one keep-alive
//! connection, signed in, after 20 warm-up fetches; p50 and p99 printed.
//!
//! cargo bench --bench console
//! Setup data is written through the store API; sign-in goes through the console's own form.

#![allow(clippy::restriction, clippy::pedantic)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;
use uuid::Uuid;
use whoot_mgmt::auth::ScopeSet;
use whoot_mgmt::store::audit::{self, Actor, Field};
use whoot_mgmt::store::rooms::{self, Room};
use whoot_mgmt::store::users::User;

const USERS: usize = 10_000;
const ROOMS: usize = 1_000;
const KEYS: usize = 50;
const AUDIT: usize = 100_000;
const ROUNDS: usize = 200;

struct Browser {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    cookies: HashMap<String, String>,
}

impl Browser {
    async fn connect(addr: SocketAddr) -> Browser {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
        tokio::spawn(conn);
        Browser { sender, cookies: HashMap::new() }
    }

    async fn send(&mut self, method: &str, path: &str, form: &str) -> (u16, String, Duration) {
        let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "bench")
            .header("cookie", jar.join("; "))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(form.to_owned())))
            .unwrap();
        let t = Instant::now();
        self.sender.ready().await.unwrap();
        let resp = self.sender.send_request(req).await.unwrap();
        let status = resp.status().as_u16();
        for set in resp.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.insert(k.to_owned(), v.to_owned());
        }
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned(), t.elapsed())
    }
}

fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    page[at..].split('"').next().unwrap().to_owned()
}

fn main() {
    common::on_two_threads(run());
}

async fn run() {
    let (running, _tmp, secret, tenant) = common::start_unlimited().await;
    let app = running.state.app.clone();
    let store = app.store.clone();
    println!(
        "console pages on a tenant of {USERS} users ({} cores), {ROUNDS} fetches each",
        common::cores()
    );

    let t = Instant::now();
    let now = whoot_mgmt::time::now_ms();
    let ids = common::create_users(&store, tenant, USERS, |i| {
        // Made now: their events fill the Overview's 24-hour chart.
        let mut u = User::new(Uuid::now_v7(), format!("user{i}@bench.example"), now);
        u.external_id = Some(format!("00u{i:06}"));
        u.given_name = Some(format!("Given{i}"));
        u.family_name = Some(format!("Family{i}"));
        u.display_name = Some(format!("Given{i} Family{i}"));
        u
    })
    .await;
    let room = Room::new(Uuid::now_v7(), "Hangar", now);
    let room_id = room.id;
    let wanted: HashMap<Uuid, Option<bool>> =
        ids[..1000].iter().map(|&u| (u, Some(false))).collect();
    store
        .write(move |txn| -> whoot_mgmt::store::Result<_> {
            rooms::create(txn, tenant, &room)?;
            rooms::sync_members(txn, tenant, room.id, &wanted, rooms::Eligible::Active, now)?;
            for i in 1..ROOMS {
                rooms::create(txn, tenant, &Room::new(Uuid::now_v7(), &format!("Room {i}"), now))?;
            }
            Ok(())
        })
        .await
        .unwrap();
    for i in 1..KEYS {
        let scopes = ScopeSet::resolve_all(&["usage"]).unwrap();
        app.create_key("default", scopes, &format!("bench key {i}"), None, &Actor::Cli)
            .await
            .unwrap();
    }
    for batch in 0..AUDIT / 5_000 {
        store
            .write(move |txn| -> whoot_mgmt::store::Result<_> {
                for i in 0..5_000 {
                    let target = format!("room {i}");
                    let fields = vec![Field::set("name", format!("Room {batch}-{i}"))];
                    audit::record(txn, tenant, &Actor::Cli, ("room.created", &target), fields, 0)?;
                }
                Ok(())
            })
            .await
            .unwrap();
    }
    let mut api = common::Client::connect(running.addr, &secret).await;
    let hook = json!({"url": "http://127.0.0.1:9/hooks", "events": ["*"]});
    let (status, body, _) = api.call("POST", "/webhooks", Some(&hook)).await;
    assert_eq!(status, 201, "{body:?}");
    let hook: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let hook = hook["id"].as_str().unwrap().to_owned();
    // A delivery to show (the receiver is closed: it fails, or waits its first attempt).
    let user = json!({"email": "delivered@bench.example"});
    let (status, body, _) = api.call("POST", "/users", Some(&user)).await;
    assert_eq!(status, 201, "{body:?}");
    let (status, body, _) = api.call("GET", &format!("/webhooks/{hook}/deliveries"), None).await;
    assert_eq!(status, 200, "{body:?}");
    let deliveries: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let delivery = deliveries["deliveries"][0]["id"].as_str().unwrap().to_owned();
    println!(
        "setup: {USERS} users, {ROOMS} rooms (one of 1,000 members), {KEYS} keys, {AUDIT} audit \
         entries, a webhook in {}",
        common::ms(t.elapsed())
    );

    let mut b = Browser::connect(running.addr).await;
    let (_, form, _) = b.send("GET", "/console/login", "").await;
    let login = format!("key={secret}&csrf={}", csrf(&form));
    let (status, _, _) = b.send("POST", "/console/login", &login).await;
    assert_eq!(status, 303, "signed in");

    let (_, overview, _) = b.send("GET", "/console/", "").await;
    let counted = overview.split("id=\"activity-total\">").nth(1).and_then(|s| s.split('<').next());
    println!("the Overview's chart: {}", counted.unwrap_or("missing"));

    let middle = ids[USERS / 2];
    let pages = [
        "/console/".to_owned(),
        "/console/keys".to_owned(),
        "/console/users".to_owned(),
        format!("/console/users?after={middle}"),
        "/console/users?q=user50".to_owned(),
        "/console/users?q=00u0050".to_owned(),
        // A name: the index walks, then every user's names.
        "/console/users?q=Family9999".to_owned(),
        "/console/users?status=active&offset=5000".to_owned(),
        format!("/console/users/{middle}"),
        format!("/console/users/{middle}/active?active=false"),
        "/console/rooms".to_owned(),
        format!("/console/rooms/{room_id}"),
        format!("/console/rooms/{room_id}?find=Given42"),
        "/console/webhooks".to_owned(),
        format!("/console/webhooks/{hook}"),
        format!("/console/webhooks/{hook}/deliveries/{delivery}"),
        "/console/audit".to_owned(),
        // A filter nothing matches: the page looks through its 20,000 entries.
        "/console/audit?action=webhook.deleted".to_owned(),
    ];
    println!("{:<60} {:>9} {:>9} {:>9}", "page", "p50", "p99", "bytes");
    for page in &pages {
        for _ in 0..20 {
            b.send("GET", page, "").await;
        }
        let mut times = Vec::with_capacity(ROUNDS);
        let mut bytes = 0;
        for _ in 0..ROUNDS {
            let (status, body, took) = b.send("GET", page, "").await;
            assert_eq!(status, 200, "{page}: {body}");
            bytes = body.len();
            times.push(took);
        }
        times.sort();
        let p99 = times[times.len() * 99 / 100];
        println!(
            "{page:<60} {:>9} {:>9} {bytes:>9}",
            common::ms(times[times.len() / 2]),
            common::ms(p99)
        );
    }
    running.shutdown().await;
}

//! Room and group benchmarks over HTTP against the real server (in-process, real redb file):
//!
//! 1. PUT /rooms/{id}/members: a 10,000-member list into a room of 10,000, half of it changed
//!    (2,500 permissions flipped, 2,500 members replaced).
//! 2. SCIM PATCH adding one member to a 10,000-member group.
//! 3. GET /scim/v2/Groups?excludedAttributes=members&count=1000 over 1,000 groups of 1,000
//!    members, next to 1,000 groups with no members: the time must not grow with member count.
//! 4. Entra's membership check, `id eq "G" and members[value eq "U"]` with
//!    `excludedAttributes=members`, in that tenant with a 20,000-member group added: p50 and p99
//!    for a member and a non-member of the big group and of a 1,000-member one.
//!
//! cargo bench --bench rooms
//! Setup data is written through the store API (faster than HTTP, and not what is measured).

#![allow(clippy::restriction, clippy::pedantic)]

mod common;

use std::collections::HashMap;
use std::time::Instant;

use common::{Client, median, ms};
use serde_json::{Value, json};
use uuid::Uuid;
use whoot_mgmt::auth::ScopeSet;
use whoot_mgmt::store::Store;
use whoot_mgmt::store::audit::Actor;
use whoot_mgmt::store::rooms::{self, Room};
use whoot_mgmt::store::users::User;

async fn create_users(store: &Store, tenant: Uuid, prefix: &str, n: usize) -> Vec<Uuid> {
    common::create_users(store, tenant, n, |i| {
        User::new(Uuid::now_v7(), format!("{prefix}{i}@bench.example"), 0)
    })
    .await
}

async fn create_room(
    store: &Store,
    tenant: Uuid,
    name: &str,
    members: &[Uuid],
    mapped: bool,
) -> Uuid {
    let mut room = Room::new(Uuid::now_v7(), name, 0);
    room.mapped = mapped;
    let id = room.id;
    let wanted: HashMap<Uuid, Option<bool>> = members.iter().map(|&u| (u, Some(false))).collect();
    store
        .write(move |txn| -> whoot_mgmt::store::Result<_> {
            rooms::create(txn, tenant, &room)?;
            rooms::sync_members(txn, tenant, room.id, &wanted, rooms::Eligible::Active, 0)?;
            Ok(())
        })
        .await
        .unwrap();
    id
}

fn main() {
    common::on_two_threads(run());
}

async fn run() {
    let (running, _tmp, secret, tenant) = common::start_unlimited().await;
    let app = running.state.app.clone();
    let store = app.store.clone();
    let mut c = Client::connect(running.addr, &secret).await;
    println!("rooms benchmark ({} cores)", common::cores());

    // 1. PUT sync, half changed.
    let t = Instant::now();
    let ids = create_users(&store, tenant, "u", 12_500).await;
    let room = create_room(&store, tenant, "big", &ids[..10_000], false).await;
    println!("setup: 12,500 users and a 10,000-member room in {}", ms(t.elapsed()));
    let original: Vec<Value> =
        ids[..10_000].iter().map(|u| json!({"user_id": u, "tx_permission": false})).collect();
    let mut changed: Vec<Value> =
        ids[..5_000].iter().map(|u| json!({"user_id": u, "tx_permission": false})).collect();
    changed.extend(ids[5_000..7_500].iter().map(|u| json!({"user_id": u, "tx_permission": true})));
    changed
        .extend(ids[10_000..12_500].iter().map(|u| json!({"user_id": u, "tx_permission": false})));
    let mut times = Vec::new();
    for round in 0..6 {
        let list = if round % 2 == 0 { &changed } else { &original };
        let (status, body, took) =
            c.call("PUT", &format!("/rooms/{room}/members"), Some(&json!({"members": list}))).await;
        assert_eq!(status, 200, "{body:?}");
        if round == 0 {
            println!("  first sync answered {}", String::from_utf8_lossy(&body));
        }
        times.push(took);
    }
    println!(
        "PUT sync 10,000 members, half changed: median {} (6 runs, min {}, max {})",
        ms(median(times.clone())),
        ms(*times.iter().min().unwrap()),
        ms(*times.iter().max().unwrap())
    );

    // 2. SCIM PATCH one member into a 10,000-member group.
    let (status, _, _) = c
        .call("PATCH", &format!("/rooms/{room}"), Some(&json!({"external_id": "big-group"})))
        .await;
    assert_eq!(status, 200);
    let extra = ids[11_000];
    let mut times = Vec::new();
    for round in 0..20 {
        let op = if round % 2 == 0 {
            json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": extra}]}]})
        } else {
            json!({"Operations": [{"op": "remove", "path": format!("members[value eq \"{extra}\"]")}]})
        };
        let (status, body, took) =
            c.call("PATCH", &format!("/scim/v2/Groups/{room}"), Some(&op)).await;
        assert_eq!(status, 204, "{body:?}");
        if round % 2 == 0 {
            times.push(took);
        }
    }
    println!(
        "SCIM PATCH add 1 member to a 10,000-member group: median {} (10 runs, max {})",
        ms(median(times.clone())),
        ms(*times.iter().max().unwrap())
    );

    // 3. Group lists that must not read member lists.
    let t = Instant::now();
    for i in 0..1000 {
        create_room(&store, tenant, &format!("g{i}"), &ids[..1000], true).await;
    }
    println!("setup: 1,000 groups of 1,000 members in {}", ms(t.elapsed()));
    let empty_tenant =
        app.create_tenant("empty-groups", "Empty groups", 10, &Actor::Cli).await.unwrap();
    for i in 0..1000 {
        create_room(&store, empty_tenant.id, &format!("g{i}"), &[], true).await;
    }
    let empty_key = app
        .create_key(
            "empty-groups",
            ScopeSet::resolve_all(&["all"]).unwrap(),
            "bench",
            None,
            &Actor::Cli,
        )
        .await
        .unwrap();
    let mut empty_client = Client::connect(running.addr, &empty_key.secret).await;
    // The setup outlasted the server's idle-connection timeout.
    let mut c = Client::connect(running.addr, &secret).await;
    for (label, client) in [("1,000 members each", &mut c), ("no members", &mut empty_client)] {
        let mut times = Vec::new();
        let mut returned = 0;
        for _ in 0..10 {
            let (status, body, took) = client
                .call("GET", "/scim/v2/Groups?excludedAttributes=members&count=1000", None)
                .await;
            assert_eq!(status, 200);
            let v: Value = serde_json::from_slice(&body).unwrap();
            returned = v["itemsPerPage"].as_u64().unwrap();
            times.push(took);
        }
        println!(
            "GET /Groups?excludedAttributes=members ({returned} groups, {label}): median {} (10 runs)",
            ms(median(times))
        );
    }

    // 4. The membership check reads one row, whatever the group's size.
    let t = Instant::now();
    let mut everyone = ids.clone();
    everyone.extend(create_users(&store, tenant, "v", 7_500).await);
    let huge = create_room(&store, tenant, "huge", &everyone[..20_000], true).await;
    let small = create_room(&store, tenant, "small", &everyone[..1_000], true).await;
    println!("setup: a 20,000-member group beside them in {}", ms(t.elapsed()));
    let outsider = create_users(&store, tenant, "w", 1).await[0];
    let mut c = Client::connect(running.addr, &secret).await;
    for (label, group, user, expected) in [
        ("20,000-member group, a member", huge, everyone[19_999], 1),
        ("20,000-member group, not a member", huge, outsider, 0),
        ("1,000-member group, a member", small, everyone[999], 1),
        ("1,000-member group, not a member", small, everyone[1_000], 0),
    ] {
        let filter = format!(r#"id eq "{group}" and members[value eq "{user}"]"#);
        let filter: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
        let path = format!("/scim/v2/Groups?excludedAttributes=members&filter={filter}");
        let mut times = Vec::new();
        for _ in 0..200 {
            let (status, body, took) = c.call("GET", &path, None).await;
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["totalResults"], expected, "{label}");
            times.push(took);
        }
        times.sort();
        println!(
            "membership check ({label}): p50 {} p99 {} (200 runs)",
            ms(times[100]),
            ms(times[197])
        );
    }
    running.shutdown().await;
}

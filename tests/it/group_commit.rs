//! The store's writer on a real redb file: concurrent mutations share commits, and a failing
//! mutation fails alone, leaving no trace, while its batch-mates commit.

use std::sync::atomic::Ordering;

use uuid::Uuid;
use whoot_mgmt::store::{Error, Refusal, Store, counters};

#[test]
fn concurrent_writes_share_commits_and_fail_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let tenant = Uuid::now_v7();
    rt.block_on(async {
        let store = Store::open(tmp.path()).unwrap();
        let mut tasks = Vec::new();
        for i in 0..200u32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .write(move |txn| {
                        // Writes first, then fails for every third: the write must vanish.
                        counters::add(txn, tenant, "attempted", 1)?;
                        if i % 3 == 0 {
                            return Err(Error::invalid(format!("mutation {i} refused")));
                        }
                        counters::add(txn, tenant, "done", 1)?;
                        Ok(i)
                    })
                    .await
            }));
        }
        let mut failed = 0;
        for (i, task) in tasks.into_iter().enumerate() {
            match task.await.unwrap() {
                Ok(v) => assert_eq!(v as usize, i),
                Err(Error::Refused(Refusal::Invalid(m))) => {
                    assert_eq!(m, format!("mutation {i} refused"));
                    failed += 1;
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(failed, 67);
        let stats = store.writer_stats();
        let (commits, mutations) =
            (stats.commits.load(Ordering::Relaxed), stats.mutations.load(Ordering::Relaxed));
        assert_eq!(mutations, 133);
        assert!(commits < mutations, "no group commit: {commits} commits for {mutations}");
        drop(store);
    });
    // Durable and consistent after reopening.
    let store = Store::open(tmp.path()).unwrap();
    let (attempted, done) = store
        .read_here(|tx| -> whoot_mgmt::store::Result<_> {
            Ok((counters::get(tx, tenant, "attempted")?, counters::get(tx, tenant, "done")?))
        })
        .unwrap();
    assert_eq!((attempted, done), (133, 133));
}

#[test]
fn the_delivery_log_prunes_finished_entries_only() {
    use whoot_mgmt::store::webhooks::{self, Delivery, DeliveryStatus, Webhook};
    let tmp = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (tenant, hook_id) = (Uuid::now_v7(), Uuid::now_v7());
    let day = 86_400_000i64;
    let now = jiff::Timestamp::now().as_millisecond();
    rt.block_on(async {
        let store = Store::open(tmp.path()).unwrap();
        store
            .write(move |txn| -> whoot_mgmt::store::Result<_> {
                let hook = Webhook::new(hook_id, "http://x".into(), "whsec_AAAA".into(), 0);
                webhooks::create(txn, tenant, &hook)?;
                for (age_days, status) in [
                    (40, DeliveryStatus::Succeeded),
                    (40, DeliveryStatus::Failed),
                    (40, DeliveryStatus::Pending),
                    (1, DeliveryStatus::Succeeded),
                ] {
                    let at = now - age_days * day;
                    let ts = uuid::Timestamp::from_unix(
                        uuid::NoContext,
                        (at / 1000) as u64,
                        ((at % 1000) * 1_000_000) as u32,
                    );
                    let d = Delivery {
                        id: Uuid::new_v7(ts),
                        webhook_id: hook_id,
                        event_id: Uuid::now_v7(),
                        seq: 0,
                        resource: Uuid::nil(),
                        event_type: "user.created".into(),
                        status,
                        attempts: 1,
                        last_status_code: None,
                        last_error: None,
                        last_duration_ms: None,
                        next_attempt_at: (status == DeliveryStatus::Pending).then_some(at),
                        created_at: at,
                        updated_at: at,
                    };
                    webhooks::put_delivery(txn, tenant, &d)?;
                }
                Ok(())
            })
            .await
            .unwrap();
        let pruned = store.write(move |txn| webhooks::prune(txn, now - 30 * day)).await.unwrap();
        assert_eq!(pruned, 2);
        let left =
            store.read(move |tx| webhooks::deliveries(tx, tenant, hook_id, 100)).await.unwrap();
        let statuses: Vec<DeliveryStatus> = left.iter().map(|d| d.status).collect();
        assert_eq!(statuses, [DeliveryStatus::Succeeded, DeliveryStatus::Pending], "newest first");
    });
}

/// Acknowledged writes live in the store's log until a checkpoint; a kill -9 before one loses
/// none of them (the log is replayed at start), and a mutation that failed in a batch left
/// nothing there. Twice, so the log's sequence carries across a replay.
#[test]
fn acknowledged_writes_survive_kill_9_through_the_log() {
    use crate::harness::{Server, cli_in};
    use serde_json::json;
    use std::collections::BTreeSet;
    use std::process::Stdio;

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // No checkpoint by count or by idling: everything acknowledged is only in the log.
    let never = ["--checkpoint-every", "100000000", "--checkpoint-idle-ms", "600000"];
    let args = [&never[..], &["--rate-limit", "0"]].concat();
    let start = |log: &str| {
        let stderr = std::fs::File::create(tmp.path().join(log)).unwrap();
        let env = [("WHOOT_LOG", "info")];
        Server::start_with(&data, &args, &env, Stdio::from(stderr))
    };
    let create_all = |s: &Server, key: &str, round: &str| -> BTreeSet<String> {
        // Eight clients at once, so batches are shared; each also tries the same `dup` names,
        // of which one create each succeeds and the others fail (409) inside their batch.
        let acked = std::sync::Mutex::new(BTreeSet::new());
        std::thread::scope(|scope| {
            for t in 0..8 {
                let acked = &acked;
                scope.spawn(move || {
                    for i in 0..25 {
                        for email in [
                            format!("{round}-{t}-{i}@example.com"),
                            format!("{round}-dup{i}@example.com"),
                        ] {
                            let r = s.send("POST", "/users", key, &json!({"email": email}));
                            match r.status {
                                201 => {
                                    acked.lock().unwrap().insert(email);
                                }
                                409 => {}
                                other => panic!("{other}: {}", r.body),
                            }
                        }
                    }
                });
            }
        });
        acked.into_inner().unwrap()
    };
    let emails = |s: &Server, key: &str| -> BTreeSet<String> {
        let page = s.get("/users?limit=1000", Some(key)).json();
        page["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_owned())
            .collect()
    };

    let s = start("first.log");
    let key = s.root_key();
    s.cli_json(&["tenant", "set-seats", "default", "100000"]);
    let existing = emails(&s, &key);
    let mut acked = create_all(&s, &key, "a");
    assert_eq!(acked.len(), 8 * 25 + 25, "each dup name created once");
    drop(s); // SIGKILL
    // The file alone is not the store: the offline tools send the operator to `serve`.
    let check = cli_in(&data, &["check"]);
    assert!(!check.status.success());
    assert!(String::from_utf8_lossy(&check.stderr).contains("not closed cleanly"));

    let s = start("second.log");
    let replayed = std::fs::read_to_string(tmp.path().join("second.log")).unwrap();
    assert!(replayed.contains("replayed the store's log"), "{replayed}");
    let all = |acked: &BTreeSet<String>| existing.union(acked).cloned().collect::<BTreeSet<_>>();
    assert_eq!(emails(&s, &key), all(&acked), "what was acknowledged, nothing else");
    acked.extend(create_all(&s, &key, "b"));
    drop(s); // SIGKILL again, the second round only in the log

    let s = Server::start_in(&data, &[]);
    assert_eq!(acked.len(), 2 * (8 * 25 + 25));
    assert_eq!(emails(&s, &key), all(&acked), "both rounds, nothing else");
    assert!(s.stop());
    // A clean stop checkpoints: the file is the whole store again.
    let report = crate::harness::cli_json_in(&data, &["check"]);
    assert_eq!(report["problems"], json!([]));
}

/// A store file put by hand beside another store's log (a crashed server's, still holding
/// writes) is not given that log's writes: the start is refused with a message, the offline
/// tools refuse too, and with the log moved aside the file serves as it was.
#[test]
fn another_stores_log_is_not_replayed_into_a_store_file() {
    use crate::harness::{Server, cli_in, serve_refused};
    use serde_json::json;

    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let never = ["--checkpoint-every", "100000000", "--checkpoint-idle-ms", "600000"];
    let s = Server::start_in(&a, &never);
    let key = s.root_key();
    for i in 0..20 {
        let r = s.send("POST", "/users", &key, &json!({"email": format!("a{i}@a.example")}));
        assert_eq!(r.status, 201, "{}", r.body);
    }
    drop(s); // SIGKILL: a's writes only in its log
    let s = Server::start_in(&b, &[]);
    let b_key = s.root_key();
    let r = s.send("POST", "/users", &b_key, &json!({"email": "only@b.example"}));
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(s.stop()); // clean: b's file whole, its log empty

    std::fs::copy(b.join("whoot.redb"), a.join("whoot.redb")).unwrap();
    let stderr = serve_refused(&a, &[]);
    assert!(stderr.contains("another store"), "{stderr}");
    let check = cli_in(&a, &["check"]);
    assert!(!check.status.success());
    assert!(String::from_utf8_lossy(&check.stderr).contains("another store"), "{check:?}");

    std::fs::rename(a.join("whoot.log"), tmp.path().join("a.log")).unwrap();
    let s = Server::start_in(&a, &[]);
    let users = s.get("/users?limit=100", Some(&b_key)).json();
    let emails: Vec<&str> =
        users["users"].as_array().unwrap().iter().filter_map(|u| u["email"].as_str()).collect();
    assert!(emails.contains(&"only@b.example"), "{emails:?}");
    assert!(!emails.iter().any(|e| e.ends_with("@a.example")), "{emails:?}");
    assert!(s.stop());
}

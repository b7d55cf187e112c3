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
        .read_now(|tx| {
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
            .write(move |txn| {
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

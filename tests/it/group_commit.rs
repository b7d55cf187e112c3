//! The store's writer on a real redb file: concurrent mutations share commits, and a failing
//! mutation fails alone, leaving no trace, while its batch-mates commit.

use std::sync::atomic::Ordering;

use uuid::Uuid;
use whoot_mgmt::store::{Error, Store, counters};

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
                            return Err(Error::Invalid(format!("mutation {i} refused")));
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
                Err(Error::Invalid(m)) => {
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

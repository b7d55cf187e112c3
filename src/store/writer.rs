//! The single writer thread and its group commit.
//!
//! Mutations that arrive while a commit is in flight queue up; the writer takes all of them into
//! the next write transaction and pays one fsync for the lot. Each mutation still succeeds or
//! fails on its own: redb cannot roll back part of a transaction, so when a mutation fails the
//! transaction is aborted, that mutation is answered with its error, and the batch is replayed
//! without it. Mutations are deterministic given the state they see, so the replayed ones reach
//! the same results they did the first time.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use redb::{Database, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use super::{Error, Result, WriterStats};

/// Most mutations folded into one commit; bounds the replay cost of a failure.
const MAX_BATCH: usize = 256;

pub(super) trait Job: Send {
    /// Runs the mutation in `txn`; false means it failed and `txn` must be discarded.
    fn run(&mut self, txn: &WriteTransaction) -> bool;
    /// Answers the caller: with its own outcome if the batch committed, else with `commit`'s error.
    fn finish(self: Box<Self>, commit: Result<()>);
}

struct Op<T, F> {
    op: F,
    outcome: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

pub(super) fn job<T, F>(op: F, reply: oneshot::Sender<Result<T>>) -> Box<dyn Job>
where
    T: Send + 'static,
    F: Fn(&WriteTransaction) -> Result<T> + Send + 'static,
{
    Box::new(Op { op, outcome: None, reply })
}

impl<T: Send, F: Fn(&WriteTransaction) -> Result<T> + Send> Job for Op<T, F> {
    fn run(&mut self, txn: &WriteTransaction) -> bool {
        let outcome = (self.op)(txn);
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<()>) {
        let answer = match commit {
            Ok(()) => self.outcome.unwrap_or(Err(Error::Unavailable)),
            Err(e) => Err(e),
        };
        // The caller may have gone away (client disconnected); nothing to do then.
        let _ = self.reply.send(answer);
    }
}

pub(super) fn spawn(
    db: Arc<Database>,
    mut queue: mpsc::UnboundedReceiver<Box<dyn Job>>,
    stats: Arc<WriterStats>,
    committed: tokio::sync::watch::Sender<u64>,
) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || {
            while let Some(first) = queue.blocking_recv() {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match queue.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                if commit_batch(&db, batch, &stats) {
                    committed.send_modify(|n| *n += 1);
                }
            }
        })
        .map_err(|e| Error::Storage(format!("starting the writer thread: {e}")))
}

/// Returns whether anything committed.
fn commit_batch(db: &Database, mut batch: Vec<Box<dyn Job>>, stats: &WriterStats) -> bool {
    let started = std::time::Instant::now();
    'attempt: while !batch.is_empty() {
        let txn = match db.begin_write() {
            Ok(txn) => txn,
            Err(e) => {
                fail_all(batch, Error::from(e));
                return false;
            }
        };
        if let Some(failed) = batch.iter_mut().position(|job| !job.run(&txn)) {
            // Dropping an uncommitted transaction aborts it; the failed mutation's writes and
            // everyone else's go with it, and the others are replayed.
            let _ = txn.abort();
            batch.remove(failed).finish(Ok(()));
            continue 'attempt;
        }
        let committed = txn.commit().map_err(Error::from);
        let ok = committed.is_ok();
        if ok {
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats.mutations.fetch_add(batch.len() as u64, Ordering::Relaxed);
            crate::metrics::get().commit(batch.len(), started.elapsed());
        }
        for job in batch {
            job.finish(committed.clone());
        }
        return ok;
    }
    false
}

fn fail_all(batch: Vec<Box<dyn Job>>, err: Error) {
    for job in batch {
        job.finish(Err(err.clone()));
    }
}

//! The one shutdown signal: `serve` turns it on, and the listeners, chores and the webhook worker
//! each wait for it. A leaf: it imports nothing of ours.

use tokio::sync::watch;

/// Resolves once `stop` turns true (or its sender is gone).
pub async fn requested(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

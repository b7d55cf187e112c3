//! The signals `serve` answers (SIGTERM and SIGINT stop it, SIGHUP reloads the certificate),
//! and systemd's watchdog.

use crate::http::tls::Certificate;

/// Pings systemd's watchdog while the store's writer still commits: a wedged writer stops the
/// pings and systemd restarts the service.
pub async fn watchdog(store: crate::store::Store, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        match store.write(|_| Ok::<_, crate::store::Error>(())).await {
            Ok(()) => {
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
            }
            Err(e) => {
                tracing::error!(error = %e, "the store did not commit; not pinging the watchdog")
            }
        }
    }
}

/// The signals `serve` answers, installed before anything starts.
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> Result<Signals, String> {
        use tokio::signal::unix::{SignalKind, signal};
        let on = |kind| signal(kind).map_err(|e| format!("cannot handle signals: {e}"));
        Ok(Signals {
            term: on(SignalKind::terminate())?,
            int: on(SignalKind::interrupt())?,
            hup: on(SignalKind::hangup())?,
        })
    }

    /// Returns on SIGTERM or SIGINT; SIGHUP rereads the TLS certificate and key.
    pub async fn wait_for_stop(mut self, certificate: Option<&Certificate>) {
        loop {
            tokio::select! {
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
                _ = self.hup.recv() => match certificate.map(Certificate::reload) {
                Some(Ok(())) => tracing::info!("SIGHUP: reloaded the TLS certificate and key"),
                Some(Err(e)) => {
                    tracing::error!(error = %e, "SIGHUP: kept the TLS certificate in use")
                }
                None => tracing::info!("SIGHUP: nothing to reload (no TLS configured)"),
            },
            }
        }
    }
}

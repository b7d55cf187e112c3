//! One small server loop for every listener (the API's TCP socket, the admin unix socket):
//! accept, serve each connection with hyper (HTTP/1.1 keep-alive, or HTTP/2 with prior
//! knowledge), and on shutdown stop accepting and let in-flight requests finish.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::watch;

/// How long in-flight requests get to finish after shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// A client that takes longer than this to send its request headers is dropped.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

pub type HttpResponse = Response<Full<Bytes>>;

/// Something that answers requests.
pub trait Handler: Send + Sync + 'static {
    fn call(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> impl Future<Output = HttpResponse> + Send;
}

/// Where connections come from. Accepting is quick; a connection's own setup (a TLS handshake)
/// is the `Handshake`, run in the connection's task so a slow client never stalls the accept
/// loop.
pub trait Listener: Send + 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    type Handshake: Future<Output = io::Result<Self::Io>> + Send + 'static;
    fn accept_conn(
        &self,
    ) -> impl Future<Output = io::Result<(Self::Handshake, Option<SocketAddr>)>> + Send;
}

impl Listener for TcpListener {
    type Io = TcpStream;
    type Handshake = Ready<io::Result<TcpStream>>;
    async fn accept_conn(&self) -> io::Result<(Self::Handshake, Option<SocketAddr>)> {
        let (stream, peer) = self.accept().await?;
        // Small JSON answers on keep-alive connections: don't let Nagle hold them back.
        stream.set_nodelay(true)?;
        Ok((ready(Ok(stream)), Some(peer)))
    }
}

impl Listener for UnixListener {
    type Io = UnixStream;
    type Handshake = Ready<io::Result<UnixStream>>;
    async fn accept_conn(&self) -> io::Result<(Self::Handshake, Option<SocketAddr>)> {
        let (stream, _) = self.accept().await?;
        Ok((ready(Ok(stream)), None))
    }
}

/// Serves until `shutdown` turns true, then drains.
pub async fn serve<L: Listener, H: Handler>(
    listener: L,
    handler: Arc<H>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept_conn() => match accepted {
                Ok((handshake, peer)) => {
                    let handler = handler.clone();
                    let service = hyper::service::service_fn(move |req| {
                        let handler = handler.clone();
                        async move { Ok::<_, Infallible>(handler.call(req, peer).await) }
                    });
                    let builder = builder.clone();
                    let watcher = graceful.watcher();
                    tokio::spawn(async move {
                        let io = match tokio::time::timeout(HEADER_READ_TIMEOUT, handshake).await {
                            Ok(Ok(io)) => io,
                            Ok(Err(e)) => {
                                tracing::debug!(error = %e, ?peer, "connection setup failed");
                                return;
                            }
                            Err(_) => return,
                        };
                        let conn = builder.serve_connection(TokioIo::new(io), service);
                        // Client resets and protocol errors end only that connection.
                        let _ = watcher.watch(conn.into_owned()).await;
                    });
                }
                Err(e) => {
                    // Usually EMFILE; back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = stop_requested(&mut shutdown) => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; closing them");
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
pub async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

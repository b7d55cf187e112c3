//! One small server loop for every listener (the API's TCP socket, the admin unix socket):
//! accept, serve each connection with hyper (HTTP/1.1 keep-alive, or HTTP/2 with prior
//! knowledge), and on shutdown stop accepting and let in-flight requests finish.

use std::convert::Infallible;
use std::future::Future;
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

pub trait Listener: Send + 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept_conn(
        &self,
    ) -> impl Future<Output = io::Result<(Self::Io, Option<SocketAddr>)>> + Send;
}

impl Listener for TcpListener {
    type Io = TcpStream;
    async fn accept_conn(&self) -> io::Result<(TcpStream, Option<SocketAddr>)> {
        let (stream, peer) = self.accept().await?;
        // Small JSON answers on keep-alive connections: don't let Nagle hold them back.
        stream.set_nodelay(true)?;
        Ok((stream, Some(peer)))
    }
}

impl Listener for UnixListener {
    type Io = UnixStream;
    async fn accept_conn(&self) -> io::Result<(UnixStream, Option<SocketAddr>)> {
        let (stream, _) = self.accept().await?;
        Ok((stream, None))
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
                Ok((io, peer)) => {
                    let handler = handler.clone();
                    let service = hyper::service::service_fn(move |req| {
                        let handler = handler.clone();
                        async move { Ok::<_, Infallible>(handler.call(req, peer).await) }
                    });
                    let conn = builder.serve_connection(TokioIo::new(io), service).into_owned();
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        // Client resets and protocol errors end only that connection.
                        let _ = conn.await;
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

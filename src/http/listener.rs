//! One small server loop for every listener (the API's TCP socket, the admin unix socket):
//! accept, serve each connection with hyper (HTTP/1.1 keep-alive, or HTTP/2 with prior
//! knowledge), and on shutdown stop accepting and let in-flight requests finish.
//!
//! Every connection lives under limits: at most `max_connections` at once (one more is answered
//! 503 and closed, so accept never stalls), its request headers within `header` (hyper's
//! timeout, and this loop's for a connection that never sends a byte), and no more than `idle`
//! with no request in flight and no bytes moving (idle keep-alive, idle HTTP/2).

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{Semaphore, watch};

/// How long in-flight requests get to finish after shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections refused (503) at once, at most; past that they are closed unanswered.
const REFUSING: usize = 64;
/// Open files the server keeps for itself besides client connections.
const RESERVED_FILES: u64 = 256;

/// The limits every connection of a listener lives under.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    /// No request in flight and no bytes moving for this long: the connection is closed.
    pub idle: Duration,
    /// Request headers must arrive within this, from the connection's start or the last answer.
    pub header: Duration,
}

impl Limits {
    /// For the admin socket and the metrics listener: few clients, the same timeouts.
    pub fn small() -> Limits {
        Limits { max_connections: 64, ..Limits::default() }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            idle: Duration::from_secs(60),
            header: Duration::from_secs(30),
        }
    }
}

/// Raises the open-file limit to its hard limit and derives the connection cap from it. Failing
/// to raise it is only worth a line in the log: the cap then follows the soft limit.
pub fn derived_max_connections() -> usize {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = Rlimit { current: limit.maximum, maximum: limit.maximum };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => limit = raised,
            Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
        }
    }
    let files = limit.current.unwrap_or(65_536);
    usize::try_from(files.saturating_sub(RESERVED_FILES).max(64)).unwrap_or(usize::MAX)
}

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
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header);
    let graceful = GracefulShutdown::new();
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(REFUSING));
    loop {
        tokio::select! {
            accepted = listener.accept_conn() => match accepted {
                Ok((handshake, peer)) => {
                    let Ok(permit) = open.clone().try_acquire_owned() else {
                        // Full: say so and close, rather than stall accept for everyone.
                        if let Ok(slot) = refusing.clone().try_acquire_owned() {
                            tokio::spawn(async move {
                                refuse(handshake).await;
                                drop(slot);
                            });
                        }
                        continue;
                    };
                    let (handler, builder, watcher) =
                        (handler.clone(), builder.clone(), graceful.watcher());
                    let limits = limits.clone();
                    tokio::spawn(async move {
                        let io = match tokio::time::timeout(limits.header, handshake).await {
                            Ok(Ok(io)) => io,
                            Ok(Err(e)) => {
                                tracing::debug!(error = %e, ?peer, "connection setup failed");
                                return;
                            }
                            Err(_) => return,
                        };
                        let activity = Activity::new();
                        let service = hyper::service::service_fn({
                            let activity = activity.clone();
                            move |req| {
                                let (handler, in_flight) = (handler.clone(), activity.request());
                                async move {
                                    let resp = handler.call(req, peer).await;
                                    drop(in_flight);
                                    Ok::<_, Infallible>(resp)
                                }
                            }
                        });
                        let io = Watched { io, activity: activity.clone() };
                        let conn = builder.serve_connection(TokioIo::new(io), service);
                        // Client resets and protocol errors end only that connection; so does
                        // idleness (dropping the connection closes it).
                        let conn = watcher.watch(conn.into_owned());
                        tokio::select! {
                            _ = conn => {},
                            _ = activity.idle_for(&limits) => {},
                        }
                        drop(permit);
                    });
                }
                Err(e) => {
                    // Usually EMFILE; back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = crate::shutdown::requested(&mut shutdown) => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; closing them");
    }
}

/// Answers a connection over the cap with 503 and closes it.
async fn refuse<F, Io>(handshake: F)
where
    F: Future<Output = io::Result<Io>>,
    Io: AsyncWrite + Unpin,
{
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
        Retry-After: 1\r\nConnection: close\r\nContent-Length: 77\r\n\r\n\
        {\"error\":\"Too many connections; retry shortly\",\"code\":\"TOO_MANY_CONNECTIONS\"}";
    let answer = async {
        let mut io = handshake.await?;
        io.write_all(BUSY).await?;
        io.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
}

/// A connection's activity: when bytes last moved, and how many requests are in flight.
#[derive(Clone)]
struct Activity(Arc<ActivityInner>);

struct ActivityInner {
    started: Instant,
    /// Milliseconds after `started` when bytes last moved.
    last: AtomicU64,
    in_flight: AtomicUsize,
    /// Whether a request has been seen (before the first, the header timeout applies).
    served: AtomicUsize,
}

/// Counts a request in flight until dropped.
struct InFlight(Activity);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

impl Activity {
    fn new() -> Activity {
        Activity(Arc::new(ActivityInner {
            started: Instant::now(),
            last: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            served: AtomicUsize::new(0),
        }))
    }

    fn touch(&self) {
        let ms = u64::try_from(self.0.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last.store(ms, Ordering::Relaxed);
    }

    fn request(&self) -> InFlight {
        self.0.in_flight.fetch_add(1, Ordering::Relaxed);
        self.0.served.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// Resolves once the connection has been idle too long: no request in flight and nothing
    /// moving for `idle` (or, before its first request, for `header`).
    async fn idle_for(&self, limits: &Limits) {
        let tick = (limits.idle.min(limits.header) / 4)
            .clamp(Duration::from_millis(250), Duration::from_secs(5));
        loop {
            tokio::time::sleep(tick).await;
            if self.0.in_flight.load(Ordering::Relaxed) > 0 {
                continue;
            }
            let allowed = if self.0.served.load(Ordering::Relaxed) == 0 {
                limits.header
            } else {
                limits.idle
            };
            let since = self
                .0
                .started
                .elapsed()
                .saturating_sub(Duration::from_millis(self.0.last.load(Ordering::Relaxed)));
            if since >= allowed {
                return;
            }
        }
    }
}

/// The connection's IO, noting when bytes move.
struct Watched<Io> {
    io: Io,
    activity: Activity,
}

impl<Io: AsyncRead + Unpin> AsyncRead for Watched<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Watched<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

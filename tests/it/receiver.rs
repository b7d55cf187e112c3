//! A real HTTP receiver for webhook tests: a hyper server on its own runtime that records what
//! it is sent and answers with programmed status codes (200 once the program runs out).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub content_type: String,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

pub struct Receiver {
    pub addr: SocketAddr,
    pub got: Arc<Mutex<Vec<Received>>>,
    pub answers: Arc<Mutex<VecDeque<u16>>>,
    /// How long it takes to answer (after recording the request).
    pub delay: Arc<Mutex<Duration>>,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    pub fn start() -> Receiver {
        Receiver::start_on("127.0.0.1:0".parse().unwrap())
    }

    pub fn start_on(addr: SocketAddr) -> Receiver {
        Receiver::start_with(addr, None)
    }

    /// An https receiver presenting `cert_pem` (for `localhost`).
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Receiver {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain = vec![CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        Receiver::start_with("127.0.0.1:0".parse().unwrap(), Some(acceptor))
    }

    fn start_with(addr: SocketAddr, tls: Option<tokio_rustls::TlsAcceptor>) -> Receiver {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind(addr)).unwrap();
        let addr = listener.local_addr().unwrap();
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let answers: Arc<Mutex<VecDeque<u16>>> = Arc::default();
        let delay: Arc<Mutex<Duration>> = Arc::default();
        let (g, a, d) = (got.clone(), answers.clone(), delay.clone());
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (g, a, d, tls) = (g.clone(), a.clone(), d.clone(), tls.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let (g, a, d) = (g.clone(), a.clone(), d.clone());
                            async move {
                                let header = |n: &str| {
                                    req.headers()
                                        .get(n)
                                        .and_then(|v| v.to_str().ok())
                                        .unwrap_or("")
                                        .to_owned()
                                };
                                let (id, timestamp, signature, content_type) = (
                                    header("webhook-id"),
                                    header("webhook-timestamp"),
                                    header("webhook-signature"),
                                    header("content-type"),
                                );
                                let body = req
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                g.lock().push(Received {
                                    id,
                                    timestamp,
                                    signature,
                                    content_type,
                                    body: String::from_utf8_lossy(&body).into_owned(),
                                });
                                let pause = *d.lock();
                                tokio::time::sleep(pause).await;
                                let status = a.lock().pop_front().unwrap_or(200);
                                let mut resp =
                                    hyper::Response::new(Full::new(Bytes::from_static(b"ok")));
                                *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                                Ok::<_, Infallible>(resp)
                            }
                        },
                    );
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = http.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
        });
        Receiver { addr, got, answers, delay, _runtime: runtime }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    /// A receiver that first answers with `codes`.
    pub fn answering(codes: &[u16]) -> Receiver {
        let rx = Receiver::start();
        rx.answer(codes);
        rx
    }

    pub fn answer(&self, codes: &[u16]) {
        self.answers.lock().extend(codes);
    }

    /// Waits until `pred` holds for what arrived, or panics after `secs`.
    pub fn wait_for(
        &self,
        secs: u64,
        what: &str,
        pred: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.got.lock().clone();
            if pred(&got) {
                return got;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; got {got:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn of_type(&self, t: &str) -> Vec<Received> {
        self.got.lock().iter().filter(|r| r.json()["type"] == t).cloned().collect()
    }
}

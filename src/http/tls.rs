//! Native HTTPS (rustls) for the API, with the certificate and key reread on SIGHUP: a renewed
//! certificate takes effect for new connections without a restart, and a bad file keeps the
//! one in use (and says why).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use rustls::ServerConfig;
use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::listener::Listener;

/// The certificate in use, swapped whole on reload.
#[derive(Debug)]
pub struct Certificate {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificate {
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Certificate>, String> {
        let current = RwLock::new(read(cert, key)?);
        Ok(Arc::new(Certificate { cert: cert.to_owned(), key: key.to_owned(), current }))
    }

    /// Rereads both files; on any problem the certificate in use stays.
    pub fn reload(&self) -> Result<(), String> {
        let fresh = read(&self.cert, &self.key)?;
        *self.current.write() = fresh;
        Ok(())
    }

    /// The leaf certificate in use, DER (for tests and logs).
    pub fn leaf(&self) -> Option<CertificateDer<'static>> {
        self.current.read().cert.first().cloned()
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().clone())
    }
}

fn read(cert_path: &Path, key_path: &Path) -> Result<Arc<CertifiedKey>, String> {
    let chain = CertificateDer::pem_file_iter(cert_path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("tls_cert {}: {e}", cert_path.display()))?;
    if chain.is_empty() {
        return Err(format!("tls_cert {}: no certificate in it", cert_path.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| format!("tls_key {}: {e}", key_path.display()))?;
    let provider = ring::default_provider();
    let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| {
        format!("tls_key {} does not fit tls_cert {}: {e}", key_path.display(), cert_path.display())
    })?;
    Ok(Arc::new(certified))
}

/// A TCP listener whose connections speak TLS (HTTP/2 or HTTP/1.1 by ALPN).
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, certificate: Arc<Certificate>) -> Result<TlsListener, String> {
        let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(certificate);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsListener { tcp, acceptor: TlsAcceptor::from(Arc::new(config)) })
    }
}

impl Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Handshake = tokio_rustls::Accept<TcpStream>;

    async fn accept_conn(&self) -> io::Result<(Self::Handshake, Option<SocketAddr>)> {
        let (stream, peer) = self.tcp.accept().await?;
        stream.set_nodelay(true)?;
        Ok((self.acceptor.accept(stream), Some(peer)))
    }
}

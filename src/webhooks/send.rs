//! One HTTP POST to a receiver: address checks, signing, timeout. Redirects are not followed.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::Uri;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use tokio::net::TcpStream;

use super::Settings;

pub struct Target<'a> {
    pub url: &'a str,
    pub signing: Signing<'a>,
}

/// How the body is signed, which says what it is.
pub enum Signing<'a> {
    /// Webhook JSON: the current secret, then the previous one during a rotation's overlap;
    /// each signs, and `webhook-signature` carries every signature, space-separated (Standard
    /// Webhooks).
    Webhook(Vec<&'a str>),
    /// A SET, signed already (a JWS): sent as `application/secevent+jwt` (RFC 8935).
    Set,
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
    /// Not sent at all (bad or forbidden target): retrying will not help.
    pub refused: bool,
    /// Not sent because the receiver does not want it: done, as if delivered.
    pub skipped: bool,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.skipped || self.status.is_some_and(|s| (200..300).contains(&s))
    }

    pub fn refused(why: &str) -> Outcome {
        Outcome { error: Some(why.to_owned()), refused: true, ..Outcome::nothing() }
    }

    /// A SET receiver does not take this event (its event URIs leave it out).
    pub fn skipped() -> Outcome {
        Outcome {
            error: Some("not one of the receiver's events".into()),
            skipped: true,
            ..Outcome::nothing()
        }
    }

    fn nothing() -> Outcome {
        Outcome { status: None, error: None, duration_ms: 0, refused: false, skipped: false }
    }
}

/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the secret after `whsec_`.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, String> {
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|e| format!("bad signing secret: {e}"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

/// A new `whsec_…` secret.
pub fn new_secret() -> Result<String, String> {
    let mut key = [0u8; 24];
    getrandom::fill(&mut key).map_err(|e| format!("no randomness from the OS: {e}"))?;
    Ok(format!("whsec_{}", BASE64.encode(key)))
}

/// Checks a registration URL: http or https, with a host.
pub fn check_url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url.parse().map_err(|e| format!("invalid url {url:?}: {e}"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(format!("invalid url {url:?}: use http:// or https://")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("invalid url {url:?}: no host"));
    }
    // `http://user:pass@host/` would go out as `Host: user:pass@host`; a receiver takes its
    // credentials from the signature, never from the URL.
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(format!("invalid url {url:?}: credentials in a webhook URL are not accepted"));
    }
    Ok(uri)
}

/// What a tenant is told of any failure on the way to its receiver.
pub const NO_ANSWER: &str = "no HTTP answer from the receiver";

/// A kept-alive connection to a receiver, reused by the next attempt to the same URL.
pub struct Connection {
    url: String,
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

/// Posts one event. `connection` is reused when it is to the same URL and still open, and holds
/// the connection used afterwards (for the next attempt).
pub async fn post(
    target: &Target<'_>,
    id: &str,
    body: &str,
    settings: &Settings,
    connection: &mut Option<Connection>,
) -> Outcome {
    let started = Instant::now();
    let result =
        tokio::time::timeout(settings.timeout, exchange(target, id, body, settings, connection))
            .await;
    if !matches!(result, Ok(Ok(_))) {
        *connection = None;
    }
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok(Ok(status)) => Outcome { status: Some(status), duration_ms, ..Outcome::nothing() },
        // This server's own refusals (a denied network, a bad URL) say why.
        Ok(Err((error, true))) => {
            Outcome { error: Some(error), duration_ms, refused: true, ..Outcome::nothing() }
        }
        // Anything the network said stays in the server's log: telling a tenant a closed port
        // from an open non-HTTP one from a TLS service would make webhooks a port scanner.
        Ok(Err((detail, false))) => {
            tracing::debug!(url = target.url, error = %detail, "webhook not delivered");
            Outcome { error: Some(NO_ANSWER.into()), duration_ms, ..Outcome::nothing() }
        }
        Err(_) => {
            tracing::debug!(url = target.url, "webhook not answered in time");
            Outcome { error: Some(NO_ANSWER.into()), duration_ms, ..Outcome::nothing() }
        }
    }
}

/// The status the receiver answered, or (error, whether retrying is pointless).
async fn exchange(
    target: &Target<'_>,
    id: &str,
    body: &str,
    settings: &Settings,
    connection: &mut Option<Connection>,
) -> Result<u16, (String, bool)> {
    let uri = check_url(target.url).map_err(|e| (e, true))?;
    let host =
        uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
    let https = uri.scheme_str() == Some("https");
    let timestamp = jiff::Timestamp::now().as_second();
    let signature = match &target.signing {
        Signing::Webhook(secrets) => {
            let signatures = secrets.iter().map(|secret| signature(secret, id, timestamp, body));
            Some(signatures.collect::<Result<Vec<_>, _>>().map_err(|e| (e, true))?.join(" "))
        }
        Signing::Set => None,
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let authority = uri.authority().map(|a| a.as_str().to_owned()).unwrap_or(host.clone());
    let body = Bytes::from(body.to_owned());
    let request = || {
        let builder = hyper::Request::post(&path)
            .header("host", &authority)
            .header("user-agent", concat!("whoot-mgmt/", env!("CARGO_PKG_VERSION")));
        let builder = match &signature {
            Some(signature) => builder
                .header("content-type", "application/json")
                .header("webhook-id", id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature),
            None => builder
                .header("content-type", "application/secevent+jwt")
                .header("accept", "application/json"),
        };
        builder.body(Full::new(body.clone())).map_err(|e| (e.to_string(), true))
    };
    if let Some(mut kept) = connection.take().filter(|c| c.url == target.url) {
        // The receiver may have closed it meanwhile; then a new connection carries the request.
        if kept.sender.ready().await.is_ok()
            && let Ok((status, reusable)) = round_trip(&mut kept.sender, request()?).await
        {
            if reusable {
                *connection = Some(kept);
            }
            return Ok(status);
        }
    }
    // A new connection: resolve now, and only to an address outside the denied networks.
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| (format!("cannot resolve {host}: {e}"), false))?
        .collect();
    let addr = addrs
        .iter()
        .find(|a| permitted(a.ip(), settings))
        .copied()
        .ok_or_else(|| (format!("{host} resolves only to denied networks"), true))?;
    let stream =
        TcpStream::connect(addr).await.map_err(|e| (format!("connect {addr}: {e}"), false))?;
    let _ = stream.set_nodelay(true);
    let mut sender = if https {
        handshake(TokioIo::new(send_tls(stream, &host, settings.tls.as_ref()).await?)).await?
    } else {
        handshake(TokioIo::new(stream)).await?
    };
    let (status, reusable) = round_trip(&mut sender, request()?).await?;
    if reusable {
        *connection = Some(Connection { url: target.url.to_owned(), sender });
    }
    Ok(status)
}

async fn handshake<T>(
    io: T,
) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, (String, bool)>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| (format!("handshake: {e}"), false))?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn round_trip(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    request: hyper::Request<Full<Bytes>>,
) -> Result<(u16, bool), (String, bool)> {
    let response =
        sender.send_request(request).await.map_err(|e| (format!("request: {e}"), false))?;
    let status = response.status().as_u16();
    // Read (a bounded amount of) the answer: only then can the connection carry another request.
    let read = tokio::time::timeout(Duration::from_secs(2), response.into_body().collect()).await;
    Ok((status, matches!(read, Ok(Ok(_)))))
}

/// TLS for https receivers: the public (webpki) roots, plus the CA certificates in `ca_file`
/// (PEM) for receivers behind an internal PKI.
pub fn client_tls(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(file) = ca_file {
        let certs = CertificateDer::pem_file_iter(file)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("webhook_ca_file {}: {e}", file.display()))?;
        if certs.is_empty() {
            return Err(format!("webhook_ca_file {}: no certificate in it", file.display()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| format!("webhook_ca_file {}: {e}", file.display()))?;
        }
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
        .map_err(|e| format!("TLS setup: {e}"))
}

async fn send_tls(
    stream: TcpStream,
    host: &str,
    configured: Option<&Arc<rustls::ClientConfig>>,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, (String, bool)> {
    static PUBLIC_ROOTS: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    let config = match configured {
        Some(config) => config.clone(),
        None => PUBLIC_ROOTS.get_or_init(|| client_tls(None)).clone().map_err(|e| (e, true))?,
    };
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| (format!("bad host {host}: {e}"), true))?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|e| (format!("TLS: {e}"), false))
}

/// Whether a receiver may be reached at `ip`: outside the denied networks, or inside an allowed
/// one. An IPv4 address written as IPv6 (`::ffff:127.0.0.1`, `::127.0.0.1`) counts as IPv4.
fn permitted(ip: IpAddr, settings: &Settings) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped().or_else(|| v6.to_ipv4()) {
            Some(v4) if !v6.is_loopback() && !v6.is_unspecified() => IpAddr::V4(v4),
            _ => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    settings.allow.iter().any(|n| n.contains(&ip)) || !settings.deny.iter().any(|n| n.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_follows_standard_webhooks() {
        // The Standard Webhooks reference example.
        let sig = signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(new_secret().unwrap().starts_with("whsec_"));
    }

    #[test]
    fn urls_and_networks() {
        assert!(check_url("https://hooks.example.com/x?y=1").is_ok());
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("not a url").is_err());
        assert!(check_url("http://").is_err());
        assert!(check_url("http://user:pass@hooks.example.com/").is_err());
        let defaults = Settings::default();
        let ok = |ip: &str, settings: &Settings| permitted(ip.parse().unwrap(), settings);
        for denied in [
            "169.254.169.254",
            "::ffff:169.254.169.254",
            "fd00:ec2::254",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "0.0.0.0",
            "::",
            "fe80::1",
        ] {
            assert!(!ok(denied, &defaults), "{denied}");
        }
        for allowed in ["10.1.2.3", "192.168.1.1", "93.184.216.34", "2001:db8::1"] {
            assert!(ok(allowed, &defaults), "{allowed}");
        }
        let same_host =
            Settings { allow: vec!["127.0.0.1/32".parse().unwrap()], ..Settings::default() };
        assert!(ok("127.0.0.1", &same_host) && ok("::ffff:127.0.0.1", &same_host));
        assert!(!ok("127.0.0.2", &same_host));
    }
}

//! Native HTTPS: the API over rustls, the certificate reread on SIGHUP, bad files refused.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};

use crate::harness::{BIN, Server};

struct Cert {
    pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

fn self_signed() -> Cert {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    Cert { pem: cert.pem(), key_pem: signing_key.serialize_pem(), der: cert.der().clone() }
}

fn write(dir: &Path, cert: &Cert) {
    std::fs::write(dir.join("cert.pem"), &cert.pem).unwrap();
    std::fs::write(dir.join("key.pem"), &cert.key_pem).unwrap();
}

/// One HTTPS request trusting only `trust`; returns the response and the certificate the
/// server presented.
fn get(
    addr: &str,
    path: &str,
    key: Option<&str>,
    trust: &[&Cert],
) -> (String, CertificateDer<'static>) {
    let mut roots = rustls::RootCertStore::empty();
    for cert in trust {
        roots.add(cert.der.clone()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let auth = key.map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
    write!(tls, "GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    let served = tls.conn.peer_certificates().unwrap()[0].clone().into_owned();
    let text = String::from_utf8_lossy(&out).into_owned();
    (text, served)
}

#[test]
fn https_serves_the_api_and_sighup_swaps_the_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let first = self_signed();
    write(tmp.path(), &first);
    let cert = tmp.path().join("cert.pem");
    let key_file = tmp.path().join("key.pem");
    let mut server = Server::start_in(
        &tmp.path().join("data"),
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key_file.to_str().unwrap()],
    );
    assert!(server.stdout.contains("listening on https://"), "{}", server.stdout);
    let key = server.root_key();

    let (resp, served) = get(&server.addr, "/healthz", None, &[&first]);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert_eq!(served, first.der);
    let (resp, _) = get(&server.addr, "/me", Some(&key), &[&first]);
    assert!(resp.starts_with("HTTP/1.1 200") && resp.contains("\"tenant_id\""), "{resp}");

    // Plain HTTP to the HTTPS port gets no answer.
    let mut plain = TcpStream::connect(&server.addr).unwrap();
    plain.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = plain.read_to_end(&mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));

    // A renewed certificate: new connections get it after SIGHUP, without a restart.
    let second = self_signed();
    write(tmp.path(), &second);
    server.signal("HUP");
    let mut swapped = false;
    for _ in 0..100 {
        let (resp, served) = get(&server.addr, "/healthz", None, &[&first, &second]);
        if served == second.der && resp.starts_with("HTTP/1.1 200") {
            swapped = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(swapped, "the new certificate was not served after SIGHUP");

    // A broken file on reload keeps the certificate in use, and the server up.
    std::fs::write(&cert, "not a certificate").unwrap();
    server.signal("HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert!(server.alive());
    let (resp, served) = get(&server.addr, "/healthz", None, &[&second]);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert_eq!(served, second.der);
    assert!(server.stop());
}

#[test]
fn bad_tls_settings_stop_the_start_before_the_store_is_touched() {
    let tmp = tempfile::tempdir().unwrap();
    let good = self_signed();
    let other = self_signed();
    write(tmp.path(), &good);
    std::fs::write(tmp.path().join("other-key.pem"), &other.key_pem).unwrap();
    std::fs::write(tmp.path().join("junk.pem"), "junk").unwrap();
    let p = |name: &str| tmp.path().join(name).to_str().unwrap().to_owned();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--tls-cert".into(), p("cert.pem")], "go together"),
        (
            vec!["--tls-cert".into(), p("junk.pem"), "--tls-key".into(), p("key.pem")],
            "no certificate",
        ),
        (vec!["--tls-cert".into(), p("cert.pem"), "--tls-key".into(), p("junk.pem")], "tls_key"),
        (
            vec!["--tls-cert".into(), p("cert.pem"), "--tls-key".into(), p("other-key.pem")],
            "does not fit",
        ),
        (vec!["--tls-cert".into(), p("missing.pem"), "--tls-key".into(), p("key.pem")], "tls_cert"),
        (vec!["--webhook-ca-file".into(), p("junk.pem")], "webhook_ca_file"),
    ];
    for (args, expected) in cases {
        let data = tmp.path().join("data");
        let out = std::process::Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()])
            .args(&args)
            .env("WHOOT_LOG", "warn")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!data.join("whoot.redb").exists(), "{args:?} created a store");
    }
}

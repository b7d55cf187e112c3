//! Per-key token buckets and the per-address limit on failed authentications.

use std::time::Instant;

use crate::harness::Server;

#[test]
fn the_601st_request_in_a_minute_is_429_with_headers() {
    let (s, key) = Server::keyed();
    let started = Instant::now();
    let mut ok = 0u32;
    let limited = loop {
        let r = s.get("/me", Some(&key));
        match r.status {
            200 => ok += 1,
            429 => break r,
            other => panic!("unexpected {other}"),
        }
        assert!(ok <= 700, "never limited");
    };
    // The bucket holds 600 and refills 10/s; allow for the refill during the run.
    let refill = (started.elapsed().as_secs_f64() * 10.0).ceil() as u32;
    assert!(ok >= 600 && ok <= 600 + refill, "ok={ok} refill={refill}");
    assert_eq!(limited.header("ratelimit-limit"), Some("600"));
    assert_eq!(limited.header("ratelimit-remaining"), Some("0"));
    let retry: u32 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert!(limited.header("ratelimit-reset").unwrap().parse::<u32>().unwrap() >= retry);
    assert_eq!(limited.json()["code"], "RATE_LIMITED");
    // Other keys have their own bucket.
    let (other, _) = s.create_key("default", &["usage"]);
    assert_eq!(s.get("/me", Some(&other)).status, 200);
}

#[test]
fn a_tenant_override_applies_at_once_and_zero_is_unlimited() {
    let (s, key) = Server::keyed();
    assert_eq!(s.get("/me", Some(&key)).header("ratelimit-limit"), Some("600"));
    s.cli_json(&["tenant", "set-rate-limit", "default", "5"]);
    let statuses: Vec<u16> = (0..8).map(|_| s.get("/me", Some(&key)).status).collect();
    assert_eq!(statuses.iter().filter(|&&st| st == 429).count(), 3, "{statuses:?}");
    s.cli_json(&["tenant", "set-rate-limit", "default", "0"]);
    for _ in 0..50 {
        let r = s.get("/me", Some(&key));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("ratelimit-limit"), None);
    }
    let t = s.cli_json(&["tenant", "set-rate-limit", "default", "default"]);
    assert!(t["rate_limit_per_minute"].is_null());
}

#[test]
fn failed_authentications_are_limited_per_address() {
    let s = Server::start_args(&["--auth-failures-per-minute", "5"]);
    let key = s.root_key();
    for i in 0..5 {
        let r = s.get("/me", Some("wrong"));
        assert_eq!(r.status, 401, "attempt {i}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    let r = s.get("/me", Some("wrong"));
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["code"], "TOO_MANY_AUTH_FAILURES");
    assert!(r.header("retry-after").unwrap().parse::<u32>().unwrap() >= 1);
    // A valid key from the same address is still served: behind a proxy every client shares
    // one address, and one client's guessing must not lock out an IdP.
    for _ in 0..20 {
        assert_eq!(s.get("/me", Some("wrong")).status, 429);
        assert_eq!(s.get("/me", Some(&key)).status, 200);
    }
    // Unauthenticated endpoints are unaffected.
    assert_eq!(s.get("/healthz", None).status, 200);
}

#[test]
fn behind_a_trusted_proxy_the_forwarded_client_is_limited_not_the_proxy() {
    let bad = |s: &Server, client: &str| {
        s.request_with("GET", "/me", Some("wrong"), None, &[("X-Forwarded-For", client)]).status
    };
    let s = Server::start_args(&[
        "--auth-failures-per-minute",
        "3",
        "--trusted-proxies",
        "127.0.0.1/32",
    ]);
    for _ in 0..3 {
        assert_eq!(bad(&s, "198.51.100.1"), 401);
    }
    assert_eq!(bad(&s, "198.51.100.1"), 429, "the guessing client is slowed");
    assert_eq!(bad(&s, "198.51.100.2"), 401, "another client behind the same proxy is not");
    // A client cannot dodge the limit by prepending addresses: the proxy's entry is the last.
    assert_eq!(bad(&s, "203.0.113.5, 198.51.100.1"), 429);

    // Without trusted_proxies the header means nothing: every request is the peer's.
    let s = Server::start_args(&["--auth-failures-per-minute", "3"]);
    for client in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        assert_eq!(bad(&s, client), 401);
    }
    assert_eq!(bad(&s, "198.51.100.4"), 429);
}

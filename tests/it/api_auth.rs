//! Paths, authentication, tenant isolation, scopes and the error bodies.

use crate::harness::Server;

#[test]
fn me_answers_in_both_path_forms() {
    let (s, key) = Server::keyed();
    let root = s.get("/me", Some(&key));
    let tenant = s.get("/v1/default/me", Some(&key));
    assert_eq!(root.status, 200);
    assert_eq!(tenant.status, 200);
    assert_eq!(root.json(), tenant.json());
    let me = root.json();
    assert_eq!(me["tenant_slug"], "default");
    assert!(me["key_id"].as_str().unwrap().len() == 36);
    assert!(me["tenant_id"].as_str().unwrap().len() == 36);
    assert_eq!(me["description"], "bootstrap key (all scopes)");
    assert_eq!(me["scopes"].as_array().unwrap().len(), 11);
    assert_eq!(root.header("content-type"), Some("application/json"));
}

#[test]
fn usage_reports_seats_in_both_path_forms() {
    let (s, key) = Server::keyed();
    for path in ["/usage", "/v1/default/usage"] {
        let r = s.get(path, Some(&key));
        assert_eq!(r.status, 200, "{path}");
        let u = r.json();
        assert_eq!(u["seat_capacity"], 100);
        assert_eq!(u["seats_provisioned"], 0);
        assert_eq!(u["seats_available"], 100);
    }
}

#[test]
fn health_and_readiness_need_no_key() {
    let s = Server::start();
    for path in ["/healthz", "/readyz", "/v1/default/healthz"] {
        let r = s.get(path, None);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.json()["status"], "ok");
    }
}

#[test]
fn missing_malformed_and_unknown_keys_are_401() {
    let s = Server::start();
    let valid = s.root_key();
    // Same shape and checksum rules, but never issued.
    let (other, other_id) = s.create_key("default", &["usage"]);
    s.cli_json(&["key", "revoke", &other_id]);
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("garbage", Some("Bearer garbage".into())),
        ("empty bearer", Some("Bearer ".into())),
        ("wrong scheme", Some(format!("Basic {valid}"))),
        (
            "bad checksum",
            Some(format!(
                "Bearer {}{}",
                &valid[..valid.len() - 1],
                if valid.ends_with('x') { 'y' } else { 'x' }
            )),
        ),
        ("revoked", Some(format!("Bearer {other}"))),
        ("tripled scheme", Some(format!("Bearer Bearer Bearer {valid}"))),
        ("doubled scheme, revoked key", Some(format!("Bearer Bearer {other}"))),
    ];
    for (what, header) in cases {
        let headers: Vec<(&str, &str)> =
            header.iter().map(|h| ("Authorization", h.as_str())).collect();
        let r = s.request_with("GET", "/me", None, None, &headers);
        assert_eq!(r.status, 401, "{what}");
        assert_eq!(r.json()["error"], "Missing or invalid API key", "{what}");
        assert_eq!(r.json()["code"], "UNAUTHORIZED");
    }
    // The scheme is case-insensitive (RFC 7235), and Okta's header field invites a doubled one.
    for header in [format!("bearer {valid}"), format!("Bearer Bearer {valid}")] {
        let r = s.request_with("GET", "/me", None, None, &[("Authorization", &header)]);
        assert_eq!(r.status, 200, "{header}");
    }
    // A key without its scheme: 401 saying what to add, in both error styles.
    for path in ["/me", "/scim/v2/Users"] {
        let r = s.request_with("GET", path, None, None, &[("Authorization", &valid)]);
        assert_eq!(r.status, 401, "{path}");
        let body = r.json();
        let text = body["error"].as_str().or(body["detail"].as_str()).unwrap_or_default();
        assert!(text.contains("add `Bearer ` before the key"), "{path}: {body}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
}

#[test]
fn another_tenants_slug_is_404_exactly_like_an_unknown_one() {
    let s = Server::start();
    s.cli_line("tenant create acme --name Acme --seats 5");
    let key = s.root_key();
    let other = s.get("/v1/acme/me", Some(&key));
    let unknown = s.get("/v1/no-such-tenant/me", Some(&key));
    assert_eq!(other.status, 404);
    assert_eq!(unknown.status, 404);
    assert_eq!(other.body, unknown.body);
    // And an acme key sees acme, not default.
    let (acme_key, _) = s.create_key("acme", &["usage"]);
    assert_eq!(s.get("/v1/acme/usage", Some(&acme_key)).json()["seat_capacity"], 5);
    assert_eq!(s.get("/usage", Some(&acme_key)).json()["seat_capacity"], 5);
    assert_eq!(s.get("/v1/default/usage", Some(&acme_key)).status, 404);
}

#[test]
fn a_missing_scope_is_403_naming_it() {
    let s = Server::start();
    let (key, _) = s.create_key("default", &["scim:read"]);
    let r = s.get("/usage", Some(&key));
    assert_eq!(r.status, 403);
    let body = r.json();
    assert_eq!(body["error"], "Insufficient API key scope");
    assert_eq!(body["required_scope"], "usage");
    // /me needs only a valid key.
    let me = s.get("/me", Some(&key)).json();
    assert_eq!(me["scopes"], serde_json::json!(["scim:users:read", "scim:groups:read"]));
}

#[test]
fn unknown_routes_and_methods() {
    let (s, key) = Server::keyed();
    let r = s.get("/nothing-here", Some(&key));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["code"], "NOT_FOUND");
    let r = s.request("POST", "/me", Some(&key), Some(b"{}"));
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET"));
    let r = s.request("DELETE", "/v1/default/usage", Some(&key), None);
    assert_eq!(r.status, 405);
}

#[test]
fn scim_paths_answer_in_the_scim_error_style() {
    let s = Server::start();
    let r = s.get("/scim/v2/Nothing", None);
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    let body = r.json();
    assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    assert_eq!(body["status"], "404");
    assert!(body["detail"].is_string());
}

#[test]
fn request_ids_are_echoed_or_generated() {
    let s = Server::start();
    let r = s.request_with("GET", "/healthz", None, None, &[("X-Request-Id", "abc-123")]);
    assert_eq!(r.header("x-request-id"), Some("abc-123"));
    let a = s.get("/healthz", None);
    let b = s.get("/me", None);
    let (a, b) = (a.header("x-request-id").unwrap(), b.header("x-request-id").unwrap());
    assert!(!a.is_empty() && a != b, "{a} {b}");
    // An id with spaces is not echoed.
    let r = s.request_with("GET", "/healthz", None, None, &[("X-Request-Id", "a b")]);
    assert_ne!(r.header("x-request-id"), Some("a b"));
}

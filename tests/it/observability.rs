//! `/metrics` (Prometheus text that parses, counters that move) and the request log.

use std::collections::HashMap;
use std::process::Stdio;

use serde_json::{Value, json};

use crate::harness::Server;

/// Parses the text exposition strictly enough that a malformed line fails the test: returns
/// `name{labels}` -> value for every sample.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    let mut typed = std::collections::HashSet::new();
    let mut lines = text.lines().peekable();
    let mut saw_eof = false;
    while let Some(line) = lines.next() {
        if line == "# EOF" {
            saw_eof = true;
            assert!(lines.peek().is_none(), "# EOF must be last");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "unexpected type {kind:?}");
            typed.insert(name.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment {line:?}");
        let (series, value) = line.rsplit_once(' ').expect("sample: series value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line:?}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "metric name {name:?}"
        );
        if let Some(labels) = series.strip_prefix(name)
            && !labels.is_empty()
        {
            {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "labels in {line:?}");
                for pair in labels[1..labels.len() - 1].split(',') {
                    let (k, v) = pair.split_once('=').expect("label k=v");
                    assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{k}");
                    assert!(v.starts_with('"') && v.ends_with('"'), "quoted value in {line:?}");
                }
            }
        }
        assert!(
            typed.iter().any(|t| name.starts_with(t.as_str())),
            "{name} has no # TYPE before it"
        );
        samples.insert(series.to_owned(), value);
    }
    assert!(saw_eof, "ends with # EOF");
    samples
}

fn scrape(server: &Server) -> HashMap<String, f64> {
    let resp = server.get("/metrics", None);
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert!(resp.header("content-type").unwrap().contains("text"));
    parse(&resp.body)
}

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

#[test]
fn metrics_parse_and_their_counters_move() {
    let server = Server::start_args(&["--rate-limit", "5", "--metrics-per-tenant", "true"]);
    let key = server.root_key();
    let before = scrape(&server);
    let me_ok = r#"whoot_http_requests_total{endpoint="me",status="200"}"#;

    assert_eq!(server.get("/me", Some(&key)).status, 200);
    assert_eq!(server.get("/me", Some("wk_live_not-a-real-key")).status, 401);
    let created = server.send("POST", "/users", &key, &json!({"email": "ada@example.com"}));
    assert_eq!(created.status, 201, "{}", created.body);
    // Five per minute: the rest of a burst is refused.
    let statuses: Vec<u16> = (0..6).map(|_| server.get("/me", Some(&key)).status).collect();
    assert!(statuses.contains(&429), "{statuses:?}");

    let after = scrape(&server);
    let oks = statuses.iter().filter(|s| **s == 200).count() as f64;
    assert_eq!(value(&after, me_ok) - value(&before, me_ok), 1.0 + oks);
    assert_eq!(
        value(&after, r#"whoot_http_requests_total{endpoint="users.create",status="201"}"#),
        1.0
    );
    assert_eq!(value(&after, r#"whoot_http_requests_total{endpoint="me",status="401"}"#), 1.0);
    assert_eq!(value(&after, r#"whoot_auth_failures_total{reason="invalid_key"}"#), 1.0);
    let limited = statuses.iter().filter(|s| **s == 429).count() as f64;
    assert_eq!(value(&after, "whoot_rate_limited_requests_total"), limited);
    assert_eq!(
        value(&after, r#"whoot_http_request_duration_seconds_count{endpoint="me",status="200"}"#),
        value(&after, me_ok)
    );
    assert_eq!(value(&after, r#"whoot_tenant_seats_used{tenant="default"}"#), 1.0);
    assert_eq!(value(&after, r#"whoot_tenant_seats_capacity{tenant="default"}"#), 100.0);
    assert!(value(&after, "whoot_store_commit_batch_size_count") >= 1.0);
    assert!(
        value(&after, "whoot_store_commit_batch_size_count")
            > value(&before, "whoot_store_commit_batch_size_count")
    );
    assert!(value(&after, "whoot_store_commit_duration_seconds_sum") > 0.0);
    assert!(value(&after, "whoot_store_size_bytes") > 0.0);
    // The scrape itself is counted, under its own endpoint.
    assert!(value(&after, r#"whoot_http_requests_total{endpoint="metrics",status="200"}"#) >= 1.0);
}

#[test]
fn metrics_count_webhook_deliveries_by_outcome() {
    let server = Server::start_args(&["--webhook-deny-networks", "127.0.0.0/8"]);
    // By default the API address's /metrics names no tenant.
    let text = server.get("/metrics", None).body;
    assert!(
        text.contains("whoot_rate_limited_requests_total") && !text.contains("tenant="),
        "{text}"
    );
    let key = server.root_key();
    let hook = server.send(
        "POST",
        "/webhooks",
        &key,
        &json!({"url": "http://127.0.0.2:9/hook", "events": ["*"]}),
    );
    assert_eq!(hook.status, 201, "{}", hook.body);
    assert_eq!(
        server.send("POST", "/users", &key, &json!({"email": "bo@example.com"})).status,
        201
    );
    let series = r#"whoot_webhook_deliveries_total{outcome="refused"}"#;
    for _ in 0..100 {
        if value(&scrape(&server), series) >= 1.0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("a delivery to a denied network was not counted as refused");
}

#[test]
fn metrics_can_move_to_their_own_address() {
    let server = Server::start_args(&["--metrics-listen", "127.0.0.1:0"]);
    let line = server
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("metrics on "))
        .expect("the metrics address is printed")
        .to_owned();
    // Off the API's address…
    assert_eq!(server.get("/metrics", None).status, 404);
    // …and on its own, with nothing else there.
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut resp = agent.get(&line).call().unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.body_mut().read_to_string().unwrap();
    assert!(parse(&text).contains_key(r#"whoot_tenant_seats_used{tenant="default"}"#));
    let other = line.replace("/metrics", "/me");
    assert_eq!(agent.get(&other).call().unwrap().status(), 404);
}

#[test]
fn one_json_log_line_per_request_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let data = dir.path().join("data");
    let server = Server::start_with(
        &data,
        &["--log-format", "json"],
        &[("WHOOT_LOG", "info")],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    let key = server.root_key();
    let me = server.request_with(
        "GET",
        "/me",
        Some(&key),
        None,
        &[("X-Request-Id", "trace-42"), ("User-Agent", "Okta SCIM Client 1.0.0")],
    );
    assert_eq!(me.status, 200);
    let key_id = me.json()["key"]["id"].as_str().map(str::to_owned);
    assert_eq!(server.get("/users/nope", None).status, 401);
    drop(server);

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(&key), "the log holds a key secret");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let requests: Vec<&Value> =
        lines.iter().filter(|l| l["target"] == "whoot_mgmt::request").collect();
    assert_eq!(requests.len(), 2, "{text}");
    let line = requests.iter().find(|l| l["request_id"] == "trace-42").expect("by request id");
    assert_eq!(line["endpoint"], "me");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["status"], 200);
    assert_eq!(line["tenant"], "default");
    let ms = line["duration_ms"].as_f64().unwrap();
    let hundredths = ms * 100.0;
    assert!(
        ms >= 0.0 && (hundredths - hundredths.round()).abs() < 1e-6,
        "rounded to 0.01 ms: {ms}"
    );
    assert_eq!(line["user_agent"], "Okta SCIM Client 1.0.0");
    assert!(line.get("code").is_none(), "no error, no code: {line}");
    assert!(line["level"] == "INFO" && line["timestamp"].is_string());
    if let Some(id) = key_id {
        assert_eq!(line["key_id"], id.as_str());
    } else {
        assert!(line["key_id"].is_string());
    }
    let refused = requests.iter().find(|l| l["status"] == 401).expect("the 401 is logged");
    assert_eq!(
        (refused["endpoint"].clone(), refused["code"].clone()),
        (json!("users.get"), json!("UNAUTHORIZED"))
    );
    assert!(refused.get("key_id").is_none() && refused.get("tenant").is_none());
}

#[test]
fn alertable_series_exist_from_the_start_with_the_build_and_the_backlogs() {
    let server = Server::start();
    let fresh = server.get("/metrics", None).body;
    let m = parse(&fresh);
    for series in [
        r#"whoot_webhook_deliveries_total{outcome="succeeded"}"#,
        r#"whoot_webhook_deliveries_total{outcome="failed"}"#,
        r#"whoot_auth_failures_total{reason="invalid_key"}"#,
        r#"whoot_auth_failures_total{reason="blocked"}"#,
    ] {
        assert_eq!(m.get(series), Some(&0.0), "{series} in {fresh}");
    }
    let build = format!(r#"whoot_build_info{{version="{}"}}"#, env!("CARGO_PKG_VERSION"));
    assert_eq!(m.get(build.as_str()), Some(&1.0), "{fresh}");
    assert_eq!(m.get("whoot_webhook_backlog"), Some(&0.0));
    assert_eq!(m.get("whoot_api_keys_expiring"), Some(&0.0));
    // A key expiring in a week, and a registration whose target never answers.
    server.cli_line("key create --tenant default --scope usage --expires-in 7d");
    let key = server.root_key();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let hook = json!({"url": format!("http://{closed}/"), "events": ["user.created"]});
    assert_eq!(server.send("POST", "/webhooks", &key, &hook).status, 201);
    assert_eq!(server.send("POST", "/users", &key, &json!({"email": "b@example.com"})).status, 201);
    let mut backlog = 0.0;
    for _ in 0..50 {
        let m = parse(&server.get("/metrics", None).body);
        assert_eq!(m.get("whoot_api_keys_expiring"), Some(&1.0));
        backlog = m.get("whoot_webhook_backlog").copied().unwrap_or(0.0);
        if backlog == 1.0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(backlog, 1.0, "the failed delivery waits for its retry");
}

/// The whoot series a PromQL text names (`_bucket`, `_sum`, `_count` belong to their histogram).
fn series_named(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in expr.match_indices("whoot_") {
        let name: String =
            expr[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        out.push(name);
    }
    out
}

#[test]
fn the_packaged_dashboard_and_alerts_name_series_the_server_exports() {
    let server = Server::start_args(&["--metrics-per-tenant", "true"]);
    let key = server.root_key();
    server.send("POST", "/users", &key, &serde_json::json!({"email": "m@example.com"}));
    let text = server.get("/metrics", None).body;
    let exported: std::collections::HashSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/monitoring");
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
    let mut queries: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect();
    let rules = std::fs::read_to_string(format!("{dir}/alerts.yml")).unwrap();
    queries
        .extend(rules.lines().filter_map(|l| l.trim().strip_prefix("expr: ")).map(str::to_owned));
    assert!(queries.len() >= 16, "{queries:?}");
    for query in &queries {
        for name in series_named(query) {
            assert!(exported.contains(name.as_str()), "{name} (in {query}) is not exported");
        }
    }
}

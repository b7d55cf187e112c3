//! The config file: precedence (flag > WHOOT_* variable > file > default), unknown keys
//! refused, and the packaged example is what `config example` prints.

use std::process::{Command, Output};

use crate::harness::{BIN, Server};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("WHOOT_LOG", "warn");
    for var in ["WHOOT_CONFIG", "WHOOT_RATE_LIMIT", "WHOOT_LISTEN", "WHOOT_MAX_BODY_BYTES"] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run whoot-mgmt")
}

/// `config show` as a TOML table.
fn show(args: &[&str], env: &[(&str, &str)]) -> toml::Table {
    let mut all = vec!["config", "show"];
    all.extend_from_slice(args);
    let out = run(&all, env);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    toml::from_str(&String::from_utf8_lossy(&out.stdout)).expect("config show prints TOML")
}

#[test]
fn flag_beats_variable_beats_file_beats_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        "version = 1\nrate_limit = 100\nmax_body_bytes = 2048\nlisten = \"127.0.0.1:9999\"\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();

    let defaults = show(&[], &[]);
    assert_eq!(defaults["rate_limit"].as_integer(), Some(600));
    assert_eq!(defaults["data_dir"].as_str(), Some("./data"));

    let from_file = show(&["--config", file], &[]);
    assert_eq!(from_file["rate_limit"].as_integer(), Some(100));
    assert_eq!(from_file["max_body_bytes"].as_integer(), Some(2048));
    assert_eq!(from_file["listen"].as_str(), Some("127.0.0.1:9999"));
    // Keys the file leaves out keep their defaults.
    assert_eq!(from_file["auth_failures_per_minute"].as_integer(), Some(30));

    // WHOOT_CONFIG names the file too.
    let via_env = show(&[], &[("WHOOT_CONFIG", file)]);
    assert_eq!(via_env["rate_limit"].as_integer(), Some(100));

    let variable = show(&["--config", file], &[("WHOOT_RATE_LIMIT", "200")]);
    assert_eq!(variable["rate_limit"].as_integer(), Some(200));
    assert_eq!(variable["max_body_bytes"].as_integer(), Some(2048));

    let flag = show(&["--config", file, "--rate-limit", "300"], &[("WHOOT_RATE_LIMIT", "200")]);
    assert_eq!(flag["rate_limit"].as_integer(), Some(300));

    let networks = show(&[], &[("WHOOT_WEBHOOK_DENY_NETWORKS", "10.0.0.0/8,192.168.0.0/16")]);
    let networks: Vec<_> = networks["webhook_deny_networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(networks, ["10.0.0.0/8", "192.168.0.0/16"]);
}

#[test]
fn the_server_runs_on_what_the_file_says() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    // A tiny body limit that only the file sets: the server must enforce it.
    std::fs::write(&file, "version = 1\nmax_body_bytes = 64\nrate_limit = 0\n").unwrap();
    let server = Server::start_args(&["--config", file.to_str().unwrap()]);
    let key = server.root_key();
    let big = serde_json::json!({"userName": "x".repeat(100)});
    let resp = server.send("POST", "/users", &key, &big);
    assert_eq!(resp.status, 413, "{}", resp.body);
    // rate_limit = 0 from the file: no rate-limit headers.
    let me = server.get("/me", Some(&key));
    assert_eq!(me.status, 200);
    assert!(me.header("ratelimit-limit").is_none() && me.header("x-ratelimit-limit").is_none());
}

#[test]
fn unknown_keys_bad_values_and_versions_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    let cases = [
        ("version = 1\nlisten = \"127.0.0.1:0\"\nrate_limt = 5\n", "unknown field `rate_limt`"),
        ("version = 1\nrate_limit = \"lots\"\n", "rate_limit"),
        ("listen = \"127.0.0.1:0\"\n", "add `version = 1`"),
        ("version = 7\n", "newer whoot-mgmt"),
        ("version = 1\nlog_format = \"xml\"\n", "log_format"),
        ("version = 1\nwebhook_deny_networks = [\"not-a-cidr\"]\n", "webhook_deny_networks"),
        ("version = 1\n[listen\n", "config file"),
    ];
    for (text, expected) in cases {
        std::fs::write(&file, text).unwrap();
        let data = dir.path().join("data");
        let out = run(
            &["serve", "--config", file.to_str().unwrap(), "--data-dir", data.to_str().unwrap()],
            &[],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text:?}: {stderr}");
        assert!(stderr.contains(expected), "{text:?}: {stderr}");
        assert!(stderr.contains(file.to_str().unwrap()), "names the file: {stderr}");
        assert!(!data.exists(), "a refused config changes nothing");
    }
    let out = run(&["config", "show", "--config", "/nonexistent/whoot.toml"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read config file"));
}

#[test]
fn the_packaged_config_is_the_generated_example() {
    let out = run(&["config", "example", "--packaged"], &[]);
    assert!(out.status.success());
    let example = String::from_utf8(out.stdout).unwrap();
    // The installed file names the service's data directory, so admin commands find its store.
    assert!(example.contains("\ndata_dir = \"/var/lib/whoot-mgmt\"\n"), "{example}");
    let packaged =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/config.toml"))
            .unwrap();
    assert_eq!(
        packaged, example,
        "packaging/config.toml drifted: regenerate it with `whoot-mgmt config example --packaged`"
    );
    // The example is a valid config on its own.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, &example).unwrap();
    let shown = show(&["--config", file.to_str().unwrap()], &[]);
    assert_eq!(shown["listen"].as_str(), Some("127.0.0.1:8080"));
}

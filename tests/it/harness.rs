//! Boots the real binary in a temp dir on port 0 and talks HTTP to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

pub const BIN: &str = env!("CARGO_BIN_EXE_whoot-mgmt");

pub struct Server {
    child: Option<Child>,
    pub addr: String,
    pub stdout: String,
    pub dir: PathBuf,
    /// Keeps the temp dir alive for servers that own it.
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// A fresh data dir with the bootstrap tenant `default` and its all-scopes key.
    pub fn start() -> Server {
        Server::start_args(&[])
    }

    /// A server and its bootstrap key (every scope).
    pub fn keyed() -> (Server, String) {
        let s = Server::start();
        let key = s.root_key();
        (s, key)
    }

    /// A SCIM PATCH of `path` with these operations.
    pub fn scim_patch(&self, path: &str, key: &str, operations: Value) -> Resp {
        let body = serde_json::json!({"schemas": [PATCH_OP], "Operations": operations});
        self.send("PATCH", path, key, &body)
    }

    /// An admin command given as one line of words (`key create --tenant default …`), as JSON.
    pub fn cli_line(&self, line: &str) -> Value {
        self.cli_json(&line.split_whitespace().collect::<Vec<_>>())
    }

    /// `body` sent as it is, declared JSON (malformed or empty bodies, say).
    pub fn send_raw(&self, method: &str, path: &str, key: &str, body: &[u8]) -> Resp {
        self.request_with(
            method,
            path,
            Some(key),
            Some(body),
            &[("Content-Type", "application/json")],
        )
    }

    pub fn start_args(args: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut server = Server::start_in(tmp.path(), args);
        server._tmp = Some(tmp);
        server
    }

    /// Webhook receivers in tests listen on 127.0.0.1, which the server refuses by default.
    pub fn start_in(dir: &Path, args: &[&str]) -> Server {
        let env = [("WHOOT_LOG", "warn"), ("WHOOT_WEBHOOK_ALLOW_NETWORKS", "127.0.0.1/32")];
        Server::start_with(dir, args, &env, Stdio::inherit())
    }

    /// With extra environment variables and stderr (the log) sent where the test says.
    pub fn start_with(dir: &Path, args: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut seen = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                seen.push_str(&line);
                seen.push('\n');
                let addr = line
                    .strip_prefix("listening on http://")
                    .or(line.strip_prefix("listening on https://"));
                if let Some(addr) = addr {
                    let _ = tx.send((addr.to_owned(), seen.clone()));
                }
            }
        });
        let (addr, stdout) =
            rx.recv_timeout(Duration::from_secs(30)).expect("server printed its address");
        Server { child: Some(child), addr, stdout, dir: dir.to_owned(), _tmp: None }
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The bootstrap key's secret.
    pub fn root_key(&self) -> String {
        std::fs::read_to_string(self.dir.join("initial-api-key"))
            .expect("initial-api-key")
            .trim()
            .to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn get(&self, path: &str, key: Option<&str>) -> Resp {
        self.request("GET", path, key, None)
    }

    /// A request with no headers of its own (but `Authorization` when there is a key).
    pub fn request(&self, m: &str, path: &str, key: Option<&str>, body: Option<&[u8]>) -> Resp {
        self.request_with(m, path, key, body, &[])
    }

    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut req = ureq::http::Request::builder().method(method).uri(self.url(path));
        if let Some(key) = key {
            req = req.header("Authorization", format!("Bearer {key}"));
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(body.map(<[u8]>::to_vec).unwrap_or_default()).expect("request");
        let resp = agent.run(req).expect("HTTP round trip");
        Resp::from(resp)
    }

    /// Sends a JSON body (`application/json`).
    pub fn send(&self, method: &str, path: &str, key: &str, body: &Value) -> Resp {
        let bytes = serde_json::to_vec(body).unwrap();
        self.request_with(
            method,
            path,
            Some(key),
            Some(&bytes),
            &[("Content-Type", "application/json")],
        )
    }

    /// Runs an admin command against this server's data dir.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli_in(&self.dir, args)
    }

    /// Runs an admin command with `--json` and parses its answer; panics on failure.
    pub fn cli_json(&self, args: &[&str]) -> Value {
        cli_json_in(&self.dir, args)
    }

    /// Creates a key on tenant `tenant` with the given scopes and returns its secret and id.
    pub fn create_key(&self, tenant: &str, scopes: &[&str]) -> (String, String) {
        let mut args = vec!["key", "create", "--tenant", tenant];
        for s in scopes {
            args.extend(["--scope", s]);
        }
        let v = self.cli_json(&args);
        (v["secret"].as_str().unwrap().to_owned(), v["key_id"].as_str().unwrap().to_owned())
    }

    /// Sends a signal (`HUP`, …) to the server process.
    pub fn signal(&self, name: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status();
        assert!(status.expect("kill").success());
    }

    /// Whether the server process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGTERM, then wait; returns whether the process exited successfully.
    pub fn stop(mut self) -> bool {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let status = child.wait().expect("wait");
        status.success()
    }

    /// Sends a raw HTTP/1.1 request over the admin unix socket.
    pub fn admin_raw(&self, request: &[u8]) -> String {
        let mut stream = std::os::unix::net::UnixStream::connect(self.dir.join("admin.sock"))
            .expect("admin socket");
        stream.write_all(request).unwrap();
        let mut out = String::new();
        let _ = stream.read_to_string(&mut out);
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `field` of each item of a JSON array (`userName` of each resource, say).
pub fn strings(list: &Value, field: &str) -> Vec<String> {
    let items = list.as_array().expect("a JSON array");
    items.iter().map(|i| i[field].as_str().expect("a string").to_owned()).collect()
}

pub fn cli_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("WHOOT_LOG", "warn")
        .output()
        .expect("run CLI")
}

/// Runs `serve` on `dir`, which must refuse to start: exits non-zero within 20 s. Its stderr.
pub fn serve_refused(dir: &Path, args: &[&str]) -> String {
    let _ = std::fs::remove_file(dir.join("admin.sock"));
    let mut serve = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start server");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = serve.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = serve.kill();
            panic!("serve started where it should have refused to");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut serve.stderr.take().expect("stderr"), &mut stderr)
        .expect("read stderr");
    assert!(!status.success(), "{stderr}");
    stderr
}

pub fn cli_json_in(dir: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = cli_in(dir, &all);
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("CLI printed JSON")
}

pub struct Resp {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl From<ureq::http::Response<ureq::Body>> for Resp {
    fn from(mut resp: ureq::http::Response<ureq::Body>) -> Self {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.body_mut().read_to_string().unwrap_or_default();
        Resp { status, headers, body }
    }
}

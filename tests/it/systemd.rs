//! systemd's notify protocol: READY=1 once the listener is bound, watchdog pings while the store
//! commits, STOPPING=1 on SIGTERM.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::BIN;

#[test]
fn announces_ready_pings_the_watchdog_and_says_stopping() {
    let tmp = tempfile::tempdir().unwrap();
    let socket_path = tmp.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path().join("data"))
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .env("WHOOT_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let started = Instant::now();
    let mut buf = [0u8; 256];
    while seen.iter().filter(|m: &&String| m.contains("WATCHDOG=1")).count() < 2 {
        assert!(started.elapsed() < Duration::from_secs(20), "messages so far: {seen:?}");
        let n = socket.recv(&mut buf).unwrap();
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(seen[0].contains("READY=1"), "READY comes first: {seen:?}");
    // By READY the listener is bound and the store open: the admin socket exists.
    assert!(tmp.path().join("data/admin.sock").exists());

    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    loop {
        let n = socket.recv(&mut buf).unwrap();
        if String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1") {
            break;
        }
    }
    assert!(child.wait().unwrap().success());
}

//! The admin socket's HTTP front: body limits and JSON errors never crash or change anything.

use crate::harness::Server;

fn post(body: &str) -> Vec<u8> {
    format!(
        "POST /admin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn malformed_oversized_and_unknown_requests_are_4xx() {
    let s = Server::start();
    let bad_json = s.admin_raw(&post("{\"op\": "));
    assert!(bad_json.starts_with("HTTP/1.1 400"), "{bad_json}");
    assert!(bad_json.contains("Invalid JSON body"), "{bad_json}");

    let unknown = s.admin_raw(&post("{\"op\": \"drop-everything\"}"));
    assert!(unknown.starts_with("HTTP/1.1 400"), "{unknown}");

    let huge = format!(
        "{{\"op\":\"tenant-create\",\"slug\":\"x\",\"name\":\"{}\",\"seats\":1}}",
        "a".repeat(100_000)
    );
    let too_big = s.admin_raw(&post(&huge));
    assert!(too_big.starts_with("HTTP/1.1 413"), "{too_big}");
    assert!(too_big.contains("too large"), "{too_big}");

    let wrong_type =
        s.admin_raw(&post("{\"op\":\"tenant-create\",\"slug\":\"x\",\"name\":\"x\",\"seats\":-1}"));
    assert!(wrong_type.starts_with("HTTP/1.1 400"), "{wrong_type}");

    let get = s.admin_raw(b"GET /admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(get.starts_with("HTTP/1.1 404"), "{get}");

    // None of it created anything.
    let tenants = s.cli_json(&["tenant", "list"]);
    assert_eq!(tenants["tenants"].as_array().unwrap().len(), 1);
}

#[test]
fn a_well_formed_request_over_the_socket_works() {
    let s = Server::start();
    let ok = s.admin_raw(&post(
        "{\"op\":\"tenant-create\",\"slug\":\"raw\",\"name\":\"Raw\",\"seats\":2}",
    ));
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert_eq!(s.cli_json(&["tenant", "show", "raw"])["seat_capacity"], 2);
}

#[test]
fn key_list_shows_when_each_key_expires() {
    let s = Server::start();
    let made = s.cli_line("key create --tenant default --scope usage --expires-in 7d");
    let expires = made["expires_at"].as_str().unwrap().to_owned();
    let out = s.cli(&["key", "list", "--tenant", "default"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().next().unwrap().contains("EXPIRES"), "{text}");
    let row = text.lines().find(|l| l.starts_with(made["key_id"].as_str().unwrap())).unwrap();
    assert!(row.contains(&expires), "{row}");
    let bootstrap = text.lines().nth(1).unwrap();
    assert!(bootstrap.contains("never"), "{text}");
}

//! The web console: its sign-in, sessions and CSRF over plain HTTP, then the whole admin flow
//! in a real browser (headless Chromium driven by chromedriver over WebDriver), with a
//! screenshot of every page in `target/console-screenshots/`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::harness::{PATCH_OP, Resp, Server};
use crate::receiver::Receiver;

/// A console HTTP client that keeps cookies by hand and never follows redirects.
struct Browserless<'a> {
    s: &'a Server,
    cookies: Vec<(String, String)>,
}

impl<'a> Browserless<'a> {
    fn new(s: &'a Server) -> Self {
        Browserless { s, cookies: Vec::new() }
    }

    fn send(&mut self, method: &str, path: &str, form: &[(&str, &str)]) -> Resp {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let mut req = ureq::http::Request::builder().method(method).uri(self.s.url(path));
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header("Cookie", jar.join("; "));
        }
        let mut body = form_urlencoded::Serializer::new(String::new());
        for (k, v) in form {
            body.append_pair(k, v);
        }
        let req = req
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.finish().into_bytes())
            .unwrap();
        let resp = Resp::from(agent.run(req).unwrap());
        for set in resp.headers.get_all("set-cookie") {
            let (pair, _) = set.to_str().unwrap().split_once(';').unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        resp
    }

    fn get(&mut self, path: &str) -> Resp {
        self.send("GET", path, &[])
    }

    /// The `csrf` form field of a page.
    fn csrf(page: &Resp) -> String {
        let at = page.body.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
        page.body[at..].split('"').next().unwrap().to_owned()
    }

    fn sign_in(&mut self, base: &str, key: &str) -> Resp {
        let form = self.get(&format!("{base}/login"));
        let csrf = Self::csrf(&form);
        self.send("POST", &format!("{base}/login"), &[("key", key), ("csrf", &csrf)])
    }
}

#[test]
fn sign_in_sessions_and_csrf_over_http() {
    let s = Server::start_args(&["--auth-failures-per-minute", "3"]);
    let root = s.root_key();
    let mut b = Browserless::new(&s);

    // Not signed in: to the login page.
    let r = b.get("/console/keys");
    assert_eq!((r.status, r.header("location")), (303, Some("/console/login")));
    let form = b.get("/console/login");
    assert_eq!(form.status, 200);
    let csp = form.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(form.header("referrer-policy"), Some("no-referrer"));
    assert!(!form.body.contains("<script>"), "no inline script");

    // A login form posted without its cookie's token is refused (login CSRF).
    let mut stranger = Browserless::new(&s);
    let r = stranger.send("POST", "/console/login", &[("key", &root), ("csrf", "forged")]);
    assert_eq!(r.status, 403);
    assert!(
        !r.headers
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("whoot_console="))
    );

    // A key without api_keys.manage does not sign in.
    let (usage_only, _) = s.create_key("default", &["usage"]);
    assert_eq!(b.sign_in("/console", &usage_only).status, 401);

    let r = b.sign_in("/console", &root);
    assert_eq!((r.status, r.header("location")), (303, Some("/console/")));
    let cookie = r.headers.get_all("set-cookie").iter().map(|c| c.to_str().unwrap().to_owned());
    let session = cookie.into_iter().find(|c| c.starts_with("whoot_console=")).unwrap();
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"), "{session}");
    let keys = b.get("/console/keys");
    assert_eq!(keys.status, 200, "{}", keys.body);
    // The sign-in is in the audit log, with the key and the address it came from.
    let audit = s.get("/audit-log?limit=1000", Some(&root)).json();
    let signed_in: Vec<&serde_json::Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "console.signed_in")
        .collect();
    assert_eq!(signed_in.len(), 1, "{audit}");
    assert_eq!(signed_in[0]["fields"][0]["new"], "127.0.0.1", "{audit}");

    // A change without the session's CSRF token changes nothing.
    let before = s.get("/api-keys", Some(&root)).json()["keys"].as_array().unwrap().len();
    let r = b.send("POST", "/console/keys", &[("scope", "usage"), ("description", "forged")]);
    assert_eq!(r.status, 403, "{}", r.body);
    let r = b.send("POST", "/console/keys", &[("scope", "usage"), ("csrf", "wrong")]);
    assert_eq!(r.status, 403);
    assert_eq!(s.get("/api-keys", Some(&root)).json()["keys"].as_array().unwrap().len(), before);
    // With it, a key is made; a scope the session's key lacks is refused by the same rule as
    // the API's.
    let csrf = Browserless::csrf(&keys);
    let r = b.send("POST", "/console/keys", &[("scope", "usage"), ("csrf", &csrf)]);
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body.contains("wh_live_"), "the secret, once");

    // A page answering a post keeps the browser at the form's page (htmx would show the post's
    // URL); a GET of a post-only URL, or an unknown page, is an HTML page, not JSON.
    assert_eq!(r.header("hx-push-url"), Some("false"));
    let r = b.get("/console/keys/00000000-0000-0000-0000-000000000000/rotate");
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    assert!(r.header("content-type").unwrap().starts_with("text/html"), "{}", r.body);
    let r = b.get("/console/nope");
    assert_eq!(r.status, 404);
    assert!(r.body.contains("Back to the console"), "{}", r.body);

    // Another tenant's console path is not found, even signed in.
    s.cli_line("tenant create other --name Other --seats 5");
    assert_eq!(b.get("/v1/other/console/keys").status, 404);
    assert_eq!(b.get("/v1/default/console/keys").status, 200);

    // Log out: the session is gone.
    let r = b.send("POST", "/console/logout", &[("csrf", &csrf)]);
    assert_eq!(r.status, 303);
    assert_eq!(b.get("/console/keys").status, 303);

    // Failed sign-ins count toward the address's failure limit (3 a minute here; the key
    // without api_keys.manage above was the first): guessing is blocked, but, as in the API, a
    // valid key is never refused for other clients' failures.
    let mut guesser = Browserless::new(&s);
    for _ in 0..2 {
        assert_eq!(guesser.sign_in("/console", "wh_live_nope").status, 401);
    }
    assert_eq!(guesser.sign_in("/console", "wh_live_nope").status, 429, "guessing is blocked");
    assert_eq!(s.get("/me", Some(&root)).status, 200);
    let mut admin = Browserless::new(&s);
    let r = admin.sign_in("/console", &root);
    assert_eq!((r.status, r.header("location")), (303, Some("/console/")), "{}", r.body);
}

/// The console acts as its key: each page and action needs the scope its API twin needs; a page
/// the key may not see names the scope it lacks, and the navigation shows only what it may use.
#[test]
fn the_console_acts_as_its_key() {
    let (s, root) = Server::keyed();
    let r = s.send("POST", "/users", &root, &json!({"email": "ada@example.com"}));
    let user = r.json()["user"]["id"].as_str().unwrap().to_owned();
    let (keys_only, _) = s.create_key("default", &["api_keys.manage"]);
    let mut b = Browserless::new(&s);
    assert_eq!(b.sign_in("/console", &keys_only).status, 303);
    assert_eq!(s.get("/users", Some(&keys_only)).status, 403, "the API's answer");
    for (page, scope) in [
        ("/console/users", "api:users:read"),
        ("/console/rooms", "api:rooms:read"),
        ("/console/webhooks", "webhooks"),
    ] {
        let r = b.get(page);
        assert_eq!(r.status, 403, "{page}: {}", r.body);
        assert!(
            r.body.contains(scope) && !r.body.contains("ada@example.com"),
            "{page}: {}",
            r.body
        );
    }
    let overview = b.get("/console/");
    assert_eq!(overview.status, 200);
    for hidden in ["/console/users\"", "/console/rooms\"", "/console/webhooks\"", "Seats"] {
        assert!(!overview.body.contains(hidden), "{hidden} shown: {}", overview.body);
    }
    assert!(overview.body.contains("/console/keys\""));
    let csrf = Browserless::csrf(&overview);
    let r = b.send(
        "POST",
        &format!("/console/users/{user}/active"),
        &[("active", "false"), ("csrf", &csrf)],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("api:users:write"), "{}", r.body);
    assert_eq!(s.get(&format!("/users/{user}"), Some(&root)).json()["user"]["active"], true);

    // Reading users is not writing them.
    let (reader, _) = s.create_key("default", &["api_keys.manage", "api:users:read", "usage"]);
    let mut b = Browserless::new(&s);
    assert_eq!(b.sign_in("/console", &reader).status, 303);
    let users = b.get("/console/users");
    assert_eq!(users.status, 200);
    assert!(users.body.contains("ada@example.com"));
    assert!(b.get("/console/").body.contains("Seats"));
    let csrf = Browserless::csrf(&users);
    let r = b.send(
        "POST",
        &format!("/console/users/{user}/active"),
        &[("active", "false"), ("csrf", &csrf)],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(s.get(&format!("/users/{user}"), Some(&root)).json()["user"]["active"], true);
    // Nor reading rooms writing them, nor any of it managing webhooks.
    for (path, scope) in [("/console/rooms", "api:rooms:write"), ("/console/webhooks", "webhooks")]
    {
        let r =
            b.send("POST", path, &[("name", "x"), ("url", "https://x.example"), ("csrf", &csrf)]);
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert!(r.body.contains(scope), "{path}: {}", r.body);
    }
    assert_eq!(s.get("/rooms", Some(&root)).json()["total"], 0);
    assert_eq!(s.get("/webhooks", Some(&root)).json()["webhooks"], json!([]));
}

/// The Users page finds people the ways an admin looks for them: userName, email or externalId
/// by their start, a name by any part; and filters by status, deleted ones included.
#[test]
fn the_users_page_searches_and_filters() {
    let (s, root) = Server::keyed();
    let scim = |body: Value| {
        let r = s.send("POST", "/scim/v2/Users", &root, &body);
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()["id"].as_str().unwrap().to_owned()
    };
    let core = "urn:ietf:params:scim:schemas:core:2.0:User";
    scim(json!({"schemas": [core], "userName": "grace@example.com", "externalId": "00u-grace",
        "name": {"givenName": "Grace", "familyName": "Hopper"}}));
    let alan =
        scim(json!({"schemas": [core], "userName": "alan@example.com", "externalId": "00u-alan",
        "name": {"givenName": "Alan", "familyName": "Turing"}}));
    let gone = scim(json!({"schemas": [core], "userName": "gone@example.com"}));
    assert_eq!(
        s.request("DELETE", &format!("/scim/v2/Users/{gone}"), Some(&root), None).status,
        204
    );
    s.scim_patch(
        &format!("/scim/v2/Users/{alan}"),
        &root,
        json!([{"op": "replace", "path": "active", "value": false}]),
    );
    let mut b = Browserless::new(&s);
    assert_eq!(b.sign_in("/console", &root).status, 303);
    let rows = |page: &Resp| -> Vec<String> {
        page.body
            .match_indices("data-user-id=\"")
            .map(|(i, _)| page.body[i + 14..i + 50].to_owned())
            .collect()
    };
    for (query, want) in [
        ("q=00u-gr", "grace@example.com"),
        ("q=hopp", "grace@example.com"),
        ("q=TURING", "alan@example.com"),
        ("q=alan%40", "alan@example.com"),
        ("status=deactivated", "alan@example.com"),
        ("status=deleted", "gone@example.com"),
    ] {
        let page = b.get(&format!("/console/users?{query}"));
        assert_eq!(page.status, 200, "{query}");
        assert_eq!(rows(&page).len(), 1, "{query}: {}", page.body);
        assert!(page.body.contains(want), "{query}: {}", page.body);
    }
    assert_eq!(rows(&b.get("/console/users?status=active")).len(), 1);
    assert_eq!(b.get("/console/users?status=nonsense").status, 400);
    // A deleted user is listed, and has no page or button.
    let deleted = b.get("/console/users?status=deleted");
    assert!(!deleted.body.contains(&format!("/console/users/{gone}")), "{}", deleted.body);
    assert_eq!(b.get(&format!("/console/users/{gone}")).status, 404);
}

#[test]
fn the_provisioning_page_shows_clients_failures_and_entries() {
    let (s, root) = Server::keyed();
    let core = "urn:ietf:params:scim:schemas:core:2.0:User";
    let entra = [("Content-Type", "application/json"), ("User-Agent", "Azure AD SCIM client")];
    let send = |method: &str, path: &str, body: Value| {
        let bytes = serde_json::to_vec(&body).unwrap();
        s.request_with(method, path, Some(&root), Some(&bytes), &entra)
    };
    let r = send("POST", "/scim/v2/Users", json!({"schemas": [core], "userName": "ada@x"}));
    assert_eq!(r.status, 201);
    let ada = r.json()["id"].as_str().unwrap().to_owned();
    let again = send("POST", "/scim/v2/Users", json!({"schemas": [core], "userName": "ada@x"}));
    assert_eq!(again.status, 409);
    let off = json!({"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    assert_eq!(send("PATCH", &format!("/scim/v2/Users/{ada}"), off).status, 200);
    // The failure's entry is committed within the flush time.
    let deadline = Instant::now() + Duration::from_secs(10);
    let failed = loop {
        let list = s.get("/provisioning-log?outcome=failed", Some(&root)).json();
        if let Some(e) = list["entries"].as_array().unwrap().first() {
            break e.clone();
        }
        assert!(Instant::now() < deadline, "no failure entry");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut b = Browserless::new(&s);
    assert_eq!(b.sign_in("/console", &root).status, 303);
    let page = b.get("/console/provisioning");
    assert_eq!(page.status, 200);
    let body = &page.body;
    assert!(body.contains("Microsoft Entra"), "{body}");
    assert!(body.contains("<strong>3</strong> requests today, <strong class=\"status-failed\">1 failed</strong>; sends capitalised ops and string booleans"), "{body}");
    assert!(
        body.contains("id=\"failure-groups\"") && body.contains("<code>uniqueness</code>"),
        "{body}"
    );
    assert!(body.contains("userName ada@x is already used by user"), "{body}");
    let failed_only = b.get("/console/provisioning?outcome=failed");
    assert_eq!(
        failed_only.body.matches("<tr class=\"failed\">").count(),
        1,
        "{}",
        failed_only.body
    );
    assert!(!failed_only.body.contains("deactivate user"));
    assert_eq!(b.get("/console/provisioning?since=yesterday").status, 400);
    // An entry in full: the reason first, then the request.
    let entry = b.get(&format!("/console/provisioning/{}", failed["seq"]));
    assert_eq!(entry.status, 200);
    assert!(
        entry.body.contains("Why it failed")
            && entry.body.contains("(created by Microsoft Entra on"),
        "{}",
        entry.body
    );
    assert_eq!(b.get("/console/provisioning/999999").status, 404);
    assert_eq!(b.get("/console/provisioning/nope").status, 404);
    // The user's page says who created it and who changed it last, and links to its entries.
    let user = b.get(&format!("/console/users/{ada}"));
    let body = &user.body;
    assert!(body.contains("Created by") && body.contains("Microsoft Entra, "), "{body}");
    assert!(body.contains("(deactivate user)"), "{body}");
    assert!(body.contains(&format!("/console/provisioning?resource={ada}")), "{body}");
    // The Overview lists the recent failure.
    let overview = b.get("/console/");
    assert!(overview.body.contains("id=\"provisioning-failures\""), "{}", overview.body);
}

#[test]
fn a_sign_in_link_works_once_and_its_key_ends_the_session() {
    let (s, root) = Server::keyed();
    let link = s.cli_line("console login --tenant default");
    let url = link["url"].as_str().unwrap();
    let path = url.strip_prefix(&format!("http://{}", s.addr)).expect("a link to this server");
    let mut b = Browserless::new(&s);
    let page = b.get(path);
    assert_eq!(page.status, 200);
    let csrf = Browserless::csrf(&page);
    let r = b.send("POST", path, &[("csrf", &csrf)]);
    assert_eq!(r.status, 303, "{}", r.body);
    let overview = b.get("/console/");
    assert!(overview.body.contains("console sign-in link"), "{}", overview.body);
    // Used: a second browser cannot use it.
    let mut other = Browserless::new(&s);
    let csrf = Browserless::csrf(&other.get(path));
    assert_eq!(other.send("POST", path, &[("csrf", &csrf)]).status, 401);

    // The session stands on the link's key: revoking it through the API ends the session.
    let keys = s.get("/api-keys", Some(&root)).json();
    let link_key = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["description"] == "console sign-in link")
        .unwrap();
    assert_eq!(link_key["status"], "active");
    assert!(link_key["expires_at"].is_string(), "a link's key expires");
    let id = link_key["key_id"].as_str().unwrap();
    let r = s.request("POST", &format!("/api-keys/{id}/revoke"), Some(&root), None);
    assert_eq!(r.status, 200);
    assert_eq!(b.get("/console/").status, 303, "signed out by the revoke");

    // Without a running server there is nowhere to keep a link: the CLI says so.
    let idle = tempfile::tempdir().unwrap();
    let out =
        crate::harness::cli_in(idle.path(), &["console", "login", "--tenant", "default", "--json"]);
    assert!(!out.status.success());
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["code"], "SERVER_NOT_RUNNING", "{err}");
}

/// A link session has the server admin's authority: a key made there with "Never" never
/// expires, and logging out revokes the link's all-scopes key. A session signed in with a key
/// that expires says so before a key is made, and the secret page shows the resulting expiry.
#[test]
fn a_link_session_makes_permanent_keys_and_leaves_no_key_behind() {
    let (s, root) = Server::keyed();
    let link = s.cli_line("console login --tenant default");
    let path = link["url"].as_str().unwrap().strip_prefix(&format!("http://{}", s.addr)).unwrap();
    let path = path.to_owned();
    let mut b = Browserless::new(&s);
    let csrf = Browserless::csrf(&b.get(&path));
    assert_eq!(b.send("POST", &path, &[("csrf", &csrf)]).status, 303);
    let keys = b.get("/console/keys");
    assert!(!keys.body.contains("id=\"expiry-bound\""), "a link session has no bound");
    let csrf = Browserless::csrf(&keys);
    let made =
        [("description", "forever"), ("scope", "usage"), ("expires_in", ""), ("csrf", &csrf)];
    let r = b.send("POST", "/console/keys", &made);
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body.contains("It expires never."), "{}", r.body);
    let listed = s.get("/api-keys", Some(&root)).json();
    let find = |description: &str| -> Value {
        let all = listed["keys"].as_array().unwrap();
        all.iter().find(|k| k["description"] == description).unwrap().clone()
    };
    assert_eq!(find("forever")["expires_at"], Value::Null);
    let link_key = find("console sign-in link")["key_id"].as_str().unwrap().to_owned();
    assert_eq!(b.send("POST", "/console/logout", &[("csrf", &csrf)]).status, 303);
    let after = s.get(&format!("/api-keys/{link_key}"), Some(&root)).json();
    assert_eq!(after["status"], "revoked", "{after}");

    // Signed in with a key that expires: the form says by when, and "Never" means that.
    let made = s.cli_line("key create --tenant default --scope api_keys.manage --expires-in 1h");
    let bounded = made["secret"].as_str().unwrap().to_owned();
    let mut b = Browserless::new(&s);
    assert_eq!(b.sign_in("/console", &bounded).status, 303);
    let keys = b.get("/console/keys");
    assert!(keys.body.contains("id=\"expiry-bound\""), "{}", keys.body);
    let csrf = Browserless::csrf(&keys);
    let form = [("description", "bounded"), ("scope", "api_keys.manage"), ("csrf", &csrf)];
    let r = b.send("POST", "/console/keys", &form);
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(!r.body.contains("It expires never."), "{}", r.body);
    let listed = s.get("/api-keys", Some(&root)).json();
    let bounded_key =
        listed["keys"].as_array().unwrap().iter().find(|k| k["description"] == "bounded");
    assert_eq!(bounded_key.unwrap()["expires_at"], made["expires_at"]);
}

/// A key's SCIM profile is chosen when it is made and changed from its row; a bad value is
/// refused beside the form.
#[test]
fn the_console_sets_a_keys_scim_profile() {
    let (s, root) = Server::keyed();
    let mut b = Browserless::new(&s);
    assert_eq!(b.sign_in("/console", &root).status, 303);
    let keys = b.get("/console/keys");
    assert!(keys.body.contains("tenant default (compatible)"), "{}", keys.body);
    let csrf = Browserless::csrf(&keys);
    let made = [
        ("description", "strict idp"),
        ("scope", "scim:users:read"),
        ("scim_profile", "strict"),
        ("csrf", &csrf),
    ];
    assert_eq!(b.send("POST", "/console/keys", &made).status, 201);
    let find = |description: &str| -> Value {
        let listed = s.get("/api-keys", Some(&root)).json();
        let all = listed["keys"].as_array().unwrap().clone();
        all.into_iter().find(|k| k["description"] == description).unwrap()
    };
    let key = find("strict idp");
    assert_eq!(key["scim_profile"], "strict");
    let id = key["key_id"].as_str().unwrap().to_owned();
    let path = format!("/console/keys/{id}/scim-profile");
    let r = b.send("POST", &path, &[("scim_profile", "default"), ("csrf", &csrf)]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(find("strict idp")["scim_profile"], Value::Null);
    let r = b.send("POST", &path, &[("scim_profile", "lenient"), ("csrf", &csrf)]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("id=\"form-error\""), "{}", r.body);
    assert_eq!(find("strict idp")["scim_profile"], Value::Null, "a refusal changes nothing");
    let page = b.get("/console/keys?done=profile");
    assert!(page.body.contains("SCIM profile is set"), "{}", page.body);
    // The quirks a key's requests needed are shown on its row.
    let (plain, _) = s.create_key("default", &["all"]);
    let quirky = json!({"schemas": [PATCH_OP],
        "Operations": [{"op": "Replace", "path": "title", "value": "Boss"}]});
    let u = s.send("POST", "/scim/v2/Users", &plain, &json!({"userName": "q@x.example"}));
    let id = u.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(s.send("PATCH", &format!("/scim/v2/Users/{id}"), &plain, &quirky).status, 200);
    let page = b.get("/console/keys");
    assert!(page.body.contains("quirks seen: capitalised_op 1"), "{}", page.body);
    // Without the forms' CSRF token: refused.
    let r = b.send("POST", &path, &[("scim_profile", "strict")]);
    assert_eq!(r.status, 403, "{}", r.body);
}

/// A webhook's signing secret is rotated from its page: the new secret shown once with the
/// overlap, which the page can end.
#[test]
fn the_console_rotates_a_webhook_secret() {
    let (s, root) = Server::keyed();
    let hook = s.send("POST", "/webhooks", &root, &json!({"url": "https://hooks.example.com/in"}));
    let id = hook.json()["id"].as_str().unwrap().to_owned();
    let mut b = Browserless::new(&s);
    assert_eq!(b.sign_in("/console", &root).status, 303);
    let page = b.get(&format!("/console/webhooks/{id}"));
    let csrf = Browserless::csrf(&page);
    let r = b.send(
        "POST",
        &format!("/console/webhooks/{id}/rotate-secret"),
        &[("overlap", "1h"), ("csrf", &csrf)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("New signing secret") && r.body.contains("whsec_"), "{}", r.body);
    assert!(r.body.contains("signed with the previous secret too"), "{}", r.body);
    let shown = s.get(&format!("/webhooks/{id}"), Some(&root)).json();
    assert!(shown["previous_secret_until"].is_string(), "{shown}");
    let page = b.get(&format!("/console/webhooks/{id}"));
    assert!(page.body.contains("id=\"end-overlap\""), "{}", page.body);
    let r = b.send("POST", &format!("/console/webhooks/{id}/end-overlap"), &[("csrf", &csrf)]);
    assert_eq!(r.status, 303, "{}", r.body);
    let shown = s.get(&format!("/webhooks/{id}"), Some(&root)).json();
    assert_eq!(shown["previous_secret_until"], Value::Null, "{shown}");
    let r = b.send(
        "POST",
        &format!("/console/webhooks/{id}/rotate-secret"),
        &[("overlap", "whenever"), ("csrf", &csrf)],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("id=\"form-error\""), "{}", r.body);
    // What failed lately goes again (nothing here).
    let r = b.send(
        "POST",
        &format!("/console/webhooks/{id}/redeliver-failed"),
        &[("within", "24h"), ("csrf", &csrf)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Nothing failed in that time."), "{}", r.body);
}

// --- In a real browser -------------------------------------------------------------------

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    /// chromedriver and the Chromium it started share a process group of their own: all of
    /// it goes, even when the test failed before closing the session.
    fn drop(&mut self) {
        if let Some(group) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Option<PathBuf> {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn start_driver(path: &PathBuf) -> Driver {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    use std::os::unix::process::CommandExt;
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: tempfile::tempdir().unwrap(),
    }
}

async fn browser(driver: &Driver) -> Client {
    let profile = driver._profile.path().display().to_string();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            // The flags that keep Chromium off the network it cannot reach here, and headless.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-quic", "--window-size=1280,1000",
                format!("--user-data-dir={profile}")],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector).capabilities(caps).connect(&driver.url).await.expect("a session")
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// Waits until the page's HTML contains `text` (htmx swaps pages in place, so a click does not
/// wait for a navigation).
async fn see(c: &Client, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let html = c.source().await.unwrap();
        if html.contains(text) {
            return html;
        }
        assert!(Instant::now() < deadline, "never saw {text:?} in {html}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every console page with content, by name and path (ids from the API).
fn every_page(s: &Server, root: &str, room: &str, hook: &str) -> Vec<(String, String)> {
    let users = s.get("/users?limit=10", Some(root)).json();
    let active = users["users"].as_array().unwrap().iter().find(|u| u["active"] == true).unwrap();
    let user = active["id"].as_str().unwrap();
    // A member to remove, and a key to revoke.
    let add = json!({"user_id": user, "tx_permission": false});
    s.send("POST", &format!("/rooms/{room}/members"), root, &add);
    let (_, key) = s.create_key("default", &["usage"]);
    let deliveries = s.get(&format!("/webhooks/{hook}/deliveries"), Some(root)).json();
    let delivery = deliveries["deliveries"][0]["id"].as_str().unwrap().to_owned();
    // A SET receiver, so the Webhooks page shows its table.
    let receiver = json!({"url": "https://sets.example.com/in", "format": "full"});
    assert_eq!(s.send("POST", "/event-receivers", root, &receiver).status, 201);
    // A failed provisioning request, for its entry's page.
    let taken = active["user_name"].as_str().unwrap();
    let body = serde_json::to_vec(
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": taken}),
    )
    .unwrap();
    let okta = [("Content-Type", "application/json"), ("User-Agent", "Okta SCIM Client 1.0.0")];
    assert_eq!(
        s.request_with("POST", "/scim/v2/Users", Some(root), Some(&body), &okta).status,
        409
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let failed = loop {
        let list = s.get("/provisioning-log?outcome=failed&client=okta", Some(root)).json();
        if let Some(e) = list["entries"].as_array().unwrap().last() {
            break e["seq"].as_u64().unwrap();
        }
        assert!(Instant::now() < deadline, "no failure entry");
        std::thread::sleep(Duration::from_millis(100));
    };
    [
        ("overview", "/console/".to_owned()),
        ("users", "/console/users".to_owned()),
        ("users-deactivated", "/console/users?status=deactivated".to_owned()),
        ("user", format!("/console/users/{user}")),
        ("user-deactivate", format!("/console/users/{user}/active?active=false")),
        ("rooms", "/console/rooms".to_owned()),
        ("room", format!("/console/rooms/{room}")),
        ("room-find", format!("/console/rooms/{room}?find=user")),
        ("room-delete", format!("/console/rooms/{room}/delete")),
        ("member-remove", format!("/console/rooms/{room}/members/{user}/remove")),
        ("webhooks", "/console/webhooks".to_owned()),
        ("webhook", format!("/console/webhooks/{hook}")),
        ("delivery", format!("/console/webhooks/{hook}/deliveries/{delivery}")),
        ("webhook-delete", format!("/console/webhooks/{hook}/delete")),
        ("api-keys", "/console/keys".to_owned()),
        ("key-revoke", format!("/console/keys/{key}/revoke")),
        ("audit", "/console/audit".to_owned()),
        ("audit-filtered", "/console/audit?action=api_key&from=2020-01-01".to_owned()),
        ("provisioning", "/console/provisioning".to_owned()),
        ("provisioning-failed", "/console/provisioning?outcome=failed&client=okta".to_owned()),
        ("provisioning-entry", format!("/console/provisioning/{failed}")),
    ]
    .into_iter()
    .map(|(name, path)| (name.to_owned(), path))
    .collect()
}

/// axe-core, injected into pages by the test (never served by the server).
const AXE: &str = include_str!("../fixtures/axe-core/axe.min.js");

/// Opens `url` at `width` px and checks it as a user there meets it: the page no wider than the
/// window, every button and button-like link inside the window, and axe-core finding no serious
/// or critical violation; saves a screenshot. Returns 1 (one page view audited).
async fn check_page(c: &Client, url: &str, name: &str, width: u32) -> usize {
    c.set_window_size(width, 900).await.unwrap();
    c.goto(url).await.unwrap();
    see(c, "</main>").await;
    let fit: Value = c
        .execute(
            "const inner = window.innerWidth;
             const clipped = Array.from(document.querySelectorAll('main button, main a.button, nav a'))
               .filter(b => { const r = b.getBoundingClientRect();
                 return r.width > 0 && (r.left < -0.5 || r.right > inner + 0.5); })
               .map(b => b.textContent.trim());
             return {wide: document.documentElement.scrollWidth, inner: inner, clipped: clipped};",
            vec![],
        )
        .await
        .unwrap();
    assert!(fit["wide"].as_u64() <= fit["inner"].as_u64(), "{name} at {width} px: {fit}");
    assert_eq!(fit["clipped"], json!([]), "{name} at {width} px: actions out of view");
    c.execute(AXE, vec![]).await.unwrap();
    let found: Value = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations
               .filter(v => v.impact === 'serious' || v.impact === 'critical')
               .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', '))),
               e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(found, json!([]), "{name} at {width} px: accessibility violations");
    shot(c, &format!("{name}-{width}")).await;
    1
}

async fn click(c: &Client, css: &str) {
    c.wait().for_element(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

async fn fill(c: &Client, css: &str, text: &str) {
    let field = c.wait().for_element(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

#[test]
#[ignore = "opens a real browser (chromium, chromium-driver): cargo test -- --include-ignored"]
fn the_console_in_a_real_browser() {
    let Some(path) = chromedriver() else {
        // .ci/run installs chromium and chromium-driver and sets WHOOT_BROWSER_TESTS=required.
        assert!(
            std::env::var("WHOOT_BROWSER_TESTS").as_deref() != Ok("required"),
            "chromedriver is not installed (apt install chromium chromium-driver)"
        );
        eprintln!("skipped: no chromedriver (apt install chromium chromium-driver)");
        return;
    };
    let (s, root) = Server::keyed();
    for i in 0..3 {
        let user =
            json!({"email": format!("user{i}@example.com"), "full_name": format!("User {i}")});
        assert_eq!(s.send("POST", "/users", &root, &user).status, 201);
    }
    let room = s.cli_line("room create --tenant default Hangar")["id"].as_str().unwrap().to_owned();
    let user1 = s.get("/users?limit=10", Some(&root)).json()["users"][1]["id"].clone();
    let add = json!({"user_id": user1, "tx_permission": true});
    assert_eq!(s.send("POST", &format!("/rooms/{room}/members"), &root, &add).status, 201);
    let rx = Receiver::start();
    let second = Receiver::start();
    let hook = s.send("POST", "/webhooks", &root, &json!({"url": rx.url(), "events": ["*"]}));
    let hook = hook.json()["id"].as_str().unwrap().to_owned();

    let driver = start_driver(&path);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let c = browser(&driver).await;
        let url = |p: &str| format!("http://{}{p}", s.addr);

        // Sign in with a pasted key.
        c.goto(&url("/console/")).await.unwrap();
        see(&c, "Sign in to the console").await;
        shot(&c, "login").await;
        // By keyboard: the key, then Enter.
        fill(&c, "#key", &root).await;
        let key_field = c.find(Locator::Css("#key")).await.unwrap();
        key_field.send_keys("\u{E007}").await.unwrap();
        see(&c, "seats used").await;
        shot(&c, "overview").await;

        // Create a key with two scopes; its secret is shown once.
        click(&c, "nav a[href='/console/keys']").await;
        see(&c, "Create a key").await;
        // An error a form meets is shown beside it, with JavaScript on (htmx swaps the 400 in).
        fill(&c, "#description", "No scope").await;
        click(&c, "#create-submit").await;
        see(&c, "choose at least one scope").await;
        assert!(c.find(Locator::Css("#form-error")).await.is_ok());
        fill(&c, "#description", "Browser key").await;
        click(&c, "input[name='scope'][value='usage']").await;
        click(&c, "input[name='scope'][value='api:users:read']").await;
        click(&c, "#create-submit").await;
        see(&c, "only time it is shown").await;
        let secret =
            c.find(Locator::Css("#secret")).await.unwrap().prop("value").await.unwrap().unwrap();
        assert!(secret.starts_with("wh_live_"), "{secret}");
        shot(&c, "key-secret").await;

        // The API takes it, with those scopes only.
        assert_eq!(s.get("/usage", Some(&secret)).status, 200);
        assert_eq!(s.get("/users", Some(&secret)).status, 200);
        assert_eq!(s.get("/webhooks", Some(&secret)).status, 403);

        // Back on the list, never the secret again.
        click(&c, "#done").await;
        let html = see(&c, "Create a key").await;
        assert!(html.contains("Browser key"));
        assert!(!html.contains(&secret), "the secret is not shown twice");
        shot(&c, "api-keys").await;

        // Revoke it, after a confirmation; the API refuses it on the next request.
        let row = c.find(Locator::XPath("//tr[.//strong[text()='Browser key']]")).await.unwrap();
        row.find(Locator::Css("a.danger")).await.unwrap().click().await.unwrap();
        see(&c, "Revoke “Browser key”?").await;
        shot(&c, "key-revoke").await;
        click(&c, "#confirm-revoke").await;
        see(&c, "requests with it are refused").await;
        assert_eq!(s.get("/usage", Some(&secret)).status, 401);

        // The audit log names the console's key for both.
        click(&c, "nav a[href='/console/audit']").await;
        let html = see(&c, "api_key.revoked").await;
        assert!(html.contains("api_key.created") && html.contains("key “bootstrap key"), "{html}");
        shot(&c, "audit").await;

        // Users: search, a user's page, deactivate after a confirmation (the API sees it).
        click(&c, "nav a[href='/console/users']").await;
        see(&c, "user0@example.com").await;
        fill(&c, "#q", "User 1").await;
        let users = c.find(Locator::Css("#q")).await.unwrap();
        users.send_keys("\u{E007}").await.unwrap(); // Enter
        see(&c, "1 match(es) for").await;
        click(&c, "#users td[data-label='User'] a").await;
        let html = see(&c, "id=\"attributes\"").await;
        assert!(html.contains("Hangar") && html.contains("user1@example.com"), "{html}");
        click(&c, "#deactivate").await;
        see(&c, "Deactivate user1@example.com?").await;
        see(&c, "removed from 1 room(s)").await;
        click(&c, "#confirm-active").await;
        see(&c, "badge status-inactive").await;
        let list = s.get("/users", Some(&root)).json();
        let user1 = list["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == "user1@example.com")
            .unwrap()
            .clone();
        assert_eq!(user1["active"], false);
        let members = s.get(&format!("/rooms/{room}/members"), Some(&root)).json();
        assert_eq!(members["total"], 0, "deactivating left the room: {members}");
        c.goto(&url("/console/users?status=deactivated")).await.unwrap();
        let html = see(&c, "user1@example.com").await;
        assert!(!html.contains("user0@example.com"), "only the deactivated one");

        // Rooms: a new room (a duplicate name is refused beside the form), a member found by
        // name who may transmit, then not; removed after a confirmation; renamed and mapped.
        click(&c, "nav a[href='/console/rooms']").await;
        fill(&c, "#name", "hangar").await;
        click(&c, "#create-room-submit").await;
        see(&c, "id=\"form-error\"").await;
        fill(&c, "#name", "Ops Deck").await;
        click(&c, "#create-room-submit").await;
        see(&c, "<h1>Ops Deck</h1>").await;
        fill(&c, "#find", "User 0").await;
        click(&c, "#find-member button").await;
        click(&c, "button[aria-label='Add User 0']").await;
        see(&c, "Allow transmit").await;
        click(&c, "button[aria-label^='Allow transmit for']").await;
        see(&c, "Revoke transmit").await;
        let ops = s.get("/rooms?limit=10", Some(&root)).json()["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "Ops Deck")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let members = s.get(&format!("/rooms/{ops}/members"), Some(&root)).json();
        assert_eq!(members["members"][0]["tx_permission"], true, "{members}");
        click(&c, "a[aria-label='Remove User 0']").await;
        see(&c, "Remove User 0 from").await;
        click(&c, "#confirm-remove").await;
        see(&c, "No members yet.").await;
        fill(&c, "#room-name", "Ops Deck North").await;
        click(&c, "#mapped").await;
        fill(&c, "#external-id", "grp-ops").await;
        click(&c, "#save-room").await;
        see(&c, "<h1>Ops Deck North</h1>").await;
        see(&c, "provisioned as a SCIM group").await;
        let group = s.get(&format!("/scim/v2/Groups/{ops}"), Some(&root)).json();
        assert_eq!(
            (group["displayName"].clone(), group["externalId"].clone()),
            (json!("Ops Deck North"), json!("grp-ops"))
        );
        click(&c, "#delete-room").await;
        see(&c, "Delete the room “Ops Deck North”?").await;
        click(&c, "#confirm-delete").await;
        see(&c, "<table id=\"rooms\"").await;
        assert_eq!(s.get(&format!("/rooms/{ops}"), Some(&root)).status, 404);

        // Webhooks: a registration made here (a bad URL is refused beside the form), its secret
        // shown once and signing what it is sent; paused and resumed; a test event; deleted.
        click(&c, "nav a[href='/console/webhooks']").await;
        see(&c, &rx.url()).await;
        fill(&c, "#url", "ftp://nowhere").await;
        click(&c, "#create-webhook-submit").await;
        see(&c, "id=\"form-error\"").await;
        fill(&c, "#url", &second.url()).await;
        fill(&c, "#description", "Browser receiver").await;
        click(&c, "input[name='all']").await; // untick "every event"
        click(&c, "input[name='event'][value='user.created']").await;
        click(&c, "#create-webhook-submit").await;
        see(&c, "Copy the signing secret now").await;
        let whsec =
            c.find(Locator::Css("#secret")).await.unwrap().prop("value").await.unwrap().unwrap();
        assert!(whsec.starts_with("whsec_"), "{whsec}");
        click(&c, "#done").await;
        see(&c, "Events: user.created").await;
        s.send("POST", "/users", &root, &json!({"email": "signed@example.com"}));
        let got = second.wait_for(10, "user.created", |g| !g.is_empty());
        let ts: i64 = got[0].timestamp.parse().unwrap();
        let expected =
            whoot_mgmt::webhooks::send::signature(&whsec, &got[0].id, ts, &got[0].body).unwrap();
        assert_eq!(got[0].signature, expected, "signed with the secret shown once");
        click(&c, "#pause").await;
        see(&c, "<strong id=\"hook-state\">paused</strong>").await;
        click(&c, "#resume").await;
        see(&c, "<strong id=\"hook-state\">delivering</strong>").await;
        click(&c, "#delete-webhook").await;
        see(&c, "Delete the registration for").await;
        click(&c, "#confirm-delete").await;
        let html = see(&c, "<h1>Webhooks</h1>").await;
        assert!(!html.contains(&second.url()), "deleted");

        // SET receivers: a push one with a bad URL is refused; a polled one is added (one
        // event URI unticked), listed, polled through the API, and deleted.
        fill(&c, "#set-url", "ftp://nowhere").await;
        click(&c, "#create-receiver-submit").await;
        see(&c, "id=\"form-error\"").await;
        click(&c, "input[name='set_delivery'][value='poll']").await;
        fill(&c, "#set-audience", "browser-aud").await;
        click(&c, "input[name='set_uri'][value='misc:asyncresp']").await;
        click(&c, "#create-receiver-submit").await;
        let html = see(&c, "<table id=\"receivers\"").await;
        assert!(html.contains("browser-aud") && html.contains("POST /events/poll"), "{html}");
        let listed = s.get("/event-receivers", Some(&root)).json();
        let made =
            listed["receivers"].as_array().unwrap().iter().find(|r| r["audience"] == "browser-aud");
        let made = made.expect("the receiver made in the console").clone();
        assert_eq!(made["delivery"], "poll");
        let uris = made["events"].as_array().unwrap();
        assert!(
            uris.len() == 6 && !uris.contains(&json!("urn:ietf:params:scim:event:misc:asyncresp")),
            "{made}"
        );
        s.send("POST", "/users", &root, &json!({"email": "polled@example.com"}));
        let polled = s.send("POST", "/events/poll", &root, &json!({"returnImmediately": true}));
        assert_eq!(polled.json()["sets"].as_object().map(|m| m.len()), Some(1), "{}", polled.body);
        let id = made["id"].as_str().unwrap();
        click(&c, &format!("form[action$='/event-receivers/{id}/delete'] button")).await;
        let gone = Instant::now() + Duration::from_secs(10);
        while s.get(&format!("/event-receivers/{id}"), Some(&root)).status != 404 {
            assert!(Instant::now() < gone, "the receiver was not deleted");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        c.refresh().await.unwrap();
        let html = see(&c, "<h1>Webhooks</h1>").await;
        assert!(!html.contains("browser-aud"), "deleted");

        // The first registration: a test event, delivered and signed; a delivery's payload;
        // redelivery under the same webhook-id.
        click(&c, &format!("a[href='/console/webhooks/{hook}']")).await;
        click(&c, "#send-test").await;
        see(&c, "Delivered: the receiver answered HTTP 200").await;
        assert!(!rx.of_type("webhook.test").is_empty());
        let got = rx.wait_for(10, "the deactivation", |g| {
            g.iter().any(|r| r.json()["type"] == "user.deactivated")
        });
        let count = got.len();
        c.refresh().await.unwrap();
        see(&c, "status-succeeded").await;
        click(&c, "#deliveries a[href*='/deliveries/']").await;
        let html = see(&c, "id=\"payload\"").await;
        assert!(html.contains("&quot;tenant_id&quot;") || html.contains("\"tenant_id\""), "{html}");
        click(&c, "#redeliver").await;
        let again = rx.wait_for(10, "the redelivery", |g| g.len() > count);
        let last = again.last().unwrap();
        assert!(got.iter().any(|r| r.id == last.id), "the same webhook-id: {}", last.id);

        // The audit log: names beside ids, and filters.
        c.goto(&url("/console/audit?action=room.")).await.unwrap();
        let html = see(&c, "room.deleted").await;
        assert!(html.contains("room.created") && !html.contains("api_key.created"), "{html}");
        c.goto(&url("/console/audit?action=api_key.revoked")).await.unwrap();
        see(&c, "key “Browser key”").await;

        // Every page, as a user on a desktop and on a phone meets it: nothing wider than the
        // screen, every action in view, no serious or critical accessibility violation.
        let pages = every_page(&s, &root, &room, &hook);
        let mut audited = 0;
        for width in [1280, 390] {
            for (name, path) in &pages {
                audited += check_page(&c, &url(path), name, width).await;
            }
        }
        eprintln!("axe-core: {audited} page views audited, 0 serious or critical violations");
        c.set_window_size(1280, 1000).await.unwrap();

        // Log out: the console asks to sign in again.
        click(&c, "#logout").await;
        see(&c, "Sign in to the console").await;
        c.goto(&url("/console/keys")).await.unwrap();
        see(&c, "Sign in to the console").await;

        // Sign in with a one-time link.
        let link = s.cli_line("console login --tenant default");
        c.goto(link["url"].as_str().unwrap()).await.unwrap();
        see(&c, "This link works once").await;
        shot(&c, "link").await;
        click(&c, "#continue").await;
        see(&c, "console sign-in link").await;
        see(&c, "seats used").await;
        click(&c, "#logout").await;
        see(&c, "Sign in to the console").await;

        c.close().await.unwrap();
    });
}

/// Sessions are bounded per key and per tenant: one tenant signing in over and over closes its
/// own oldest sessions, never another tenant's.
#[test]
fn one_tenants_sign_ins_never_sign_another_tenants_admins_out() {
    // A small pool in all, so the churn reaches it too.
    let s = Server::start_args(&["--console-max-sessions", "10"]);
    let root = s.root_key();
    s.cli_line("tenant create other --name Other --seats 5");
    let other = s.cli_line("key create --tenant other --scope api_keys.manage");
    let other_key = other["secret"].as_str().unwrap().to_owned();
    let mut quiet = Browserless::new(&s);
    assert_eq!(quiet.sign_in("/console", &other_key).status, 303);
    let mut first = Browserless::new(&s);
    assert_eq!(first.sign_in("/console", &root).status, 303);
    for _ in 0..30 {
        assert_eq!(Browserless::new(&s).sign_in("/console", &root).status, 303);
    }
    assert_eq!(quiet.get("/console/keys").status, 200, "the other tenant's admin is signed in");
    assert_eq!(first.get("/console/keys").status, 303, "the churning key's oldest session closed");
}

/// Without JavaScript a refused form answers its page again, the error beside the form, in the
/// error's status (the browser test checks the same with htmx).
#[test]
fn form_errors_are_shown_beside_the_form_without_javascript() {
    let (s, root) = Server::keyed();
    let room = s.cli_line("room create --tenant default Hangar")["id"].as_str().unwrap().to_owned();
    let mut b = Browserless::new(&s);
    assert_eq!(b.sign_in("/console", &root).status, 303);
    let keys = b.get("/console/keys");
    let csrf = Browserless::csrf(&keys);
    let r = b.send("POST", "/console/keys", &[("description", "none"), ("csrf", &csrf)]);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("id=\"form-error\"") && r.body.contains("choose at least one scope"));
    let path = format!("/console/rooms/{room}/members");
    let r = b.send("POST", &path, &[("user", "nobody@example.com"), ("csrf", &csrf)]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("id=\"form-error\"") && r.body.contains("no user is"), "{}", r.body);
    assert!(r.body.contains("id=\"add-member\""), "the form is there to try again");
}

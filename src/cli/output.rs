//! Text output for people; `--json` prints the admin answer as it is instead.

use std::fmt::Write;

use serde_json::Value;

use crate::admin::Request;

pub fn human(request: &Request, answer: &Value) -> String {
    let mut out = String::new();
    match request {
        Request::TenantList => tenant_table(&mut out, answer["tenants"].as_array()),
        Request::KeyList { .. } => key_table(&mut out, answer["keys"].as_array()),
        Request::KeyCreate { .. } | Request::KeyRotate { .. } => {
            let (key, tenant) = (s(&answer["key_id"]), s(&answer["tenant"]));
            let _ = writeln!(out, "key {key} created for tenant {tenant}");
            let _ = writeln!(out, "  scopes:  {}", list(&answer["scopes"]));
            let _ = writeln!(out, "  expires: {}", or_never(&answer["expires_at"]));
            if let Some(profile) = answer["scim_profile"].as_str() {
                let _ = writeln!(out, "  SCIM:    {profile}");
            }
            if let Some(old) = answer["replaces"].as_str() {
                let _ = writeln!(
                    out,
                    "  replaces key {old}: revoke it once clients use the new secret"
                );
            }
            let _ =
                writeln!(out, "\nsecret (shown once; store it now):\n  {}", s(&answer["secret"]));
        }
        Request::Status => {
            let a = answer;
            let running = if a["server_running"] == true { "running" } else { "not running" };
            let _ = writeln!(out, "whoot-mgmt {} (server {running})", s(&a["version"]));
            let _ = writeln!(
                out,
                "  store:    {} ({} bytes, schema {})",
                s(&a["store_file"]),
                s(&a["store_bytes"]),
                s(&a["schema_version"])
            );
            let _ = writeln!(out, "  tenants:  {}, users: {}", s(&a["tenants"]), s(&a["users"]));
            let _ = writeln!(out, "  webhooks: {} deliveries waiting", s(&a["webhook_backlog"]));
            let age = match a["last_commit_age_ms"].as_u64() {
                Some(ms) => format!("{:.1} s ago", ms as f64 / 1000.0),
                None => "-".into(),
            };
            let _ = writeln!(out, "  last commit: {age}");
            if let Some(since) = a["writes_refused_since"].as_str() {
                let free = a["disk_free_bytes"]
                    .as_u64()
                    .map_or("? MB".into(), |b| format!("{} MB", b / 1_000_000));
                let _ = writeln!(
                    out,
                    "  writes refused since {since} (disk full?) at {}, {free} free",
                    s(&a["store_file"])
                );
            }
            if let Some(why) = a["unreadable"].as_str() {
                let _ = writeln!(out, "  the store cannot be read now: {why}");
            }
        }
        Request::UserList { .. } => user_table(&mut out, answer["users"].as_array()),
        Request::ConsoleLogin { .. } => {
            let link = answer["url"].as_str().map_or_else(
                || format!("{} (after the server's address)", s(&answer["path"])),
                str::to_owned,
            );
            let _ = writeln!(
                out,
                "sign in to {}'s console, once, within minutes:",
                s(&answer["tenant"])
            );
            let _ = writeln!(out, "  {link}");
        }
        Request::AuditList { .. } => audit_table(&mut out, answer["entries"].as_array()),
        Request::ProvisioningLog { .. } => out.push_str(&provisioning_lines(answer, true)),
        Request::RoomList { .. } => room_table(&mut out, answer["rooms"].as_array()),
        Request::WebhookList { .. } => webhook_table(&mut out, answer["webhooks"].as_array()),
        Request::WebhookRotateSecret { .. } | Request::WebhookEndOverlap { .. } => {
            let _ = writeln!(out, "webhook {} ({})", s(&answer["id"]), s(&answer["url"]));
            match answer["previous_secret_until"].as_str() {
                Some(until) => {
                    let _ = writeln!(out, "  the previous secret signs too until {until}");
                }
                None => {
                    let _ = writeln!(out, "  signed with the current secret only");
                }
            }
            if let Some(secret) = answer["secret"].as_str() {
                let _ = writeln!(
                    out,
                    "\nnew signing secret (shown once; give it to the receiver):\n  {secret}"
                );
            }
        }
        Request::WebhookDeliveries { .. } => {
            delivery_table(&mut out, answer["deliveries"].as_array());
        }
        Request::RoomCreate { .. } => {
            let _ = writeln!(out, "room {} created: {}", s(&answer["name"]), s(&answer["id"]));
        }
        Request::RoomDelete { .. } => {
            let _ = writeln!(out, "room {} deleted with its memberships", s(&answer["id"]));
        }
        Request::Backup { .. } => {
            let _ = writeln!(
                out,
                "backup written to {}: {} rows, {} bytes, {} ms",
                s(&answer["backup"]),
                answer["rows"],
                answer["bytes"],
                answer["duration_ms"]
            );
        }
        Request::TenantExport { .. } => {
            let _ = writeln!(
                out,
                "tenant {} exported to {}: {} rows, {} bytes (mode 0600: it holds webhook signing \
                 secrets)",
                s(&answer["slug"]),
                s(&answer["file"]),
                answer["rows"],
                answer["bytes"]
            );
            counts(&mut out, &answer["counts"]);
        }
        Request::TenantDelete { .. } => {
            let _ = writeln!(
                out,
                "tenant {} ({}) deleted: {} rows removed",
                s(&answer["deleted"]),
                s(&answer["id"]),
                answer["rows"]
            );
        }
        Request::TenantImport { .. } => {
            let (imported, tenant) = (&answer["imported"], &answer["tenant"]);
            let _ = writeln!(
                out,
                "imported tenant {} (exported as {} at {}): {} rows",
                s(&tenant["slug"]),
                s(&imported["slug"]),
                crate::time::format_ms(imported["exported_at"].as_i64().unwrap_or(0)),
                imported["rows"]
            );
            counts(&mut out, &imported["counts"]);
            tenant_detail(&mut out, tenant);
        }
        Request::ReceiverList { .. } => receiver_table(&mut out, answer["receivers"].as_array()),
        Request::SetKeyList | Request::SetKeyRotate => {
            if let Some(kid) = answer["rotated"].as_str() {
                let _ = writeln!(out, "new current SET signing key {kid}");
            }
            let keys = answer["keys"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            for key in keys {
                let state = match key["retired_at"].as_str() {
                    Some(at) => format!("retired {at}"),
                    None => "current".to_owned(),
                };
                let _ =
                    writeln!(out, "{}  created {}  {state}", s(&key["kid"]), s(&key["created_at"]));
            }
        }
        Request::Check => {
            let _ = writeln!(
                out,
                "checked {} tenants, {} users, {} rooms, {} memberships, {} webhook deliveries",
                answer["tenants"],
                answer["users"],
                answer["rooms"],
                answer["memberships"],
                answer["deliveries"]
            );
            match answer["problems"].as_array() {
                Some(problems) if !problems.is_empty() => {
                    let _ = writeln!(out, "{} problem(s):", problems.len());
                    for p in problems {
                        let _ = writeln!(out, "  {}", s(p));
                    }
                }
                _ => {
                    let _ = writeln!(out, "no problems found");
                }
            }
        }
        Request::UserSetOwner { .. } => {
            let (tenant, owner) = (s(&answer["slug"]), s(&answer["owner_user_id"]));
            let _ = writeln!(out, "account owner of {tenant} is now {owner}");
        }
        Request::KeySetScimProfile { .. } => {
            let key = s(&answer["key_id"]);
            let profile = answer["scim_profile"].as_str().unwrap_or("the tenant's default");
            let _ = writeln!(out, "key {key}: SCIM profile {profile}");
        }
        Request::KeyRevoke { .. } => {
            let (key, when) = (s(&answer["key_id"]), s(&answer["revoked_at"]));
            let _ = writeln!(out, "key {key} revoked ({when})");
        }
        Request::TenantCreate { .. }
        | Request::TenantShow { .. }
        | Request::TenantSetSeats { .. }
        | Request::TenantSetRateLimit { .. }
        | Request::TenantSetScimProfile { .. }
        | Request::TenantSetMaintenance { .. } => tenant_detail(&mut out, answer),
    }
    out
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn or_never(v: &Value) -> String {
    if v.is_null() { "never".into() } else { s(v) }
}

fn list(v: &Value) -> String {
    v.as_array().map(|a| a.iter().map(s).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

/// A tenant's rate limit as set, and what its keys get.
fn rate_limit(t: &Value) -> String {
    let effective = match t["effective_rate_limit_per_minute"].as_u64() {
        Some(0) => "unlimited".into(),
        Some(n) => format!("{n}/min"),
        None => return rate(&t["rate_limit_per_minute"]),
    };
    match t["rate_limit_per_minute"].as_u64() {
        None => format!("default ({effective})"),
        Some(_) => effective,
    }
}

fn rate(v: &Value) -> String {
    match v.as_u64() {
        None => "default".into(),
        Some(0) => "unlimited".into(),
        Some(n) => format!("{n}/min"),
    }
}

/// An export's `counts`, one line: `12 users, 3 rooms, …`.
fn counts(out: &mut String, counts: &Value) {
    let Some(counts) = counts.as_object().filter(|c| !c.is_empty()) else { return };
    let parts: Vec<String> =
        counts.iter().map(|(kind, n)| format!("{n} {}", kind.replace('_', " "))).collect();
    let _ = writeln!(out, "  {}", parts.join(", "));
}

fn tenant_detail(out: &mut String, t: &Value) {
    let _ = writeln!(out, "tenant {} ({})", s(&t["slug"]), s(&t["id"]));
    let _ = writeln!(out, "  name:       {}", s(&t["name"]));
    let (used, capacity) = (s(&t["seats_provisioned"]), s(&t["seat_capacity"]));
    let _ = writeln!(out, "  seats:      {used} of {capacity} used");
    let _ = writeln!(out, "  rate limit: {}", rate_limit(t));
    let _ = writeln!(
        out,
        "  SCIM:       {} (keys without a profile of their own)",
        s(&t["scim_profile"])
    );
    if t["maintenance"] == true {
        let _ = writeln!(
            out,
            "  maintenance: on: provisioning writes answer 503 (set-maintenance off)"
        );
    }
    let _ = writeln!(out, "  owner:      {}", s(&t["owner_user_id"]));
    let _ = writeln!(out, "  created:    {}", s(&t["created_at"]));
}

/// A table of `rows`, one line each, its cells made by `cells`. `columns` names them in order,
/// `|`-separated: `NAME<24` left-aligned in 24, `NAME>8` right-aligned in 8, a bare name (the
/// last) takes the rest of the line.
fn table(
    out: &mut String,
    columns: &str,
    rows: Option<&Vec<Value>>,
    cells: impl Fn(&Value) -> Vec<String>,
) {
    let layout: Vec<(&str, char, usize)> = columns
        .split('|')
        .map(|c| match c.split_once(['<', '>']) {
            Some((name, width)) => {
                let align = if c.contains('<') { '<' } else { '>' };
                (name, align, width.parse().unwrap_or(0))
            }
            None => (c, ' ', 0),
        })
        .collect();
    let mut line = |fields: Vec<String>| {
        let mut text = String::new();
        for ((_, align, w), f) in layout.iter().zip(&fields) {
            let _ = match align {
                '<' => write!(text, "{f:<w$}  "),
                '>' => write!(text, "{f:>w$}  "),
                _ => write!(text, "{f}"),
            };
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(layout.iter().map(|(name, ..)| (*name).to_owned()).collect());
    for row in rows.into_iter().flatten() {
        line(cells(row));
    }
}

fn tenant_table(out: &mut String, rows: Option<&Vec<Value>>) {
    table(out, "SLUG<24|NAME<24|SEATS>13|RATE>20|ID", rows, |t| {
        let seats = format!("{}/{}", s(&t["seats_provisioned"]), s(&t["seat_capacity"]));
        vec![s(&t["slug"]), s(&t["name"]), seats, rate_limit(t), s(&t["id"])]
    });
}

fn key_table(out: &mut String, rows: Option<&Vec<Value>>) {
    let columns = "ID<36|PREFIX<16|STATUS<7|LAST USED<24|EXPIRES<24|DESCRIPTION / SCOPES";
    table(out, columns, rows, |k| {
        let described = format!("{} [{}]", s(&k["description"]), list(&k["scopes"]));
        let (used, expires) = (s(&k["last_used_at"]), or_never(&k["expires_at"]));
        vec![s(&k["key_id"]), s(&k["prefix"]), s(&k["status"]), used, expires, described]
    });
}

fn user_table(out: &mut String, rows: Option<&Vec<Value>>) {
    table(out, "ID<36|ACTIVE<6|USERNAME<32|EXTERNAL ID<24|DELETED", rows, |u| {
        ["id", "active", "user_name", "external_id", "deleted_at"].map(|f| s(&u[f])).to_vec()
    });
}

fn room_table(out: &mut String, rows: Option<&Vec<Value>>) {
    table(out, "ID<36|MEMBERS>8|GROUP<6|EXTERNAL ID<24|NAME", rows, |r| {
        let group = if r["mapped"] == true { "yes" } else { "no" };
        vec![s(&r["id"]), s(&r["member_count"]), group.into(), s(&r["external_id"]), s(&r["name"])]
    });
}

/// The provisioning log for a terminal: one line per entry (time, client, outcome, operation,
/// resource) and, for a failure, its reason on the next; `header` prints the column names.
pub fn provisioning_lines(answer: &Value, header: bool) -> String {
    let mut out = String::new();
    let rows = answer["entries"].as_array();
    if header {
        let _ = writeln!(
            out,
            "{:>6}  {:<24}  {:<16}  {:<4}  {:<28}  RESOURCE",
            "SEQ", "AT", "CLIENT", "CODE", "OPERATION"
        );
    }
    for e in rows.into_iter().flatten() {
        let resource = match &e["resource"] {
            Value::Object(r) => match r.get("name").and_then(Value::as_str) {
                Some(name) => format!("{} {name} ({})", s(&r["type"]), s(&r["id"])),
                None => format!("{} {}", s(&r["type"]), s(&r["id"])),
            },
            _ => String::new(),
        };
        let client: String = s(&e["client"]).chars().take(16).collect();
        let _ = writeln!(
            out,
            "{:>6}  {:<24}  {:<16}  {:<4}  {:<28}  {resource}",
            s(&e["seq"]),
            s(&e["at"]),
            client,
            s(&e["status"]),
            s(&e["operation"]),
        );
        if e["outcome"] == "failed" {
            let why = e["reason"].as_str().or(e["detail"].as_str()).unwrap_or("");
            let _ = writeln!(out, "{:>8}{why}", "");
        }
    }
    out
}

fn audit_table(out: &mut String, rows: Option<&Vec<Value>>) {
    table(out, "SEQ>6|AT<24|ACTOR<24|ACTION<26|TARGET<36|CHANGES", rows, |e| {
        let actor = match &e["actor"] {
            Value::Object(key) => format!("key {}", s(&key["key_id"])),
            other => s(other),
        };
        let changes: Vec<String> = e["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| format!("{}: {} -> {}", s(&f["name"]), s(&f["old"]), s(&f["new"])))
            .collect();
        vec![s(&e["seq"]), s(&e["at"]), actor, s(&e["action"]), s(&e["target"]), changes.join("; ")]
    });
}

fn webhook_table(out: &mut String, rows: Option<&Vec<Value>>) {
    table(out, "ID<36|STATE<8|QUEUED>7|FAILING SINCE<24|URL", rows, |h| {
        let state = match (&h["active"], &h["disabled_reason"]) {
            (Value::Bool(true), _) => "active",
            (_, Value::Null) => "paused",
            _ => "disabled",
        };
        let mut url = s(&h["url"]);
        if let Some(why) = h["disabled_reason"].as_str() {
            let _ = write!(url, " ({why})");
        }
        vec![s(&h["id"]), state.into(), s(&h["queued"]), s(&h["failing_since"]), url]
    });
}

fn receiver_table(out: &mut String, rows: Option<&Vec<Value>>) {
    table(out, "ID<36|DELIVERY<8|STATE<8|FORMAT<6|QUEUED>7|URL OR AUDIENCE", rows, |h| {
        let state = match (&h["active"], &h["disabled_reason"]) {
            (Value::Bool(true), _) => "active",
            (_, Value::Null) => "paused",
            _ => "disabled",
        };
        let target = match h["url"].as_str() {
            Some(url) => url.to_owned(),
            None => format!("aud {}", s(&h["audience"])),
        };
        vec![s(&h["id"]), s(&h["delivery"]), state.into(), s(&h["format"]), s(&h["queued"]), target]
    });
}

fn delivery_table(out: &mut String, rows: Option<&Vec<Value>>) {
    let columns = "ID<36|STATUS<9|TRIES>5|LAST ANSWER<24|NEXT ATTEMPT<24|EVENT";
    table(out, columns, rows, |d| {
        let answer = match (&d["last_status_code"], &d["last_error"]) {
            (Value::Null, Value::Null) => "-".to_owned(),
            (code, Value::Null) => format!("HTTP {}", s(code)),
            (_, error) => s(error),
        };
        let event = format!("{} #{}", s(&d["event_type"]), s(&d["seq"]));
        vec![
            s(&d["id"]),
            s(&d["status"]),
            s(&d["attempts"]),
            answer,
            s(&d["next_attempt_at"]),
            event,
        ]
    });
}

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
            let _ = writeln!(
                out,
                "key {} created for tenant {}",
                s(&answer["key_id"]),
                s(&answer["tenant"])
            );
            let _ = writeln!(out, "  scopes:  {}", list(&answer["scopes"]));
            let _ = writeln!(out, "  expires: {}", or_never(&answer["expires_at"]));
            if let Some(old) = answer["replaces"].as_str() {
                let _ = writeln!(
                    out,
                    "  replaces key {old}: revoke it once clients use the new secret"
                );
            }
            let _ =
                writeln!(out, "\nsecret (shown once; store it now):\n  {}", s(&answer["secret"]));
        }
        Request::UserList { .. } => user_table(&mut out, answer["users"].as_array()),
        Request::RoomList { .. } => room_table(&mut out, answer["rooms"].as_array()),
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
            let _ = writeln!(
                out,
                "account owner of {} is now {}",
                s(&answer["slug"]),
                s(&answer["owner_user_id"])
            );
        }
        Request::KeyRevoke { .. } => {
            let _ = writeln!(
                out,
                "key {} revoked ({})",
                s(&answer["key_id"]),
                s(&answer["revoked_at"])
            );
        }
        Request::TenantCreate { .. }
        | Request::TenantShow { .. }
        | Request::TenantSetSeats { .. }
        | Request::TenantSetRateLimit { .. } => tenant_detail(&mut out, answer),
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

fn rate(v: &Value) -> String {
    match v.as_u64() {
        None => "default".into(),
        Some(0) => "unlimited".into(),
        Some(n) => format!("{n}/min"),
    }
}

fn tenant_detail(out: &mut String, t: &Value) {
    let _ = writeln!(out, "tenant {} ({})", s(&t["slug"]), s(&t["id"]));
    let _ = writeln!(out, "  name:       {}", s(&t["name"]));
    let _ = writeln!(
        out,
        "  seats:      {} of {} used",
        s(&t["seats_provisioned"]),
        s(&t["seat_capacity"])
    );
    let _ = writeln!(out, "  rate limit: {}", rate(&t["rate_limit_per_minute"]));
    let _ = writeln!(out, "  owner:      {}", s(&t["owner_user_id"]));
    let _ = writeln!(out, "  created:    {}", s(&t["created_at"]));
}

fn tenant_table(out: &mut String, rows: Option<&Vec<Value>>) {
    let _ = writeln!(out, "{:<24} {:<24} {:>13} {:>10}  ID", "SLUG", "NAME", "SEATS", "RATE");
    for t in rows.into_iter().flatten() {
        let seats = format!("{}/{}", s(&t["seats_provisioned"]), s(&t["seat_capacity"]));
        let _ = writeln!(
            out,
            "{:<24} {:<24} {:>13} {:>10}  {}",
            s(&t["slug"]),
            s(&t["name"]),
            seats,
            rate(&t["rate_limit_per_minute"]),
            s(&t["id"])
        );
    }
}

fn key_table(out: &mut String, rows: Option<&Vec<Value>>) {
    let _ = writeln!(
        out,
        "{:<36}  {:<16}  {:<7}  {:<24}  {:<24}  DESCRIPTION / SCOPES",
        "ID", "PREFIX", "STATUS", "LAST USED", "EXPIRES"
    );
    for k in rows.into_iter().flatten() {
        let _ = writeln!(
            out,
            "{:<36}  {:<16}  {:<7}  {:<24}  {:<24}  {} [{}]",
            s(&k["key_id"]),
            s(&k["prefix"]),
            s(&k["status"]),
            s(&k["last_used_at"]),
            or_never(&k["expires_at"]),
            s(&k["description"]),
            list(&k["scopes"])
        );
    }
}

fn user_table(out: &mut String, rows: Option<&Vec<Value>>) {
    let _ = writeln!(
        out,
        "{:<36}  {:<6}  {:<32}  {:<24}  DELETED",
        "ID", "ACTIVE", "USERNAME", "EXTERNAL ID"
    );
    for u in rows.into_iter().flatten() {
        let _ = writeln!(
            out,
            "{:<36}  {:<6}  {:<32}  {:<24}  {}",
            s(&u["id"]),
            s(&u["active"]),
            s(&u["user_name"]),
            s(&u["external_id"]),
            s(&u["deleted_at"])
        );
    }
}

fn room_table(out: &mut String, rows: Option<&Vec<Value>>) {
    let _ = writeln!(
        out,
        "{:<36}  {:>8}  {:<6}  {:<24}  NAME",
        "ID", "MEMBERS", "GROUP", "EXTERNAL ID"
    );
    for r in rows.into_iter().flatten() {
        let _ = writeln!(
            out,
            "{:<36}  {:>8}  {:<6}  {:<24}  {}",
            s(&r["id"]),
            s(&r["member_count"]),
            if r["mapped"] == true { "yes" } else { "no" },
            s(&r["external_id"]),
            s(&r["name"])
        );
    }
}

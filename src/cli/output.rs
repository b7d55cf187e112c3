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

/// A column: its heading, and how its cells are laid out.
enum Col {
    Left(usize),
    Right(usize),
    /// The rest of the line (the last column).
    Rest,
}

/// A table of `rows`, one line each, its cells made by `cells` in the order of `columns`.
fn table(
    out: &mut String,
    columns: &[(&str, Col)],
    rows: Option<&Vec<Value>>,
    cells: impl Fn(&Value) -> Vec<String>,
) {
    let mut line = |fields: Vec<String>| {
        let mut text = String::new();
        for ((_, col), f) in columns.iter().zip(&fields) {
            let _ = match col {
                Col::Left(w) => write!(text, "{f:<w$}  "),
                Col::Right(w) => write!(text, "{f:>w$}  "),
                Col::Rest => write!(text, "{f}"),
            };
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(columns.iter().map(|(heading, _)| (*heading).to_owned()).collect());
    for row in rows.into_iter().flatten() {
        line(cells(row));
    }
}

fn tenant_table(out: &mut String, rows: Option<&Vec<Value>>) {
    let columns = [
        ("SLUG", Col::Left(24)),
        ("NAME", Col::Left(24)),
        ("SEATS", Col::Right(13)),
        ("RATE", Col::Right(10)),
        ("ID", Col::Rest),
    ];
    table(out, &columns, rows, |t| {
        let seats = format!("{}/{}", s(&t["seats_provisioned"]), s(&t["seat_capacity"]));
        vec![s(&t["slug"]), s(&t["name"]), seats, rate(&t["rate_limit_per_minute"]), s(&t["id"])]
    });
}

fn key_table(out: &mut String, rows: Option<&Vec<Value>>) {
    let columns = [
        ("ID", Col::Left(36)),
        ("PREFIX", Col::Left(16)),
        ("STATUS", Col::Left(7)),
        ("LAST USED", Col::Left(24)),
        ("EXPIRES", Col::Left(24)),
        ("DESCRIPTION / SCOPES", Col::Rest),
    ];
    table(out, &columns, rows, |k| {
        let described = format!("{} [{}]", s(&k["description"]), list(&k["scopes"]));
        let when = [s(&k["last_used_at"]), or_never(&k["expires_at"])];
        let [used, expires] = when;
        vec![s(&k["key_id"]), s(&k["prefix"]), s(&k["status"]), used, expires, described]
    });
}

fn user_table(out: &mut String, rows: Option<&Vec<Value>>) {
    let columns = [
        ("ID", Col::Left(36)),
        ("ACTIVE", Col::Left(6)),
        ("USERNAME", Col::Left(32)),
        ("EXTERNAL ID", Col::Left(24)),
        ("DELETED", Col::Rest),
    ];
    table(out, &columns, rows, |u| {
        ["id", "active", "user_name", "external_id", "deleted_at"].map(|f| s(&u[f])).to_vec()
    });
}

fn room_table(out: &mut String, rows: Option<&Vec<Value>>) {
    let columns = [
        ("ID", Col::Left(36)),
        ("MEMBERS", Col::Right(8)),
        ("GROUP", Col::Left(6)),
        ("EXTERNAL ID", Col::Left(24)),
        ("NAME", Col::Rest),
    ];
    table(out, &columns, rows, |r| {
        let group = if r["mapped"] == true { "yes" } else { "no" };
        vec![s(&r["id"]), s(&r["member_count"]), group.into(), s(&r["external_id"]), s(&r["name"])]
    });
}

//! Bounded fuzzing on stable: proptest strategies generate hostile input for a fixed time
//! (`WHOOT_FUZZ_SECS`, 2 s by default; `.ci/run` gives each target a minute) and every input is
//! checked, without shrinking, for what must always hold: the pure parsers never panic, and the
//! real server answers any body with something below 500 and keeps serving. Each target prints
//! how many inputs it ran.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};
use whoot_mgmt::scim::{filter, patch};

use crate::harness::{PATCH_OP, Server};

fn budget() -> Duration {
    let secs = std::env::var("WHOOT_FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(2.0);
    Duration::from_secs_f64(secs)
}

/// Runs `check` on inputs from `strategy` until the budget is spent; a failing input is printed.
fn fuzz<S: Strategy>(target: &str, strategy: S, mut check: impl FnMut(&S::Value))
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(Config { failure_persistence: None, ..Config::default() });
    let deadline = Instant::now() + budget();
    let mut inputs = 0u64;
    while Instant::now() < deadline {
        let value = strategy.new_tree(&mut runner).expect("a value").current();
        if catch_unwind(AssertUnwindSafe(|| check(&value))).is_err() {
            panic!("fuzz {target}: failed on input {value:?}");
        }
        inputs += 1;
    }
    println!("fuzz {target}: {inputs} inputs, no failure");
    assert!(inputs > 0);
}

/// The `|`-separated words of `list`, for `prop::sample::select`.
fn words(list: &'static str) -> Vec<&'static str> {
    list.split('|').collect()
}

/// Words of the SCIM filter and PATCH-path grammar, glued at random: mostly near-valid input
/// that reaches deep into the parser, some of it absurdly long or nested.
fn grammar_soup() -> impl Strategy<Value = String> {
    let word = prop::sample::select(words(
        r#"userName|emails|emails.value|name.givenName|members|meta.lastModified|eq|ne|co|sw|ew|gt|ge|lt|le|pr|and|or|not|(|)|[|]|"x"|""|true|false|null|12|-1.5e3|.value|type|"work"|\|"| |urn:ietf:params:scim:schemas:core:2.0:User:userName"#,
    ));
    prop_oneof![
        prop::collection::vec(word.clone(), 0..40).prop_map(|w| w.join(" ")),
        prop::collection::vec(word, 0..40).prop_map(|w| w.concat()),
        (1usize..400).prop_map(|n| vec!["userName pr"; n].join(" and ")),
        (1usize..120).prop_map(|n| format!("{}a pr{}", "not (".repeat(n), ")".repeat(n))),
        (1usize..120).prop_map(|n| format!("{}a pr]", "e[".repeat(n))),
        any::<String>(),
    ]
}

#[test]
fn fuzz_filter_parser() {
    let resource = json!({"userName": "a", "emails": [{"value": "x", "type": "work"}]});
    fuzz("filter", grammar_soup(), |input| {
        if let Ok(f) = filter::parse(input) {
            let _ = filter::matches(&f, &resource);
            assert_eq!(filter::parse(&f.to_string()).as_ref(), Ok(&f), "print, parse: {f}");
        }
    });
}

#[test]
fn fuzz_patch_paths() {
    fuzz("patch path", grammar_soup(), |input| {
        let _ = patch::parse_path(input);
    });
}

/// JSON of any shape, up to a few levels deep, with SCIM-ish keys.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(words(
        "op|path|value|Operations|schemas|userName|emails|name|active|members|displayName|externalId|roles|primary|type|givenName|manager|method|bulkId|data|failOnErrors|email|full_name|tx_permission|user_id|user_ids|members_added|name.givenName|urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    ))
    .prop_map(str::to_owned);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(words(
            r#"add|Replace|remove|members[value eq "x"]|emails[type eq "work"].value|True|false||/Users|/Groups|POST|PATCH|DELETE|bulkId:a|name.familyName|urn:ietf:params:scim:api:messages:2.0:PatchOp"#,
        ))
        .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

#[test]
fn fuzz_patch_bodies() {
    let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1",
        "userName": "a", "emails": [{"value": "a@example.com", "primary": true}],
        "name": {"givenName": "A"}, "members": [{"value": "x"}]});
    let body = prop_oneof![
        json_value(),
        prop::collection::vec(json_value(), 0..6).prop_map(|ops| json!({"schemas": [PATCH_OP],
                "Operations": ops})),
    ];
    fuzz("patch body", body, |body| {
        if let Ok(ops) = patch::parse_request(body) {
            let mut doc = user.clone();
            let _ = patch::apply(&mut doc, &ops);
        }
    });
}

/// Bodies sent to the real server: Bulk, SCIM and native writes. Anything below 500, and the
/// server still answers afterwards.
#[test]
fn fuzz_request_bodies_over_http() {
    let s = Server::start_args(&["--rate-limit", "0"]);
    let key = s.root_key();
    let user = s.send("POST", "/users", &key, &json!({"email": "target@example.com"}));
    let uid = user.json()["user"]["id"].as_str().unwrap().to_owned();
    let room = s.cli_line("room create --tenant default Fuzz")["id"].as_str().unwrap().to_owned();
    let targets: Vec<(&str, String)> = vec![
        ("POST", "/scim/v2/Bulk".into()),
        ("POST", "/scim/v2/Users".into()),
        ("PATCH", format!("/scim/v2/Users/{uid}")),
        ("PUT", format!("/scim/v2/Users/{uid}")),
        ("POST", "/scim/v2/Groups".into()),
        ("POST", "/scim/v2/Users/.search".into()),
        ("POST", "/users".into()),
        ("PATCH", format!("/users/{uid}")),
        ("PUT", format!("/users/{uid}")),
        ("PATCH", format!("/rooms/{room}")),
        ("POST", format!("/rooms/{room}/members")),
        ("PUT", format!("/rooms/{room}/members")),
        ("DELETE", format!("/rooms/{room}/members")),
        ("POST", "/webhooks".into()),
    ];
    let n = targets.len();
    let bodies = (0..n, json_value());
    fuzz("request bodies", bodies, |(i, body)| {
        let (method, path) = &targets[*i];
        let r = s.send(method, path, &key, body);
        assert!(r.status < 500, "{method} {path} {body} -> {} {}", r.status, r.body);
    });
    assert_eq!(s.get("/me", Some(&key)).status, 200);
    assert_eq!(s.cli_json(&["check"])["problems"], json!([]));
}

/// The store's log as the disk might leave it: a real log of 20 acknowledged commits that the
/// store file beside it lacks, with bytes changed, cut short or spliced in. Opening never panics;
/// it either refuses with an error or replays every commit, or all but the last (only the last
/// append can be torn by a crash: damage anywhere else, or a cut, is refused, never replayed as
/// a shorter history).
#[test]
fn fuzz_store_log() {
    use whoot_mgmt::store::{Store, counters};
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    let tenant = uuid::Uuid::now_v7();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = Store::open(&live).unwrap();
    store.set_checkpoints(u64::MAX, Duration::from_secs(3600));
    for _ in 0..20 {
        rt.block_on(store.write(move |txn| counters::add(txn, tenant, "n", 1))).unwrap();
    }
    // Copied while open: without a checkpoint the store file holds none of the 20, the log all.
    let file = std::fs::read(live.join(whoot_mgmt::store::STORE_FILE)).unwrap();
    let log = std::fs::read(live.join("whoot.log")).unwrap();
    drop(store);
    let open = |log: &[u8]| -> Result<u64, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(whoot_mgmt::store::STORE_FILE), &file).unwrap();
        std::fs::write(dir.path().join("whoot.log"), log).unwrap();
        let store = Store::open(dir.path()).map_err(|e| e.to_string())?;
        store.read_here(|tx| counters::get(tx, tenant, "n")).map_err(|e| e.to_string())
    };
    assert_eq!(open(&log), Ok(20), "the log as written replays every commit");
    // The records sit at the start; most changes land there.
    let used = log.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    let edits = prop::collection::vec((0..used + 64, any::<u8>()), 1..6);
    let damage = (edits, prop::option::of(0..used + 64), prop::collection::vec(any::<u8>(), 0..48));
    fuzz("store log", damage, |(edits, cut, splice)| {
        let mut bytes = log.clone();
        for (at, byte) in edits {
            if let Some(b) = bytes.get_mut(*at) {
                *b ^= byte | 1;
            }
        }
        if let Some(cut) = cut {
            bytes.truncate(*cut);
            bytes.extend_from_slice(splice);
        }
        if let Ok(n) = open(&bytes) {
            assert!(n == 19 || n == 20, "replayed {n} commits of 20");
        }
    });
}

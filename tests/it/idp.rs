//! The request sequences Okta and Microsoft Entra ID send, as their public SCIM documentation
//! describes them, kept as data (`idp/*.json`) and replayed against the server as golden tests:
//! each step's request, the status it must get, the fields its answer must hold (a subset:
//! objects by key, arrays element by element) and those it must not.

use std::collections::HashMap;

use serde_json::Value;

use crate::harness::Server;

/// Replaces `{name}` with the ids kept so far, everywhere in a string or a document.
fn fill(v: &Value, kept: &HashMap<String, String>) -> Value {
    match v {
        Value::String(s) => {
            let mut out = s.clone();
            for (name, id) in kept {
                out = out.replace(&format!("{{{name}}}"), id);
            }
            Value::String(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| fill(i, kept)).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), fill(v, kept))).collect())
        }
        other => other.clone(),
    }
}

/// Whether `actual` holds everything `expected` says (see the module comment).
fn holds(actual: &Value, expected: &Value, at: &str) -> Result<(), String> {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e.iter().try_for_each(|(k, ev)| match a.get(k) {
            Some(av) => holds(av, ev, &format!("{at}/{k}")),
            None => Err(format!("{at}/{k} is missing")),
        }),
        (Value::Array(a), Value::Array(e)) if a.len() == e.len() => a
            .iter()
            .zip(e)
            .enumerate()
            .try_for_each(|(i, (av, ev))| holds(av, ev, &format!("{at}/{i}"))),
        (a, e) if a == e => Ok(()),
        (a, e) => Err(format!("{at} is {a}, not {e}")),
    }
}

fn replay(script: &str) {
    let (s, key) = Server::keyed();
    replay_on(&s, &key, script, None);
}

/// Replays `script` on `s` with `key`, sending `user_agent` when given; returns the ids kept.
pub fn replay_on(
    s: &Server,
    key: &str,
    script: &str,
    user_agent: Option<&str>,
) -> HashMap<String, String> {
    let script: Value = serde_json::from_str(script).unwrap();
    let key = key.to_owned();
    let mut kept = HashMap::new();
    for (n, step) in script["steps"].as_array().unwrap().iter().enumerate() {
        let step = fill(step, &kept);
        let what = format!("step {n} ({})", step["say"].as_str().unwrap_or("-"));
        let mut path = step["path"].as_str().unwrap().to_owned();
        if let Some(query) = step["query"].as_object() {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in query {
                q.append_pair(k, v.as_str().unwrap());
            }
            path = format!("{path}?{}", q.finish());
        }
        let method = step["method"].as_str().unwrap();
        let mut headers = vec![("Content-Type", "application/json")];
        headers.extend(user_agent.map(|ua| ("User-Agent", ua)));
        let body = step.get("body").map(|b| serde_json::to_vec(b).unwrap());
        let r = s.request_with(method, &path, Some(&key), body.as_deref(), &headers);
        assert_eq!(r.status, step["status"].as_u64().unwrap() as u16, "{what}: {}", r.body);
        let answer = if r.body.is_empty() { Value::Null } else { r.json() };
        if let Some(expected) = step.get("expect") {
            holds(&answer, expected, "").unwrap_or_else(|e| panic!("{what}: {e} in {answer}"));
        }
        for pointer in step["absent"].as_array().into_iter().flatten() {
            let pointer = pointer.as_str().unwrap();
            assert!(answer.pointer(pointer).is_none(), "{what}: {pointer} is there in {answer}");
        }
        for (name, pointer) in step["keep"].as_object().into_iter().flatten() {
            let id = answer.pointer(pointer.as_str().unwrap()).and_then(Value::as_str);
            kept.insert(
                name.clone(),
                id.unwrap_or_else(|| panic!("{what}: no {pointer}")).to_owned(),
            );
        }
    }
    kept
}

#[test]
fn okta_user_and_group_push() {
    replay(include_str!("idp/okta.json"));
}

#[test]
fn entra_user_and_group_provisioning() {
    replay(include_str!("idp/entra.json"));
}

#[test]
fn a_replay_fails_when_the_answer_differs() {
    let expected: Value = serde_json::json!({"a": {"b": [1, {"c": "x"}]}});
    assert!(
        holds(&serde_json::json!({"a": {"b": [1, {"c": "x", "d": 2}]}, "e": 3}), &expected, "")
            .is_ok()
    );
    assert!(holds(&serde_json::json!({"a": {"b": [1, {"c": "y"}]}}), &expected, "").is_err());
    assert!(holds(&serde_json::json!({"a": {"b": [1]}}), &expected, "").is_err());
    assert!(holds(&serde_json::json!({}), &expected, "").is_err());
}

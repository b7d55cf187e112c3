//! SCIM Bulk (RFC 7644 §3.7): many Users and Groups operations in one request, counted once
//! against the rate limit, with `bulkId` references between them.
//!
//! A Bulk request is not atomic: each operation succeeds or fails on its own, as the RFC
//! describes. Operations run in waves: every operation whose `bulkId` references are resolved
//! is queued at once, so the store's writer folds the wave into shared commits (each operation
//! still isolated). With `failOnErrors`, operations run one at a time in request order, so
//! processing stops right after the allowed number of errors.

use std::collections::{HashMap, HashSet};

use hyper::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::http::error::ApiError;
use crate::http::response::Reply;
use crate::http::{Ctx, Style};
use crate::repr::input::field;

use crate::scim::discovery::MAX_BULK_OPERATIONS as MAX_OPERATIONS;
const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
const PREFIX: &str = "bulkId:";

/// One operation as the client sent it.
pub struct Operation {
    /// Its place in the request's `Operations` (None: a request of its own, run as one).
    pub index: Option<usize>,
    pub method: Method,
    bulk_id: Option<String>,
    /// Relative to the SCIM root (`/Users/{id}`), with `bulkId:` references resolved.
    pub path: String,
    pub data: Option<Value>,
    /// Its `If-Match`.
    pub version: Option<String>,
}

/// Runs one operation as the request it stands for (the endpoint table does: the same parsing,
/// scope check and handlers as a request of its own).
pub trait Runner: Sync {
    fn run<'a>(
        &'a self,
        ctx: &'a Ctx<'a>,
        op: &'a Operation,
    ) -> futures_util::future::BoxFuture<'a, Result<Reply, ApiError>>;
}

impl Operation {
    /// A request of its own, run as a Bulk operation would be.
    pub fn single(
        method: Method,
        path: String,
        data: Option<Value>,
        version: Option<String>,
    ) -> Operation {
        Operation { index: None, method, bulk_id: None, path, data, version }
    }

    /// How its log entry names it: its `bulkId`, else its method and path.
    pub fn label(&self) -> String {
        match &self.bulk_id {
            Some(id) => format!("bulkId {id}"),
            None => format!("{} {}", self.method, self.path),
        }
    }
}

fn read_operation(v: &Value) -> Result<Operation, (Option<String>, String, ApiError)> {
    let method_name = field(v, "method").and_then(Value::as_str).unwrap_or("").to_ascii_uppercase();
    let bulk_id = field(v, "bulkId").and_then(Value::as_str).map(str::to_owned);
    let fail = |e: ApiError| (bulk_id.clone(), method_name.clone(), e);
    let method = match method_name.as_str() {
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "PATCH" => Method::PATCH,
        "DELETE" => Method::DELETE,
        other => {
            return Err(fail(ApiError::bad_request(format!(
                "unknown method {other:?}: use POST, PUT, PATCH or DELETE"
            ))));
        }
    };
    let path = field(v, "path").and_then(Value::as_str).unwrap_or("").to_owned();
    let data = field(v, "data").cloned();
    if method == Method::POST && bulk_id.is_none() {
        return Err(fail(ApiError::bad_request("a POST operation needs a bulkId")));
    }
    if method != Method::DELETE && data.is_none() {
        return Err(fail(ApiError::bad_request("this operation needs data")));
    }
    let version = field(v, "version").and_then(Value::as_str).map(str::to_owned);
    Ok(Operation { index: None, method, bulk_id, path, data, version })
}

/// The bulkIds a value refers to (`"bulkId:qwerty"` anywhere in it).
fn references(v: &Value, out: &mut HashSet<String>) {
    match v {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix(PREFIX) {
                out.insert(id.to_owned());
            }
        }
        Value::Array(items) => items.iter().for_each(|i| references(i, out)),
        Value::Object(map) => map.values().for_each(|i| references(i, out)),
        _ => {}
    }
}

fn substitute(v: &mut Value, resolved: &HashMap<String, String>) {
    match v {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix(PREFIX).and_then(|b| resolved.get(b)) {
                *s = id.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| substitute(i, resolved)),
        Value::Object(map) => map.values_mut().for_each(|i| substitute(i, resolved)),
        _ => {}
    }
}

/// `path` with a `bulkId:` reference in its last segment replaced by the id it stands for.
fn resolved_path(path: &str, resolved: &HashMap<String, String>) -> String {
    match path.rsplit_once('/') {
        Some((collection, last)) => match last.strip_prefix(PREFIX).and_then(|b| resolved.get(b)) {
            Some(id) => format!("{collection}/{id}"),
            None => path.to_owned(),
        },
        None => path.to_owned(),
    }
}

fn path_refs(path: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    references(&Value::String(path.rsplit('/').next().unwrap_or("").to_owned()), &mut out);
    out
}

pub async fn bulk(ctx: &Ctx<'_>, request: Value, runner: &impl Runner) -> Result<Reply, ApiError> {
    let results = run(ctx, request, runner).await?;
    let operations: Vec<Value> = results.into_iter().flatten().collect();
    Ok(Reply::json(StatusCode::OK, &json!({"schemas": [BULK_RESPONSE], "Operations": operations})))
}

/// Runs a Bulk request's operations: each one's result, in request order (None for those not
/// reached after `failOnErrors` errors).
pub async fn run(
    ctx: &Ctx<'_>,
    request: Value,
    runner: &impl Runner,
) -> Result<Vec<Option<Value>>, ApiError> {
    let Some(raw_ops) = field(&request, "Operations").and_then(Value::as_array) else {
        return Err(ApiError::BadRequest {
            detail: "a BulkRequest needs an \"Operations\" array".into(),
            scim_type: "invalidSyntax",
        });
    };
    if raw_ops.len() > MAX_OPERATIONS {
        return Err(ApiError::TooManyOperations { max: MAX_OPERATIONS });
    }
    let fail_on_errors = match field(&request, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(0) => None,
            Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            None => return Err(ApiError::bad_request("failOnErrors must be a positive integer")),
        },
    };

    let mut results: Vec<Option<Value>> = vec![None; raw_ops.len()];
    let mut pending: Vec<(usize, Operation)> = Vec::new();
    let mut errors = 0usize;
    for (i, raw) in raw_ops.iter().enumerate() {
        match read_operation(raw) {
            Ok(op) => pending.push((i, Operation { index: Some(i), ..op })),
            Err((bulk_id, method, e)) => {
                set(&mut results, i, Some(failure(&method, bulk_id.as_deref(), None, &e)));
                errors += 1;
            }
        }
    }
    let mut resolved: HashMap<String, String> = HashMap::new();
    let mut failed_ids: HashSet<String> = HashSet::new();
    let stop = |errors: usize| fail_on_errors.is_some_and(|limit| errors >= limit);

    while !pending.is_empty() && !stop(errors) {
        let mut ready = Vec::new();
        let mut waiting = Vec::new();
        // One operation per resource a wave: later ones on it wait for the next, so the result
        // is that of processing them in order (RFC 7644 §3.7).
        let mut targets: HashSet<String> = HashSet::new();
        for (i, op) in pending {
            let mut refs = path_refs(&op.path);
            if let Some(d) = &op.data {
                references(d, &mut refs);
            }
            if let Some(dead) = refs.iter().find(|r| failed_ids.contains(*r)) {
                let e = ApiError::Conflict(format!("bulkId {dead} names an operation that failed"));
                set(
                    &mut results,
                    i,
                    Some(failure(op.method.as_str(), op.bulk_id.as_deref(), None, &e)),
                );
                errors += 1;
                if let Some(b) = &op.bulk_id {
                    failed_ids.insert(b.clone());
                }
            } else if refs.iter().all(|r| resolved.contains_key(r)) {
                let target = resolved_path(&op.path, &resolved);
                if op.method == Method::POST || targets.insert(target) {
                    ready.push((i, op));
                } else {
                    waiting.push((i, op));
                }
            } else {
                waiting.push((i, op));
            }
        }
        if ready.is_empty() {
            // Nothing can progress: the rest refer to unknown bulkIds, or to each other.
            for (i, op) in waiting {
                let e = ApiError::Conflict(
                    "a bulkId reference cannot be resolved (unknown, or circular)".into(),
                );
                set(
                    &mut results,
                    i,
                    Some(failure(op.method.as_str(), op.bulk_id.as_deref(), None, &e)),
                );
            }
            break;
        }
        for (_, op) in &mut ready {
            op.path = resolved_path(&op.path, &resolved);
            if let Some(d) = &mut op.data {
                substitute(d, &resolved);
            }
        }
        let outcomes: Vec<(usize, Operation, Result<Reply, ApiError>)> = if fail_on_errors.is_some()
        {
            let mut out = Vec::new();
            let mut iter = ready.into_iter();
            for (i, op) in iter.by_ref() {
                let r = runner.run(ctx, &op).await;
                let failed = r.is_err();
                out.push((i, op, r));
                if failed && stop(errors + out.iter().filter(|o| o.2.is_err()).count()) {
                    break;
                }
            }
            // Operations not reached stay out of the response (RFC 7644 §3.7.3).
            waiting.clear();
            for (i, op) in iter {
                waiting.push((i, op));
            }
            out
        } else {
            let runs = ready.iter().map(|(_, op)| runner.run(ctx, op));
            let answers = futures_util::future::join_all(runs).await;
            ready.into_iter().zip(answers).map(|((i, op), r)| (i, op, r)).collect()
        };
        for (i, op, outcome) in outcomes {
            match outcome {
                Ok(w) => {
                    if let (Some(b), Some(loc)) = (&op.bulk_id, &w.location) {
                        resolved.insert(
                            b.clone(),
                            loc.rsplit('/').next().unwrap_or_default().to_owned(),
                        );
                    }
                    set(&mut results, i, Some(success(&op, &w)));
                }
                Err(e) => {
                    errors += 1;
                    if let Some(b) = &op.bulk_id {
                        failed_ids.insert(b.clone());
                    }
                    set(
                        &mut results,
                        i,
                        Some(failure(op.method.as_str(), op.bulk_id.as_deref(), None, &e)),
                    );
                }
            }
        }
        pending = waiting;
    }

    Ok(results)
}

/// One operation's result as a Bulk response shows it (RFC 7644 §3.7.3), from its outcome.
pub fn result(op: &Operation, outcome: &Result<Reply, ApiError>) -> Value {
    match outcome {
        Ok(w) => success(op, w),
        Err(e) => failure(op.method.as_str(), op.bulk_id.as_deref(), None, e),
    }
}

/// A whole request's failure as an operation's result.
pub fn failed(method: &str, e: &ApiError) -> Value {
    failure(method, None, None, e)
}

fn success(op: &Operation, w: &Reply) -> Value {
    let mut out = Map::new();
    out.insert("method".into(), json!(op.method.as_str()));
    if let Some(b) = &op.bulk_id {
        out.insert("bulkId".into(), json!(b));
    }
    if let Some(v) = &w.etag {
        out.insert("version".into(), json!(v));
    }
    if let Some(l) = &w.location {
        out.insert("location".into(), json!(l));
    }
    out.insert("status".into(), json!(w.status.as_str()));
    Value::Object(out)
}

fn failure(method: &str, bulk_id: Option<&str>, location: Option<&str>, e: &ApiError) -> Value {
    let (status, body) = e.body(Style::Scim);
    let mut out = Map::new();
    out.insert("method".into(), json!(method));
    if let Some(b) = bulk_id {
        out.insert("bulkId".into(), json!(b));
    }
    if let Some(l) = location {
        out.insert("location".into(), json!(l));
    }
    out.insert("status".into(), json!(status.as_str()));
    out.insert("response".into(), body);
    Value::Object(out)
}

/// Fills an operation's slot in the answer (slots are made one per operation).
fn set(results: &mut [Option<Value>], i: usize, result: Option<Value>) {
    if let Some(slot) = results.get_mut(i) {
        *slot = result;
    }
}

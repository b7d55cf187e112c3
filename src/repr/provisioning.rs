//! A provisioning log entry as JSON: the API's, the CLI's and the export's form.

use serde_json::{Value, json};

use crate::store::provisioning::Entry;
use crate::time::format_ms;

pub fn entry_json(e: &Entry) -> Value {
    let changes: Vec<Value> =
        e.changes.iter().map(|f| json!({"name": f.name, "old": f.old, "new": f.new})).collect();
    let resource = e.subject.as_ref().map(|s| json!({"type": s.kind, "id": s.id, "name": s.name}));
    json!({
        "seq": e.seq,
        "at": format_ms(e.at),
        "request_id": e.request_id,
        "bulk_operation": e.bulk_operation,
        "key": {"id": e.key_id, "description": e.key_description},
        "client": e.client(),
        "client_label": e.client_label,
        "source": e.source,
        "method": e.method,
        "path": e.path,
        "operation": e.operation,
        "resource": resource,
        "outcome": if e.failed() { "failed" } else { "succeeded" },
        "status": e.status,
        "code": e.code,
        "detail": e.detail,
        "reason": e.reason,
        "changes": changes,
        "quirks": e.quirks,
        "duration_ms": e.duration_us as f64 / 1000.0,
    })
}

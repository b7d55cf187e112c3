//! The admin socket: HTTP over `<data-dir>/admin.sock` (mode 0600, so only the service's user
//! and root can speak to it). `POST /admin` with a JSON `Request`; the answer is what `execute`
//! returned, or `{"error": …}` with a 4xx/5xx status.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::UnixStream;

use super::{Failed, Request, execute};
use crate::auth::App;
use crate::http::Style;
use crate::http::error::ApiError;
use crate::http::listener::{Handler, HttpResponse};
use crate::http::{body, response};

pub const SOCKET_FILE: &str = "admin.sock";
const ADMIN_PATH: &str = "/admin";
const MAX_REQUEST: usize = 64 * 1024;
/// Longest an admin request body may take to arrive.
const REQUEST_TIME: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a backup staged for the CLI outlives the answer. The CLI opens and unlinks it at
/// once; if the CLI died between the answer and the open, nobody else will.
pub const STAGED_BACKUP_LIFETIME: std::time::Duration = std::time::Duration::from_secs(30);

pub struct AdminSocket(pub Arc<App>);

impl Handler for AdminSocket {
    async fn call(
        self: Arc<Self>,
        req: hyper::Request<Incoming>,
        _: Option<SocketAddr>,
    ) -> HttpResponse {
        if req.method() != Method::POST || req.uri().path() != ADMIN_PATH {
            return error(StatusCode::NOT_FOUND, "use POST /admin");
        }
        let (parts, body) = req.into_parts();
        let request: Request = match body::json(
            &parts.headers,
            body,
            body::Limits { bytes: MAX_REQUEST, time: REQUEST_TIME },
        )
        .await
        {
            Ok(r) => r,
            Err(e) => return e.into_response(Style::Native),
        };
        let answer = execute(&self.0, request.clone()).await;
        // An import over the socket reads a copy the CLI staged in the data directory (the
        // server may not see the operator's path): used once, whatever the outcome.
        if let Request::TenantImport { from, .. } = &request
            && is_staged(self.0.store.path(), from)
        {
            let _ = std::fs::remove_file(from);
        }
        match answer {
            Ok(value) => {
                // Over the socket a backup or export is always a copy staged in the data
                // directory for the CLI to take (the offline CLI writes its own file and never
                // comes here).
                if let Request::Backup { to } | Request::TenantExport { to, .. } = request {
                    tokio::spawn(async move {
                        tokio::time::sleep(STAGED_BACKUP_LIFETIME).await;
                        let _ = std::fs::remove_file(&to);
                    });
                }
                response::json(StatusCode::OK, &value)
            }
            // The API's mapping (status and `code`), with the full message: the operator may
            // see what a storage failure was.
            Err(e) => {
                let message = request.message(&e);
                let (status, mut body) = ApiError::from(e).body(Style::Native);
                crate::repr::input::set_field(&mut body, "error", json!(message));
                response::json(status, &body)
            }
        }
    }
}

/// Files the CLI stages beside the store for the server to read: `<store dir>/<prefix><ms>.staged`.
pub const STAGED_SUFFIX: &str = ".staged";

/// Whether `path` is a file the CLI staged in the store's directory (never an operator's own).
fn is_staged(store: &Path, path: &Path) -> bool {
    let named =
        path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(STAGED_SUFFIX));
    named && path.parent() == store.parent()
}

fn error(status: StatusCode, message: &str) -> HttpResponse {
    response::json(status, &json!({ "error": message }))
}

/// Sends `request` to a running server. `Ok(None)` means no server is listening on `path`.
pub async fn call(path: &Path, request: &Request) -> Result<Option<Value>, Failed> {
    let stream = match UnixStream::connect(path).await {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
            return Ok(None);
        }
        Err(e) => return Err(format!("connecting to {}: {e}", path.display()).into()),
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("admin socket handshake: {e}"))?;
    tokio::spawn(conn);
    let body = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    let req = hyper::Request::post(ADMIN_PATH)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| format!("admin socket: {e}"))?;
    let status = resp.status();
    let bytes =
        resp.into_body().collect().await.map_err(|e| format!("admin socket: {e}"))?.to_bytes();
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("admin socket answered something that is not JSON: {e}"))?;
    if status.is_success() {
        Ok(Some(value))
    } else {
        let text =
            |k: &str, or: &str| value.get(k).and_then(Value::as_str).unwrap_or(or).to_owned();
        Err(Failed { message: text("error", "admin request failed"), code: text("code", "FAILED") })
    }
}

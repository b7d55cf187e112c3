//! Reading request bodies: the size limit and JSON parsing live here and nowhere else.

use http_body_util::BodyExt;
use hyper::HeaderMap;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};

use super::response::SCIM_CONTENT_TYPE;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// After a 413 (which goes out at once, with `Connection: close`), up to this much of the rest
/// of the body is read and dropped, for at most `DRAIN_TIME`, so a client still sending sees the
/// answer instead of a reset connection; then the connection closes.
const DRAIN_LIMIT: u64 = 1 << 20;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// How much a body may be and how long it may take to arrive.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub bytes: usize,
    /// From the handler's first read to the body's end (a stalled or trickling body is 408).
    pub time: std::time::Duration,
}

/// Reads the whole body, refusing more than `limits.bytes` (413) without buffering them, and a
/// body slower than `limits.time` (408).
pub async fn read(headers: &HeaderMap, body: Incoming, limits: Limits) -> Result<Bytes, ApiError> {
    let limit = limits.bytes;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        tokio::spawn(drain(body));
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let capacity = usize::try_from(declared.unwrap_or(0)).unwrap_or(0);
    match tokio::time::timeout(limits.time, collect(body, limit, capacity)).await {
        Ok(result) => result,
        Err(_) => Err(ApiError::RequestTimeout { secs: limits.time.as_secs() }),
    }
}

async fn collect(mut body: Incoming, limit: usize, capacity: usize) -> Result<Bytes, ApiError> {
    let mut out = Vec::with_capacity(capacity);
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| ApiError::bad_request(format!("Could not read the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                tokio::spawn(drain(body));
                return Err(ApiError::PayloadTooLarge { limit });
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(out))
}

/// Reads and drops what follows of a refused body, boundedly (see `DRAIN_LIMIT`).
async fn drain(mut body: Incoming) {
    let read = async {
        let mut seen = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, |d| d.len() as u64);
            if seen > DRAIN_LIMIT {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, read).await;
}

/// Reads and parses a JSON body. Accepts `application/json`, `application/scim+json` or no
/// content type at all (some IdPs omit it); refuses others with 415.
pub async fn json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Incoming,
    limit: Limits,
) -> Result<T, ApiError> {
    json_content_type(headers)?;
    let bytes = read(headers, body, limit).await?;
    parse_json(&bytes)
}

/// A JSON body's content type: `application/json`, `application/scim+json` or none at all
/// (some IdPs omit it); others are 415.
pub fn json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(ct) = headers.get(CONTENT_TYPE) else { return Ok(()) };
    let ct = ct.to_str().unwrap_or("").split(';').next().unwrap_or("").trim();
    if ct.eq_ignore_ascii_case("application/json") || ct.eq_ignore_ascii_case(SCIM_CONTENT_TYPE) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::BadRequest {
            detail: "A JSON request body is required".into(),
            scim_type: "invalidSyntax",
        });
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let scim_type = if e.is_data() { "invalidValue" } else { "invalidSyntax" };
        ApiError::BadRequest { detail: format!("Invalid JSON body: {e}"), scim_type }
    })
}

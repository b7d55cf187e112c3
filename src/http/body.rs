//! Reading request bodies: the size limit and JSON parsing live here and nowhere else.

use http_body_util::BodyExt;
use hyper::HeaderMap;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// An oversized body up to this size is read and dropped before the 413 goes out, so a client
/// still sending it sees the answer instead of a reset connection. Beyond it, the connection is
/// closed unread.
const DRAIN_LIMIT: u64 = 8 << 20;

/// Reads the whole body, refusing more than `limit` bytes (413) without buffering them.
pub async fn read(
    headers: &HeaderMap,
    mut body: Incoming,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared
        && n > limit as u64
    {
        if n <= DRAIN_LIMIT {
            drain(&mut body).await;
        }
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut out = Vec::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| ApiError::bad_request(format!("Could not read the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                drain(&mut body).await;
                return Err(ApiError::PayloadTooLarge { limit });
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(out))
}

async fn drain(body: &mut Incoming) {
    let mut seen = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        seen += frame.data_ref().map_or(0, |d| d.len() as u64);
        if seen > DRAIN_LIMIT {
            break;
        }
    }
}

/// Reads and parses a JSON body. Accepts `application/json`, `application/scim+json` or no
/// content type at all (some IdPs omit it); refuses others with 415.
pub async fn json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Incoming,
    limit: usize,
) -> Result<T, ApiError> {
    if let Some(ct) = headers.get(CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").split(';').next().unwrap_or("").trim();
        if !ct.eq_ignore_ascii_case("application/json")
            && !ct.eq_ignore_ascii_case("application/scim+json")
        {
            return Err(ApiError::UnsupportedMediaType);
        }
    }
    let bytes = read(headers, body, limit).await?;
    parse_json(&bytes)
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

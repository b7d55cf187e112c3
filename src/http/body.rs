//! Reading request bodies: the size limit and JSON parsing live here and nowhere else.

use http_body_util::{BodyExt, Limited};
use hyper::HeaderMap;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Reads the whole body, refusing more than `limit` bytes (413) before buffering it.
pub async fn read(headers: &HeaderMap, body: Incoming, limit: usize) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::PayloadTooLarge { limit })
        }
        Err(e) => Err(ApiError::bad_request(format!("Could not read the request body: {e}"))),
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

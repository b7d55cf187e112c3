//! Building responses: JSON bodies in either style and the shared headers.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Serialize;

use super::Style;
use super::listener::HttpResponse;

pub const SCIM_ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

pub static RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub static RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub static RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn json_in_style<T: Serialize + ?Sized>(
    status: StatusCode,
    body: &T,
    style: Style,
) -> HttpResponse {
    let content_type = match style {
        Style::Native => "application/json",
        Style::Scim => SCIM_CONTENT_TYPE,
    };
    // Serializing our own types cannot fail (no non-string map keys, no failing Serialize impls).
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(bytes)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

pub fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> HttpResponse {
    json_in_style(status, body, Style::Native)
}

pub fn text(status: StatusCode, content_type: &'static str, body: String) -> HttpResponse {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

pub fn empty(status: StatusCode) -> HttpResponse {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    resp
}

pub fn rate_limit_headers(headers: &mut HeaderMap, limit: u32, remaining: u32, reset_secs: u32) {
    headers.insert(RATELIMIT_LIMIT.clone(), limit.into());
    headers.insert(RATELIMIT_REMAINING.clone(), remaining.into());
    headers.insert(RATELIMIT_RESET.clone(), reset_secs.into());
}

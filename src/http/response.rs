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
    let content_type = json_content_type(style);
    // Serializing our own types cannot fail (no non-string map keys, no failing Serialize impls).
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(bytes)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// The content type of a JSON answer in `style`.
fn json_content_type(style: Style) -> &'static str {
    match style {
        Style::Native => "application/json",
        Style::Scim => SCIM_CONTENT_TYPE,
    }
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

/// What a handler answers: a status, a body (JSON in the path's style, or text), and the
/// resource's `ETag` and `Location` where it has them. Bulk reads status, version and location
/// of each operation's reply; a single request sends it (`into_response`).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    body: Content,
    pub etag: Option<String>,
    pub location: Option<String>,
    /// Headers of its own (an asynchronous request's `Set-Txn`).
    headers: Vec<(&'static str, String)>,
}

#[derive(Debug)]
enum Content {
    Empty,
    Json(Vec<u8>),
    Text(&'static str, String),
}

impl Reply {
    fn of(status: StatusCode, body: Content) -> Reply {
        Reply { status, body, etag: None, location: None, headers: Vec::new() }
    }

    pub fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Reply {
        // Serializing our own types cannot fail (no non-string map keys, no failing impls).
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        Reply::of(status, Content::Json(bytes))
    }

    /// JSON rendered beforehand.
    pub fn json_bytes(status: StatusCode, bytes: Vec<u8>) -> Reply {
        Reply::of(status, Content::Json(bytes))
    }

    pub fn empty(status: StatusCode) -> Reply {
        Reply::of(status, Content::Empty)
    }

    pub fn text(status: StatusCode, content_type: &'static str, body: String) -> Reply {
        Reply::of(status, Content::Text(content_type, body))
    }

    pub fn with_etag(mut self, etag: String) -> Reply {
        self.etag = Some(etag);
        self
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    pub fn with_location(mut self, location: String) -> Reply {
        self.location = Some(location);
        self
    }

    /// `Location` goes out with 201 only; `ETag` whenever there is one.
    pub fn into_response(self, style: Style) -> HttpResponse {
        let mut resp = match self.body {
            Content::Empty => empty(self.status),
            Content::Json(bytes) => {
                let mut resp = Response::new(Full::new(Bytes::from(bytes)));
                *resp.status_mut() = self.status;
                let content_type = json_content_type(style);
                resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
                resp
            }
            Content::Text(content_type, body) => text(self.status, content_type, body),
        };
        if let Some(v) = self.etag.as_deref().and_then(|e| HeaderValue::from_str(e).ok()) {
            resp.headers_mut().insert(hyper::header::ETAG, v);
        }
        if self.status == StatusCode::CREATED
            && let Some(v) = self.location.as_deref().and_then(|l| HeaderValue::from_str(l).ok())
        {
            resp.headers_mut().insert(hyper::header::LOCATION, v);
        }
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(name, v);
            }
        }
        resp
    }
}

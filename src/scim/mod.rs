//! SCIM 2.0 service provider (RFC 7643/7644): filters, PATCH, resources and discovery.

pub mod bulk;
pub mod discovery;
pub mod filter;
pub mod groups;
pub mod list;
pub mod patch;
pub mod user;
pub mod users;

use hyper::StatusCode;
use hyper::header::{ETAG, HeaderValue, LOCATION};
use serde_json::Value;

use crate::http::Style;
use crate::http::listener::HttpResponse;
use crate::http::response;

/// What a SCIM write produced: the answer of a single request, or one Bulk operation's result.
pub struct Written {
    pub status: StatusCode,
    pub body: Option<Value>,
    pub location: Option<String>,
    pub etag: Option<String>,
}

impl Written {
    /// `Location` is sent with 201 only; `ETag` whenever there is one.
    pub fn into_response(self) -> HttpResponse {
        let mut resp = match &self.body {
            Some(doc) => response::json_in_style(self.status, doc, Style::Scim),
            None => response::empty(self.status),
        };
        if let Some(v) = self.etag.as_deref().and_then(|e| HeaderValue::from_str(e).ok()) {
            resp.headers_mut().insert(ETAG, v);
        }
        if self.status == StatusCode::CREATED
            && let Some(v) = self.location.as_deref().and_then(|l| HeaderValue::from_str(l).ok())
        {
            resp.headers_mut().insert(LOCATION, v);
        }
        resp
    }
}

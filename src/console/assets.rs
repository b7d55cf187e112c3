//! The console's static files, embedded in the binary.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::view::security_headers;
use crate::http::listener::HttpResponse;

const FILES: &[(&str, &str, &[u8])] = &[
    ("htmx.min.js", "text/javascript; charset=utf-8", include_bytes!("assets/htmx.min.js")),
    ("console.js", "text/javascript; charset=utf-8", include_bytes!("assets/console.js")),
    ("console.css", "text/css; charset=utf-8", include_bytes!("assets/console.css")),
];

pub fn serve(name: &str) -> HttpResponse {
    let Some((_, content_type, bytes)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        let mut resp = Response::new(Full::new(Bytes::from_static(b"not found")));
        *resp.status_mut() = StatusCode::NOT_FOUND;
        return resp;
    };
    let mut resp = Response::new(Full::new(Bytes::from_static(bytes)));
    let h = resp.headers_mut();
    security_headers(h);
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Pages name assets with the version (`?v=`), so a new build is never served stale files.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    resp
}

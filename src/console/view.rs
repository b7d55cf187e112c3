//! What every console answer shares: the page chrome, HTML responses with their security
//! headers, redirects, cookies, forms, and how an error is shown.

use askama::Template;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use crate::http::error::ApiError;
use crate::http::listener::HttpResponse;
use crate::http::request::Query;

/// No script but our own files, no inline script or style, no framing, nothing sent elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What every signed-in page shows around its content.
pub struct Chrome {
    /// `/console` or `/v1/{slug}/console`: where links start.
    pub base: String,
    pub csrf: String,
    pub tenant: String,
    /// The key the session was opened with, by description and prefix.
    pub who: String,
    /// The key's scopes: the navigation shows only what it may use.
    pub scopes: crate::auth::ScopeSet,
    /// Which navigation entry is the current page.
    pub at: &'static str,
}

impl Chrome {
    pub fn current(&self, entry: &str) -> bool {
        self.at == entry
    }

    /// Whether the navigation shows `entry`: the key holds the scope its page needs (`usage`:
    /// the Overview's seats, which `GET /usage` needs).
    pub fn shows(&self, entry: &str) -> bool {
        if entry == "usage" {
            return self.scopes.contains(crate::auth::Scope::Usage);
        }
        super::navigation_scope(entry).is_none_or(|s| self.scopes.contains(s))
    }

    /// Asset URLs carry it, so a new build is never served a cached old file.
    pub fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}

/// A page's filters as a query string, leaving out the empty ones (for its "next" link).
pub fn query_of(filters: &[(&str, &String)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (name, value) in filters.iter().filter(|(_, v)| !v.is_empty()) {
        q.append_pair(name, value);
    }
    q.finish()
}

/// A console answer before it becomes a response.
pub enum Answer {
    Html(StatusCode, String),
    /// 303 to this path (after a change: reloading the page does not repeat it).
    SeeOther(String),
}

impl Answer {
    pub fn page(t: &impl Template) -> Result<Answer, Failure> {
        Answer::with_status(StatusCode::OK, t)
    }

    pub fn with_status(status: StatusCode, t: &impl Template) -> Result<Answer, Failure> {
        t.render().map(|html| Answer::Html(status, html)).map_err(|e| {
            tracing::error!(error = %e, "console template failed");
            Failure::Api(ApiError::Internal)
        })
    }

    pub fn into_response(self, cookies: &[String]) -> HttpResponse {
        let mut resp = match self {
            Answer::Html(status, html) => html_response(status, html),
            Answer::SeeOther(to) => {
                let mut r = Response::new(Full::new(Bytes::new()));
                *r.status_mut() = StatusCode::SEE_OTHER;
                if let Ok(v) = HeaderValue::from_str(&to) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                r
            }
        };
        for cookie in cookies {
            if let Ok(v) = HeaderValue::from_str(cookie) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        resp
    }
}

/// Why a console request was not served.
pub enum Failure {
    Api(ApiError),
    /// No session (or its key no longer works): sign in first.
    SignIn,
    /// The form's CSRF token is missing or wrong.
    Forged,
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        Failure::Api(e)
    }
}

impl From<crate::store::Error> for Failure {
    fn from(e: crate::store::Error) -> Failure {
        Failure::Api(e.into())
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    base: &'a str,
    status: u16,
    title: &'a str,
    message: String,
}

/// An error as a page: the status, what went wrong, and the way back.
pub fn error_page(base: &str, e: &ApiError) -> HttpResponse {
    let (status, _) = e.body(crate::http::Style::Native);
    let page = ErrorPage {
        base,
        status: status.as_u16(),
        title: status.canonical_reason().unwrap_or("Error"),
        message: e.message(),
    };
    let html = page.render().unwrap_or_else(|_| e.message());
    let mut resp = html_response(status, html);
    if let ApiError::MethodNotAllowed { allow } = e
        && let Ok(v) = HeaderValue::from_str(allow)
    {
        resp.headers_mut().insert(header::ALLOW, v);
    }
    resp
}

pub fn html_response(status: StatusCode, html: String) -> HttpResponse {
    let mut resp = Response::new(Full::new(Bytes::from(html)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    security_headers(h);
    resp
}

pub fn security_headers(h: &mut hyper::HeaderMap) {
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A cookie for the console: never readable by script, never sent from another site.
pub fn cookie(name: &str, value: &str, max_age_secs: Option<u64>, secure: bool) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age_secs {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// A cookie's value from the request.
pub fn cookie_value<'a>(headers: &'a hyper::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A posted form (`application/x-www-form-urlencoded`), or the query string of a GET.
#[derive(Default)]
pub struct Form(Query);

impl Form {
    pub fn parse(bytes: &[u8]) -> Form {
        std::str::from_utf8(bytes).map(|s| Form(Query::parse(Some(s)))).unwrap_or_default()
    }

    pub fn query(raw: Option<&str>) -> Form {
        Form(Query::parse(raw))
    }

    /// A field, trimmed; empty is absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// Every value of a repeated field (checkboxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.all(name)
    }
}

/// Equal strings, in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A time as people read it: `2026-12-01 14:30 UTC`; `never` for none.
pub fn when(ms: Option<i64>) -> String {
    match ms.map(jiff::Timestamp::from_millisecond) {
        Some(Ok(t)) => t.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        _ => "never".into(),
    }
}

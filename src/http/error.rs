//! The one place errors become HTTP responses, in the native style
//! (`{"error", "code", …}`) or the SCIM style (RFC 7644 §3.12). Every error carries a stable
//! `code` clients can match on.

use hyper::StatusCode;
use hyper::header::{ALLOW, CONNECTION, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use serde_json::{Map, Value, json};

use super::Style;
use super::listener::HttpResponse;
use super::response;
use crate::store;

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    Unauthorized,
    /// `Authorization` holds a key without the `Bearer ` before it (IdP forms invite that).
    BareKey,
    Forbidden {
        required_scope: &'static str,
    },
    NotFound,
    /// A key tried to grant scopes it does not hold itself.
    CannotGrant {
        lacking: Vec<&'static str>,
    },
    MethodNotAllowed {
        allow: String,
    },
    RateLimited {
        limit: u32,
        retry_after_secs: u32,
        reset_secs: u32,
    },
    TooManyAuthFailures {
        retry_after_secs: u32,
    },
    PayloadTooLarge {
        limit: usize,
    },
    /// The body did not arrive within the time allowed.
    RequestTimeout {
        secs: u64,
    },
    /// A Bulk request with more operations than `maxOperations`.
    TooManyOperations {
        max: usize,
    },
    /// Malformed input; `scim_type` is RFC 7644's keyword (`invalidSyntax`, `invalidValue`, …).
    BadRequest {
        detail: String,
        scim_type: &'static str,
    },
    UnsupportedMediaType,
    Conflict(String),
    /// A unique attribute's value another record (`holder`) already has.
    Duplicate {
        detail: String,
        holder: uuid::Uuid,
    },
    /// A rule forbids the change (the account owner), with the reason.
    Refused(String),
    PreconditionFailed,
    /// The change stream no longer holds what was asked for: resynchronise from `oldest`.
    EventsExpired {
        oldest: u64,
    },
    NoCapacity {
        licensed: u64,
        used: u64,
    },
    Unavailable,
    /// The disk refuses writes (full): retry once the operator has freed space.
    StoreUnwritable,
    /// The tenant is in maintenance (being moved): its provisioning writes wait.
    Maintenance,
    Internal,
}

impl ApiError {
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::BadRequest { detail: detail.into(), scim_type: "invalidValue" }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized | ApiError::BareKey => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. }
            | ApiError::NoCapacity { .. }
            | ApiError::CannotGrant { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RateLimited { .. } | ApiError::TooManyAuthFailures { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::PayloadTooLarge { .. } | ApiError::TooManyOperations { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Conflict(_) | ApiError::Duplicate { .. } => StatusCode::CONFLICT,
            ApiError::Refused(_) => StatusCode::FORBIDDEN,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::EventsExpired { .. } => StatusCode::GONE,
            ApiError::Unavailable | ApiError::StoreUnwritable | ApiError::Maintenance => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized | ApiError::BareKey => "UNAUTHORIZED",
            ApiError::Forbidden { .. } | ApiError::CannotGrant { .. } => "INSUFFICIENT_SCOPE",
            ApiError::NotFound => "NOT_FOUND",
            ApiError::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            ApiError::RateLimited { .. } => "RATE_LIMITED",
            ApiError::TooManyAuthFailures { .. } => "TOO_MANY_AUTH_FAILURES",
            ApiError::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            ApiError::RequestTimeout { .. } => "REQUEST_TIMEOUT",
            ApiError::TooManyOperations { .. } => "TOO_MANY_OPERATIONS",
            ApiError::BadRequest { .. } => "INVALID_REQUEST",
            ApiError::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ApiError::Conflict(_) | ApiError::Duplicate { .. } => "CONFLICT",
            ApiError::Refused(_) => "FORBIDDEN",
            ApiError::PreconditionFailed => "PRECONDITION_FAILED",
            ApiError::EventsExpired { .. } => "EVENTS_EXPIRED",
            ApiError::NoCapacity { .. } => "NO_LICENSE_CAPACITY",
            ApiError::Unavailable => "UNAVAILABLE",
            ApiError::StoreUnwritable => "STORE_UNWRITABLE",
            ApiError::Maintenance => "MAINTENANCE",
            ApiError::Internal => "INTERNAL",
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::Unauthorized => "Missing or invalid API key".into(),
            ApiError::BareKey => "The Authorization header holds a key without its scheme: \
                send it as `Authorization: Bearer wh_live_…` (add `Bearer ` before the key)"
                .into(),
            ApiError::Forbidden { .. } => "Insufficient API key scope".into(),
            ApiError::CannotGrant { lacking } => format!(
                "A key can only grant scopes it holds itself; this one lacks {}",
                lacking.join(", ")
            ),
            ApiError::NotFound => "Not found".into(),
            ApiError::MethodNotAllowed { allow } => format!("Method not allowed; use {allow}"),
            ApiError::RateLimited { limit, .. } => {
                format!("Rate limit exceeded: {limit} requests per minute per API key")
            }
            ApiError::TooManyAuthFailures { .. } => {
                "Too many failed authentication attempts from this address".into()
            }
            ApiError::PayloadTooLarge { limit } => {
                format!("Request body too large (limit {limit} bytes)")
            }
            ApiError::RequestTimeout { secs } => {
                format!("The request body did not arrive within {secs} s")
            }
            ApiError::TooManyOperations { max } => {
                format!("A Bulk request may hold at most {max} operations")
            }
            ApiError::BadRequest { detail, .. } => detail.clone(),
            ApiError::UnsupportedMediaType => {
                "Content-Type must be application/json or application/scim+json".into()
            }
            ApiError::Conflict(m)
            | ApiError::Refused(m)
            | ApiError::Duplicate { detail: m, .. } => m.clone(),
            ApiError::PreconditionFailed => {
                "The resource has changed: If-Match does not match its current version".into()
            }
            ApiError::NoCapacity { .. } => "Not enough user licenses available".into(),
            ApiError::EventsExpired { oldest } => format!(
                "Events before seq {oldest} are no longer kept; resynchronise, then read from \
                 after={}",
                oldest.saturating_sub(1)
            ),
            ApiError::Unavailable => "Service temporarily unavailable; retry shortly".into(),
            ApiError::StoreUnwritable => {
                "The server cannot write to its disk (it may be full); nothing was changed. \
                 Retry later"
                    .into()
            }
            ApiError::Maintenance => "The tenant is in maintenance (it is being moved): \
                changes wait, nothing was changed; retry later. Reads still work"
                .into(),
            ApiError::Internal => "Internal error".into(),
        }
    }

    /// Fields beyond the message that both styles carry.
    fn extra_fields(&self, body: &mut Map<String, Value>) {
        match self {
            ApiError::Forbidden { required_scope } => {
                body.insert("required_scope".into(), json!(required_scope));
            }
            ApiError::NoCapacity { licensed, used } => {
                body.insert("licensed".into(), json!(licensed));
                body.insert("used".into(), json!(used));
            }
            ApiError::EventsExpired { oldest } => {
                body.insert("oldest_seq".into(), json!(oldest));
            }
            ApiError::CannotGrant { lacking } => {
                body.insert("lacking_scopes".into(), json!(lacking));
            }
            _ => {}
        }
    }

    pub fn scim_type(&self) -> Option<&'static str> {
        match self {
            ApiError::BadRequest { scim_type, .. } => Some(scim_type),
            ApiError::Conflict(_) | ApiError::Duplicate { .. } => Some("uniqueness"),
            ApiError::NoCapacity { .. } => Some("invalidValue"),
            ApiError::PayloadTooLarge { .. } => Some("tooLarge"),
            ApiError::TooManyOperations { .. } => Some("tooMany"),
            _ => None,
        }
    }

    /// The status and body this error answers with, in `style`.
    pub fn body(&self, style: Style) -> (StatusCode, Value) {
        let status = self.status();
        let mut body = Map::new();
        match style {
            Style::Native => {
                body.insert("error".into(), json!(self.message()));
            }
            Style::Scim => {
                body.insert("schemas".into(), json!([response::SCIM_ERROR_SCHEMA]));
                body.insert("status".into(), json!(status.as_str()));
                if let Some(t) = self.scim_type() {
                    body.insert("scimType".into(), json!(t));
                }
                body.insert("detail".into(), json!(self.message()));
            }
        }
        // SCIM error bodies carry the RFC 7644 §3.12 fields only (strict clients reject others),
        // plus what the contract adds for capacity errors (`002_…`) and scope errors.
        let with_code = style == Style::Native || matches!(self, ApiError::NoCapacity { .. });
        if with_code {
            body.insert("code".into(), json!(self.code()));
        }
        self.extra_fields(&mut body);
        (status, Value::Object(body))
    }

    pub fn into_response(self, style: Style) -> HttpResponse {
        let (status, body) = self.body(style);
        let mut resp = response::json_in_style(status, &body, style);
        let headers = resp.headers_mut();
        match self {
            ApiError::MethodNotAllowed { allow } => {
                if let Ok(v) = HeaderValue::from_str(&allow) {
                    headers.insert(ALLOW, v);
                }
            }
            ApiError::RateLimited { limit, retry_after_secs, reset_secs } => {
                headers.insert(RETRY_AFTER, retry_after_secs.into());
                response::rate_limit_headers(headers, limit, 0, reset_secs);
            }
            ApiError::TooManyAuthFailures { retry_after_secs } => {
                headers.insert(RETRY_AFTER, retry_after_secs.into());
            }
            ApiError::Unauthorized | ApiError::BareKey => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::StoreUnwritable | ApiError::Maintenance => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("30"));
            }
            // The rest of the body is not read: this connection cannot carry another request.
            ApiError::PayloadTooLarge { .. } | ApiError::RequestTimeout { .. } => {
                headers.insert(CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        resp
    }
}

impl From<store::Refusal> for ApiError {
    fn from(r: store::Refusal) -> Self {
        use store::Refusal;
        match r {
            Refusal::NotFound(_) => ApiError::NotFound,
            r @ Refusal::Conflict { holder: Some(holder), .. } => {
                ApiError::Duplicate { detail: r.to_string(), holder }
            }
            r @ Refusal::Conflict { .. } => ApiError::Conflict(r.to_string()),
            r @ Refusal::OwnerProtected { .. } => ApiError::Refused(r.to_string()),
            Refusal::VersionMismatch => ApiError::PreconditionFailed,
            Refusal::Invalid(m) => ApiError::bad_request(m),
            Refusal::NoCapacity { licensed, used } => ApiError::NoCapacity { licensed, used },
        }
    }
}

impl From<store::Error> for ApiError {
    fn from(e: store::Error) -> Self {
        use store::Failure;
        match e {
            store::Error::Refused(r) => r.into(),
            store::Error::Failed(Failure::Unavailable) => ApiError::Unavailable,
            store::Error::Failed(Failure::Io { .. }) => {
                tracing::warn!(error = %e, "a write was refused by the disk");
                ApiError::StoreUnwritable
            }
            store::Error::Failed(_) => {
                tracing::error!(error = %e, "store failure");
                ApiError::Internal
            }
        }
    }
}

impl store::MutationError for ApiError {
    fn is_io(&self) -> bool {
        *self == ApiError::StoreUnwritable
    }
}

impl From<crate::auth::app::Refused> for ApiError {
    fn from(e: crate::auth::app::Refused) -> ApiError {
        match e {
            crate::auth::app::Refused::Grant(e) => e.into(),
            crate::auth::app::Refused::Store(e) => e.into(),
        }
    }
}

impl From<crate::auth::grant::GrantError> for ApiError {
    fn from(e: crate::auth::grant::GrantError) -> ApiError {
        use crate::auth::grant::GrantError;
        match e {
            GrantError::Lacking(lacking) => ApiError::CannotGrant { lacking },
            GrantError::Outlives(_) => ApiError::Refused(e.to_string()),
            GrantError::Past => ApiError::bad_request(e.to_string()),
        }
    }
}

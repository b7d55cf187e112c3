//! Typed requests. The endpoint table names each endpoint's handler; the handler's second
//! argument says what it needs from the request, and `FromRequest` builds it once, before the
//! handler runs: path ids parsed, the query string decoded once, `If-Match` read, the body
//! parsed into the type the handler wants. SCIM Bulk builds the same `Input` from an operation,
//! so its operations run through the same parsing.

use hyper::HeaderMap;
use hyper::body::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use super::body;
use super::error::ApiError;

/// Everything an endpoint's request may carry, as the table's parser and the body reader left it.
pub struct Input<'a> {
    /// The path's `{…}` segments, in order, still percent-encoded.
    pub params: &'a [&'a str],
    pub query: Query,
    /// The raw `If-Match` value (a header, or a Bulk operation's `version`); only endpoints
    /// that take it read it.
    pub if_match: Option<&'a [u8]>,
    pub body: Payload<'a>,
}

/// A request body: bytes as they came (with the request's headers, for the content type), or
/// the JSON a Bulk operation carries.
pub enum Payload<'a> {
    None,
    Bytes { headers: &'a HeaderMap, bytes: Bytes },
    Json(Value),
}

impl Input<'_> {
    fn param(&self, i: usize) -> Result<&str, ApiError> {
        self.params.get(i).copied().ok_or(ApiError::NotFound)
    }

    /// The body as JSON of type `T`: `application/json`, `application/scim+json` or no content
    /// type (some IdPs omit it); others are 415.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        match &self.body {
            Payload::Json(v) => T::deserialize(v).map_err(|e| ApiError::BadRequest {
                detail: format!("Invalid JSON body: {e}"),
                scim_type: "invalidValue",
            }),
            Payload::Bytes { headers, bytes } => {
                body::json_content_type(headers)?;
                body::parse_json(bytes)
            }
            Payload::None => body::parse_json(&[]),
        }
    }
}

/// What a handler's request is made of. `BODY` says whether the body must be read first;
/// `PAGED` and `IF_MATCH` whether it reads the page parameters and `If-Match` (the OpenAPI
/// document describes each endpoint's request from these).
pub trait FromRequest: Sized {
    const BODY: bool = false;
    const PAGED: bool = false;
    const IF_MATCH: bool = false;
    fn from_request(input: &Input<'_>) -> Result<Self, ApiError>;
}

/// What the OpenAPI document says of an endpoint's request, read off its handler's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestShape {
    pub body: bool,
    pub paged: bool,
    pub if_match: bool,
}

impl RequestShape {
    /// The shape of `handler`'s request (its second argument's type).
    pub fn of<R: FromRequest, F, Fut>(_handler: &F) -> RequestShape
    where
        F: Fn(&'static super::Ctx<'static>, R) -> Fut,
    {
        RequestShape { body: R::BODY, paged: R::PAGED, if_match: R::IF_MATCH }
    }
}

impl FromRequest for () {
    fn from_request(_: &Input<'_>) -> Result<(), ApiError> {
        Ok(())
    }
}

macro_rules! tuples {
    ($($t:ident),+) => {
        impl<$($t: FromRequest),+> FromRequest for ($($t,)+) {
            const BODY: bool = $($t::BODY)||+;
            const PAGED: bool = $($t::PAGED)||+;
            const IF_MATCH: bool = $($t::IF_MATCH)||+;
            fn from_request(input: &Input<'_>) -> Result<Self, ApiError> {
                Ok(($($t::from_request(input)?,)+))
            }
        }
    };
}
tuples!(A);
tuples!(A, B);
tuples!(A, B, C);
tuples!(A, B, C, D);

/// Decodes a path segment (`%40` in an externalId, say).
pub fn path_id(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

/// A native resource id from the path: a UUID, else it names nothing (404).
pub fn path_uuid(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(&path_id(raw)).map_err(|_| ApiError::NotFound)
}

/// The first path id, a UUID (native resources).
pub struct Id(pub Uuid);

impl FromRequest for Id {
    fn from_request(input: &Input<'_>) -> Result<Id, ApiError> {
        path_uuid(input.param(0)?).map(Id)
    }
}

/// The second path id, a UUID (a room's member, a registration's delivery).
pub struct SubId(pub Uuid);

impl FromRequest for SubId {
    fn from_request(input: &Input<'_>) -> Result<SubId, ApiError> {
        path_uuid(input.param(1)?).map(SubId)
    }
}

/// The first path id, decoded, as sent: a SCIM id or externalId.
pub struct Ref(pub String);

impl FromRequest for Ref {
    fn from_request(input: &Input<'_>) -> Result<Ref, ApiError> {
        Ok(Ref(path_id(input.param(0)?)))
    }
}

/// An optional trailing name (`/Schemas` or `/Schemas/{id}`).
pub struct Name(pub Option<String>);

impl FromRequest for Name {
    fn from_request(input: &Input<'_>) -> Result<Name, ApiError> {
        Ok(Name(input.params.first().map(|p| path_id(p))))
    }
}

/// The version `If-Match` names: `None` when absent or `*`; a value that names no version we
/// could have issued fails the precondition.
pub struct IfMatch(pub Option<u64>);

impl IfMatch {
    pub fn parse(raw: Option<&str>) -> Result<IfMatch, ApiError> {
        match raw.map(str::trim) {
            None | Some("*") => Ok(IfMatch(None)),
            Some(v) => v
                .trim_start_matches("W/")
                .trim_matches('"')
                .parse()
                .map(|v| IfMatch(Some(v)))
                .map_err(|_| ApiError::PreconditionFailed),
        }
    }
}

impl FromRequest for IfMatch {
    const IF_MATCH: bool = true;
    /// A value that is not text names no version we issued: the precondition fails.
    fn from_request(input: &Input<'_>) -> Result<IfMatch, ApiError> {
        let raw = input.if_match.map(std::str::from_utf8).transpose();
        IfMatch::parse(raw.map_err(|_| ApiError::PreconditionFailed)?)
    }
}

/// A JSON body parsed into `T` (serde's own checks say what is wrong).
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Json<T> {
    const BODY: bool = true;
    fn from_request(input: &Input<'_>) -> Result<Json<T>, ApiError> {
        input.json().map(Json)
    }
}

/// A JSON body that may be absent (an empty body is `None`).
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned> FromRequest for OptionalJson<T> {
    const BODY: bool = true;
    fn from_request(input: &Input<'_>) -> Result<OptionalJson<T>, ApiError> {
        match &input.body {
            Payload::None => Ok(OptionalJson(None)),
            Payload::Bytes { bytes, .. } if bytes.iter().all(u8::is_ascii_whitespace) => {
                Ok(OptionalJson(None))
            }
            _ => input.json().map(|v| OptionalJson(Some(v))),
        }
    }
}

/// A JSON object body, for inputs whose fields are checked one by one (loose IdP forms).
pub struct Object(pub serde_json::Map<String, Value>);

impl FromRequest for Object {
    const BODY: bool = true;
    fn from_request(input: &Input<'_>) -> Result<Object, ApiError> {
        match input.json()? {
            Value::Object(m) => Ok(Object(m)),
            _ => Err(ApiError::bad_request("the body must be a JSON object")),
        }
    }
}

/// The query string, percent-decoded once.
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        match raw {
            Some(q) => Query(form_urlencoded::parse(q.as_bytes()).into_owned().collect()),
            None => Query(Vec::new()),
        }
    }

    /// A parameter by name, ignoring case (IdPs differ on `startIndex` vs `startindex`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value given for `name` (a repeated field), in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }

    /// A non-negative integer parameter; a malformed one is a 400.
    pub fn u64(&self, name: &str) -> Result<Option<u64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| {
                ApiError::bad_request(format!("{name} must be a non-negative integer, not {v:?}"))
            }),
        }
    }
}

/// A native list's page: `limit` (50 by default, at most 1000), `offset`, or a `cursor`.
pub struct Page {
    pub limit: u64,
    pub offset: u64,
    /// As sent; the list decodes it against its own fingerprint.
    pub cursor: Option<String>,
}

impl Page {
    const DEFAULT_LIMIT: u64 = 50;
    const MAX_LIMIT: u64 = 1000;

    /// The cursor for a list whose fingerprint is `fingerprint`: None without one, Some(None)
    /// for the first page, Some(Some(id)) after `id`; a bad one is a 400.
    pub fn cursor(&self, fingerprint: u64) -> Result<Option<Option<u128>>, ApiError> {
        match &self.cursor {
            None => Ok(None),
            Some(raw) => crate::cursor::decode(raw, fingerprint)
                .map(Some)
                .map_err(|e| ApiError::BadRequest { detail: e, scim_type: "invalidCursor" }),
        }
    }
}

impl FromRequest for Page {
    const PAGED: bool = true;
    fn from_request(input: &Input<'_>) -> Result<Page, ApiError> {
        let q = &input.query;
        Ok(Page {
            limit: q.u64("limit")?.unwrap_or(Page::DEFAULT_LIMIT).min(Page::MAX_LIMIT),
            offset: q.u64("offset")?.unwrap_or(0),
            cursor: q.get("cursor").map(str::to_owned),
        })
    }
}

impl FromRequest for Query {
    fn from_request(input: &Input<'_>) -> Result<Query, ApiError> {
        Ok(input.query.clone())
    }
}

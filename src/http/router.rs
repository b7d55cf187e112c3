//! Requests become a typed `Route` before anything else happens. Both URL forms
//! (`/v1/{tenantSlug}/…` and `/…`) parse to the same endpoint; the endpoint knows what access
//! it needs and its name (for logs and metrics).

use hyper::Method;

use crate::auth::Scope;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Healthz,
    Readyz,
    Me,
    Usage,
}

/// What a caller needs to reach an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    AnyKey,
    Scope(Scope),
}

/// Which error body style a path speaks: SCIM (RFC 7644) under `scim/v2`, native JSON elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Native,
    Scim,
}

impl Endpoint {
    pub fn access(self) -> Access {
        match self {
            Endpoint::Healthz | Endpoint::Readyz => Access::Public,
            Endpoint::Me => Access::AnyKey,
            Endpoint::Usage => Access::Scope(Scope::Usage),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Healthz => "healthz",
            Endpoint::Readyz => "readyz",
            Endpoint::Me => "me",
            Endpoint::Usage => "usage",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Route<'a> {
    pub endpoint: Endpoint,
    /// Set for `/v1/{slug}/…`; at the root the tenant is the key's.
    pub tenant_slug: Option<&'a str>,
    pub style: Style,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RouteError {
    NotFound(Style),
    MethodNotAllowed { style: Style, allow: &'static str },
}

pub fn parse<'a>(method: &Method, path: &'a str) -> Result<Route<'a>, RouteError> {
    let mut segments: Vec<&str> = path.split('/').skip(1).collect();
    // A trailing slash names the same resource.
    if segments.len() > 1 && segments.last() == Some(&"") {
        segments.pop();
    }
    let (tenant_slug, rest) = match segments.as_slice() {
        ["v1", slug, rest @ ..] if !slug.is_empty() => (Some(*slug), rest),
        ["v1", ..] => return Err(RouteError::NotFound(Style::Native)),
        rest => (None, rest),
    };
    let style = match rest {
        ["scim", "v2", ..] => Style::Scim,
        _ => Style::Native,
    };
    let only = |allowed: Method, allow: &'static str, endpoint: Endpoint| {
        if *method == allowed || (allowed == Method::GET && *method == Method::HEAD) {
            Ok(Route { endpoint, tenant_slug, style })
        } else {
            Err(RouteError::MethodNotAllowed { style, allow })
        }
    };
    match rest {
        ["healthz"] => only(Method::GET, "GET", Endpoint::Healthz),
        ["readyz"] => only(Method::GET, "GET", Endpoint::Readyz),
        ["me"] => only(Method::GET, "GET", Endpoint::Me),
        ["usage"] => only(Method::GET, "GET", Endpoint::Usage),
        _ => Err(RouteError::NotFound(style)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_path_forms_parse_to_the_same_endpoint() {
        let root = parse(&Method::GET, "/me").unwrap();
        let tenant = parse(&Method::GET, "/v1/acme/me").unwrap();
        assert_eq!(root.endpoint, Endpoint::Me);
        assert_eq!(tenant.endpoint, Endpoint::Me);
        assert_eq!(root.tenant_slug, None);
        assert_eq!(tenant.tenant_slug, Some("acme"));
        assert_eq!(parse(&Method::GET, "/v1/acme/usage/").unwrap().endpoint, Endpoint::Usage);
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert_eq!(parse(&Method::GET, "/nope"), Err(RouteError::NotFound(Style::Native)));
        assert_eq!(parse(&Method::GET, "/v1/"), Err(RouteError::NotFound(Style::Native)));
        assert_eq!(parse(&Method::GET, "/v1"), Err(RouteError::NotFound(Style::Native)));
        assert_eq!(
            parse(&Method::GET, "/v1/acme/scim/v2/Nope"),
            Err(RouteError::NotFound(Style::Scim))
        );
        assert_eq!(
            parse(&Method::POST, "/me"),
            Err(RouteError::MethodNotAllowed { style: Style::Native, allow: "GET" })
        );
        assert_eq!(parse(&Method::HEAD, "/healthz").unwrap().endpoint, Endpoint::Healthz);
    }
}

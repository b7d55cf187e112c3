//! Who the client is. Behind a reverse proxy every request comes from the proxy's address; when
//! the peer is in `trusted_proxies`, the address the proxy names (`Forwarded: for=`, RFC 7239,
//! else `X-Forwarded-For`) is the client's, for the failure limit and the logs. Walking the list
//! from the right, the first address that is not itself a trusted proxy is taken: a client can
//! prepend anything it likes, but not what the proxies append.

use std::net::IpAddr;

use hyper::HeaderMap;

/// The identity provider a request comes from, recognised by a word in its `User-Agent`
/// (`okta`, `entra`, `onelogin`, `jumpcloud`, `google`, `workday`), else `other`: a metric
/// label, so a fixed set.
pub fn identity_provider(headers: &HeaderMap) -> &'static str {
    let agent = headers.get(hyper::header::USER_AGENT).and_then(|v| v.to_str().ok());
    let agent = agent.unwrap_or_default().to_ascii_lowercase();
    const KNOWN: &[(&str, &str)] = &[
        ("okta", "okta"),
        ("azure", "entra"),
        ("microsoft", "entra"),
        ("entra", "entra"),
        ("aad", "entra"),
        ("onelogin", "onelogin"),
        ("jumpcloud", "jumpcloud"),
        ("google", "google"),
        ("workday", "workday"),
    ];
    KNOWN.iter().find(|(word, _)| agent.contains(word)).map_or("other", |(_, idp)| idp)
}

/// The client's address: `peer`, or what trusted proxies say of it.
pub fn address(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[ipnet::IpNet],
) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let forwarded = named(headers, "forwarded", forwarded_for);
    let chain = if forwarded.is_empty() {
        named(headers, "x-forwarded-for", |part| parse_ip(part.trim()))
    } else {
        forwarded
    };
    Some(chain.into_iter().rev().find(|ip| !is_trusted(ip)).unwrap_or(peer))
}

/// Every address of every `name` header, in order (a list may span several header lines).
fn named(headers: &HeaderMap, name: &str, parse: fn(&str) -> Option<IpAddr>) -> Vec<IpAddr> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(parse)
        .collect()
}

/// `for=` of one `Forwarded` element: `for=192.0.2.60;proto=http`, `for="[2001:db8::1]:4711"`.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        key.trim().eq_ignore_ascii_case("for").then(|| parse_ip(value.trim().trim_matches('"')))?
    })
}

/// An address as proxies write it: bare, `[v6]`, `[v6]:port` or `v4:port`.
fn parse_ip(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    text.rsplit_once(':').and_then(|(host, _port)| host.parse().ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_trusted_proxies_are_believed_and_only_for_what_they_append() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let outsider: IpAddr = "203.0.113.9".parse().unwrap();
        let xff = headers(&[("x-forwarded-for", "1.1.1.1, 198.51.100.7")]);
        // From an untrusted peer the header is ignored.
        assert_eq!(address(Some(outsider), &xff, &trusted), Some(outsider));
        // From a proxy: the rightmost address that is not a proxy (1.1.1.1 was the client's own
        // claim, prepended).
        assert_eq!(address(Some(proxy), &xff, &trusted), "198.51.100.7".parse().ok());
        let chained = headers(&[("x-forwarded-for", "198.51.100.7, 10.0.0.1")]);
        assert_eq!(address(Some(proxy), &chained, &trusted), "198.51.100.7".parse().ok());
        let fwd =
            headers(&[("forwarded", r#"for="[2001:db8::1]:4711";proto=https, for=10.0.0.1"#)]);
        assert_eq!(address(Some(proxy), &fwd, &trusted), "2001:db8::1".parse().ok());
        let both = headers(&[("forwarded", "for=192.0.2.60"), ("x-forwarded-for", "192.0.2.99")]);
        assert_eq!(address(Some(proxy), &both, &trusted), "192.0.2.60".parse().ok());
        // Nothing usable: the proxy itself.
        let junk = headers(&[("x-forwarded-for", "unknown, garbage")]);
        assert_eq!(address(Some(proxy), &junk, &trusted), Some(proxy));
        assert_eq!(address(Some(proxy), &HeaderMap::new(), &[]), Some(proxy));
        assert_eq!(address(None, &xff, &trusted), None);
        assert_eq!(parse_ip("192.0.2.1:80"), "192.0.2.1".parse().ok());
    }
}

//! Cursors for paging (RFC 9865 in SCIM, `cursor` in the native API): an opaque token naming the
//! last resource a page held, by id. Ids are UUIDv7 and lists run in id (creation) order, so the
//! next page starts right after it, one index seek whatever the position, and every resource that
//! exists for a whole walk is returned exactly once however many are created or deleted meanwhile.
//! The token also carries a fingerprint of the query, so it cannot be replayed against another.
//! Stateless: a cursor never expires.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const VERSION: u8 = 1;

/// A query's fingerprint: what a cursor must be used with.
pub fn fingerprint(parts: &[&str]) -> u64 {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&h.finalize().as_bytes()[..8]);
    u64::from_le_bytes(bytes)
}

/// The cursor for the page after the one that ended with `last`.
pub fn encode(last: u128, fingerprint: u64) -> String {
    let mut bytes = Vec::with_capacity(25);
    bytes.push(VERSION);
    bytes.extend_from_slice(&last.to_be_bytes());
    bytes.extend_from_slice(&fingerprint.to_be_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Where a cursor starts: None for the first page (an empty cursor, as RFC 9865 asks), else
/// after the id it names. Err: not a cursor of this query.
pub fn decode(raw: &str, fingerprint: u64) -> Result<Option<u128>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let bad = || format!("{raw:?} is not a cursor of this query; start again with an empty cursor");
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let (Some(&VERSION), Some(last), Some(fp)) = (bytes.first(), bytes.get(1..17), bytes.get(17..))
    else {
        return Err(bad());
    };
    let last = u128::from_be_bytes(last.try_into().map_err(|_| bad())?);
    let fp = u64::from_be_bytes(fp.try_into().map_err(|_| bad())?);
    if fp != fingerprint {
        return Err(bad());
    }
    Ok(Some(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_names_its_place_and_its_query() {
        let fp = fingerprint(&["users", "active eq true"]);
        let c = encode(42, fp);
        assert_eq!(decode(&c, fp), Ok(Some(42)));
        assert_eq!(decode("", fp), Ok(None));
        assert!(decode(&c, fingerprint(&["users", "active eq false"])).is_err());
        for junk in ["x", "!!!", &c[..c.len() - 2], "AAAA"] {
            assert!(decode(junk, fp).is_err(), "{junk}");
        }
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
    }
}

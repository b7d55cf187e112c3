//! Key secrets: `wh_live_` + 36 random base62 characters + a 6-character checksum.
//!
//! The checksum lets secret scanners recognise a real key and lets the server drop mistyped or
//! garbage tokens without a lookup. Secrets carry 214 bits of entropy, so a fast hash (blake3) is
//! the right way to store them: there is nothing to brute-force.

pub const PREFIX: &str = "wh_live_";
const RANDOM_LEN: usize = 36;
const CHECK_LEN: usize = 6;
/// What is shown of a secret in listings: the prefix and 8 random characters.
const SHOWN_LEN: usize = PREFIX.len() + 8;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub struct NewSecret {
    pub secret: String,
    pub hash: [u8; 32],
    pub prefix: String,
}

pub fn generate() -> Result<NewSecret, String> {
    let mut body = String::with_capacity(RANDOM_LEN);
    let mut buf = [0u8; 64];
    while body.len() < RANDOM_LEN {
        getrandom::fill(&mut buf).map_err(|e| format!("no randomness from the OS: {e}"))?;
        // Rejection sampling keeps every character equally likely (248 = 4 * 62).
        for &b in buf.iter().filter(|&&b| b < 248) {
            if body.len() == RANDOM_LEN {
                break;
            }
            body.push(base62(b));
        }
    }
    let secret = format!("{PREFIX}{body}{}", checksum(&body));
    Ok(NewSecret { hash: hash(&secret), prefix: secret.chars().take(SHOWN_LEN).collect(), secret })
}

/// The base62 character for `b % 62`.
fn base62(b: u8) -> char {
    ALPHABET.get(usize::from(b % 62)).map_or('0', |&c| char::from(c))
}

pub fn hash(secret: &str) -> [u8; 32] {
    *blake3::hash(secret.as_bytes()).as_bytes()
}

/// True if `token` has the shape of a secret we issued, checksum included.
pub fn well_formed(token: &str) -> bool {
    let Some(rest) = token.strip_prefix(PREFIX) else {
        return false;
    };
    if rest.len() != RANDOM_LEN + CHECK_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (body, check) = rest.split_at(RANDOM_LEN);
    checksum(body) == check
}

fn checksum(body: &str) -> String {
    let digest = blake3::hash(body.as_bytes());
    digest.as_bytes().iter().take(CHECK_LEN).map(|&b| base62(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_well_formed_and_distinct() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with("wh_live_") && a.secret.len() == 8 + 36 + 6);
        assert!(well_formed(&a.secret));
        assert!(a.secret.starts_with(&a.prefix));
        assert_eq!(hash(&a.secret), a.hash);
        // One changed character breaks the checksum.
        let mut chars: Vec<char> = a.secret.chars().collect();
        chars[10] = if chars[10] == 'a' { 'b' } else { 'a' };
        assert!(!well_formed(&chars.into_iter().collect::<String>()));
        assert!(!well_formed("wh_live_short"));
        assert!(!well_formed("Bearer nonsense"));
    }
}

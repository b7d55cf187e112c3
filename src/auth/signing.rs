//! The server's SET signing keys in memory: ES256 (ECDSA P-256 with SHA-256, RFC 7518 §3.4) by
//! ring, the crypto library rustls already brings. The store keeps the keys
//! (`store::signing`); this signs compact JWS and publishes the public halves as a JWK Set.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use parking_lot::RwLock;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::store::signing::{self, SigningKey};
use crate::store::{self, Store};

struct Loaded {
    key: SigningKey,
    pair: EcdsaKeyPair,
}

/// The keys, current last.
pub struct Keyring {
    keys: RwLock<Vec<Loaded>>,
    rng: SystemRandom,
}

impl Default for Keyring {
    fn default() -> Keyring {
        Keyring { keys: RwLock::new(Vec::new()), rng: SystemRandom::new() }
    }
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("keys", &self.keys.read().len()).finish()
    }
}

fn storage(why: String) -> store::Error {
    store::Error::Failed(store::Failure::Storage(why))
}

impl Keyring {
    /// Reads the stored keys, first making one if there is no current key (a new store, or one
    /// upgraded from before SETs), and removing those retired longer than `retired_ms` ago
    /// (`set_key_retired_days`: no longer published, so no SET can be verified with them).
    pub async fn load(&self, store: &Store, retired_ms: Option<i64>) -> store::Result<()> {
        if let Some(kept) = retired_ms {
            let cutoff = crate::time::now_ms().saturating_sub(kept);
            store.write(move |txn| signing::prune(txn, cutoff)).await?;
        }
        let mut keys = store.read(signing::list).await?;
        if !keys.iter().any(|k| k.retired_at.is_none()) {
            self.rotate(store, crate::time::now_ms()).await?;
            keys = store.read(signing::list).await?;
        }
        self.replace(keys)
    }

    /// Makes a new key current (the old one stays published for a while); its id.
    pub async fn rotate(&self, store: &Store, now: i64) -> store::Result<Uuid> {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.rng)
            .map_err(|_| storage("could not make a P-256 key (no randomness?)".into()))?;
        let key = SigningKey {
            id: Uuid::now_v7(),
            pkcs8: pkcs8.as_ref().to_vec(),
            created_at: now,
            retired_at: None,
        };
        let id = key.id;
        store.write(move |txn| signing::rotate(txn, &key, now)).await?;
        let keys = store.read(signing::list).await?;
        self.replace(keys)?;
        Ok(id)
    }

    fn replace(&self, keys: Vec<SigningKey>) -> store::Result<()> {
        let mut loaded = Vec::with_capacity(keys.len());
        for key in keys {
            let pair =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key.pkcs8, &self.rng)
                    .map_err(|e| storage(format!("SET signing key {} is damaged: {e}", key.id)))?;
            loaded.push(Loaded { key, pair });
        }
        // Current last: the one not retired, else the newest.
        loaded.sort_by_key(|l| (l.key.retired_at.is_none(), l.key.created_at));
        *self.keys.write() = loaded;
        Ok(())
    }

    /// The current key's id, if keys are loaded.
    pub fn current(&self) -> Option<Uuid> {
        self.keys.read().last().map(|l| l.key.id)
    }

    /// `claims` as a compact JWS signed with the current key, typed `secevent+jwt` (RFC 8417
    /// §2.3).
    pub fn sign(&self, claims: &Value) -> Result<String, String> {
        let keys = self.keys.read();
        let Some(current) = keys.last() else { return Err("no SET signing key is loaded".into()) };
        let header = json!({"alg": "ES256", "typ": "secevent+jwt", "kid": current.key.id});
        let input =
            format!("{}.{}", B64URL.encode(header.to_string()), B64URL.encode(claims.to_string()));
        let signature = current
            .pair
            .sign(&self.rng, input.as_bytes())
            .map_err(|_| "could not sign a SET".to_owned())?;
        Ok(format!("{input}.{}", B64URL.encode(signature.as_ref())))
    }

    /// The JWK Set of the current key and of those retired after `now - publish_retired_ms`.
    pub fn jwks(&self, now: i64, publish_retired_ms: i64) -> Value {
        let keys = self.keys.read();
        let shown = keys.iter().rev().filter(|l| {
            l.key.retired_at.is_none_or(|at| at > now.saturating_sub(publish_retired_ms))
        });
        let jwks: Vec<Value> = shown.filter_map(jwk).collect();
        json!({ "keys": jwks })
    }

    /// Each key's id, creation and retirement, newest first (for the CLI).
    pub fn describe(&self) -> Vec<(Uuid, i64, Option<i64>)> {
        let keys = self.keys.read();
        keys.iter().rev().map(|l| (l.key.id, l.key.created_at, l.key.retired_at)).collect()
    }
}

/// A public key as a JWK (RFC 7518 §6.2): the uncompressed point is 0x04, x, y.
fn jwk(l: &Loaded) -> Option<Value> {
    let point = l.pair.public_key().as_ref();
    let (x, y) = (point.get(1..33)?, point.get(33..65)?);
    Some(json!({
        "kty": "EC",
        "crv": "P-256",
        "x": B64URL.encode(x),
        "y": B64URL.encode(y),
        "use": "sig",
        "alg": "ES256",
        "kid": l.key.id,
    }))
}

//! Signing keys (RFC 7517 JWK, RFC 7518 algorithms) and their lifecycle.
//!
//! Every key is published in JWKS from its creation. It signs from `signs_from`; a rotated-in key
//! gets `signs_from = now + keys.publish_delay_secs`, so relying parties that cache JWKS already
//! know it when the first token signed with it arrives. The key it replaces keeps verifying until
//! `publish_until` (its last signing moment plus the longest token lifetime).
//!
//! The parsed keys live in memory ([`KeyRing`]); no request parses a key.

use josekit::jwk::Jwk;
use josekit::jws::{JwsHeader, JwsSigner, JwsVerifier, ES256, RS256};
use serde_json::Value;

use crate::clock::UnixTime;
use crate::crypto;
use crate::domain::Secret;
use crate::store::{SigningAlg, SigningKey, Store, StoreError, Tx};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key material: {0}")]
    Jose(#[from] josekit::JoseError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no key signs {0} at this moment")]
    NoSigningKey(&'static str),
}

/// A key ready to sign and verify.
#[derive(Debug)]
pub struct LoadedKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub created_at: UnixTime,
    pub signs_from: UnixTime,
    pub publish_until: Option<UnixTime>,
    signer: Box<dyn JwsSigner>,
    verifier: Box<dyn JwsVerifier>,
    public_jwk: Value,
}

impl LoadedKey {
    fn published_at(&self, now: UnixTime) -> bool {
        self.created_at <= now && self.publish_until.is_none_or(|until| now < until)
    }

    fn signs_at(&self, now: UnixTime) -> bool {
        self.signs_from <= now && self.published_at(now)
    }
}

/// The in-memory set of keys, rebuilt when the keys' change generation moves.
#[derive(Debug, Default)]
pub struct KeyRing {
    keys: Vec<LoadedKey>,
}

/// The JWKS document for one moment, with the moment it stops being accurate.
#[derive(Debug, Clone)]
pub struct Jwks {
    pub body: bytes::Bytes,
    pub valid_until: Option<UnixTime>,
}

impl KeyRing {
    pub fn load(rows: &[SigningKey]) -> Result<Self, KeyError> {
        let keys = rows.iter().map(load_key).collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// The key that signs `alg` now: the newest one whose signing period has begun.
    pub fn signing_key(&self, alg: SigningAlg, now: UnixTime) -> Option<&LoadedKey> {
        self.keys.iter().filter(|k| k.alg == alg && k.signs_at(now)).max_by_key(|k| (k.signs_from, k.created_at))
    }

    /// Signs `payload` (JSON) as a compact JWS with `typ` and `kid` in the header.
    pub fn sign(&self, alg: SigningAlg, typ: &str, payload: &[u8], now: UnixTime) -> Result<String, KeyError> {
        let key = self.signing_key(alg, now).ok_or(KeyError::NoSigningKey(alg.as_str()))?;
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(key.kid.clone());
        Ok(josekit::jws::serialize_compact(payload, &header, key.signer.as_ref())?)
    }

    /// Verifies a compact JWS against the keys published at `now`; returns payload and header.
    pub fn verify(&self, token: &str, now: UnixTime) -> Option<(Vec<u8>, JwsHeader)> {
        josekit::jws::deserialize_compact_with_selector(token, |header| {
            let kid = header.key_id();
            let alg = header.algorithm();
            Ok(self
                .keys
                .iter()
                .find(|k| Some(k.kid.as_str()) == kid && Some(k.alg.as_str()) == alg && k.published_at(now))
                .map(|k| k.verifier.as_ref()))
        })
        .ok()
    }

    /// RFC 7517 §5 JWK Set of the keys published at `now`.
    pub fn jwks(&self, now: UnixTime) -> Jwks {
        let keys: Vec<&Value> = self.keys.iter().filter(|k| k.published_at(now)).map(|k| &k.public_jwk).collect();
        let body = serde_json::json!({ "keys": keys }).to_string();
        let valid_until =
            self.keys.iter().flat_map(|k| [Some(k.created_at), k.publish_until]).flatten().filter(|t| *t > now).min();
        Jwks { body: bytes::Bytes::from(body), valid_until }
    }

    pub fn keys(&self) -> &[LoadedKey] {
        &self.keys
    }
}

fn load_key(row: &SigningKey) -> Result<LoadedKey, KeyError> {
    let private = Jwk::from_bytes(row.private_jwk.expose().as_bytes())?;
    let public = Jwk::from_bytes(row.public_jwk.as_bytes())?;
    let (signer, verifier): (Box<dyn JwsSigner>, Box<dyn JwsVerifier>) = match row.alg {
        SigningAlg::ES256 => (Box::new(ES256.signer_from_jwk(&private)?), Box::new(ES256.verifier_from_jwk(&public)?)),
        SigningAlg::RS256 => (Box::new(RS256.signer_from_jwk(&private)?), Box::new(RS256.verifier_from_jwk(&public)?)),
    };
    Ok(LoadedKey {
        kid: row.kid.clone(),
        alg: row.alg,
        created_at: row.created_at,
        signs_from: row.signs_from,
        publish_until: row.publish_until,
        signer,
        verifier,
        public_jwk: Value::Object(public.as_ref().clone()),
    })
}

/// Generates a new key pair for `alg`, publishing at `now` and signing from `signs_from`.
pub fn generate(alg: SigningAlg, now: UnixTime, signs_from: UnixTime) -> Result<SigningKey, KeyError> {
    let kid = crypto::random_token(12);
    let (mut private, mut public) = match alg {
        SigningAlg::ES256 => {
            let pair = ES256.generate_key_pair()?;
            (pair.to_jwk_private_key(), pair.to_jwk_public_key())
        }
        SigningAlg::RS256 => {
            let pair = RS256.generate_key_pair(2048)?;
            (pair.to_jwk_private_key(), pair.to_jwk_public_key())
        }
    };
    for jwk in [&mut private, &mut public] {
        jwk.set_key_id(kid.clone());
        jwk.set_algorithm(alg.as_str());
        jwk.set_key_use("sig");
    }
    Ok(SigningKey {
        kid,
        alg,
        private_jwk: Secret::new(private.to_string()),
        public_jwk: public.to_string(),
        created_at: now,
        signs_from,
        publish_until: None,
    })
}

/// Makes sure a key signs each algorithm now (first start). Returns true when keys were added.
pub async fn ensure_signing_keys(store: &dyn Store, now: UnixTime) -> Result<bool, KeyError> {
    let ring = KeyRing::load(&store.list_keys().await?)?;
    let mut added = false;
    for alg in [SigningAlg::ES256, SigningAlg::RS256] {
        if ring.signing_key(alg, now).is_none() {
            let key = tokio::task::spawn_blocking(move || generate(alg, now, now))
                .await
                .map_err(|e| KeyError::NoSigningKey(if e.is_panic() { "(panicked)" } else { alg.as_str() }))??;
            store.insert_key(&key).await?;
            added = true;
        }
    }
    Ok(added)
}

/// A rotation worked out but not yet stored: the new keys, and the keys they replace with the
/// moment each leaves JWKS.
#[derive(Debug)]
pub struct Rotation {
    pub created: Vec<SigningKey>,
    pub retired: Vec<(String, UnixTime)>,
}

/// Works out a rotation of every algorithm's key from the stored `keys`: the new keys are
/// published now and sign after `publish_delay`; the keys they replace stay published until
/// `max_token_ttl` after that. Makes the key material (on the blocking pool) but stores nothing:
/// the caller writes it with [`Rotation::write`] in its transaction, which then holds no lock
/// while keys are generated.
pub async fn rotation(
    keys: &[SigningKey],
    now: UnixTime,
    publish_delay: i64,
    max_token_ttl: i64,
) -> Result<Rotation, KeyError> {
    let signs_from = now + publish_delay;
    let mut rotation = Rotation { created: Vec::new(), retired: Vec::new() };
    for alg in [SigningAlg::ES256, SigningAlg::RS256] {
        let key = tokio::task::spawn_blocking(move || generate(alg, now, signs_from))
            .await
            .map_err(|_| KeyError::NoSigningKey(alg.as_str()))??;
        rotation.created.push(key);
        for old in keys.iter().filter(|k| k.alg == alg && k.publish_until.is_none()) {
            rotation.retired.push((old.kid.clone(), signs_from + max_token_ttl));
        }
    }
    Ok(rotation)
}

impl Rotation {
    /// Stores the new keys and retires the old ones in `tx`.
    pub async fn write(&self, tx: &mut dyn Tx) -> Result<(), StoreError> {
        for key in &self.created {
            tx.insert_key(key).await?;
        }
        for (kid, until) in &self.retired {
            tx.set_key_publish_until(kid, *until).await?;
        }
        Ok(())
    }
}

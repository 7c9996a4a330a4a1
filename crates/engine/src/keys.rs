//! The RSA keys Switchboard signs with: access tokens of its token endpoint and the bearer
//! tokens of notification callbacks. The current key is generated on first start and kept in
//! the data directory; after a rotation the previous key stays published and trusted, so tokens
//! already handed out keep verifying during the rollover. Both are published as a JWKS.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha256};

use crate::EngineError;

const CURRENT: &str = "signing-key.pem";
const PREVIOUS: &str = "previous-signing-key.pem";

/// One key pair with its id and public JWK.
struct Key {
    kid: String,
    pem: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: serde_json::Value,
}

impl Key {
    fn from_pem(pem: &str) -> Result<Key, EngineError> {
        let key = RsaPrivateKey::from_pkcs8_pem(pem).map_err(internal)?;
        let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(format!("{n}.{e}").as_bytes())[..16]);
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(internal)?;
        let decoding = DecodingKey::from_rsa_components(&n, &e).map_err(internal)?;
        let jwk = serde_json::json!({ "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e });
        Ok(Key { kid, pem: pem.to_owned(), encoding, decoding, jwk })
    }
}

struct KeyRing {
    current: Arc<Key>,
    previous: Option<Arc<Key>>,
}

pub struct SigningKeys {
    ring: RwLock<KeyRing>,
    /// Where the keys are kept; `None` for keys held only in memory.
    dir: Option<PathBuf>,
}

impl SigningKeys {
    /// Loads the keys of `dir`, generating and saving a current key if there is none.
    pub fn load_or_generate(dir: &Path) -> Result<SigningKeys, EngineError> {
        std::fs::create_dir_all(dir).map_err(internal)?;
        let current = match read_optional(&dir.join(CURRENT))? {
            Some(pem) => Key::from_pem(&pem)?,
            None => {
                let key = Key::from_pem(&generate_pem()?)?;
                write_private(&dir.join(CURRENT), &key.pem)?;
                key
            }
        };
        let previous = read_optional(&dir.join(PREVIOUS))?.map(|pem| Key::from_pem(&pem)).transpose()?;
        Ok(SigningKeys {
            ring: RwLock::new(KeyRing { current: Arc::new(current), previous: previous.map(Arc::new) }),
            dir: Some(dir.to_owned()),
        })
    }

    /// A fresh key held only in memory.
    pub fn generate() -> Result<SigningKeys, EngineError> {
        let current = Arc::new(Key::from_pem(&generate_pem()?)?);
        Ok(SigningKeys { ring: RwLock::new(KeyRing { current, previous: None }), dir: None })
    }

    fn ring(&self) -> std::sync::RwLockReadGuard<'_, KeyRing> {
        self.ring.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The id of the key new tokens are signed with.
    pub fn kid(&self) -> String {
        self.ring().current.kid.clone()
    }

    /// The JSON Web Key Set: the current key, then the previous one during a rollover.
    pub fn jwks(&self) -> serde_json::Value {
        let ring = self.ring();
        let keys: Vec<&serde_json::Value> =
            std::iter::once(&ring.current.jwk).chain(ring.previous.as_ref().map(|k| &k.jwk)).collect();
        serde_json::json!({ "keys": keys })
    }

    /// Signs claims as an RS256 JWT with the current key and its `kid`.
    pub fn sign(&self, claims: &serde_json::Value) -> Result<String, EngineError> {
        let key = self.ring().current.clone();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key.kid.clone());
        header.typ = Some("JWT".to_owned());
        jsonwebtoken::encode(&header, claims, &key.encoding).map_err(internal)
    }

    /// Whether `kid` names one of our keys (current or previous).
    pub fn trusts(&self, kid: &str) -> bool {
        let ring = self.ring();
        ring.current.kid == kid || ring.previous.as_ref().is_some_and(|k| k.kid == kid)
    }

    /// The key that verifies tokens with `kid`, if it is one of ours (current or previous).
    pub fn decoding_key(&self, kid: &str) -> Option<DecodingKey> {
        let ring = self.ring();
        std::iter::once(&ring.current).chain(ring.previous.as_ref()).find(|k| k.kid == kid).map(|k| k.decoding.clone())
    }

    /// Starts a rollover: a new current key; the current one becomes the previous (still
    /// published and trusted); the one before is dropped. Returns the new key id.
    pub fn rotate(&self) -> Result<String, EngineError> {
        let next = Arc::new(Key::from_pem(&generate_pem()?)?);
        let mut ring = self.ring.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(dir) = &self.dir {
            // The previous key is written first: a crash in between leaves both trusted.
            write_private(&dir.join(PREVIOUS), &ring.current.pem)?;
            write_private(&dir.join(CURRENT), &next.pem)?;
        }
        ring.previous = Some(std::mem::replace(&mut ring.current, next.clone()));
        Ok(next.kid.clone())
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, EngineError> {
    match std::fs::read_to_string(path) {
        Ok(pem) => Ok(Some(pem)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(internal(e)),
    }
}

fn generate_pem() -> Result<String, EngineError> {
    let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).map_err(internal)?;
    Ok(key.to_pkcs8_pem(LineEnding::LF).map_err(internal)?.to_string())
}

/// Writes a private file (mode 0600) through a temporary file and a rename.
fn write_private(path: &Path, contents: &str) -> Result<(), EngineError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).map_err(internal)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(internal)?;
    }
    std::fs::rename(&tmp, path).map_err(internal)
}

fn internal(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(format!("signing key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verify(keys: &SigningKeys, token: &str) -> bool {
        let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
        let Some(key) = keys.decoding_key(&kid) else { return false };
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.set_audience(&["a"]);
        jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).is_ok()
    }

    #[test]
    fn signs_tokens_its_jwks_verifies() {
        let keys = SigningKeys::generate().unwrap();
        let token = keys.sign(&serde_json::json!({"aud": "a", "exp": 4_000_000_000u64})).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid, Some(keys.kid()));
        let jwk = &keys.jwks()["keys"][0];
        let key = DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.set_audience(&["a"]);
        jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).unwrap();
    }

    #[test]
    fn a_rotation_keeps_the_previous_key_trusted_until_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let keys = SigningKeys::load_or_generate(dir.path()).unwrap();
        let claims = serde_json::json!({"aud": "a", "exp": 4_000_000_000u64});
        let old = keys.sign(&claims).unwrap();
        let first = keys.kid();
        let second = keys.rotate().unwrap();
        assert_ne!(first, second);
        assert!(verify(&keys, &old), "tokens of the previous key verify during the rollover");
        assert_eq!(keys.jwks()["keys"].as_array().unwrap().len(), 2);
        // The rollover survives a restart.
        let reloaded = SigningKeys::load_or_generate(dir.path()).unwrap();
        assert_eq!(reloaded.kid(), second);
        assert!(verify(&reloaded, &old));
        keys.rotate().unwrap();
        assert!(!verify(&keys, &old), "two rotations later the first key is gone");
    }
}

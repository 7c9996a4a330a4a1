//! The RSA key Switchboard signs with: access tokens of its token endpoint and the bearer
//! tokens of notification callbacks. Generated on first start and kept in the data directory;
//! published as a JWKS.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha256};

use crate::EngineError;

pub struct SigningKeys {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: serde_json::Value,
}

impl SigningKeys {
    /// Loads `dir/signing-key.pem`, generating and saving a new 2048-bit key if it is missing.
    pub fn load_or_generate(dir: &Path) -> Result<SigningKeys, EngineError> {
        let path = dir.join("signing-key.pem");
        let pem = match std::fs::read_to_string(&path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let pem = generate_pem()?;
                std::fs::create_dir_all(dir).map_err(internal)?;
                write_private(&path, &pem)?;
                pem
            }
            Err(e) => return Err(internal(e)),
        };
        Self::from_pem(&pem)
    }

    /// A fresh key held only in memory.
    pub fn generate() -> Result<SigningKeys, EngineError> {
        Self::from_pem(&generate_pem()?)
    }

    pub fn from_pem(pem: &str) -> Result<SigningKeys, EngineError> {
        let key = RsaPrivateKey::from_pkcs8_pem(pem).map_err(internal)?;
        let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(format!("{n}.{e}").as_bytes())[..16]);
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(internal)?;
        let decoding = DecodingKey::from_rsa_components(&n, &e).map_err(internal)?;
        let jwk = serde_json::json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e,
        });
        Ok(SigningKeys { kid, encoding, decoding, jwk })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JSON Web Key Set publishing the public key.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [self.jwk] })
    }

    /// Signs claims as an RS256 JWT carrying this key's `kid`.
    pub fn sign(&self, claims: &serde_json::Value) -> Result<String, EngineError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(internal)
    }

    /// The key that verifies tokens with `kid`, if it is ours.
    pub fn decoding_key(&self, kid: &str) -> Option<&DecodingKey> {
        (kid == self.kid).then_some(&self.decoding)
    }
}

fn generate_pem() -> Result<String, EngineError> {
    let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).map_err(internal)?;
    Ok(key.to_pkcs8_pem(LineEnding::LF).map_err(internal)?.to_string())
}

fn write_private(path: &Path, contents: &str) -> Result<(), EngineError> {
    std::fs::write(path, contents).map_err(internal)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(internal)?;
    }
    Ok(())
}

fn internal(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(format!("signing key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_tokens_its_jwks_verifies() {
        let keys = SigningKeys::generate().unwrap();
        let token = keys.sign(&serde_json::json!({"aud": "a", "exp": 4_000_000_000u64})).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(keys.kid()));
        let jwk = &keys.jwks()["keys"][0];
        let key = DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.set_audience(&["a"]);
        jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).unwrap();
    }
}

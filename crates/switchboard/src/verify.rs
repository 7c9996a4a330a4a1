//! Verifies the bearer tokens of notification callbacks the way a bot does: RS256 signature by a
//! key of the server's JWKS (refetched on an unknown `kid`, at most once a second), `iss`,
//! `aud` (when given) and lifetime.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

/// Refetch floor: an unknown `kid` triggers at most one JWKS fetch per this interval.
const REFETCH_FLOOR: Duration = Duration::from_secs(1);

pub struct CallbackVerifier {
    jwks_url: String,
    issuer: String,
    audience: Option<String>,
    http: reqwest::Client,
    keys: Mutex<(HashMap<String, DecodingKey>, Option<Instant>)>,
}

impl CallbackVerifier {
    pub fn new(jwks_url: String, issuer: String, audience: Option<String>) -> CallbackVerifier {
        CallbackVerifier { jwks_url, issuer, audience, http: reqwest::Client::new(), keys: Mutex::default() }
    }

    async fn refresh(&self) -> Result<(), String> {
        {
            let keys = self.keys.lock().expect("key cache");
            if keys.1.is_some_and(|at| at.elapsed() < REFETCH_FLOOR) {
                return Ok(());
            }
        }
        let jwks: Value = self
            .http
            .get(&self.jwks_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("cannot fetch the JWKS at {}: {e}", self.jwks_url))?
            .json()
            .await
            .map_err(|e| format!("the JWKS at {} is not JSON: {e}", self.jwks_url))?;
        let mut found = HashMap::new();
        for jwk in jwks["keys"].as_array().into_iter().flatten() {
            if let (Some(kid), Some(n), Some(e)) = (jwk["kid"].as_str(), jwk["n"].as_str(), jwk["e"].as_str()) {
                if let Ok(key) = DecodingKey::from_rsa_components(n, e) {
                    found.insert(kid.to_owned(), key);
                }
            }
        }
        *self.keys.lock().expect("key cache") = (found, Some(Instant::now()));
        Ok(())
    }

    /// Checks an `Authorization` header value; `Ok` describes the valid token.
    pub async fn verify(&self, authorization: Option<&str>) -> Result<String, String> {
        let token =
            authorization.and_then(|v| v.strip_prefix("Bearer ")).ok_or("no Authorization: Bearer token")?.trim();
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("malformed token: {e}"))?;
        if header.alg != Algorithm::RS256 {
            return Err(format!("algorithm {:?} instead of RS256", header.alg));
        }
        let kid = header.kid.ok_or("the token has no kid")?;
        let lookup = |this: &Self| this.keys.lock().expect("key cache").0.get(&kid).cloned();
        let key = match lookup(self) {
            Some(key) => key,
            None => {
                self.refresh().await?;
                lookup(self).ok_or_else(|| format!("kid {kid} is not in the JWKS"))?
            }
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        match &self.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| e.to_string())?;
        let claims = data.claims;
        Ok(format!(
            "kid={kid} iss={} aud={} tid={}",
            claims["iss"].as_str().unwrap_or_default(),
            claims["aud"].as_str().unwrap_or_default(),
            claims["tid"].as_str().unwrap_or_default()
        ))
    }
}

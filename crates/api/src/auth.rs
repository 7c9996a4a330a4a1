//! Bearer tokens on Graph routes: RS256 tokens of Switchboard's own token endpoint, checked
//! for signature, expiry (wall time), issuer and audience, then for the route's permission.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use switchboard_core::{AppId, TenantId};
use switchboard_engine::Caller;

use crate::error::ApiError;
use crate::AppState;

/// Audiences accepted for Graph: the resource URI, its app id, and Switchboard's own URL.
pub const GRAPH_AUDIENCES: &[&str] = &["https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"];

/// The application permissions a route accepts (any one of them). Every Graph route declares
/// one; a route without it fails closed.
#[derive(Debug, Clone, Copy)]
pub struct RequiredRoles(pub &'static [&'static str]);

#[derive(Debug, Clone, Deserialize)]
struct Claims {
    iss: String,
    /// Validated by `jsonwebtoken` (a required claim); kept for [`VerifiedTokens`].
    #[serde(default)]
    exp: Option<u64>,
    tid: String,
    #[serde(default)]
    appid: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    scp: Option<String>,
}

/// The application calling a Graph route.
pub struct AppCaller(pub Caller);

/// The application permissions of the token that [`AppCaller`] validated, for routes whose
/// permission depends on the body (answering with application-hosted media). Put in the
/// request's extensions by `AppCaller`, so it is read after it.
#[derive(Debug, Clone, Default)]
pub struct GrantedRoles(pub Vec<String>);

impl GrantedRoles {
    pub fn has(&self, role: &str) -> bool {
        self.0.iter().any(|r| r.eq_ignore_ascii_case(role))
    }
}

impl FromRequestParts<AppState> for AppCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let required = parts.extensions.get::<RequiredRoles>().copied().ok_or_else(|| {
            tracing::error!(path = %parts.uri.path(), "route declares no permission");
            ApiError::internal()
        })?;
        let authority = state.public_url();
        let unauthenticated = |m: &str| ApiError::unauthenticated(m, authority);
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| unauthenticated("Access token is empty."))?
            .to_str()
            .map_err(|_| unauthenticated("Access token has an invalid format."))?;
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthenticated("Access token has an invalid format."))?;
        let claims = validate(token, state).await.map_err(|why| unauthenticated(&why))?;
        if claims.scp.is_some() {
            return Err(ApiError::forbidden("Delegated tokens are not supported: use an application token."));
        }
        if !claims.roles.iter().any(|r| required.0.iter().any(|need| need.eq_ignore_ascii_case(r))) {
            return Err(ApiError::forbidden(format!(
                "The application does not have any of the required permissions: {}.",
                required.0.join(", ")
            )));
        }
        let app_id =
            claims.appid.or(claims.azp).ok_or_else(|| unauthenticated("Access token names no application (appid)."))?;
        let now = (switchboard_engine::clock::wall_millis() / 1000) as u64;
        if let Err(retry_after) = state.throttle().admit(&app_id, &claims.tid, now) {
            return Err(ApiError {
                retry_after: Some(retry_after),
                ..ApiError::new(
                    crate::error::GraphError::TooManyRequests,
                    "Too many requests for this application and tenant; retry after the time in Retry-After.",
                )
            });
        }
        // An injected 429/503 answers like the throttle, after the token was checked.
        if let Some(template) = parts.extensions.get::<axum::extract::MatchedPath>() {
            if let Some(fault) = state.engine().take_route_fault(parts.method.as_str(), template.as_str()).await? {
                return Err(crate::faults::answer(&fault));
            }
        }
        parts.extensions.insert(GrantedRoles(claims.roles));
        Ok(AppCaller(Caller { app_id: AppId(app_id), tenant_id: TenantId(claims.tid) }))
    }
}

async fn validate(token: &str, state: &AppState) -> Result<Claims, String> {
    let keys = state.engine().keys();
    let now = jsonwebtoken::get_current_timestamp();
    if let Some(claims) = state.verified_tokens().get(token, now, |kid| keys.trusts(kid)) {
        return Ok(claims);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| "Access token is malformed.".to_owned())?;
    if header.alg != Algorithm::RS256 {
        return Err("Access token must be signed with RS256.".to_owned());
    }
    let kid = header.kid.ok_or("Access token has no key id (kid).")?;
    // The (not yet verified) issuer picks who must have signed the token.
    if let Some(provider) = unverified_issuer(token).and_then(|iss| state.identity_provider(&iss)) {
        return provider.validate(token, &kid).await;
    }
    let key = keys.decoding_key(&kid).ok_or("Access token is signed with an unknown key.")?;
    let mut audiences: Vec<&str> = GRAPH_AUDIENCES.to_vec();
    audiences.extend(state.issuer_bases());
    let claims = decode(token, &key, &audiences, None)?;
    // A token names the listener it was issued on (http or TLS); both are Switchboard's own,
    // so a token from either validates on either.
    if !state.issuer_bases().any(|base| claims.iss == crate::identity::issuer(base, &claims.tid)) {
        return Err("Invalid issuer.".to_owned());
    }
    state.verified_tokens().put(token, &kid, &claims);
    Ok(claims)
}

/// The leeway of `exp` and `nbf` checks, in seconds.
const LEEWAY: u64 = 60;

/// Access tokens signed with this server's keys that passed every check above, so that a bot's
/// token, sent with each request for an hour, costs one signature verification (an RSA verify
/// and two JSON parses were 7% of the server's CPU under load), not one per request. An entry
/// answers only while its token has not expired and its key is still trusted (a second key
/// rotation retires it); a token is the same string whatever the request, so nothing else
/// about it can change. Bounded: emptied when full.
#[derive(Default)]
pub(crate) struct VerifiedTokens(Mutex<HashMap<String, (String, Claims)>>);

/// At most this many tokens are remembered.
const VERIFIED_CAPACITY: usize = 4096;

impl VerifiedTokens {
    /// The claims of `token` if it passed before, has not expired since, and the key that
    /// verified it is still `trusted`.
    fn get(&self, token: &str, now: u64, trusted: impl Fn(&str) -> bool) -> Option<Claims> {
        let map = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (kid, claims) = map.get(token)?;
        let live = claims.exp.is_some_and(|exp| now <= exp.saturating_add(LEEWAY));
        (live && trusted(kid)).then(|| claims.clone())
    }

    fn put(&self, token: &str, kid: &str, claims: &Claims) {
        if claims.exp.is_none() {
            return;
        }
        let mut map = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.len() >= VERIFIED_CAPACITY {
            map.clear();
        }
        map.insert(token.to_owned(), (kid.to_owned(), claims.clone()));
    }
}

/// Verifies signature, lifetime (wall time, 60 s leeway), audience and optionally issuer.
fn decode(token: &str, key: &DecodingKey, audiences: &[&str], issuer: Option<&str>) -> Result<Claims, String> {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(audiences);
    if let Some(iss) = issuer {
        validation.set_issuer(&[iss]);
    }
    validation.set_required_spec_claims(&["exp", "aud", "iss"]);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY;
    let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
            "Lifetime validation failed, the token is expired.".to_owned()
        }
        jsonwebtoken::errors::ErrorKind::ImmatureSignature => "The token is not valid yet (nbf).".to_owned(),
        jsonwebtoken::errors::ErrorKind::InvalidAudience => "Invalid audience.".to_owned(),
        jsonwebtoken::errors::ErrorKind::InvalidIssuer => "Invalid issuer.".to_owned(),
        jsonwebtoken::errors::ErrorKind::InvalidSignature => "Invalid signature.".to_owned(),
        _ => "Access token validation failed.".to_owned(),
    })?;
    Ok(data.claims)
}

fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims["iss"].as_str().map(str::to_owned)
}

/// An external OpenID Connect issuer whose tokens are accepted (e.g. Microsoft Entra ID).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityProviderConfig {
    /// The exact `iss` of its tokens.
    pub issuer: String,
    /// Where its signing keys are published.
    pub jwks_uri: String,
    /// Accepted `aud` values (Switchboard's own application id URI in that directory).
    pub audiences: Vec<String>,
    /// Tenants (`tid`) whose tokens are accepted; empty accepts any.
    #[serde(default)]
    pub allowed_tenants: Vec<String>,
    /// An unknown `kid` refetches the JWKS at most this often (seconds).
    #[serde(default = "default_refetch_floor")]
    pub min_refetch_seconds: u64,
}

fn default_refetch_floor() -> u64 {
    10
}

/// An external issuer with its cached keys.
pub struct IdentityProvider {
    config: IdentityProviderConfig,
    http: reqwest::Client,
    /// Keys by `kid`, and when they were last fetched.
    keys: tokio::sync::Mutex<(HashMap<String, DecodingKey>, Option<Instant>)>,
    fetches: Mutex<u64>,
}

impl IdentityProvider {
    pub fn new(config: IdentityProviderConfig) -> IdentityProvider {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        IdentityProvider { config, http, keys: tokio::sync::Mutex::default(), fetches: Mutex::new(0) }
    }

    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// How many times the JWKS was fetched.
    pub fn fetches(&self) -> u64 {
        *self.fetches.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The key for `kid`: from the cache, or refetched when unknown and the floor allows.
    async fn key(&self, kid: &str) -> Result<DecodingKey, String> {
        let mut keys = self.keys.lock().await;
        if let Some(key) = keys.0.get(kid) {
            return Ok(key.clone());
        }
        let floor = Duration::from_secs(self.config.min_refetch_seconds);
        if keys.1.is_some_and(|at| at.elapsed() < floor) {
            return Err("Access token is signed with an unknown key.".to_owned());
        }
        *self.fetches.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        keys.1 = Some(Instant::now());
        let jwks: serde_json::Value = match self.http.get(&self.config.jwks_uri).send().await {
            Ok(r) if r.status().is_success() => r.json().await.map_err(|_| "The issuer's keys are unreadable.")?,
            _ => return Err("The issuer's keys cannot be fetched.".to_owned()),
        };
        keys.0.clear();
        for jwk in jwks["keys"].as_array().into_iter().flatten() {
            if jwk["kty"] != "RSA" {
                continue;
            }
            if let (Some(k), Some(n), Some(e)) = (jwk["kid"].as_str(), jwk["n"].as_str(), jwk["e"].as_str()) {
                if let Ok(key) = DecodingKey::from_rsa_components(n, e) {
                    keys.0.insert(k.to_owned(), key);
                }
            }
        }
        keys.0.get(kid).cloned().ok_or_else(|| "Access token is signed with an unknown key.".to_owned())
    }

    async fn validate(&self, token: &str, kid: &str) -> Result<Claims, String> {
        let key = self.key(kid).await?;
        let audiences: Vec<&str> = self.config.audiences.iter().map(String::as_str).collect();
        let claims = decode(token, &key, &audiences, Some(&self.config.issuer))?;
        if !self.config.allowed_tenants.is_empty() && !self.config.allowed_tenants.iter().any(|t| t == &claims.tid) {
            return Err("The token's tenant is not allowed.".to_owned());
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::{Claims, VerifiedTokens, LEEWAY, VERIFIED_CAPACITY};

    fn claims(exp: u64) -> Claims {
        Claims {
            iss: "issuer".to_owned(),
            exp: Some(exp),
            tid: "tenant".to_owned(),
            appid: Some("app".to_owned()),
            azp: None,
            roles: vec!["Calls.Initiate.All".to_owned()],
            scp: None,
        }
    }

    #[test]
    fn a_verified_token_answers_while_it_lives_and_its_key_is_trusted() {
        let tokens = VerifiedTokens::default();
        tokens.put("t1", "k1", &claims(1_000));
        let trusted = |kid: &str| kid == "k1";
        assert_eq!(tokens.get("t1", 1_000, trusted).map(|c| c.tid), Some("tenant".to_owned()));
        // Within the leeway jsonwebtoken allows, then expired.
        assert!(tokens.get("t1", 1_000 + LEEWAY, trusted).is_some());
        assert!(tokens.get("t1", 1_001 + LEEWAY, trusted).is_none());
        // Its key retired: no longer answered.
        assert!(tokens.get("t1", 1_000, |_| false).is_none());
        // Another token string is not the same token.
        assert!(tokens.get("t2", 1_000, trusted).is_none());
    }

    #[test]
    fn the_remembered_tokens_are_bounded() {
        let tokens = VerifiedTokens::default();
        for i in 0..VERIFIED_CAPACITY {
            tokens.put(&format!("t{i}"), "k", &claims(1_000));
        }
        assert!(tokens.get("t0", 0, |_| true).is_some());
        tokens.put("one more", "k", &claims(1_000));
        assert!(tokens.get("t0", 0, |_| true).is_none(), "emptied when full");
        assert!(tokens.get("one more", 0, |_| true).is_some());
    }
}

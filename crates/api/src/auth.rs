//! Bearer tokens on Graph routes: RS256 tokens of Switchboard's own token endpoint, checked
//! for signature, expiry (wall time), issuer and audience, then for the route's permission.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, Validation};
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

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
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
        let claims = validate(token, state).map_err(|why| unauthenticated(&why))?;
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
        Ok(AppCaller(Caller { app_id: AppId(app_id), tenant_id: TenantId(claims.tid) }))
    }
}

fn validate(token: &str, state: &AppState) -> Result<Claims, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| "Access token is malformed.".to_owned())?;
    if header.alg != Algorithm::RS256 {
        return Err("Access token must be signed with RS256.".to_owned());
    }
    let kid = header.kid.ok_or("Access token has no key id (kid).")?;
    let key = state.engine().keys().decoding_key(&kid).ok_or("Access token is signed with an unknown key.")?;
    let mut validation = Validation::new(Algorithm::RS256);
    let mut audiences: Vec<&str> = GRAPH_AUDIENCES.to_vec();
    audiences.extend(state.issuer_bases());
    validation.set_audience(&audiences);
    validation.set_required_spec_claims(&["exp", "aud", "iss"]);
    validation.validate_nbf = true;
    validation.leeway = 60;
    let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
            "Lifetime validation failed, the token is expired.".to_owned()
        }
        jsonwebtoken::errors::ErrorKind::ImmatureSignature => "The token is not valid yet (nbf).".to_owned(),
        jsonwebtoken::errors::ErrorKind::InvalidAudience => "Invalid audience.".to_owned(),
        jsonwebtoken::errors::ErrorKind::InvalidSignature => "Invalid signature.".to_owned(),
        _ => "Access token validation failed.".to_owned(),
    })?;
    let claims = data.claims;
    // A token names the listener it was issued on (http or TLS); both are Switchboard's own,
    // so a token from either validates on either.
    if !state.issuer_bases().any(|base| claims.iss == crate::identity::issuer(base, &claims.tid)) {
        return Err("Invalid issuer.".to_owned());
    }
    Ok(claims)
}

//! Identity endpoints shaped like the Microsoft identity platform, so MSAL and azure-identity
//! work with only the authority changed: client-credentials token, OpenID configuration,
//! JWKS, instance discovery. Errors use the OAuth shape (`error`, `error_description`,
//! `error_codes`), not Graph's.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::extract::GraphPath;
use crate::{AppState, ListenerBase};

/// Lifetime of access tokens, as Entra ID issues them.
pub const TOKEN_LIFETIME_SECS: i64 = 3599;

/// The `iss` of tokens issued for `tenant`.
pub fn issuer(public_url: &str, tenant: &str) -> String {
    format!("{public_url}/{tenant}/v2.0")
}

/// The base URL the identity endpoints describe: that of the listener the request came in on
/// (https on the TLS listener, so discovery never sends MSAL to plain http), else `public_url`.
struct Authority(String);

impl axum::extract::FromRequestParts<AppState> for Authority {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let base = parts.extensions.get::<ListenerBase>().map(|b| b.0.clone());
        Ok(Authority(base.unwrap_or_else(|| state.public_url().to_owned())))
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(openid_configuration))
        .route("/{tenant}/discovery/v2.0/keys", get(jwks))
        .route("/common/discovery/instance", get(instance_discovery))
}

struct OAuthError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let now = switchboard_core::Timestamp(switchboard_engine::clock::wall_millis()).to_rfc3339();
        let trace = uuid::Uuid::new_v4().to_string();
        let body = json!({
            "error": self.error,
            "error_description": format!("AADSTS{}: {}\r\nTrace ID: {trace}\r\nTimestamp: {now}", self.code, self.description),
            "error_codes": [self.code],
            "timestamp": now,
            "trace_id": trace,
            "correlation_id": uuid::Uuid::new_v4().to_string(),
        });
        (self.status, Json(body)).into_response()
    }
}

fn oauth_error(status: StatusCode, error: &'static str, code: u32, description: impl Into<String>) -> OAuthError {
    OAuthError { status, error, code, description: description.into() }
}

async fn token(
    State(state): State<AppState>,
    Authority(base): Authority,
    GraphPath(tenant): GraphPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, OAuthError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must be application/x-www-form-urlencoded.",
        ));
    }
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).map_err(|_| {
        oauth_error(StatusCode::BAD_REQUEST, "invalid_request", 900144, "The request body is not a valid form.")
    })?;
    let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    match field("grant_type") {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'."),
            ))
        }
        None => {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            ))
        }
    }
    let client_id = field("client_id").ok_or_else(|| {
        oauth_error(StatusCode::BAD_REQUEST, "invalid_request", 900144, "The request body must contain 'client_id'.")
    })?;
    let secret = field("client_secret").ok_or_else(|| {
        oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    })?;
    if let Some(scope) = field("scope") {
        if !scope.split(' ').any(|s| s.ends_with("/.default")) {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                1002012,
                "The client credentials flow needs a scope ending in '/.default'.",
            ));
        }
    }
    let engine = state.engine();
    let app = engine
        .authenticate_client(tenant.clone(), client_id.to_owned(), secret.to_owned())
        .await
        .map_err(|_| {
            oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", 90000, "The directory is unavailable.")
        })?
        .ok_or_else(|| {
            oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                "Invalid client secret provided, or the application is not registered in this tenant.",
            )
        })?;
    let now = switchboard_engine::clock::wall_millis() / 1000;
    let token = engine
        .keys()
        .sign(&json!({
            "aud": "https://graph.microsoft.com",
            "iss": issuer(&base, app.tenant_id.as_str()),
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME_SECS,
            "appid": app.client_id,
            "azp": app.client_id,
            "app_displayname": app.display_name,
            "idtyp": "app",
            "oid": app.client_id,
            "sub": app.client_id,
            "roles": app.permissions,
            "tid": app.tenant_id,
            "ver": "1.0",
            "uti": uuid::Uuid::new_v4().to_string(),
        }))
        .map_err(|_| oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", 90000, "Token signing failed."))?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_SECS,
            "ext_expires_in": TOKEN_LIFETIME_SECS,
            "access_token": token,
        })),
    )
        .into_response())
}

async fn openid_configuration(
    Authority(base): Authority,
    GraphPath(tenant): GraphPath<String>,
) -> Json<serde_json::Value> {
    Json(json!({
        "issuer": issuer(&base, &tenant),
        "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
        "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "grant_types_supported": ["client_credentials"],
        "tenant_region_scope": "WW",
    }))
}

async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.engine().keys().jwks())
}

async fn instance_discovery(Authority(base): Authority) -> Json<serde_json::Value> {
    let host = base.split("://").nth(1).unwrap_or(&base);
    Json(json!({
        "tenant_discovery_endpoint": format!("{base}/common/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{ "preferred_network": host, "preferred_cache": host, "aliases": [host] }],
    }))
}

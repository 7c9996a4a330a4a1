//! Identity endpoints shaped like the Microsoft identity platform, so MSAL and azure-identity
//! work with only the authority changed: client-credentials token, OpenID configuration,
//! JWKS, instance discovery. Errors use the OAuth shape (`error`, `error_description`,
//! `error_codes`), not Graph's.

use std::collections::HashMap;

use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::Method;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use switchboard_engine::ClientAuthentication;
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{RefOr, Schema};

use crate::openapi::schema::{integer, object, string};

use crate::endpoints::{endpoint, tag, Body, Endpoint};
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

/// The answer to request headers over [`crate::MAX_HEADER_BYTES`] when `route` (the matched
/// path template) is an identity route: the OAuth error those routes document, not Graph's.
pub fn headers_too_large(route: &str) -> Option<Response> {
    endpoints().iter().any(|e| e.path == route).then(|| {
        let description = format!("The request headers are larger than {} bytes.", crate::MAX_HEADER_BYTES);
        oauth_error(OAuthFailure::HeadersTooLarge, description).into_response()
    })
}

/// The identity routes.
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(Method::POST, "/{tenant}/oauth2/v2.0/token", token)
            .summary("Client-credentials token (errors in the OAuth shape, see docs/codes.md)")
            .reads(Body::Form(token_form_schema))
            .answers(200, Body::JsonInline(token_schema)),
        authorize_endpoint(Method::GET, AUTHORIZE_PATH),
        authorize_endpoint(Method::POST, AUTHORIZE_PATH),
        authorize_endpoint(Method::GET, AUTHORIZE_V1_PATH),
        authorize_endpoint(Method::POST, AUTHORIZE_V1_PATH),
        endpoint(Method::GET, "/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration)
            .summary("OpenID configuration of a tenant")
            .answers(200, Body::JsonInline(object)),
        endpoint(Method::GET, "/{tenant}/discovery/v2.0/keys", jwks)
            .summary("The signing keys (JWKS) of tokens and callbacks")
            .answers(200, Body::JsonInline(object)),
        endpoint(Method::GET, "/common/discovery/instance", instance_discovery)
            .summary("Instance discovery, as MSAL asks for it")
            .answers(200, Body::JsonInline(object)),
        endpoint(Method::GET, "/v1/.well-known/OpenIdConfiguration", callback_openid_configuration)
            .summary("The OpenID configuration bots validate callback tokens against (Skype's, for Graph)")
            .answers(200, Body::JsonInline(object)),
    ]
    .into_iter()
    .map(|e| e.tag(tag::IDENTITY))
    .collect()
}

/// The authorization endpoint discovery advertises (`authorization_endpoint`).
const AUTHORIZE_PATH: &str = "/{tenant}/oauth2/v2.0/authorize";
/// Its version 1.0 path, which the `authorization_uri` of Graph's 401 challenge names.
const AUTHORIZE_V1_PATH: &str = "/{tenant}/oauth2/authorize";

/// The parameters of an authorization request Switchboard reads (the others are ignored).
const AUTHORIZE_PARAMETERS: &[(&str, &str)] = &[
    ("client_id", "The application asking for the sign-in"),
    ("response_type", "code, id_token, ... (none is supported: see docs/codes.md)"),
    ("redirect_uri", "Never redirected to: no application registers one"),
];

fn authorize_endpoint(method: Method, path: &str) -> Endpoint {
    let endpoint = endpoint(method.clone(), path, authorize)
        .summary(
            "Authorization endpoint: interactive sign-in is not supported (client credentials only), so every \
             request is refused in the OAuth shape, never redirected (see docs/codes.md)",
        )
        .query(AUTHORIZE_PARAMETERS)
        .answers(400, Body::json::<OAuthErrorBody>());
    match method {
        Method::POST => endpoint.reads(Body::Form(authorize_form_schema)),
        _ => endpoint,
    }
}

fn authorize_form_schema() -> RefOr<Schema> {
    AUTHORIZE_PARAMETERS
        .iter()
        .fold(ObjectBuilder::new().schema_type(SchemaType::Type(Type::Object)), |o, (name, _)| {
            o.property(*name, string())
        })
        .into()
}

fn token_form_schema() -> RefOr<Schema> {
    // The client authenticates with `client_id` and `client_secret` in the body, or with HTTP
    // Basic (`client_secret_basic`), so neither is required of the body.
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .property("grant_type", string().enum_values(Some(["client_credentials"])))
        .required("grant_type")
        .property("client_id", string())
        .property("client_secret", string())
        .property("client_assertion_type", string())
        .property("client_assertion", string())
        .property("scope", string())
        .required("scope")
        .into()
}

fn token_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .property("token_type", string())
        .property("expires_in", integer())
        .property("access_token", string())
        .into()
}

/// Every failure of the token endpoint and of discovery, with the status, OAuth `error` and
/// AADSTS code Entra ID answers it with. Published in `docs/codes.md`; a test keeps the two in
/// step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthFailure {
    /// The body is not a form, lacks `grant_type`, `client_id` or `scope`, or authenticates the
    /// client twice (HTTP Basic and a body secret, or a body `client_id` naming another client).
    MalformedRequest,
    /// A grant other than `client_credentials`.
    UnsupportedGrantType,
    /// No `client_secret` (nor assertion).
    MissingClientSecret,
    /// A `client_assertion` that is not a JWT, or of another `client_assertion_type`.
    MalformedClientAssertion,
    /// A well-formed `client_assertion`: the directory holds no certificate to verify it with.
    UnverifiableClientAssertion,
    /// A wrong secret, or an application not registered in that tenant.
    InvalidClient,
    /// A scope that does not end in `/.default`.
    InvalidScope,
    /// A token request to a tenant that is not in the directory.
    UnknownTenant,
    /// Discovery of a tenant that is not in the directory (Entra's `error` differs there).
    UnknownTenantDiscovery,
    /// An authorization request naming no application of the directory in that tenant.
    UnknownApplication,
    /// An authorization request of a known application: none registers a reply address
    /// (redirect URI), since Switchboard supports client credentials only.
    NoReplyAddress,
    /// Request headers over [`crate::MAX_HEADER_BYTES`] in all.
    HeadersTooLarge,
    /// The directory or the signing key failed.
    ServerError,
}

impl OAuthFailure {
    pub const ALL: &'static [OAuthFailure] = &[
        OAuthFailure::MalformedRequest,
        OAuthFailure::UnsupportedGrantType,
        OAuthFailure::MissingClientSecret,
        OAuthFailure::MalformedClientAssertion,
        OAuthFailure::UnverifiableClientAssertion,
        OAuthFailure::InvalidClient,
        OAuthFailure::InvalidScope,
        OAuthFailure::UnknownTenant,
        OAuthFailure::UnknownTenantDiscovery,
        OAuthFailure::UnknownApplication,
        OAuthFailure::NoReplyAddress,
        OAuthFailure::HeadersTooLarge,
        OAuthFailure::ServerError,
    ];

    /// `(status, error, AADSTS code)`.
    pub fn parts(self) -> (StatusCode, &'static str, u32) {
        match self {
            OAuthFailure::MalformedRequest => (StatusCode::BAD_REQUEST, "invalid_request", 900144),
            OAuthFailure::UnsupportedGrantType => (StatusCode::BAD_REQUEST, "unsupported_grant_type", 70003),
            OAuthFailure::MissingClientSecret => (StatusCode::UNAUTHORIZED, "invalid_client", 7000218),
            OAuthFailure::MalformedClientAssertion => (StatusCode::BAD_REQUEST, "invalid_request", 50027),
            OAuthFailure::UnverifiableClientAssertion => (StatusCode::UNAUTHORIZED, "invalid_client", 700027),
            OAuthFailure::InvalidClient => (StatusCode::UNAUTHORIZED, "invalid_client", 7000215),
            OAuthFailure::InvalidScope => (StatusCode::BAD_REQUEST, "invalid_scope", 1002012),
            OAuthFailure::UnknownTenant => (StatusCode::BAD_REQUEST, "invalid_request", 90002),
            OAuthFailure::UnknownTenantDiscovery => (StatusCode::BAD_REQUEST, "invalid_tenant", 90002),
            OAuthFailure::UnknownApplication => (StatusCode::BAD_REQUEST, "unauthorized_client", 700016),
            OAuthFailure::NoReplyAddress => (StatusCode::BAD_REQUEST, "invalid_request", 500113),
            OAuthFailure::HeadersTooLarge => (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "invalid_request", 900144),
            OAuthFailure::ServerError => (StatusCode::INTERNAL_SERVER_ERROR, "server_error", 90000),
        }
    }
}

struct OAuthError {
    failure: OAuthFailure,
    description: String,
}

/// The error body of the identity endpoints, as the Microsoft identity platform writes it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct OAuthErrorBody {
    /// The OAuth error (`invalid_request`, `invalid_client`, ...).
    error: String,
    /// `AADSTS{code}: {what went wrong}`, then the trace id and the time, on lines of their own.
    error_description: String,
    /// The AADSTS code.
    error_codes: Vec<u32>,
    /// When (RFC 3339, UTC).
    timestamp: String,
    trace_id: String,
    correlation_id: String,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let (status, error, code) = self.failure.parts();
        let now = switchboard_core::Timestamp(switchboard_engine::clock::wall_millis()).to_rfc3339();
        let trace = uuid::Uuid::new_v4().to_string();
        let body = OAuthErrorBody {
            error: error.to_owned(),
            error_description: format!("AADSTS{code}: {}\r\nTrace ID: {trace}\r\nTimestamp: {now}", self.description),
            error_codes: vec![code],
            timestamp: now,
            trace_id: trace,
            correlation_id: uuid::Uuid::new_v4().to_string(),
        };
        (status, Json(body)).into_response()
    }
}

fn oauth_error(failure: OAuthFailure, description: impl Into<String>) -> OAuthError {
    OAuthError { failure, description: description.into() }
}

/// The `client_assertion_type` of a JWT client assertion (RFC 7523), the only one Entra takes.
const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn missing_parameter(name: &str) -> OAuthError {
    oauth_error(
        OAuthFailure::MalformedRequest,
        format!("The request body must contain the following parameter: '{name}'."),
    )
}

fn unknown_tenant(failure: OAuthFailure, tenant: &str) -> OAuthError {
    oauth_error(
        failure,
        format!(
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into \
             the correct cloud."
        ),
    )
}

/// A request body, or the OAuth error that it could not be read (over
/// [`crate::MAX_BODY_BYTES`], or cut short), never axum's plain-text rejection.
fn readable(body: Result<axum::body::Bytes, BytesRejection>) -> Result<axum::body::Bytes, OAuthError> {
    body.map_err(|rejection| {
        let description = match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => "The request body is too large.",
            _ => "The request body could not be read.",
        };
        oauth_error(OAuthFailure::MalformedRequest, description)
    })
}

/// The fields of a form (a body or a query), or `None` if it is malformed. A name or value
/// holding U+0000 (`%00`) is malformed, as in every surface (`crate::extract::encodes_nul`).
fn form_fields(form: &[u8]) -> Option<HashMap<String, String>> {
    if crate::extract::encodes_nul(form) {
        return None;
    }
    serde_urlencoded::from_bytes(form).ok()
}

/// The client id and secret of HTTP Basic client authentication (`client_secret_basic`), if
/// the request uses it. RFC 6749 §2.3.1 has the client form-urlencode both before joining them
/// with `:` and base64-encoding the pair, so they are decoded here (a `:` in a secret arrives
/// as `%3A`, and the first `:` splits). Other schemes are not client authentication and are
/// left alone, as the endpoint always has.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().unwrap_or("");
    let Some((scheme, encoded)) = value.split_once(' ') else { return Ok(None) };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let malformed = || {
        oauth_error(
            OAuthFailure::MalformedRequest,
            "The Authorization header is not valid HTTP Basic client authentication.",
        )
    };
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    if crate::extract::encodes_nul(decoded.as_bytes()) || decoded.contains('\0') {
        return Err(malformed());
    }
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let form_decode = |part: &str| {
        percent_encoding::percent_decode_str(&part.replace('+', " ")).decode_utf8().map(|s| s.into_owned())
    };
    Ok(Some((form_decode(id).map_err(|_| malformed())?, form_decode(secret).map_err(|_| malformed())?)))
}

/// Whether `assertion` has the shape of a JWS compact token: three base64url parts, the first
/// two JSON objects. Switchboard verifies no assertion, so it needs no more than the shape to
/// tell Entra's "malformed" from its "signature validation failed".
fn looks_like_a_jwt(assertion: &str) -> bool {
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, _signature] = parts[..] else { return false };
    let is_object = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .is_some_and(|v| v.is_object())
    };
    is_object(header) && is_object(claims)
}

/// How the client proves who it is.
enum ClientCredential<'a> {
    Secret(String),
    Assertion(&'a str),
}

async fn token(
    State(state): State<AppState>,
    Authority(base): Authority,
    GraphPath(tenant): GraphPath<String>,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(oauth_error(
            OAuthFailure::MalformedRequest,
            "The request body must be application/x-www-form-urlencoded.",
        ));
    }
    let body = readable(body)?;
    let form = form_fields(&body)
        .ok_or_else(|| oauth_error(OAuthFailure::MalformedRequest, "The request body is not a valid form."))?;
    let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    match field("grant_type") {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(oauth_error(
                OAuthFailure::UnsupportedGrantType,
                format!("The app requested an unsupported grant type '{other}'."),
            ))
        }
        None => return Err(missing_parameter("grant_type")),
    }
    let basic = basic_credentials(&headers)?;
    let (client_id, credential) = match basic {
        Some((basic_id, secret)) => {
            // A body `client_id` may repeat the header's; naming another client contradicts it.
            // A body secret or assertion beside the header is a second authentication method,
            // which RFC 6749 §2.3 forbids.
            if field("client_id").is_some_and(|id| id != basic_id) {
                return Err(oauth_error(
                    OAuthFailure::MalformedRequest,
                    "The client_id in the request body does not match the client authenticated by the \
                     Authorization header.",
                ));
            }
            if field("client_secret").is_some() || field("client_assertion").is_some() {
                return Err(oauth_error(
                    OAuthFailure::MalformedRequest,
                    "The client is authenticated by the Authorization header and by the request body; use one.",
                ));
            }
            (basic_id, ClientCredential::Secret(secret))
        }
        None => {
            let client_id = field("client_id").ok_or_else(|| missing_parameter("client_id"))?;
            let credential = match (field("client_secret"), field("client_assertion")) {
                (Some(secret), _) => ClientCredential::Secret(secret.to_owned()),
                (None, Some(assertion)) => ClientCredential::Assertion(assertion),
                (None, None) => {
                    return Err(oauth_error(
                        OAuthFailure::MissingClientSecret,
                        "The request body must contain the following parameter: 'client_assertion' or \
                         'client_secret'.",
                    ))
                }
            };
            (client_id.to_owned(), credential)
        }
    };
    let scope = field("scope").ok_or_else(|| missing_parameter("scope"))?;
    if !scope.split(' ').any(|s| s.ends_with("/.default")) {
        return Err(oauth_error(
            OAuthFailure::InvalidScope,
            "The client credentials flow needs a scope ending in '/.default'.",
        ));
    }
    let engine = state.engine();
    let directory_failed = |_| oauth_error(OAuthFailure::ServerError, "The directory is unavailable.");
    let secret = match credential {
        ClientCredential::Secret(secret) => secret,
        ClientCredential::Assertion(assertion) => {
            if field("client_assertion_type") != Some(JWT_BEARER_ASSERTION) || !looks_like_a_jwt(assertion) {
                return Err(oauth_error(OAuthFailure::MalformedClientAssertion, "JWT token is invalid or malformed."));
            }
            // The directory registers secrets only, so no assertion can verify; the tenant is
            // still checked first, as for a secret.
            if !engine.tenant_known(tenant.clone()).await.map_err(directory_failed)? {
                return Err(unknown_tenant(OAuthFailure::UnknownTenant, &tenant));
            }
            return Err(oauth_error(
                OAuthFailure::UnverifiableClientAssertion,
                format!(
                    "Client assertion failed signature validation: application '{client_id}' has no certificate \
                     credential in this directory. Use a client secret."
                ),
            ));
        }
    };
    let app = match engine.authenticate_client(tenant.clone(), client_id, secret).await.map_err(directory_failed)? {
        ClientAuthentication::Authenticated(app) => app,
        ClientAuthentication::UnknownTenant => return Err(unknown_tenant(OAuthFailure::UnknownTenant, &tenant)),
        ClientAuthentication::Refused => {
            return Err(oauth_error(
                OAuthFailure::InvalidClient,
                "Invalid client secret provided, or the application is not registered in this tenant.",
            ))
        }
    };
    let token =
        app_token(&state, &base, &app).map_err(|_| oauth_error(OAuthFailure::ServerError, "Token signing failed."))?;
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

/// An access token for `app`, as the token endpoint issues it (also minted for the control
/// API's `POST /_switchboard/applications/{clientId}/token`, which `switchboard token` uses),
/// issued by the listener at `base` (its `iss` names it).
///
/// Its claims are those of the app-only tokens Entra ID issues for Microsoft Graph, which are
/// version 1.0 tokens: the application in `appid` (with `appidacr` "1", a client secret; the
/// version 2.0 names `azp` and `azpacr` are not written), and the object id of its service
/// principal in `oid` and `sub`, which for an app-only token are the same id and never the
/// client id. Switchboard reads the application from `appid` (or `azp`, for an external issuer's
/// version 2.0 tokens), never from `oid`.
pub(crate) fn app_token(
    state: &AppState,
    base: &str,
    app: &switchboard_core::Application,
) -> Result<String, switchboard_engine::EngineError> {
    let now = switchboard_engine::clock::wall_millis() / 1000;
    let service_principal = app.service_principal_id();
    state.engine().keys().sign(&json!({
        "aud": "https://graph.microsoft.com",
        "iss": issuer(base, app.tenant_id.as_str()),
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_LIFETIME_SECS,
        "appid": app.client_id,
        "appidacr": "1",
        "app_displayname": app.display_name,
        "idtyp": "app",
        "oid": service_principal,
        "sub": service_principal,
        "roles": app.permissions,
        "tid": app.tenant_id,
        "ver": "1.0",
        "uti": uuid::Uuid::new_v4().to_string(),
    }))
}

/// The authorization endpoint (`/oauth2/v2.0/authorize`, and `/oauth2/authorize`, the one
/// Graph's 401 challenge names). Switchboard issues app-only tokens by client credentials, so no
/// application of its directory registers a reply address (redirect URI), and Entra ID answers
/// any authorization request of such an application with `AADSTS500113` on its own page,
/// without redirecting: redirecting to an address nobody registered would make the endpoint an
/// open redirector (RFC 6749 §4.1.2.1). So does this endpoint, in the OAuth shape of the token
/// endpoint, after the checks Entra makes first (the tenant, `client_id`, the application).
/// Discovery keeps advertising it, because MSAL reads `authorization_endpoint` from the
/// metadata even for client credentials.
async fn authorize(
    State(state): State<AppState>,
    Authority(base): Authority,
    GraphPath(tenant): GraphPath<String>,
    method: Method,
    uri: axum::http::Uri,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Result<std::convert::Infallible, OAuthError> {
    let malformed = || oauth_error(OAuthFailure::MalformedRequest, "The request parameters are not a valid form.");
    let mut parameters = form_fields(uri.query().unwrap_or_default().as_bytes()).ok_or_else(malformed)?;
    let body = readable(body)?;
    if method == Method::POST && !body.is_empty() {
        parameters.extend(form_fields(&body).ok_or_else(malformed)?);
    }
    let engine = state.engine();
    let directory_failed = |_| oauth_error(OAuthFailure::ServerError, "The directory is unavailable.");
    if !engine.tenant_known(tenant.clone()).await.map_err(directory_failed)? {
        return Err(unknown_tenant(OAuthFailure::UnknownTenant, &tenant));
    }
    let client_id =
        parameters.get("client_id").filter(|id| !id.is_empty()).ok_or_else(|| missing_parameter("client_id"))?;
    // Under `common`, `organizations` and `consumers` any tenant's application is found, as
    // Entra finds a multi-tenant one; under a tenant id, only that tenant's.
    let alias = switchboard_engine::directory::TENANT_ALIASES.iter().any(|a| a.eq_ignore_ascii_case(&tenant));
    let app = engine
        .application(client_id.clone())
        .await
        .map_err(directory_failed)?
        .filter(|app| alias || app.tenant_id.as_str().eq_ignore_ascii_case(&tenant));
    if app.is_none() {
        return Err(oauth_error(
            OAuthFailure::UnknownApplication,
            format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."),
        ));
    }
    Err(oauth_error(
        OAuthFailure::NoReplyAddress,
        format!(
            "No reply address is registered for the application. Interactive sign-in is not supported on this \
             server: it issues app-only tokens by the client credentials flow only (POST \
             {base}/{tenant}/oauth2/v2.0/token), so no application registers a redirect URI."
        ),
    ))
}

async fn openid_configuration(
    State(state): State<AppState>,
    Authority(base): Authority,
    GraphPath(tenant): GraphPath<String>,
) -> Result<Json<serde_json::Value>, OAuthError> {
    let known = state
        .engine()
        .tenant_known(tenant.clone())
        .await
        .map_err(|_| oauth_error(OAuthFailure::ServerError, "The directory is unavailable."))?;
    if !known {
        return Err(unknown_tenant(OAuthFailure::UnknownTenantDiscovery, &tenant));
    }
    Ok(Json(json!({
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
    })))
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

/// The OpenID configuration bots validate callback tokens against: Graph's lives at
/// `https://api.aps.skype.com/v1/.well-known/OpenIdConfiguration`; Switchboard's here.
async fn callback_openid_configuration(State(state): State<AppState>) -> Json<serde_json::Value> {
    let base = state.public_url();
    Json(json!({
        "issuer": state.engine().callback_issuer(),
        "jwks_uri": format!("{base}/common/discovery/v2.0/keys"),
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
    }))
}

//! The HTTP surface of Switchboard: the Graph calls API, the identity endpoints, the control
//! API and the operational endpoints. The only crate that knows HTTP; one error type
//! ([`error::ApiError`]) renders every failure as a Graph error body.

pub mod auth;
pub mod control;
pub mod error;
pub mod extract;
pub mod graph;
pub mod identity;
mod request_id;
pub mod throttle;

use std::sync::Arc;

use axum::Router;
use switchboard_engine::Engine;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
}

struct StateInner {
    engine: Engine,
    public_url: String,
    admin_token: String,
    identity_providers: Vec<auth::IdentityProvider>,
    throttle: throttle::Throttle,
}

/// Settings of the HTTP surface.
pub struct ApiSettings {
    /// The absolute base of `Location` headers, links and token issuers.
    pub public_url: String,
    /// The control API's credential.
    pub admin_token: String,
    /// External issuers whose tokens are accepted beside Switchboard's own.
    pub identity_providers: Vec<auth::IdentityProviderConfig>,
    pub throttle: throttle::ThrottleConfig,
}

impl AppState {
    pub fn new(engine: Engine, settings: ApiSettings) -> AppState {
        let public_url = settings.public_url.trim_end_matches('/').to_owned();
        AppState {
            inner: Arc::new(StateInner {
                engine,
                public_url,
                admin_token: settings.admin_token,
                identity_providers: settings.identity_providers.into_iter().map(auth::IdentityProvider::new).collect(),
                throttle: throttle::Throttle::new(settings.throttle),
            }),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }

    pub(crate) fn admin_token(&self) -> &str {
        &self.inner.admin_token
    }

    pub(crate) fn identity_provider(&self, issuer: &str) -> Option<&auth::IdentityProvider> {
        self.inner.identity_providers.iter().find(|p| p.issuer() == issuer)
    }

    pub(crate) fn throttle(&self) -> &throttle::Throttle {
        &self.inner.throttle
    }
}

/// Largest request body accepted (Graph's own limit for these routes is 4 MB; invites are small).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The whole application: Graph routes, identity, control API, health.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(graph::routes())
        .merge(identity::routes())
        .merge(control::routes())
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/readyz", axum::routing::get(readyz))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(limit_headers))
        .layer(axum::middleware::from_fn(request_id::middleware))
        .with_state(state)
}

/// Largest total size of a request's headers (names and values).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses requests whose headers are larger than [`MAX_HEADER_BYTES`] with a Graph body
/// (hyper's own, larger limit answers without one).
async fn limit_headers(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    let size: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if size > MAX_HEADER_BYTES {
        return error::ApiError::new(
            axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "requestHeaderFieldsTooLarge",
            format!("The request headers are larger than {MAX_HEADER_BYTES} bytes."),
        )
        .into_response();
    }
    next.run(request).await
}

async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> Result<&'static str, error::ApiError> {
    state.engine().ping().await.map_err(|_| error::ApiError::unavailable("the store does not answer"))?;
    Ok("ready")
}

async fn not_found(uri: axum::http::Uri) -> error::ApiError {
    error::ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "UnknownError",
        format!("Resource not found for the segment '{}'.", uri.path()),
    )
}

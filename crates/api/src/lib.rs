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
    tls_url: Option<String>,
    admin_token: String,
}

impl AppState {
    /// `public_url` is the absolute base of `Location` headers and links (no trailing slash).
    pub fn new(engine: Engine, public_url: String, admin_token: String) -> AppState {
        AppState::with_tls(engine, public_url, None, admin_token)
    }

    /// As [`AppState::new`], for a server that also listens with TLS at `tls_url` (the https
    /// base of that listener): the identity endpoints reached there answer with https URLs.
    pub fn with_tls(engine: Engine, public_url: String, tls_url: Option<String>, admin_token: String) -> AppState {
        let public_url = public_url.trim_end_matches('/').to_owned();
        let tls_url = tls_url.map(|u| u.trim_end_matches('/').to_owned());
        AppState { inner: Arc::new(StateInner { engine, public_url, tls_url, admin_token }) }
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }

    /// The https base of the TLS listener, if there is one.
    pub fn tls_url(&self) -> Option<&str> {
        self.inner.tls_url.as_deref()
    }

    /// The bases whose issuer Switchboard's tokens may carry: one per listener.
    pub(crate) fn issuer_bases(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.public_url()).chain(self.tls_url())
    }

    pub(crate) fn admin_token(&self) -> &str {
        &self.inner.admin_token
    }
}

/// Largest request body accepted (Graph's own limit for these routes is 4 MB; invites are small).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The base URL of the listener a request came in on. The TLS listener's router carries it
/// (see [`tls_router`]); requests without it came in on the plain listener (`public_url`).
#[derive(Debug, Clone)]
pub struct ListenerBase(pub String);

/// The whole application: Graph routes, identity, control API, health.
pub fn router(state: AppState) -> Router {
    routes(state)
}

/// The same application for the TLS listener: identical routes, but the identity endpoints
/// (OpenID configuration, instance discovery, token issuer) name the https base, because MSAL
/// and azure-identity accept only an https authority and https endpoints from discovery.
pub fn tls_router(state: AppState) -> Router {
    let base = state.tls_url().unwrap_or(state.public_url()).to_owned();
    routes(state).layer(axum::Extension(ListenerBase(base)))
}

fn routes(state: AppState) -> Router {
    Router::new()
        .merge(graph::routes())
        .merge(identity::routes())
        .merge(control::routes())
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/readyz", axum::routing::get(readyz))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(request_id::middleware))
        .with_state(state)
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

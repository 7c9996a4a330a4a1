//! The HTTP surface of Switchboard: the Graph calls API, the identity endpoints, the control
//! API, the console and the operational endpoints. The only crate that knows HTTP; one error
//! type ([`error::ApiError`]) renders every failure as a Graph error body.
//!
//! Every route is described once in [`endpoints::all`]; the router and `/openapi.json` are
//! both built from that list.

mod agents;
pub mod auth;
mod canonical;
mod console;
pub mod control;
pub mod endpoints;
pub mod error;
pub mod extract;
pub mod fallback;
pub mod faults;
pub mod graph;
pub mod identity;
pub mod metrics;
pub mod openapi;
mod operations;
mod request_id;
pub mod select;
pub mod throttle;

use std::sync::Arc;

use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
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
    identity_providers: Vec<auth::IdentityProvider>,
    throttle: throttle::Throttle,
    verified_tokens: auth::VerifiedTokens,
    metrics: Option<PrometheusHandle>,
    /// Turns true when the server starts shutting down: endless responses (the event
    /// stream) end then, so a graceful shutdown does not wait for open consoles.
    shutdown: Option<tokio::sync::watch::Receiver<bool>>,
}

/// Settings of the HTTP surface.
pub struct ApiSettings {
    /// The absolute base of `Location` headers, links and token issuers.
    pub public_url: String,
    /// The https base of the TLS listener, when there is one (its identity endpoints name it).
    pub tls_url: Option<String>,
    /// The control API's credential.
    pub admin_token: String,
    /// External issuers whose tokens are accepted beside Switchboard's own.
    pub identity_providers: Vec<auth::IdentityProviderConfig>,
    pub throttle: throttle::ThrottleConfig,
    /// Renders `/metrics` (the process's Prometheus recorder); `/metrics` answers 503 without.
    pub metrics: Option<PrometheusHandle>,
    /// Turns true when the server starts shutting down (endless responses end then).
    pub shutdown: Option<tokio::sync::watch::Receiver<bool>>,
}

impl AppState {
    pub fn new(engine: Engine, settings: ApiSettings) -> AppState {
        let public_url = settings.public_url.trim_end_matches('/').to_owned();
        AppState {
            inner: Arc::new(StateInner {
                engine,
                public_url,
                tls_url: settings.tls_url.map(|u| u.trim_end_matches('/').to_owned()),
                admin_token: settings.admin_token,
                identity_providers: settings.identity_providers.into_iter().map(auth::IdentityProvider::new).collect(),
                throttle: throttle::Throttle::new(settings.throttle),
                verified_tokens: auth::VerifiedTokens::default(),
                metrics: settings.metrics,
                shutdown: settings.shutdown,
            }),
        }
    }

    /// Resolves once the server starts shutting down.
    pub(crate) fn shutting_down(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let shutdown = self.inner.shutdown.clone();
        async move {
            match shutdown {
                Some(mut shutdown) => {
                    let _ = shutdown.wait_for(|down| *down).await;
                }
                None => std::future::pending().await,
            }
        }
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

    pub(crate) fn metrics(&self) -> Option<&PrometheusHandle> {
        self.inner.metrics.as_ref()
    }

    pub(crate) fn identity_provider(&self, issuer: &str) -> Option<&auth::IdentityProvider> {
        self.inner.identity_providers.iter().find(|p| p.issuer() == issuer)
    }

    pub(crate) fn verified_tokens(&self) -> &auth::VerifiedTokens {
        &self.inner.verified_tokens
    }

    pub(crate) fn throttle(&self) -> &throttle::Throttle {
        &self.inner.throttle
    }
}

/// Largest request body accepted (Graph's own limit for these routes is 4 MB; invites are small).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The base URL of the listener a request came in on. The TLS listener's router carries it
/// (see [`tls_router`]); requests without it came in on the plain listener (`public_url`).
#[derive(Debug, Clone)]
pub struct ListenerBase(pub String);

/// The whole application, built from [`endpoints::all`]. Layers, outermost first: Graph paths
/// spelled as their routes ([`canonical`]), request ids (and the request's span), metrics and
/// the request log line, the body limit.
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
    let mut router = Router::new();
    let mut paths = Vec::new();
    for e in endpoints::all() {
        paths.push((e.tag == endpoints::tag::GRAPH, e.path.clone()));
        router = router.route(&e.path, e.handler);
    }
    let fallback = Arc::new(fallback::Fallback::new(paths.iter().map(|(graph, path)| (*graph, path.as_str()))));
    let canonical = Arc::new(canonical::CanonicalPaths::new(
        paths.iter().filter(|(graph, _)| *graph).map(|(_, path)| path.as_str()),
    ));
    let routed = router
        .method_not_allowed_fallback(graph::method_not_allowed)
        .fallback(move |uri: axum::http::Uri| {
            let fallback = fallback.clone();
            async move { fallback.answer(uri.path()) }
        })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(limit_headers))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(axum::middleware::from_fn(request_id::middleware))
        .with_state(state);
    // Before routing: a router's own layers run once a route is chosen.
    Router::new()
        .fallback_service(routed)
        .layer(axum::middleware::map_request(move |request| std::future::ready(canonical.rewrite(request))))
}

/// Largest total size of a request's headers (names and values).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses requests whose headers are larger than [`MAX_HEADER_BYTES`] with a Graph body, or
/// the OAuth body on an identity route (hyper's own, larger limit answers without one).
async fn limit_headers(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    let size: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if size > MAX_HEADER_BYTES {
        let route = request.extensions().get::<axum::extract::MatchedPath>();
        if let Some(answer) = route.and_then(|route| identity::headers_too_large(route.as_str())) {
            return answer;
        }
        return error::ApiError::new(
            error::GraphError::RequestHeaderFieldsTooLarge,
            format!("The request headers are larger than {MAX_HEADER_BYTES} bytes."),
        )
        .into_response();
    }
    next.run(request).await
}

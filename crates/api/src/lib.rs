//! The HTTP surface of Switchboard: the Graph calls API, the identity endpoints, the control
//! API, the console and the operational endpoints. The only crate that knows HTTP; one error
//! type ([`error::ApiError`]) renders every failure as a Graph error body.
//!
//! Every route is described once in [`endpoints::all`]; the router and `/openapi.json` are
//! both built from that list.

pub mod auth;
mod console;
pub mod control;
pub mod endpoints;
pub mod error;
pub mod extract;
pub mod graph;
pub mod identity;
pub mod metrics;
pub mod openapi;
mod operations;
mod request_id;

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
    admin_token: String,
    metrics: Option<PrometheusHandle>,
    /// Turns true when the server starts shutting down: endless responses (the event
    /// stream) end then, so a graceful shutdown does not wait for open consoles.
    shutdown: Option<tokio::sync::watch::Receiver<bool>>,
}

impl AppState {
    /// `public_url` is the absolute base of `Location` headers and links (no trailing slash).
    pub fn new(engine: Engine, public_url: String, admin_token: String) -> AppState {
        let public_url = public_url.trim_end_matches('/').to_owned();
        AppState { inner: Arc::new(StateInner { engine, public_url, admin_token, metrics: None, shutdown: None }) }
    }

    /// The same, ending endless responses when `shutdown` turns true.
    pub fn with_shutdown(self, shutdown: tokio::sync::watch::Receiver<bool>) -> AppState {
        self.rebuild(|inner| StateInner { shutdown: Some(shutdown), ..inner })
    }

    /// The same, with `/metrics` rendered by the process's Prometheus recorder.
    pub fn with_metrics(self, handle: PrometheusHandle) -> AppState {
        self.rebuild(|inner| StateInner { metrics: Some(handle), ..inner })
    }

    fn rebuild(self, change: impl FnOnce(StateInner) -> StateInner) -> AppState {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| StateInner {
            engine: shared.engine.clone(),
            public_url: shared.public_url.clone(),
            admin_token: shared.admin_token.clone(),
            metrics: shared.metrics.clone(),
            shutdown: shared.shutdown.clone(),
        });
        AppState { inner: Arc::new(change(inner)) }
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

    pub(crate) fn admin_token(&self) -> &str {
        &self.inner.admin_token
    }

    pub(crate) fn metrics(&self) -> Option<&PrometheusHandle> {
        self.inner.metrics.as_ref()
    }
}

/// Largest request body accepted (Graph's own limit for these routes is 4 MB; invites are small).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The whole application, built from [`endpoints::all`]. Layers, outermost first: request ids
/// (and the request's span), metrics and the request log line, the body limit.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for e in endpoints::all() {
        router = router.route(&e.path, e.handler);
    }
    router
        .method_not_allowed_fallback(graph::method_not_allowed)
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(axum::middleware::from_fn(request_id::middleware))
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> error::ApiError {
    error::ApiError::new(
        error::GraphError::UnknownSegment,
        format!("Resource not found for the segment '{}'.", uri.path()),
    )
}

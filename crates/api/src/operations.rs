//! The operational endpoints: liveness, readiness, metrics and the OpenAPI document.

use axum::extract::State;
use axum::http::Method;
use axum::Json;

use crate::endpoints::{endpoint, tag, Body, Endpoint};
use crate::error::ApiError;
use crate::AppState;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(Method::GET, "/healthz", healthz)
            .summary("Liveness: the process answers")
            .answers(200, Body::Text("text/plain")),
        endpoint(Method::GET, "/readyz", readyz)
            .summary("Readiness: 200 only when the store answers, else 503")
            .answers(200, Body::Text("text/plain")),
        endpoint(Method::GET, "/metrics", crate::metrics::render)
            .summary("Metrics in Prometheus text format")
            .answers(200, Body::Text("text/plain; version=0.0.4")),
        endpoint(Method::GET, "/openapi.json", openapi)
            .summary("This document (OpenAPI 3.1), built from the router's own route list")
            .answers(200, Body::JsonInline(|| utoipa::openapi::schema::ObjectBuilder::new().into())),
    ]
    .into_iter()
    .map(|e| e.tag(tag::OPERATIONS))
    .collect()
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state.engine().ping().await.map_err(|_| ApiError::unavailable("the store does not answer"))?;
    Ok("ready")
}

async fn openapi(State(state): State<AppState>) -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::document(state.public_url()))
}

//! Extractors that answer malformed input with a Graph error body, never axum's plain text.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body: `application/json` (415 otherwise), at most [`crate::MAX_BODY_BYTES`] (413),
/// parsed into `T` (400 with serde's reason otherwise; duplicate keys are refused).
pub struct GraphJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for GraphJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupportedMediaType",
                "Content-Type must be application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "requestEntityTooLarge", "The request body is too large.")
            } else {
                ApiError::invalid("The request body could not be read.")
            }
        })?;
        parse_json(&bytes).map(GraphJson)
    }
}

/// Parses JSON with a nesting limit (serde_json's own recursion limit is 128).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid(format!("Invalid request body: {e}")))
}

/// Path parameters; a malformed one is a 400 with a Graph body.
pub struct GraphPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for GraphPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| GraphPath(p.0))
            .map_err(|e| ApiError::invalid(format!("Invalid path: {e}")))
    }
}

/// Query parameters; a malformed one is a 400 with a Graph body.
pub struct GraphQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for GraphQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| GraphQuery(q.0))
            .map_err(|e| ApiError::invalid(format!("Invalid query: {e}")))
    }
}

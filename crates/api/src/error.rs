//! The one error type of the HTTP surface. Every failure, from any layer, becomes a Graph
//! error body: `{"error":{"code","message","innerError":{"request-id","client-request-id","date"}}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use graph_model::{ErrorBody, ErrorDetail, InnerError};
use switchboard_core::{DomainError, ErrorKind};
use switchboard_engine::EngineError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub www_authenticate: Option<String>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), www_authenticate: None, retry_after: None }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalidRequest", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "itemNotFound", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "accessDenied", message)
    }

    pub fn not_implemented(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_IMPLEMENTED, "notImplemented", message)
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "serviceNotAvailable", message)
    }

    /// 401 with the `WWW-Authenticate` challenge Graph sends.
    pub fn unauthenticated(message: impl Into<String>, authority: &str) -> ApiError {
        ApiError {
            www_authenticate: Some(format!(
                "Bearer realm=\"\", authorization_uri=\"{authority}/common/oauth2/authorize\", \
                 client_id=\"00000003-0000-0000-c000-000000000000\""
            )),
            ..ApiError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message)
        }
    }

    pub fn internal() -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "generalException", "An internal error occurred.")
    }
}

/// The table from a broken domain rule to HTTP status and Graph code.
impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        let (status, code) = match e.kind {
            ErrorKind::InvalidRequest => (StatusCode::BAD_REQUEST, "invalidRequest"),
            ErrorKind::AccessDenied => (StatusCode::FORBIDDEN, "accessDenied"),
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "itemNotFound"),
            ErrorKind::Conflict => (StatusCode::CONFLICT, "conflict"),
            ErrorKind::NotImplemented => (StatusCode::NOT_IMPLEMENTED, "notImplemented"),
        };
        ApiError::new(status, code, e.message)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Domain(d) => d.into(),
            other => {
                // Details go to the log only; 5xx bodies never leak internals.
                tracing::error!(error = %other, "request failed");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ids = crate::request_id::current();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                inner_error: InnerError {
                    request_id: ids.request_id,
                    client_request_id: ids.client_request_id,
                    date: switchboard_core::Timestamp(switchboard_engine::clock::wall_millis())
                        .to_rfc3339()
                        .replace(".000Z", "Z"),
                },
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(Ok(v)) = self.www_authenticate.as_deref().map(HeaderValue::from_str) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

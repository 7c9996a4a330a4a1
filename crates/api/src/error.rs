//! The one error type of the HTTP surface. Every failure, from any layer, becomes a Graph
//! error body: `{"error":{"code","message","innerError":{"request-id","client-request-id","date"}}}`.
//!
//! [`GraphError`] is the table of every status and code the API can answer with; it is
//! published in `docs/codes.md`, and a test keeps the two in step.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use graph_model::{ErrorBody, ErrorDetail, InnerError};
use switchboard_core::{DomainError, ErrorKind};
use switchboard_engine::EngineError;

/// Declares the table of Graph errors: each variant with its status and code, and `ALL`,
/// which is complete by construction.
macro_rules! graph_errors {
    ($($(#[$meta:meta])* $variant:ident => ($status:ident, $code:literal)),+ $(,)?) => {
        /// Every HTTP error Switchboard answers with (identity endpoints excepted: they use
        /// the OAuth shape, see [`crate::identity::OAuthFailure`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum GraphError { $($(#[$meta])* $variant),+ }

        impl GraphError {
            pub const ALL: &'static [GraphError] = &[$(GraphError::$variant),+];

            pub fn status(self) -> StatusCode {
                match self { $(GraphError::$variant => StatusCode::$status),+ }
            }

            pub fn code(self) -> &'static str {
                match self { $(GraphError::$variant => $code),+ }
            }
        }
    };
}

graph_errors! {
    /// Malformed JSON, a parameter out of range, or a broken rule of the request.
    InvalidRequest => (BAD_REQUEST, "invalidRequest"),
    /// What Graph's OData layer refuses before any resource is read, in its words: a path
    /// segment no route has under a version, a version Graph does not have, a `$select` naming
    /// no property of the resource, empty, or given twice.
    BadRequest => (BAD_REQUEST, "BadRequest"),
    /// No, malformed, badly signed or expired bearer token (Graph routes and control API).
    InvalidAuthenticationToken => (UNAUTHORIZED, "InvalidAuthenticationToken"),
    /// The token lacks the route's permission, or is delegated.
    AccessDenied => (FORBIDDEN, "accessDenied"),
    /// A call, participant, operation (or control API resource) that does not exist or is not the caller's.
    ItemNotFound => (NOT_FOUND, "itemNotFound"),
    /// A path of Switchboard's own surfaces (control API, identity, console, operational
    /// endpoints) that no route answers.
    UnknownPath => (NOT_FOUND, "UnknownError"),
    /// A known path with another method.
    MethodNotAllowed => (METHOD_NOT_ALLOWED, "methodNotAllowed"),
    /// The state of a resource forbids the request.
    Conflict => (CONFLICT, "conflict"),
    /// A body over [`crate::MAX_BODY_BYTES`].
    RequestEntityTooLarge => (PAYLOAD_TOO_LARGE, "requestEntityTooLarge"),
    /// A body that is not `application/json`.
    UnsupportedMediaType => (UNSUPPORTED_MEDIA_TYPE, "unsupportedMediaType"),
    /// Over the application's throttle in its tenant (with `Retry-After`).
    TooManyRequests => (TOO_MANY_REQUESTS, "TooManyRequests"),
    /// Request headers larger than [`crate::MAX_HEADER_BYTES`].
    RequestHeaderFieldsTooLarge => (REQUEST_HEADER_FIELDS_TOO_LARGE, "requestHeaderFieldsTooLarge"),
    /// An internal failure; details go to the log only.
    GeneralException => (INTERNAL_SERVER_ERROR, "generalException"),
    /// A Graph action Switchboard does not implement yet.
    NotImplemented => (NOT_IMPLEMENTED, "notImplemented"),
    /// `/readyz` while the store does not answer.
    ServiceNotAvailable => (SERVICE_UNAVAILABLE, "serviceNotAvailable"),
}

#[derive(Debug)]
pub struct ApiError {
    pub kind: GraphError,
    pub message: String,
    pub www_authenticate: Option<String>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(kind: GraphError, message: impl Into<String>) -> ApiError {
        ApiError { kind, message: message.into(), www_authenticate: None, retry_after: None }
    }

    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(GraphError::InvalidRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(GraphError::ItemNotFound, message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(GraphError::AccessDenied, message)
    }

    pub fn not_implemented(message: impl Into<String>) -> ApiError {
        ApiError::new(GraphError::NotImplemented, message)
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(GraphError::ServiceNotAvailable, message)
    }

    /// 401 with the `WWW-Authenticate` challenge Graph sends.
    pub fn unauthenticated(message: impl Into<String>, authority: &str) -> ApiError {
        ApiError {
            www_authenticate: Some(format!(
                "Bearer realm=\"\", authorization_uri=\"{authority}/common/oauth2/authorize\", \
                 client_id=\"00000003-0000-0000-c000-000000000000\""
            )),
            ..ApiError::new(GraphError::InvalidAuthenticationToken, message)
        }
    }

    pub fn internal() -> ApiError {
        ApiError::new(GraphError::GeneralException, "An internal error occurred.")
    }
}

/// The table from a broken domain rule to a Graph error.
impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        let kind = match e.kind {
            ErrorKind::InvalidRequest => GraphError::InvalidRequest,
            ErrorKind::AccessDenied => GraphError::AccessDenied,
            ErrorKind::NotFound => GraphError::ItemNotFound,
            ErrorKind::Conflict => GraphError::Conflict,
            ErrorKind::NotImplemented => GraphError::NotImplemented,
        };
        ApiError::new(kind, e.message)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Domain(d) => d.into(),
            EngineError::Unavailable(reason) => {
                tracing::warn!(%reason, "request failed: the store is unavailable");
                ApiError {
                    retry_after: Some(1),
                    ..ApiError::unavailable(
                        "The service is temporarily unavailable; retry after the time in Retry-After.",
                    )
                }
            }
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
        let status = self.status();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
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
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(Ok(v)) = self.www_authenticate.as_deref().map(HeaderValue::from_str) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of the table under `heading` in docs/codes.md: the cells of each data row.
    fn table(doc: &str, heading: &str) -> Vec<Vec<String>> {
        let section = doc.split(heading).nth(1).unwrap_or_else(|| panic!("docs/codes.md has no '{heading}'"));
        section
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2)
            .map(|l| l.trim_matches('|').split('|').map(|c| c.trim().trim_matches('`').to_owned()).collect())
            .collect()
    }

    #[test]
    fn the_published_table_lists_every_http_error_and_nothing_else() {
        let doc = include_str!("../../../docs/codes.md");
        let rows: Vec<(String, String)> =
            table(doc, "## HTTP errors").into_iter().map(|r| (r[0].clone(), r[1].clone())).collect();
        let code: Vec<(String, String)> =
            GraphError::ALL.iter().map(|e| (e.status().as_u16().to_string(), e.code().to_owned())).collect();
        for entry in &code {
            assert!(rows.contains(entry), "docs/codes.md lacks the HTTP error {entry:?}");
        }
        for row in &rows {
            assert!(code.contains(row), "docs/codes.md lists {row:?}, which Switchboard never answers");
        }
    }

    #[test]
    fn the_published_table_lists_every_oauth_error_and_nothing_else() {
        let doc = include_str!("../../../docs/codes.md");
        let rows: Vec<(String, String, String)> = table(doc, "## Identity endpoint errors")
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
            .collect();
        let code: Vec<(String, String, String)> = crate::identity::OAuthFailure::ALL
            .iter()
            .map(|f| {
                let (status, error, aadsts) = f.parts();
                (status.as_u16().to_string(), error.to_owned(), aadsts.to_string())
            })
            .collect();
        for entry in &code {
            assert!(rows.contains(entry), "docs/codes.md lacks the identity error {entry:?}");
        }
        for row in &rows {
            assert!(code.contains(row), "docs/codes.md lists {row:?}, which the identity endpoints never answer");
        }
    }

    #[test]
    fn domain_errors_map_into_the_table() {
        let e: ApiError = DomainError::conflict("x").into();
        assert_eq!((e.status(), e.code()), (StatusCode::CONFLICT, "conflict"));
    }
}

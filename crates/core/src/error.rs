//! The one error a domain rule gives back. `api` maps each kind to an HTTP status and a Graph
//! error code in one table.

/// What kind of rule was broken; each maps to one HTTP status and Graph error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400 `invalidRequest`.
    InvalidRequest,
    /// 403 `accessDenied`.
    AccessDenied,
    /// 404 `itemNotFound`.
    NotFound,
    /// 409 `conflict`.
    Conflict,
    /// 501 `notImplemented`.
    NotImplemented,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DomainError {
    pub kind: ErrorKind,
    pub message: String,
}

impl DomainError {
    pub fn invalid(message: impl Into<String>) -> Self {
        DomainError { kind: ErrorKind::InvalidRequest, message: message.into() }
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        DomainError { kind: ErrorKind::AccessDenied, message: message.into() }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        DomainError { kind: ErrorKind::NotFound, message: message.into() }
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        DomainError { kind: ErrorKind::Conflict, message: message.into() }
    }
    pub fn not_implemented(message: impl Into<String>) -> Self {
        DomainError { kind: ErrorKind::NotImplemented, message: message.into() }
    }
}

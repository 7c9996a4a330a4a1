//! The engine's error: a broken domain rule, or a failure of the store or of the engine itself.

use switchboard_core::DomainError;
use switchboard_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Store(StoreError),
    /// The store cannot be reached now (or is shutting down): the request may be tried again.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match &e {
            // A uniqueness rule of the data is a conflict the caller can act on.
            StoreError::Conflict(_) => {
                EngineError::Domain(DomainError::conflict("the identity is already in the call or still ringing"))
            }
            StoreError::Unavailable(_) | StoreError::Closed => EngineError::Unavailable(e.to_string()),
            _ => EngineError::Store(e),
        }
    }
}

pub type EngineResult<T> = Result<T, EngineError>;

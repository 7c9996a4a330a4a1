//! The HTTP answer of an injected route fault: `429 TooManyRequests` or `503
//! serviceNotAvailable`, with `Retry-After`. Faults are armed through the control API and kept
//! in the store by the engine, so every node answers them (`switchboard_core::faults`).

use switchboard_core::faults::RouteFault;

use crate::error::{ApiError, GraphError};

/// What a request answers when `fault` is taken for it.
pub fn answer(fault: &RouteFault) -> ApiError {
    let error = match fault.status {
        429 => ApiError::new(
            GraphError::TooManyRequests,
            "Injected fault: too many requests; retry after the time in Retry-After.",
        ),
        _ => ApiError::new(
            GraphError::ServiceNotAvailable,
            "Injected fault: the service is not available; retry after the time in Retry-After.",
        ),
    };
    ApiError { retry_after: Some(fault.retry_after), ..error }
}

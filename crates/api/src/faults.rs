//! Injected HTTP faults on Graph routes: `429 TooManyRequests` or `503 serviceNotAvailable`,
//! with `Retry-After`, for a number of requests or until cleared. Kept in the node's memory
//! (they shape HTTP answers, which only this crate knows); armed through the control API.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, GraphError};

/// One armed route fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteFault {
    pub id: String,
    /// `POST`, `GET`, ...; any method when absent.
    pub method: Option<String>,
    /// A route template below the version, e.g. `/communications/calls/{call_id}/participants/invite`
    /// (`/app/...` matches the same routes), or `*` for every Graph route.
    pub path: String,
    /// 429 or 503.
    pub status: u16,
    pub retry_after: u64,
    /// Requests it still answers; `None` until cleared.
    pub remaining: Option<u32>,
}

/// The armed route faults of this node.
#[derive(Default)]
pub struct RouteFaults {
    faults: Mutex<Vec<RouteFault>>,
}

/// `/beta/app/calls/{call_id}` -> `/communications/calls/{call_id}`.
fn normalise(template: &str) -> String {
    let rest = ["/beta", "/v1.0"].iter().find_map(|v| template.strip_prefix(v)).unwrap_or(template);
    match rest.strip_prefix("/app/") {
        Some(tail) => format!("/communications/{tail}"),
        None => rest.to_owned(),
    }
}

impl RouteFaults {
    pub fn arm(&self, fault: RouteFault) -> Result<RouteFault, ApiError> {
        if fault.status != 429 && fault.status != 503 {
            return Err(ApiError::invalid("status must be 429 or 503"));
        }
        if fault.path != "*" && !fault.path.starts_with('/') {
            return Err(ApiError::invalid("path is a route template starting with '/', or '*'"));
        }
        if fault.remaining == Some(0) {
            return Err(ApiError::invalid("count must be at least 1"));
        }
        if fault.retry_after > 86_400 {
            return Err(ApiError::invalid("retryAfter must be at most 86400 seconds"));
        }
        let fault = RouteFault { path: if fault.path == "*" { fault.path } else { normalise(&fault.path) }, ..fault };
        self.faults.lock().expect("route faults").push(fault.clone());
        Ok(fault)
    }

    pub fn list(&self) -> Vec<RouteFault> {
        self.faults.lock().expect("route faults").clone()
    }

    pub fn clear(&self) {
        self.faults.lock().expect("route faults").clear();
    }

    /// The error a request on `template` (axum's matched path) answers, if a fault is armed
    /// for it; one use is taken.
    pub fn take(&self, method: &str, template: &str) -> Option<ApiError> {
        let path = normalise(template);
        let mut faults = self.faults.lock().expect("route faults");
        let index = faults.iter().position(|f| {
            (f.path == "*" || f.path == path) && f.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
        })?;
        let fault = faults[index].clone();
        match &mut faults[index].remaining {
            Some(1) => {
                faults.remove(index);
            }
            Some(n) => *n -= 1,
            None => {}
        }
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
        Some(ApiError { retry_after: Some(fault.retry_after), ..error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_on_both_versions_and_prefixes_and_counts_run_out() {
        let faults = RouteFaults::default();
        let fault = |path: &str, remaining| RouteFault {
            id: "f".into(),
            method: Some("post".into()),
            path: path.into(),
            status: 503,
            retry_after: 3,
            remaining,
        };
        faults.arm(fault("/communications/calls/{call_id}/participants/invite", Some(2))).unwrap();
        assert!(faults.take("GET", "/beta/communications/calls/{call_id}/participants/invite").is_none());
        let e = faults.take("POST", "/v1.0/app/calls/{call_id}/participants/invite").unwrap();
        assert_eq!(e.retry_after, Some(3));
        assert!(faults.take("POST", "/beta/communications/calls/{call_id}/participants/invite").is_some());
        assert!(faults.take("POST", "/beta/communications/calls/{call_id}/participants/invite").is_none());
        assert!(faults.arm(RouteFault { status: 500, ..fault("*", None) }).is_err());
        assert!(faults.arm(fault("calls", None)).is_err());
    }
}

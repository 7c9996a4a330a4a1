//! Throttling per application per tenant, like Graph's service limits for calls (50,000
//! requests per 15 s by default): over the limit a request gets `429` with `Retry-After`.
//! Counted on wall time in fixed windows.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Requests allowed per application and tenant in one window.
    #[serde(default = "default_requests")]
    pub requests: u64,
    /// Length of a window in seconds.
    #[serde(default = "default_window")]
    pub window_seconds: u64,
}

fn default_requests() -> u64 {
    50_000
}

fn default_window() -> u64 {
    15
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig { requests: default_requests(), window_seconds: default_window() }
    }
}

pub struct Throttle {
    config: ThrottleConfig,
    /// (application, tenant) → (window index, requests counted in it).
    windows: Mutex<HashMap<(String, String), (u64, u64)>>,
}

impl Throttle {
    pub fn new(config: ThrottleConfig) -> Throttle {
        Throttle { config, windows: Mutex::default() }
    }

    /// Counts one request; `Err(seconds)` when over the limit, with when to retry.
    pub fn admit(&self, app: &str, tenant: &str, now_secs: u64) -> Result<(), u64> {
        let window = self.config.window_seconds.max(1);
        let index = now_secs / window;
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let entry = windows.entry((app.to_owned(), tenant.to_owned())).or_insert((index, 0));
        if entry.0 != index {
            *entry = (index, 0);
        }
        entry.1 += 1;
        if entry.1 > self.config.requests {
            return Err(((index + 1) * window).saturating_sub(now_secs).max(1));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_application_and_tenant_in_windows() {
        let throttle = Throttle::new(ThrottleConfig { requests: 2, window_seconds: 15 });
        assert!(throttle.admit("a", "t", 30).is_ok());
        assert!(throttle.admit("a", "t", 31).is_ok());
        assert_eq!(throttle.admit("a", "t", 32), Err(13));
        assert!(throttle.admit("b", "t", 32).is_ok(), "another application has its own budget");
        assert!(throttle.admit("a", "u", 32).is_ok(), "so has another tenant");
        assert!(throttle.admit("a", "t", 45).is_ok(), "a new window starts afresh");
    }
}

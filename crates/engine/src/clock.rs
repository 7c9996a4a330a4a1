//! Domain time. `System` follows the wall clock; `Virtual` moves only when advanced, so ring
//! timeouts and delays are tested without waiting.

use std::sync::atomic::{AtomicI64, Ordering};

use switchboard_core::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockMode {
    System,
    Virtual,
}

pub struct Clock {
    mode: ClockMode,
    virtual_now: AtomicI64,
}

/// Milliseconds since the Unix epoch by the wall clock.
pub fn wall_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Clock {
    pub fn new(mode: ClockMode) -> Clock {
        Clock { mode, virtual_now: AtomicI64::new(wall_millis()) }
    }

    pub fn mode(&self) -> ClockMode {
        self.mode
    }

    pub fn now(&self) -> Timestamp {
        match self.mode {
            ClockMode::System => Timestamp(wall_millis()),
            ClockMode::Virtual => Timestamp(self.virtual_now.load(Ordering::SeqCst)),
        }
    }

    /// Puts virtual time back where a previous run left it (at start, before anything ran):
    /// exactly there, not at the wall time this process started at.
    pub(crate) fn restore_virtual(&self, t: Timestamp) {
        self.virtual_now.store(t.0, Ordering::SeqCst);
    }

    /// Moves virtual time forward to `t` (never backwards).
    pub(crate) fn set_virtual(&self, t: Timestamp) {
        self.virtual_now.fetch_max(t.0, Ordering::SeqCst);
    }
}

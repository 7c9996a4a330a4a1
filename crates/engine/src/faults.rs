//! Injected faults, kept in the store (a setting holding each armed list, so every node and a
//! restart see them) and consumed in the transaction of the ring or the request they fail.

use std::sync::atomic::{AtomicU64, Ordering};

use switchboard_core::faults::{self, FaultTarget, InjectedFault, RouteFault};
use switchboard_core::results::RingFailure;
use switchboard_core::{Party, PartyKind};
use switchboard_store::Tx;

use crate::error::EngineResult;
use crate::{new_id, Engine, EngineError};

const SETTING: &str = "injected_faults";
const ROUTE_SETTING: &str = "route_faults";

fn load_list<T: serde::de::DeserializeOwned>(tx: &mut dyn Tx, key: &str) -> EngineResult<Vec<T>> {
    match tx.setting(key)? {
        Some(raw) => serde_json::from_str(&raw).map_err(|e| EngineError::Internal(format!("{key}: {e}"))),
        None => Ok(Vec::new()),
    }
}

fn save_list<T: serde::Serialize>(tx: &mut dyn Tx, key: &str, list: &[T]) -> EngineResult<()> {
    let raw = serde_json::to_string(list).map_err(|e| EngineError::Internal(e.to_string()))?;
    tx.set_setting(key, &raw)?;
    Ok(())
}

fn load(tx: &mut dyn Tx) -> EngineResult<Vec<InjectedFault>> {
    load_list(tx, SETTING)
}

fn save(tx: &mut dyn Tx, list: &[InjectedFault]) -> EngineResult<()> {
    save_list(tx, SETTING, list)
}

/// What this node knows of the route faults in the store, so that a Graph request reads the
/// store for them only while some may be armed. Starts as "may be" (a restart keeps them); a
/// request that finds none clears it; arming here, or another node's write of a setting
/// (PostgreSQL `NOTIFY`), sets it again.
///
/// One word: bit 0 is "may be armed", the bits above count the changes heard, so that a request
/// which read "none" clears the bit only if no change was heard meanwhile (compare-and-swap).
#[derive(Debug)]
pub(crate) struct RouteFaultsSeen(AtomicU64);

const MAYBE_ARMED: u64 = 1;

impl Default for RouteFaultsSeen {
    fn default() -> Self {
        RouteFaultsSeen(AtomicU64::new(MAYBE_ARMED))
    }
}

impl RouteFaultsSeen {
    pub(crate) fn changed(&self) {
        let _ = self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| Some(s.wrapping_add(2) | MAYBE_ARMED));
    }

    /// The state now, if route faults may be armed.
    fn maybe_armed(&self) -> Option<u64> {
        Some(self.0.load(Ordering::Acquire)).filter(|s| s & MAYBE_ARMED != 0)
    }

    /// None are armed, as read in a unit that began at state `seen`.
    fn none_since(&self, seen: u64) {
        let _ = self.0.compare_exchange(seen, seen & !MAYBE_ARMED, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// The fault a ring from `call_id` to `party` fails with, if one is armed (the call's first,
/// then the party's); one use of it is taken.
pub(crate) fn take_for_ring(tx: &mut dyn Tx, call_id: &str, party: &Party) -> EngineResult<Option<RingFailure>> {
    let mut list = load(tx)?;
    if list.is_empty() {
        return Ok(None);
    }
    let mut targets = vec![FaultTarget::CallId(call_id.to_owned())];
    match party.kind {
        PartyKind::User => targets.push(FaultTarget::UserId(party.id.clone())),
        PartyKind::Phone => targets.push(FaultTarget::PhoneNumber(party.id.clone())),
        _ => {}
    }
    let failure = faults::take(&mut list, &targets);
    if failure.is_some() {
        save(tx, &list)?;
    }
    Ok(failure)
}

/// A fault to arm, as the control API reads it.
#[derive(Debug, Clone)]
pub struct FaultRequest {
    pub target: FaultTarget,
    pub preset: Option<String>,
    pub code: Option<i32>,
    pub subcode: Option<i32>,
    pub reason: Option<String>,
    /// Rings it fails (default 1); `None` with `until_cleared`.
    pub count: Option<u32>,
    pub until_cleared: bool,
}

impl Engine {
    /// Arms a fault: the next ring(s) of a user, a phone number or from a call fail with it.
    pub async fn inject_fault(&self, request: FaultRequest) -> EngineResult<InjectedFault> {
        let remaining = if request.until_cleared {
            if request.count.is_some() {
                return Err(switchboard_core::DomainError::invalid("give count or untilCleared, not both").into());
            }
            None
        } else {
            Some(request.count.unwrap_or(1))
        };
        let fault = InjectedFault::new(
            new_id(),
            request.target,
            request.preset.as_deref(),
            request.code,
            request.subcode,
            request.reason,
            remaining,
        )?;
        let armed = fault.clone();
        self.run(move |tx| {
            let mut list = load(tx)?;
            list.push(armed.clone());
            save(tx, &list)
        })
        .await?;
        tracing::info!(fault_id = %fault.id, code = fault.code, subcode = fault.subcode, "fault armed");
        Ok(fault)
    }

    /// The armed faults, oldest first.
    pub async fn faults(&self) -> EngineResult<Vec<InjectedFault>> {
        self.run(load).await
    }

    /// Disarms every fault, of rings and of routes.
    pub async fn clear_faults(&self) -> EngineResult<()> {
        self.run(|tx| {
            save(tx, &[])?;
            save_list::<RouteFault>(tx, ROUTE_SETTING, &[])
        })
        .await
    }

    /// Arms a route fault (checked by [`RouteFault::validated`]); every node answers with it.
    pub async fn arm_route_fault(&self, fault: RouteFault) -> EngineResult<RouteFault> {
        let fault = fault.validated()?;
        let armed = fault.clone();
        self.run(move |tx| {
            let mut list: Vec<RouteFault> = load_list(tx, ROUTE_SETTING)?;
            list.push(armed);
            save_list(tx, ROUTE_SETTING, &list)
        })
        .await?;
        self.inner.route_faults.changed();
        tracing::info!(fault_id = %fault.id, status = fault.status, path = %fault.path, "route fault armed");
        Ok(fault)
    }

    /// The armed route faults, oldest first.
    pub async fn route_faults(&self) -> EngineResult<Vec<RouteFault>> {
        self.run(|tx| load_list(tx, ROUTE_SETTING)).await
    }

    /// The route fault a Graph request (`method`, on the route `template` it matched) answers
    /// with, if one is armed; one use of it is taken. Reads the store only while route faults
    /// may be armed.
    pub async fn take_route_fault(&self, method: &str, template: &str) -> EngineResult<Option<RouteFault>> {
        let Some(state) = self.inner.route_faults.maybe_armed() else { return Ok(None) };
        let (method, template) = (method.to_owned(), template.to_owned());
        let (taken, none_left) = self
            .run(move |tx| {
                let mut list: Vec<RouteFault> = load_list(tx, ROUTE_SETTING)?;
                let taken = faults::take_route(&mut list, &method, &template);
                if taken.is_some() {
                    save_list(tx, ROUTE_SETTING, &list)?;
                }
                Ok::<_, EngineError>((taken, list.is_empty()))
            })
            .await?;
        if none_left {
            self.inner.route_faults.none_since(state);
        }
        Ok(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::RouteFaultsSeen;

    #[test]
    fn none_read_clears_the_flag_unless_a_change_was_heard_meanwhile() {
        let seen = RouteFaultsSeen::default();
        let state = seen.maybe_armed().expect("may be armed at start");
        seen.none_since(state);
        assert!(seen.maybe_armed().is_none());
        seen.changed();
        let state = seen.maybe_armed().expect("armed again by a change");
        // A change heard while a request read "none": the flag stays.
        seen.changed();
        seen.none_since(state);
        assert!(seen.maybe_armed().is_some());
    }
}

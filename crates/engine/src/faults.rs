//! Injected faults, kept in the store (a setting holding the armed list, so every node and a
//! restart see them) and consumed in the transaction of the ring they fail.

use switchboard_core::faults::{self, FaultTarget, InjectedFault};
use switchboard_core::results::RingFailure;
use switchboard_core::{Party, PartyKind};
use switchboard_store::Tx;

use crate::error::EngineResult;
use crate::{new_id, Engine, EngineError};

const SETTING: &str = "injected_faults";

fn load(tx: &mut dyn Tx) -> EngineResult<Vec<InjectedFault>> {
    match tx.setting(SETTING)? {
        Some(raw) => serde_json::from_str(&raw).map_err(|e| EngineError::Internal(format!("injected faults: {e}"))),
        None => Ok(Vec::new()),
    }
}

fn save(tx: &mut dyn Tx, list: &[InjectedFault]) -> EngineResult<()> {
    let raw = serde_json::to_string(list).map_err(|e| EngineError::Internal(e.to_string()))?;
    tx.set_setting(SETTING, &raw)?;
    Ok(())
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

    /// Disarms every fault.
    pub async fn clear_faults(&self) -> EngineResult<()> {
        self.run(|tx| save(tx, &[])).await
    }
}

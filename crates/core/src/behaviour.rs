//! Simulated endpoint behaviour: how a directory user or phone number answers when rung.

use serde::{Deserialize, Serialize};

use crate::results::RingFailure;
use crate::Timestamp;

/// What a simulated endpoint does when it rings. Set per user or per phone number in the
/// directory, and changeable at run time through the control API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum Behaviour {
    /// Answers after `afterMs` milliseconds.
    #[serde(rename_all = "camelCase")]
    Answer {
        #[serde(default)]
        after_ms: i64,
    },
    /// Declines after `afterMs` milliseconds.
    #[serde(rename_all = "camelCase")]
    Decline {
        #[serde(default)]
        after_ms: i64,
    },
    /// Reports busy after `afterMs` milliseconds.
    #[serde(rename_all = "camelCase")]
    Busy {
        #[serde(default)]
        after_ms: i64,
    },
    /// Rings until the ring timeout.
    NoAnswer,
    /// Rings until someone answers or declines for the user, through the control API
    /// (`/_switchboard/participants/{id}/accept` or `/decline`) or the console, or until the
    /// ring timeout.
    Manual,
    /// Cannot be reached at all (fails at once).
    Unreachable,
    /// Fails after `afterMs` with an injected `resultInfo` code and subcode.
    #[serde(rename_all = "camelCase")]
    Fault {
        code: i32,
        subcode: i32,
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        after_ms: i64,
    },
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour::Answer { after_ms: 1000 }
    }
}

impl Behaviour {
    /// Checks the numbers in a behaviour given through the control API or a seed file.
    pub fn validate(&self) -> Result<(), crate::DomainError> {
        let after = match self {
            Behaviour::Answer { after_ms }
            | Behaviour::Decline { after_ms }
            | Behaviour::Busy { after_ms }
            | Behaviour::Fault { after_ms, .. } => *after_ms,
            Behaviour::NoAnswer | Behaviour::Manual | Behaviour::Unreachable => 0,
        };
        if !(0..=86_400_000).contains(&after) {
            return Err(crate::DomainError::invalid("afterMs must be between 0 and 86400000"));
        }
        if let Behaviour::Fault { code, subcode, .. } = self {
            if !(100..=699).contains(code) || *subcode < 0 {
                return Err(crate::DomainError::invalid("fault code must be 100-699 and subcode >= 0"));
            }
        }
        Ok(())
    }
}

/// How a ringing leg ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RingOutcome {
    Answered,
    Failed(RingFailure),
}

/// The one timer a ringing leg needs: when it fires, and what happens then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingPlan {
    pub due_at: Timestamp,
    pub outcome: RingOutcome,
}

impl RingPlan {
    /// The plan for a leg rung at `now` with a ring deadline of `timeout_secs`: due at the
    /// earlier of the simulated outcome and the deadline (a no answer).
    pub fn for_behaviour(behaviour: &Behaviour, now: Timestamp, timeout_secs: i64) -> RingPlan {
        let deadline = now.plus_secs(timeout_secs);
        let (after_ms, outcome) = match behaviour {
            Behaviour::Answer { after_ms } => (Some(*after_ms), RingOutcome::Answered),
            Behaviour::Decline { after_ms } => (Some(*after_ms), RingOutcome::Failed(RingFailure::Declined)),
            Behaviour::Busy { after_ms } => (Some(*after_ms), RingOutcome::Failed(RingFailure::Busy)),
            // A manual endpoint's only timer is its ring deadline; an answer or a decline given
            // through the control API settles it first.
            Behaviour::NoAnswer | Behaviour::Manual => (None, RingOutcome::Failed(RingFailure::NoAnswer)),
            Behaviour::Unreachable => (Some(0), RingOutcome::Failed(RingFailure::Unreachable)),
            Behaviour::Fault { code, subcode, reason, after_ms } => (
                Some(*after_ms),
                RingOutcome::Failed(RingFailure::Fault { code: *code, subcode: *subcode, reason: reason.clone() }),
            ),
        };
        match after_ms {
            Some(ms) if now.plus_millis(ms) < deadline => RingPlan { due_at: now.plus_millis(ms), outcome },
            _ => RingPlan { due_at: deadline, outcome: RingOutcome::Failed(RingFailure::NoAnswer) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_later_than_the_deadline_is_a_no_answer() {
        let now = Timestamp(1_000);
        let plan = RingPlan::for_behaviour(&Behaviour::Answer { after_ms: 70_000 }, now, 60);
        assert_eq!(plan.due_at, Timestamp(61_000));
        assert_eq!(plan.outcome, RingOutcome::Failed(RingFailure::NoAnswer));
        let plan = RingPlan::for_behaviour(&Behaviour::Answer { after_ms: 500 }, now, 60);
        assert_eq!(plan, RingPlan { due_at: Timestamp(1_500), outcome: RingOutcome::Answered });
    }

    #[test]
    fn a_manual_endpoint_rings_until_its_deadline() {
        let plan = RingPlan::for_behaviour(&Behaviour::Manual, Timestamp(0), 30);
        assert_eq!(plan, RingPlan { due_at: Timestamp(30_000), outcome: RingOutcome::Failed(RingFailure::NoAnswer) });
        let b: Behaviour = serde_json::from_str(r#"{"kind":"manual"}"#).unwrap();
        assert_eq!(b, Behaviour::Manual);
    }

    #[test]
    fn behaviours_read_from_json() {
        let b: Behaviour = serde_json::from_str(r#"{"kind":"fault","code":412,"subcode":10073}"#).unwrap();
        assert_eq!(b, Behaviour::Fault { code: 412, subcode: 10073, reason: None, after_ms: 0 });
        assert!(serde_json::from_str::<Behaviour>(r#"{"kind":"answer","afterMs":1,"x":2}"#).is_err());
    }
}

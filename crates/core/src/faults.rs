//! Injected faults, set through the control API so bots can test their error paths: a
//! `resultInfo` a user, a phone number or a call's next ring fails with, and an HTTP `429` or
//! `503` a Graph route answers. Pure: the engine keeps both lists in the store and consumes a
//! fault in the transaction of the ring or the request it fails.

use serde::{Deserialize, Serialize};

use crate::results::RingFailure;
use crate::DomainError;

/// What a fault applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FaultTarget {
    /// The next rings of this directory user (an invite or a created call).
    UserId(String),
    /// The next rings of this phone number (E.164).
    PhoneNumber(String),
    /// The next invitees this call rings.
    CallId(String),
}

/// An armed fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InjectedFault {
    pub id: String,
    pub target: FaultTarget,
    pub code: i32,
    pub subcode: i32,
    /// The underlying reason of the message (`... Underlying reason: <reason> DiagCode: ...`).
    pub reason: String,
    /// Rings it still fails; `None` until cleared.
    pub remaining: Option<u32>,
}

/// The presets, by the name users search for: `(name, code, subcode, reason)`.
pub const PRESETS: &[(&str, i32, i32, &str)] = &[
    ("412#10073", 412, 10073, "Could not find the PSTN content for the sponsor of this PSTN leg."),
    ("410#301004", 410, 301004, "Client Media Error."),
    ("500/7106", 500, 7106, "Server Internal Error."),
    ("480#10076", 480, 10076, "Callee could not be reached."),
];

impl InjectedFault {
    /// A fault from a preset name or an explicit code and subcode (a given `reason` wins over
    /// the preset's). Codes are 100-699, as a SIP-like `resultInfo.code`.
    pub fn new(
        id: String,
        target: FaultTarget,
        preset: Option<&str>,
        code: Option<i32>,
        subcode: Option<i32>,
        reason: Option<String>,
        remaining: Option<u32>,
    ) -> Result<InjectedFault, DomainError> {
        let (code, subcode, default_reason) = match (preset, code, subcode) {
            (Some(name), None, None) => {
                let (_, c, s, r) = PRESETS.iter().find(|(n, ..)| *n == name).ok_or_else(|| {
                    let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
                    DomainError::invalid(format!("unknown preset '{name}' (presets: {})", names.join(", ")))
                })?;
                (*c, *s, *r)
            }
            (None, Some(c), Some(s)) => (c, s, "Injected fault."),
            _ => return Err(DomainError::invalid("give either a preset, or a code and a subcode")),
        };
        if !(100..=699).contains(&code) || subcode < 0 {
            return Err(DomainError::invalid("fault code must be 100-699 and subcode >= 0"));
        }
        if remaining == Some(0) {
            return Err(DomainError::invalid("count must be at least 1"));
        }
        if reason.as_ref().is_some_and(|r| r.chars().count() > 1024) {
            return Err(DomainError::invalid("message must be at most 1024 characters"));
        }
        Ok(InjectedFault {
            id,
            target,
            code,
            subcode,
            reason: reason.unwrap_or_else(|| default_reason.to_owned()),
            remaining,
        })
    }

    pub fn failure(&self) -> RingFailure {
        RingFailure::Fault { code: self.code, subcode: self.subcode, reason: Some(self.reason.clone()) }
    }
}

/// Takes one use of the first fault matching one of `targets` (in that order of preference):
/// returns its failure and the list to keep (a used-up fault is dropped).
pub fn take(faults: &mut Vec<InjectedFault>, targets: &[FaultTarget]) -> Option<RingFailure> {
    let index = targets.iter().find_map(|t| faults.iter().position(|f| f.target == *t))?;
    let failure = faults[index].failure();
    use_once(faults, index, |f| &mut f.remaining);
    Some(failure)
}

/// Takes one use of `faults[index]`, dropping it once used up (`remaining`: its uses left,
/// `None` until cleared).
fn use_once<T>(faults: &mut Vec<T>, index: usize, remaining: impl Fn(&mut T) -> &mut Option<u32>) {
    match remaining(&mut faults[index]) {
        Some(1) => {
            faults.remove(index);
        }
        Some(n) => *n -= 1,
        None => {}
    }
}

/// An armed route fault: requests on a Graph route answer `429 TooManyRequests` or
/// `503 serviceNotAvailable` with `Retry-After`.
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

impl RouteFault {
    /// Checks a fault to arm, its path written the way [`take_route`] matches it.
    pub fn validated(self) -> Result<RouteFault, DomainError> {
        if self.status != 429 && self.status != 503 {
            return Err(DomainError::invalid("status must be 429 or 503"));
        }
        if self.path != "*" && !self.path.starts_with('/') {
            return Err(DomainError::invalid("path is a route template starting with '/', or '*'"));
        }
        if self.remaining == Some(0) {
            return Err(DomainError::invalid("count must be at least 1"));
        }
        if self.retry_after > 86_400 {
            return Err(DomainError::invalid("retryAfter must be at most 86400 seconds"));
        }
        let path = if self.path == "*" { self.path } else { normalise_route(&self.path) };
        Ok(RouteFault { path, ..self })
    }
}

/// `/beta/app/calls/{call_id}` -> `/communications/calls/{call_id}`.
fn normalise_route(template: &str) -> String {
    let rest = ["/beta", "/v1.0"].iter().find_map(|v| template.strip_prefix(v)).unwrap_or(template);
    match rest.strip_prefix("/app/") {
        Some(tail) => format!("/communications/{tail}"),
        None => rest.to_owned(),
    }
}

/// Takes one use of the first fault armed for a request (`method`, and `template`, the route
/// it matched), dropping a used-up fault; the fault it answers with.
pub fn take_route(faults: &mut Vec<RouteFault>, method: &str, template: &str) -> Option<RouteFault> {
    let path = normalise_route(template);
    let index = faults.iter().position(|f| {
        (f.path == "*" || f.path == path) && f.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
    })?;
    let fault = faults[index].clone();
    use_once(faults, index, |f| &mut f.remaining);
    Some(fault)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_templates_match_on_both_versions_and_prefixes_and_counts_run_out() {
        let fault = |path: &str, remaining| RouteFault {
            id: "f".into(),
            method: Some("post".into()),
            path: path.into(),
            status: 503,
            retry_after: 3,
            remaining,
        };
        let mut faults =
            vec![fault("/communications/calls/{call_id}/participants/invite", Some(2)).validated().unwrap()];
        assert!(take_route(&mut faults, "GET", "/beta/communications/calls/{call_id}/participants/invite").is_none());
        let taken = take_route(&mut faults, "POST", "/v1.0/app/calls/{call_id}/participants/invite").unwrap();
        assert_eq!(taken.retry_after, 3);
        assert!(take_route(&mut faults, "POST", "/beta/communications/calls/{call_id}/participants/invite").is_some());
        assert!(take_route(&mut faults, "POST", "/beta/communications/calls/{call_id}/participants/invite").is_none());
        assert!(faults.is_empty());
        // Armed as `/beta/app/...`, it matches `/v1.0/communications/...` too.
        let mut faults = vec![fault("/beta/app/calls/{call_id}", None).validated().unwrap()];
        assert!(take_route(&mut faults, "post", "/v1.0/communications/calls/{call_id}").is_some());
        assert_eq!(faults.len(), 1, "until cleared");
        assert!(RouteFault { status: 500, ..fault("*", None) }.validated().is_err());
        assert!(fault("calls", None).validated().is_err());
        assert!(fault("*", Some(0)).validated().is_err());
        assert!(RouteFault { retry_after: 86_401, ..fault("*", None) }.validated().is_err());
    }

    fn fault(target: FaultTarget, remaining: Option<u32>) -> InjectedFault {
        InjectedFault::new("f".into(), target, Some("412#10073"), None, None, None, remaining).unwrap()
    }

    #[test]
    fn a_fault_is_used_up_after_its_count_and_a_call_fault_wins() {
        let user = FaultTarget::UserId("u".into());
        let call = FaultTarget::CallId("c".into());
        let mut faults = vec![fault(user.clone(), Some(2)), fault(call.clone(), None)];
        let got = take(&mut faults, &[call.clone(), user.clone()]).unwrap();
        assert_eq!(got.parts().0, 412);
        assert_eq!(faults.len(), 2, "until cleared");
        take(&mut faults, std::slice::from_ref(&user)).unwrap();
        take(&mut faults, std::slice::from_ref(&user)).unwrap();
        assert!(take(&mut faults, &[user]).is_none());
        assert_eq!(faults.len(), 1);
    }

    #[test]
    fn presets_and_explicit_codes() {
        for (name, code, subcode, _) in PRESETS {
            let f = InjectedFault::new("f".into(), FaultTarget::CallId("c".into()), Some(name), None, None, None, None)
                .unwrap();
            assert_eq!((f.code, f.subcode), (*code, *subcode));
        }
        let t = || FaultTarget::CallId("c".into());
        assert!(InjectedFault::new("f".into(), t(), Some("nope"), None, None, None, None).is_err());
        assert!(InjectedFault::new("f".into(), t(), None, Some(99), Some(1), None, None).is_err());
        assert!(InjectedFault::new("f".into(), t(), None, Some(486), None, None, None).is_err());
        assert!(InjectedFault::new("f".into(), t(), None, Some(486), Some(1), None, Some(0)).is_err());
        let f = InjectedFault::new("f".into(), t(), None, Some(503), Some(7), Some("Lab".into()), None).unwrap();
        assert_eq!(f.failure().parts(), (503, 7, "Lab".to_owned()));
    }
}

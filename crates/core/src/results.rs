//! Every `resultInfo` code and subcode Switchboard emits, in one place.
//!
//! Failures of invitees (asynchronous, reported on the invite operation) and the reasons a call
//! ends (reported on the terminated call). The same table is published in docs/codes.md; a test
//! keeps the two in step.

use graph_model::ResultInfo;
use serde::{Deserialize, Serialize};

use crate::Party;

/// Why a ringing leg failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RingFailure {
    Declined,
    Busy,
    NoAnswer,
    Unreachable,
    /// No endpoint is known for the identity (not in the directory).
    NoEndpoints,
    /// A PSTN leg from an application without an application instance that has a number.
    PstnWithoutInstanceNumber,
    /// The application cancelled the invitation (DELETE of the ringing participant).
    Cancelled,
    /// The call the invitation was for ended before it was answered.
    CallEnded,
    /// A dial-out through the SIP trunk ended with a final response that is none of the
    /// outcomes above (see [`RingFailure::from_sip_status`]).
    SipFinal {
        status: u16,
    },
    /// The SIP trunk did not answer the INVITE at all (timer B) or could not be reached.
    TrunkUnreachable,
    /// The called application rejected the call with reason `forbidden`.
    Forbidden,
    /// An injected fault.
    Fault {
        code: i32,
        subcode: i32,
        reason: Option<String>,
    },
}

impl RingFailure {
    /// The outcome of a dial-out that ended with this SIP final response: the "SIP" column of
    /// docs/codes.md. Busy, declined and unreachable phones read as they do for simulated
    /// ones; every other final response keeps its status as the code, with subcode
    /// 560000 + status (the shape of Teams' PSTN diagnostic codes, e.g. 560503).
    pub fn from_sip_status(status: u16) -> RingFailure {
        match status {
            486 | 600 => RingFailure::Busy,
            603 => RingFailure::Declined,
            404 | 410 | 480 | 484 | 604 => RingFailure::Unreachable,
            408 => RingFailure::NoAnswer,
            other => RingFailure::SipFinal { status: other },
        }
    }

    /// `(code, subcode, underlying reason)`.
    pub fn parts(&self) -> (i32, i32, String) {
        match self {
            RingFailure::Declined => (603, 10003, "Call declined by the callee.".into()),
            RingFailure::Busy => (486, 10004, "Callee is busy.".into()),
            RingFailure::NoAnswer => (408, 10057, "Call timed out due to no signaling from callee endpoints.".into()),
            RingFailure::Unreachable => (480, 10076, "Callee could not be reached.".into()),
            RingFailure::NoEndpoints => (480, 10037, "No callee endpoints were found.".into()),
            RingFailure::PstnWithoutInstanceNumber => {
                (403, 10151, "Call does not contain the metadata required for making this PSTN dial out.".into())
            }
            RingFailure::Cancelled => (487, 10170, "The invitation was cancelled by the application.".into()),
            RingFailure::CallEnded => (487, 10171, "The call ended before the invitation was answered.".into()),
            RingFailure::SipFinal { status } => (
                i32::from(*status),
                560_000 + i32::from(*status),
                format!("The SIP trunk answered the call with {status}."),
            ),
            RingFailure::TrunkUnreachable => {
                (503, 560_000, "The SIP trunk could not be reached (no response, or a transport error).".into())
            }
            RingFailure::Forbidden => (403, 10003, "Call rejected as forbidden by the callee.".into()),
            RingFailure::Fault { code, subcode, reason } => {
                (*code, *subcode, reason.clone().unwrap_or_else(|| "Injected fault.".to_owned()))
            }
        }
    }

    /// The `resultInfo` of a failed invitation, in the message shape users search for.
    pub fn result_info(&self, party: &Party) -> ResultInfo {
        let (code, subcode, reason) = self.parts();
        ResultInfo::new(
            code,
            subcode,
            format!(
                "addParticipants failed for participant {}. Underlying reason: {reason} DiagCode: {code}#{subcode}",
                party.mri()
            ),
        )
    }

    /// The `resultInfo` of a peer-to-peer call whose target did not answer.
    pub fn call_result_info(&self) -> ResultInfo {
        let (code, subcode, reason) = self.parts();
        ResultInfo::new(code, subcode, format!("{reason} DiagCode: {code}#{subcode}"))
    }
}

/// Why a call ended (call-delete's "Call end reason codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CallEnd {
    /// 200/7000: the application hung up (DELETE call).
    ByBot,
    /// 200/7015: replaced by an escalation (`replacesCallId`).
    Transferred,
    /// 200/5000: removed by another participant.
    RemovedByParticipant,
    /// 200/4521: the other party of a peer-to-peer call ended it.
    PeerEnded,
    /// 200/5002: all other participants left.
    AllOthersLeft,
    /// 200/18503: the other participant (a user) of a peer-to-peer call left.
    PeerLeft,
    /// 200/540000: the other participant of a peer-to-peer call, a phone, hung up.
    PstnUserEnded,
    /// 408/8537: no keepAlive within 45 minutes.
    KeepAliveTimeout,
    /// 408/1106: an incoming call neither answered nor rejected within 15 s.
    AnswerTimeout,
    /// 200/5010: only one participant remained in a group call.
    OnlyOneRemained,
}

impl CallEnd {
    pub fn result_info(self) -> ResultInfo {
        let (code, subcode, message) = match self {
            CallEnd::ByBot => (200, 7000, "The conversation has ended by bot."),
            CallEnd::Transferred => (200, 7015, "Call ended as the transfer completed successfully."),
            CallEnd::RemovedByParticipant => (200, 5000, "Removed from the conversation by another participant."),
            CallEnd::PeerEnded => (200, 4521, "Call ended by the other participant in peer-to-peer call."),
            CallEnd::AllOthersLeft => {
                (200, 5002, "The conversation has ended as all other participants have left the call.")
            }
            CallEnd::PeerLeft => (200, 18503, "The other participant in the peer-to-peer call left the conversation."),
            CallEnd::PstnUserEnded => (200, 540000, "Call ended by the PSTN User."),
            CallEnd::KeepAliveTimeout => (408, 8537, "Keep Alive timeout, cleaned up inactive call."),
            CallEnd::AnswerTimeout => {
                (408, 1106, "An acknowledgement was not received for the call acceptance in the allotted time.")
            }
            CallEnd::OnlyOneRemained => {
                (200, 5010, "The conversation has ended as only one participant remained in the conversation.")
            }
        };
        ResultInfo::new(code, subcode, message)
    }
}

/// Every code this module can emit, for the published table and its drift test.
pub fn all_codes() -> Vec<(i32, i32, String)> {
    let failures = [
        RingFailure::Declined,
        RingFailure::Busy,
        RingFailure::NoAnswer,
        RingFailure::Unreachable,
        RingFailure::NoEndpoints,
        RingFailure::PstnWithoutInstanceNumber,
        RingFailure::Cancelled,
        RingFailure::CallEnded,
        RingFailure::TrunkUnreachable,
        RingFailure::Forbidden,
    ];
    let ends = [
        CallEnd::ByBot,
        CallEnd::Transferred,
        CallEnd::RemovedByParticipant,
        CallEnd::PeerEnded,
        CallEnd::AllOthersLeft,
        CallEnd::PeerLeft,
        CallEnd::PstnUserEnded,
        CallEnd::KeepAliveTimeout,
        CallEnd::AnswerTimeout,
        CallEnd::OnlyOneRemained,
    ];
    failures
        .iter()
        .map(|f| f.parts())
        .chain(ends.iter().map(|e| {
            let r = e.result_info();
            (r.code, r.subcode, r.message)
        }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PartyKind;

    #[test]
    fn failure_messages_name_the_participant_and_the_diag_code() {
        let party = Party {
            kind: PartyKind::Phone,
            id: "+12345678901".into(),
            display_name: None,
            tenant_id: None,
            identity_provider: None,
        };
        let info = RingFailure::PstnWithoutInstanceNumber.result_info(&party);
        assert_eq!((info.code, info.subcode), (403, 10151));
        assert!(info.message.starts_with("addParticipants failed for participant 4:+12345678901."));
        assert!(info.message.ends_with("DiagCode: 403#10151"));
    }

    #[test]
    fn sip_final_responses_map_to_the_tabulated_outcomes() {
        assert_eq!(RingFailure::from_sip_status(486), RingFailure::Busy);
        assert_eq!(RingFailure::from_sip_status(600), RingFailure::Busy);
        assert_eq!(RingFailure::from_sip_status(603), RingFailure::Declined);
        for unreachable in [404, 410, 480, 484, 604] {
            assert_eq!(RingFailure::from_sip_status(unreachable), RingFailure::Unreachable);
        }
        assert_eq!(RingFailure::from_sip_status(408), RingFailure::NoAnswer);
        let other = RingFailure::from_sip_status(503);
        assert_eq!(other.parts().0, 503);
        assert_eq!(other.parts().1, 560503);
        // The "SIP" column of the published table names each mapped status.
        let doc = include_str!("../../../docs/codes.md");
        for row in ["| 486 | 10004 | 486, 600 |", "| 603 | 10003 | 603 |", "| 480 | 10076 | 404, 410, 480, 484, 604 |"]
        {
            assert!(doc.contains(row), "docs/codes.md lacks {row}");
        }
    }

    #[test]
    fn the_table_by_endpoint_kind_shows_the_codes_and_messages_emitted() {
        let doc = include_str!("../../../docs/codes.md");
        let section = doc.split("## By endpoint kind and outcome").nth(1).expect("the section");
        let section = section.split("\n## ").next().unwrap();
        let mut emitted = all_codes();
        emitted.extend(crate::faults::PRESETS.iter().map(|(_, c, s, r)| (*c, *s, (*r).to_owned())));
        let mut rows = 0;
        for line in section.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| endpoint")) {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 5, "{line}");
            if let (Ok(code), Ok(subcode)) = (cells[2].parse::<i32>(), cells[3].parse::<i32>()) {
                rows += 1;
                assert!(
                    emitted.iter().any(|(c, s, m)| (*c, *s) == (code, subcode) && m == cells[4]),
                    "docs/codes.md: {code}/{subcode} '{}' is not what Switchboard emits",
                    cells[4]
                );
            }
        }
        assert!(rows >= 20, "the table lost rows ({rows})");
    }

    #[test]
    fn the_published_table_lists_every_code() {
        let doc = include_str!("../../../docs/codes.md");
        let codes = all_codes();
        for (code, subcode, _) in &codes {
            assert!(doc.contains(&format!("| {code} | {subcode} |")), "docs/codes.md lacks {code}/{subcode}");
        }
        // And the other way: every numeric row of the two resultInfo tables is a code we emit.
        let result_info_tables = doc.split("## HTTP errors").next().unwrap();
        for line in result_info_tables.lines().filter(|l| l.starts_with("| ")) {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            if let (Ok(code), Ok(subcode)) = (cells[0].parse::<i32>(), cells[1].parse::<i32>()) {
                assert!(
                    codes.iter().any(|(c, s, _)| (*c, *s) == (code, subcode)),
                    "docs/codes.md lists {code}/{subcode}, which Switchboard never emits"
                );
            }
        }
    }
}

//! Which application instance a call dials the PSTN as: the "PSTN Scenarios" table of
//! call-answer (v1.0). A phone is reached with the number of an application instance (a
//! resource account), and a call can lend one only in the scenarios the table supports.

use crate::call_kind::{named_meeting, MeetingLocator};
use graph_model::CallDirection;

use crate::Call;

/// Where the number a call dials the PSTN with comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PstnSponsor {
    /// The instance the call names: the one it was called at (incoming), or its `source`
    /// (outgoing).
    Instance(String),
    /// Any instance of the application: a meeting the bot joined by its organizer or join
    /// meeting id, or a call it placed without naming an instance and then invites a phone into.
    AnyInstance,
    /// None: a scenario the table marks "Not Supported".
    Unsupported,
}

/// The sponsor of a phone rung by `call`; `own_target` when the phone is one of the targets the
/// call was created with (not invited later).
pub fn sponsor(call: &Call, own_target: bool) -> PstnSponsor {
    let instance = |set: Option<&graph_model::IdentitySet>| {
        set.and_then(|s| s.application_instance.as_ref()).and_then(|i| i.id.clone()).filter(|id| !id.is_empty())
    };
    match call.direction {
        // "Incoming call to Bot's Instance Id (or its PSTN number) and then bot invites another
        // PSTN": supported; to the bot's UPN (its application id): not.
        CallDirection::Incoming => match instance(call.targets.first().and_then(|t| t.identity.as_ref())) {
            Some(id) => PstnSponsor::Instance(id),
            None => PstnSponsor::Unsupported,
        },
        CallDirection::Outgoing => {
            if let Some(id) = instance(call.source.as_ref().and_then(|s| s.identity.as_ref())) {
                return PstnSponsor::Instance(id);
            }
            let by_token = matches!(call.meeting_info.as_ref().and_then(named_meeting), Some(MeetingLocator::Token(_)));
            match own_target || by_token {
                // "Outgoing call from Bot (without Instance Id) to a PSTN", "Bot join the call
                // using Join Token and then invite PSTN": not supported.
                true => PstnSponsor::Unsupported,
                false => PstnSponsor::AnyInstance,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(direction: &str, extra: serde_json::Value) -> Call {
        let mut v = json!({
            "id": "c", "appId": "a", "tenantId": "t", "conversationId": "v", "state": "established",
            "direction": direction, "callbackUri": "https://bot.example/cb", "myParticipantId": "p",
            "source": null, "targets": [], "requestedModalities": ["audio"], "mediaConfig": null,
            "chatInfo": null, "meetingInfo": null, "callOptions": null, "subject": null,
            "ringingTimeoutInSeconds": null, "resultInfo": null, "peer": null, "createdAt": 0,
        });
        for (k, value) in extra.as_object().unwrap() {
            v[k.as_str()] = value.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn follows_the_pstn_scenarios_table() {
        let instance = json!({"identity": {"applicationInstance": {"id": "i-1"}}});
        let app = json!({"identity": {"application": {"id": "a"}}});
        let incoming = |target: &serde_json::Value| call("incoming", json!({"targets": [target]}));
        assert_eq!(sponsor(&incoming(&instance), false), PstnSponsor::Instance("i-1".into()));
        assert_eq!(sponsor(&incoming(&app), false), PstnSponsor::Unsupported);

        let placed = call("outgoing", json!({"source": instance}));
        assert_eq!(sponsor(&placed, true), PstnSponsor::Instance("i-1".into()));
        let placed = call("outgoing", json!({"source": app}));
        assert_eq!(sponsor(&placed, true), PstnSponsor::Unsupported);
        assert_eq!(sponsor(&placed, false), PstnSponsor::AnyInstance);

        let joined = |info: serde_json::Value| call("outgoing", json!({"source": app, "meetingInfo": info}));
        let organizer = json!({"@odata.type": "#microsoft.graph.organizerMeetingInfo"});
        let join_id = json!({"@odata.type": "#microsoft.graph.joinMeetingIdMeetingInfo", "joinMeetingId": "123"});
        let token = json!({"@odata.type": "#microsoft.graph.tokenMeetingInfo", "token": "m-1"});
        assert_eq!(sponsor(&joined(organizer), false), PstnSponsor::AnyInstance);
        assert_eq!(sponsor(&joined(join_id), false), PstnSponsor::AnyInstance);
        assert_eq!(sponsor(&joined(token), false), PstnSponsor::Unsupported);
    }
}

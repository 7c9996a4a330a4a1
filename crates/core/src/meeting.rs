//! The rules of create-onlineMeeting: what its body must hold, and who organises the meeting.
//!
//! `CreateOnlineMeetingBody` reads `participants` as any JSON (a `meetingParticipants` has more
//! members than Switchboard models, and they are kept), so its shape is checked here, with the
//! date-times serde reads as plain strings.

use graph_model::CreateOnlineMeetingBody;
use serde_json::{json, Map, Value};

use crate::{DomainError, Meeting, Timestamp, User};

/// A create-onlineMeeting body whose typed properties have been checked.
#[derive(Debug, Clone, PartialEq)]
pub struct MeetingRequest {
    /// In UTC, as Graph writes them back ("The meeting start time in UTC").
    pub start_date_time: Option<String>,
    pub end_date_time: Option<String>,
    pub subject: Option<String>,
    /// The body's `meetingParticipants`, an object (empty when absent).
    pub participants: Map<String, Value>,
    /// `participants.organizer.identity.user.id`: the user the meeting is created on behalf of
    /// (create-onlineMeeting, Example 1).
    pub organizer_user_id: Option<String>,
}

pub fn parse_meeting_request(body: CreateOnlineMeetingBody) -> Result<MeetingRequest, DomainError> {
    let date_time = |name: &str, raw: Option<String>| -> Result<Option<String>, DomainError> {
        raw.map(|raw| {
            Timestamp::parse_rfc3339(&raw).map(Timestamp::to_rfc3339).ok_or_else(|| {
                DomainError::invalid(format!(
                    "Invalid value '{raw}' for {name}: a DateTimeOffset such as 2019-09-09T14:33:30.8546353-07:00 \
                     is expected."
                ))
            })
        })
        .transpose()
    };
    let start_date_time = date_time("startDateTime", body.start_date_time)?;
    let end_date_time = date_time("endDateTime", body.end_date_time)?;
    let participants = match body.participants {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(DomainError::invalid(
                "Invalid value for participants: a meetingParticipants object is expected.",
            ))
        }
    };
    let organizer_user_id = organizer_user_id(&participants)?;
    if !matches!(participants.get("attendees"), None | Some(Value::Null | Value::Array(_))) {
        return Err(DomainError::invalid("Invalid value for participants.attendees: an array is expected."));
    }
    Ok(MeetingRequest { start_date_time, end_date_time, subject: body.subject, participants, organizer_user_id })
}

/// The organizer's user id, walking `organizer.identity.user.id`; each step that is present
/// must have its type.
fn organizer_user_id(participants: &Map<String, Value>) -> Result<Option<String>, DomainError> {
    let mut at = participants.get("organizer");
    let mut path = "participants.organizer".to_owned();
    for member in ["identity", "user"] {
        match at {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(object)) => at = object.get(member),
            Some(_) => return Err(DomainError::invalid(format!("Invalid value for {path}: an object is expected."))),
        }
        path = format!("{path}.{member}");
    }
    match at {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(user)) => match user.get("id") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(id)) => Ok(Some(id.clone())),
            Some(_) => Err(DomainError::invalid(format!("Invalid value for {path}.id: a string is expected."))),
        },
        Some(_) => Err(DomainError::invalid(format!("Invalid value for {path}: an object is expected."))),
    }
}

/// The meeting's participants with `organizer` set to `user` as Graph renders it: `identity.user`
/// with `id`, `tenantId` and `displayName` (create-onlineMeeting, Example 1). The directory
/// holds no user principal name, so `upn` is not written.
pub fn with_organizer(mut participants: Map<String, Value>, user: &User) -> Map<String, Value> {
    participants.insert(
        "organizer".to_owned(),
        json!({"identity": {"user": {"id": user.id, "tenantId": user.tenant_id.0, "displayName": user.display_name}}}),
    );
    participants
}

impl Meeting {
    /// The user the meeting was created on behalf of, if any.
    pub fn organizer_user_id(&self) -> Option<&str> {
        self.participants.pointer("/organizer/identity/user/id").and_then(Value::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: Value) -> Result<MeetingRequest, DomainError> {
        parse_meeting_request(serde_json::from_value(body).expect("a create-onlineMeeting body"))
    }

    #[test]
    fn date_times_are_checked_and_written_in_utc() {
        let request =
            parse(json!({"startDateTime": "2019-09-09T14:33:30.8546353-07:00", "endDateTime": "2019-09-09T22:03:30Z"}))
                .expect("valid");
        assert_eq!(request.start_date_time.as_deref(), Some("2019-09-09T21:33:30.854Z"));
        assert_eq!(request.end_date_time.as_deref(), Some("2019-09-09T22:03:30.000Z"));
        for body in [json!({"startDateTime": "not a date"}), json!({"endDateTime": "2019-09-09"})] {
            assert!(parse(body.clone()).is_err_and(|e| e.kind == crate::ErrorKind::InvalidRequest), "{body}");
        }
    }

    #[test]
    fn participants_must_be_shaped_as_meeting_participants() {
        let organizer = json!({"participants": {"organizer": {"identity": {"user": {"id": "u1"}}}, "attendees": []}});
        assert_eq!(parse(organizer).expect("valid").organizer_user_id.as_deref(), Some("u1"));
        assert_eq!(parse(json!({"participants": null})).expect("valid").participants, Map::new());
        for body in [
            json!({"participants": 5}),
            json!({"participants": []}),
            json!({"participants": {"organizer": "u1"}}),
            json!({"participants": {"organizer": {"identity": {"user": "u1"}}}}),
            json!({"participants": {"organizer": {"identity": {"user": {"id": 7}}}}}),
            json!({"participants": {"attendees": {}}}),
        ] {
            assert!(parse(body.clone()).is_err_and(|e| e.kind == crate::ErrorKind::InvalidRequest), "{body}");
        }
    }
}

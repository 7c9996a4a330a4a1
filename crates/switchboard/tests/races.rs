//! Invites that race each other or the calls they name, black box, against the real binary:
//! requests sent together (`tokio::join!`), then the rosters, operations and notifications
//! checked for what must hold whatever order the server took them in.
//!
//! - Two moves of one participant (`participantId` + `replacesCallId`) into two meetings, both
//!   accepted before either ran: the participant ends up in one meeting only, and the other
//!   move fails as its source ended (487/10171), each operation with one terminal notification.

mod common;

use std::collections::HashMap;

use common::*;
use serde_json::{json, Value};

/// A move of `participant` (in `source_call`) into the call the invite is posted to.
fn move_body(source_call: &str, participant: &str, user: &str) -> Value {
    json!({
        "participants": [{
            "@odata.type": "#microsoft.graph.invitationParticipantInfo",
            "replacesCallId": source_call,
            "participantId": participant,
            "identity": user_identity(user),
        }],
        "clientContext": "move",
    })
}

/// The ids of the roster of `call`, the bot's own participant left out.
async fn others_in_roster(app: &TestApp, call: &str) -> Vec<String> {
    let mine = app.get_call(call).await.assert_status(200)["myParticipantId"].clone();
    let roster = app.list_participants(call, "").await;
    let value = roster.assert_status(200)["value"].as_array().unwrap().clone();
    value.iter().filter(|p| p["id"] != mine).map(|p| p["info"]["identity"]["user"]["id"].to_string()).collect()
}

/// The terminal statuses each operation's notifications reported, by operation id.
fn terminal_statuses(got: &[Received]) -> HashMap<String, Vec<String>> {
    let mut statuses: HashMap<String, Vec<String>> = HashMap::new();
    for r in got.iter().filter(|r| r.kind() == "operation") {
        let data = r.resource_data();
        statuses.entry(data["id"].as_str().unwrap().to_owned()).or_default().push(data["status"].to_string());
    }
    statuses
}

#[tokio::test]
async fn a_participant_moved_into_two_meetings_at_once_joins_one_and_the_other_move_fails() {
    let app = TestApp::spawn().await;
    let adele = app.user("Adele Vance");
    app.set_user_behaviour(&adele, json!({"kind": "answer", "afterMs": 0})).await;
    // A few rounds: whichever way the server orders the two moves, the same must hold.
    for round in 0..3 {
        let (source, _) = app.join_new_meeting(json!(null)).await;
        let (first, _) = app.join_new_meeting(json!(null)).await;
        let (second, _) = app.join_new_meeting(json!(null)).await;
        let invited = app.invite(&source, &invite_body(&[user_identity(&adele)], "into the source")).await;
        let participant = invited.assert_status(200)["participants"][0]["participantId"].as_str().unwrap().to_owned();
        app.advance(0).await;
        assert_eq!(others_in_roster(&app, &source).await.len(), 1, "round {round}: Adele is in the source");

        let body = move_body(&source, &participant, &adele);
        let (to_first, to_second) = tokio::join!(app.invite(&first, &body), app.invite(&second, &body));
        app.advance(0).await;

        let in_first = others_in_roster(&app, &first).await.len();
        let in_second = others_in_roster(&app, &second).await.len();
        assert_eq!(in_first + in_second, 1, "round {round}: Adele is in exactly one target meeting");
        assert!(others_in_roster(&app, &source).await.is_empty(), "round {round}: she left the source");
        let got = app.hooks.take();
        let statuses = terminal_statuses(&got);
        let mut outcomes = Vec::new();
        for (response, call) in [(&to_first, &first), (&to_second, &second)] {
            if response.status == 400 {
                // The second move was taken once the first had run: no longer in the source.
                response.assert_error(400, "invalidRequest");
                continue;
            }
            let op = response.assert_status(200)["id"].as_str().unwrap().to_owned();
            let done = app.get_operation(call, &op).await.assert_status(200).clone();
            assert_eq!(statuses[&op].len(), 1, "round {round}: one terminal notification: {got:#?}");
            if done["status"] == "Failed" {
                let result = &done["resultInfo"];
                assert_eq!((result["code"].as_i64(), result["subcode"].as_i64()), (Some(487), Some(10171)), "{done}");
            }
            outcomes.push(done["status"].as_str().unwrap().to_owned());
        }
        outcomes.sort();
        assert!(outcomes == ["Completed"] || outcomes == ["Completed", "Failed"], "round {round}: {outcomes:?}");
    }
}

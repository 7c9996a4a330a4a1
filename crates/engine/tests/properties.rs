//! Property tests over random sequences of events, run on the engine with an in-memory store
//! and the virtual clock: invites with random behaviours, time passing, cancellations, hang-ups.
//! Whatever happens: every acknowledged operation is reported exactly once and ends completed or
//! failed; a call's notifications carry increasing sequence numbers and nothing follows its
//! `terminated`; a roster never lists a participant twice.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use serde_json::{json, Value};
use switchboard_core::{AppId, Behaviour, TenantId};
use switchboard_engine::{Caller, ClockMode, Engine, EngineConfig, Seed, SigningKeys};
use switchboard_store::SqliteStore;

#[derive(Debug, Clone)]
enum Event {
    Invite { users: Vec<usize> },
    SetBehaviour { user: usize, behaviour: Behaviour },
    Advance { ms: i64 },
    CancelSomeone { pick: usize },
    HangUp,
}

fn behaviour() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        (0i64..5_000).prop_map(|after_ms| Behaviour::Answer { after_ms }),
        (0i64..5_000).prop_map(|after_ms| Behaviour::Decline { after_ms }),
        (0i64..5_000).prop_map(|after_ms| Behaviour::Busy { after_ms }),
        Just(Behaviour::NoAnswer),
        Just(Behaviour::Unreachable),
        (0i64..5_000).prop_map(|after_ms| Behaviour::Fault { code: 500, subcode: 7106, reason: None, after_ms }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => prop::collection::vec(0usize..5, 1..4).prop_map(|users| Event::Invite { users }),
        2 => (0usize..5, behaviour()).prop_map(|(user, behaviour)| Event::SetBehaviour { user, behaviour }),
        4 => prop_oneof![0i64..2_000, 0i64..70_000].prop_map(|ms| Event::Advance { ms }),
        1 => any::<usize>().prop_map(|pick| Event::CancelSomeone { pick }),
        1 => Just(Event::HangUp),
    ]
}

async fn run(events: Vec<Event>) -> Result<(), String> {
    let store = SqliteStore::open_in_memory().map_err(|e| e.to_string())?;
    let config = EngineConfig { clock: ClockMode::Virtual, ..EngineConfig::default() };
    let engine = Engine::new(store, SigningKeys::generate().unwrap(), config).map_err(|e| e.to_string())?;
    let (seed, credentials) = Seed::development();
    engine.seed(seed).await.map_err(|e| e.to_string())?;
    let caller =
        Caller { app_id: AppId(credentials.client_id.clone()), tenant_id: TenantId(credentials.tenant_id.clone()) };
    let users: Vec<String> = credentials.users.iter().map(|u| u.id.clone()).collect();

    let meeting = engine
        .create_online_meeting(caller.clone(), Default::default(), None, "http://127.0.0.1:1".into())
        .await
        .map_err(|e| e.to_string())?;
    let body = serde_json::from_value(json!({
        // Nothing listens there: notifications stay in the outbox, where the test reads them.
        "callbackUri": "http://127.0.0.1:9/cb",
        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
        "chatInfo": {"threadId": meeting.chat_info.thread_id, "messageId": "0"},
        "meetingInfo": {"@odata.type": "#microsoft.graph.organizerMeetingInfo"},
    }))
    .unwrap();
    let (call, hold) = engine
        .create_call(caller.clone(), body, graph_model::GraphVersion::default())
        .await
        .map_err(|e| e.to_string())?;
    drop(hold);
    engine.advance(0).await.map_err(|e| e.to_string())?;

    let mut acknowledged: Vec<String> = Vec::new();
    let mut invited: Vec<String> = Vec::new();
    // Every sequence starts with an invite, so the checks below always have something to check.
    let events = std::iter::once(Event::Invite { users: vec![0, 1] }).chain(events);
    for event in events {
        match event {
            Event::Invite { users: picks } => {
                let participants: Vec<Value> =
                    picks.iter().map(|i| json!({"identity": {"user": {"id": users[*i]}}})).collect();
                let body = serde_json::from_value(json!({ "participants": participants })).unwrap();
                // Refusals (duplicates, an identity already there, an ended call) are fine.
                if let Ok((op, hold)) = engine.invite(caller.clone(), call.id.clone(), body).await {
                    drop(hold);
                    acknowledged.push(op.id.clone());
                    invited.extend(op.participants.unwrap_or_default().into_iter().filter_map(|p| p.participant_id));
                }
            }
            Event::SetBehaviour { user, behaviour } => {
                engine.set_user_behaviour(users[user].clone(), behaviour).await.map_err(|e| e.to_string())?;
            }
            Event::Advance { ms } => {
                engine.advance(ms).await.map_err(|e| e.to_string())?;
            }
            Event::CancelSomeone { pick } => {
                if !invited.is_empty() {
                    let participant = invited[pick % invited.len()].clone();
                    let _ = engine.delete_participant(caller.clone(), call.id.clone(), participant).await;
                }
            }
            Event::HangUp => {
                let _ = engine.delete_call(caller.clone(), call.id.clone()).await;
            }
        }
    }
    // Long enough for every ring to end (the longest ring timeout is 60 s).
    engine.advance(120_000).await.map_err(|e| e.to_string())?;

    let log = engine.notification_log(None, None, 100_000).await.map_err(|e| e.to_string())?;
    let mut operations: HashMap<String, Vec<String>> = HashMap::new();
    let mut last_sequence: HashMap<String, i64> = HashMap::new();
    let mut terminated: HashSet<String> = HashSet::new();
    for n in &log {
        if terminated.contains(&n.call_id) {
            return Err(format!("a notification after the call {} terminated: {}", n.call_id, n.body));
        }
        let previous = last_sequence.insert(n.call_id.clone(), n.sequence).unwrap_or(0);
        if n.sequence <= previous {
            return Err(format!("sequence {} after {previous}", n.sequence));
        }
        let item = &n.body["value"][0];
        let url = item["resourceUrl"].as_str().unwrap_or_default();
        let data = &item["resourceData"];
        if url.contains("/operations/") {
            let status = data["status"].as_str().unwrap_or_default().to_owned();
            operations.entry(data["id"].as_str().unwrap_or_default().to_owned()).or_default().push(status);
        } else if url.ends_with("/participants") {
            let ids: Vec<&str> = data.as_array().unwrap().iter().filter_map(|p| p["id"].as_str()).collect();
            if ids.iter().collect::<HashSet<_>>().len() != ids.len() {
                return Err(format!("a roster lists someone twice: {ids:?}"));
            }
        } else if data["state"] == "terminated" {
            terminated.insert(n.call_id.clone());
        }
    }
    for op in &acknowledged {
        match operations.get(op).map(Vec::as_slice) {
            Some([status]) if status == "completed" || status == "failed" => {}
            other => return Err(format!("operation {op} was reported as {other:?}")),
        }
    }
    if acknowledged.is_empty() {
        return Err("the first invite was refused".to_owned());
    }
    if operations.len() != acknowledged.len() {
        return Err("an operation nobody started was reported".to_owned());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_event_sequences_keep_the_invariants(events in prop::collection::vec(event(), 1..25)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let outcome = runtime.block_on(run(events));
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    }
}

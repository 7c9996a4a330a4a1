//! Live legs (agents, SIP) around inbound calls and mute, on the engine with a real SQLite file
//! and a driver that records its commands: a live leg calling a bot through
//! `Engine::call_application` is told `Connected` when the bot answers and `Rejected` (with the
//! resultInfo) when it rejects or lets the deadline pass; a live leg muted by the bot is told
//! `Muted`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use switchboard_core::{AppId, EndpointKind, Participant, Party, PartyKind, TenantId};
use switchboard_engine::{
    ApplicationAddress, Caller, ClockMode, DevCredentials, Engine, EngineConfig, EngineError, IncomingCallRequest,
    IncomingParty, LegCommand, LegDriver, Seed, SigningKeys,
};
use switchboard_store::SqliteStore;
use tokio::sync::mpsc;

struct Recorder(mpsc::UnboundedSender<(Participant, LegCommand)>);

#[async_trait::async_trait]
impl LegDriver for Recorder {
    async fn execute(&self, participant: &Participant, command: LegCommand) -> Result<(), EngineError> {
        let _ = self.0.send((participant.clone(), command));
        Ok(())
    }
}

const NODE: &str = "inbound-node";

async fn started() -> (tempfile::TempDir, Engine, DevCredentials, mpsc::UnboundedReceiver<(Participant, LegCommand)>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db.sqlite")).unwrap();
    let config = EngineConfig { clock: ClockMode::Virtual, node_id: NODE.into(), ..EngineConfig::default() };
    let engine = Engine::new(store, SigningKeys::generate().unwrap(), config).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    engine.register_driver(EndpointKind::Sip, Arc::new(Recorder(tx.clone())));
    engine.register_driver(EndpointKind::Agent, Arc::new(Recorder(tx)));
    let (seed, credentials) = Seed::development();
    engine.seed(seed).await.unwrap();
    engine
        .set_calling_webhook(credentials.client_id.clone(), Some("http://127.0.0.1:9/incoming".into()))
        .await
        .unwrap();
    std::mem::forget(engine.start().await.unwrap());
    (dir, engine, credentials, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<(Participant, LegCommand)>) -> (Participant, LegCommand) {
    tokio::time::timeout(Duration::from_secs(20), rx.recv()).await.expect("a leg command in time").expect("open")
}

fn bot(credentials: &DevCredentials) -> Caller {
    Caller { app_id: AppId(credentials.client_id.clone()), tenant_id: TenantId(credentials.tenant_id.clone()) }
}

/// An inbound SIP call from `number` to the bot's number.
fn sip_call(number: &str) -> IncomingCallRequest {
    IncomingCallRequest {
        from: IncomingParty {
            party: Party {
                kind: PartyKind::Phone,
                id: number.into(),
                display_name: None,
                tenant_id: None,
                identity_provider: None,
            },
            endpoint: EndpointKind::Sip,
            node: Some(NODE.into()),
            leg_state: Some(json!({"callId": "abc@198.51.100.7"})),
        },
        to: ApplicationAddress::PhoneNumber("+14255550100".into()),
        requested_modalities: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sip_caller_is_told_connected_then_rejected_and_timed_out_with_the_codes() {
    let (_dir, engine, credentials, mut commands) = started().await;
    let answer =
        serde_json::from_value(json!({"callbackUri": "http://127.0.0.1:9/cb", "acceptedModalities": ["audio"],
        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"}}))
        .unwrap();

    let placed = engine.call_application(sip_call("+12065550123")).await.unwrap();
    let caller = engine.participant(placed.caller_participant_id.as_str()).await.unwrap().unwrap();
    assert_eq!((caller.endpoint, caller.node.as_deref()), (EndpointKind::Sip, Some(NODE)));
    assert_eq!(caller.leg_state, Some(json!({"callId": "abc@198.51.100.7"})));
    engine.answer(bot(&credentials), placed.call_id.0.clone(), answer, true).await.unwrap();
    let (leg, command) = next(&mut commands).await;
    assert_eq!((leg.id, command), (placed.caller_participant_id.clone(), LegCommand::Connected));
    // The bot hangs up: the caller's leg is hung up.
    engine.delete_call(bot(&credentials), placed.call_id.0.clone()).await.unwrap();
    let (leg, command) = next(&mut commands).await;
    assert_eq!((leg.id, command), (placed.caller_participant_id, LegCommand::HangUp));

    let placed = engine.call_application(sip_call("+12065550124")).await.unwrap();
    let reject = serde_json::from_value(json!({"reason": "busy"})).unwrap();
    engine.reject(bot(&credentials), placed.call_id.0.clone(), reject).await.unwrap();
    let (leg, command) = next(&mut commands).await;
    assert_eq!(leg.id, placed.caller_participant_id);
    let LegCommand::Rejected { code, subcode, .. } = command else { panic!("{command:?}") };
    assert_eq!((code, subcode), (486, 10004));

    let placed = engine.call_application(sip_call("+12065550125")).await.unwrap();
    engine.advance(15_000).await.unwrap();
    let (leg, command) = next(&mut commands).await;
    assert_eq!(leg.id, placed.caller_participant_id);
    let LegCommand::Rejected { code, subcode, message } = command else { panic!("{command:?}") };
    assert_eq!((code, subcode), (408, 10057), "{message}");
    // Nothing more: the rejected leg is not hung up as well.
    assert!(tokio::time::timeout(Duration::from_millis(300), commands.recv()).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_muted_by_the_bot_is_told_muted() {
    let (_dir, engine, credentials, mut commands) = started().await;
    let adele = credentials.users[0].id.clone();
    engine.add_agent_session(&adele).await.unwrap();
    let meeting = engine
        .create_online_meeting(
            bot(&credentials),
            serde_json::from_value(json!({"subject": "agents"})).unwrap(),
            None,
            "http://127.0.0.1:1".into(),
        )
        .await
        .unwrap();
    let thread = meeting.chat_info.thread_id.unwrap();
    let body = serde_json::from_value(json!({
        "callbackUri": "http://127.0.0.1:9/cb",
        "requestedModalities": ["audio"],
        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
        "chatInfo": {"threadId": thread, "messageId": "0"},
        "meetingInfo": {"@odata.type": "#microsoft.graph.organizerMeetingInfo"},
    }))
    .unwrap();
    let (call, hold) = engine.create_call(bot(&credentials), body, graph_model::GraphVersion::default()).await.unwrap();
    drop(hold);
    engine.advance(0).await.unwrap();
    let invite = serde_json::from_value(json!({"participants": [{"identity": {"user": {"id": adele}}}]})).unwrap();
    let (_, hold) = engine.invite(bot(&credentials), call.id.clone(), invite).await.unwrap();
    drop(hold);
    let (leg, command) = next(&mut commands).await;
    assert!(matches!(command, LegCommand::Ring(_)), "{command:?}");
    engine.leg_answered(leg.id.as_str()).await.unwrap();
    let (_, command) = next(&mut commands).await;
    assert!(matches!(command, LegCommand::Roster { .. }), "{command:?}");

    let (op, hold) = engine.mute_participant(bot(&credentials), call.id.clone(), leg.id.0.clone(), None).await.unwrap();
    drop(hold);
    assert_eq!(op.status, "Completed");
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(next(&mut commands).await.1);
    }
    assert!(seen.contains(&LegCommand::Muted { muted: true }), "{seen:?}");
}

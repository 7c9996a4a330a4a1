//! The endpoint legs foundation, on the engine with a real SQLite file and the virtual clock: a
//! user with an agent session is rung through the leg driver registered for agents (a driver
//! that records what it is asked), reports back through `leg_*`, is told `Cancel` or `HangUp`
//! when the domain ends its leg, and a command left in the inbox by a stopped node runs after
//! the restart.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use switchboard_core::results::RingFailure;
use switchboard_core::{AppId, EndpointKind, Participant, ParticipantState, PartyKind, TenantId};
use switchboard_engine::{
    Caller, ClockMode, DevCredentials, Engine, EngineConfig, EngineError, LegCommand, LegDriver, Seed, SigningKeys,
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

const NODE: &str = "node-under-test";

fn engine(dir: &std::path::Path) -> Engine {
    let store = SqliteStore::open(&dir.join("db.sqlite")).unwrap();
    let config = EngineConfig { clock: ClockMode::Virtual, node_id: NODE.into(), ..EngineConfig::default() };
    Engine::new(store, SigningKeys::generate().unwrap(), config).unwrap()
}

fn record(engine: &Engine) -> mpsc::UnboundedReceiver<(Participant, LegCommand)> {
    let (tx, rx) = mpsc::unbounded_channel();
    engine.register_driver(EndpointKind::Agent, Arc::new(Recorder(tx)));
    rx
}

async fn next(rx: &mut mpsc::UnboundedReceiver<(Participant, LegCommand)>) -> (Participant, LegCommand) {
    tokio::time::timeout(Duration::from_secs(20), rx.recv()).await.expect("a leg command in time").expect("open")
}

fn caller(credentials: &DevCredentials) -> Caller {
    Caller { app_id: AppId(credentials.client_id.clone()), tenant_id: TenantId(credentials.tenant_id.clone()) }
}

/// A peer-to-peer call from the development bot to `user`; returns the call id.
async fn call_user(engine: &Engine, credentials: &DevCredentials, user: &str) -> String {
    let body = serde_json::from_value(json!({
        "callbackUri": "http://127.0.0.1:9/cb",
        "targets": [{"identity": {"user": {"id": user}}}],
        "requestedModalities": ["audio"],
        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
    }))
    .unwrap();
    let (call, hold) =
        engine.create_call(caller(credentials), body, graph_model::GraphVersion::default()).await.unwrap();
    drop(hold);
    call.id
}

async fn seeded(engine: &Engine) -> DevCredentials {
    let (seed, credentials) = Seed::development();
    engine.seed(seed).await.unwrap();
    credentials
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_is_rung_through_its_driver_and_answers_then_is_hung_up() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let mut commands = record(&engine);
    let credentials = seeded(&engine).await;
    let tasks = engine.start().await.unwrap();
    let adele = credentials.users[0].id.clone();
    engine.add_agent_session(&adele.to_uppercase()).await.unwrap();
    let started = engine.clock().now();

    let call_id = call_user(&engine, &credentials, &adele).await;
    let (leg, command) = next(&mut commands).await;
    let LegCommand::Ring(ring) = command else { panic!("expected a ring, got {command:?}") };
    assert_eq!(leg.endpoint, EndpointKind::Agent);
    assert_eq!(leg.node.as_deref(), Some(NODE));
    assert_eq!(leg.state, ParticipantState::Ringing);
    assert_eq!(ring.participant_id, leg.id);
    assert_eq!(ring.inviting_call_id.as_deref(), Some(call_id.as_str()));
    assert_eq!(ring.target.id, adele);
    assert_eq!(ring.caller.kind, PartyKind::Application);
    assert_eq!(ring.caller.id, credentials.client_id);
    assert_eq!(ring.caller_number.as_deref(), Some("+14255550100"));
    assert_eq!(ring.deadline, started.plus_secs(60));
    assert_eq!(engine.legs_of_node().await.unwrap().iter().map(|p| &p.id).collect::<Vec<_>>(), [&leg.id]);

    engine.leg_answered(leg.id.as_str()).await.unwrap();
    let call = engine.get_call(caller(&credentials), call_id.clone()).await.unwrap();
    assert_eq!(call.state, graph_model::CallState::Established);
    let (_, command) = next(&mut commands).await;
    assert_eq!(command, LegCommand::Roster { conversation_id: ring.conversation_id.0.clone() });
    let again = engine.leg_answered(leg.id.as_str()).await;
    assert!(matches!(again, Err(EngineError::Domain(_))), "answering twice is a conflict: {again:?}");

    engine.save_leg_state(leg.id.as_str(), json!({"seen": 1})).await.unwrap();
    let stored = engine.participant(leg.id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.leg_state, Some(json!({"seen": 1})));

    engine.delete_call(caller(&credentials), call_id).await.unwrap();
    let (ended, command) = next(&mut commands).await;
    assert_eq!((ended.id, command), (leg.id, LegCommand::HangUp));
    assert!(engine.legs_of_node().await.unwrap().is_empty());
    for task in tasks {
        task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ringing_agent_is_cancelled_at_the_ring_deadline_and_a_declined_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let mut commands = record(&engine);
    let credentials = seeded(&engine).await;
    let tasks = engine.start().await.unwrap();
    let adele = credentials.users[0].id.clone();
    engine.add_agent_session(&adele).await.unwrap();

    call_user(&engine, &credentials, &adele).await;
    let (leg, _) = next(&mut commands).await;
    engine.advance(60_000).await.unwrap();
    let (cancelled, command) = next(&mut commands).await;
    assert_eq!((cancelled.id, command), (leg.id.clone(), LegCommand::Cancel));
    let stored = engine.participant(leg.id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.state, ParticipantState::Removed);

    // A leg that fails by itself is not told to stop: the next command is the next call's ring.
    call_user(&engine, &credentials, &adele).await;
    let (second, _) = next(&mut commands).await;
    engine.leg_failed(second.id.as_str(), RingFailure::Busy).await.unwrap();
    let stored = engine.participant(second.id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.state, ParticipantState::Removed);
    call_user(&engine, &credentials, &adele).await;
    let (third, command) = next(&mut commands).await;
    assert_ne!(third.id, second.id);
    assert!(matches!(command, LegCommand::Ring(_)), "{command:?}");
    for task in tasks {
        task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_left_in_the_inbox_runs_after_a_restart_and_sessions_are_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let (credentials, leg_id) = {
        // A node that never started its leg task: the ring stays in its inbox.
        let engine = engine(dir.path());
        let credentials = seeded(&engine).await;
        let adele = credentials.users[0].id.clone();
        engine.add_agent_session(&adele).await.unwrap();
        call_user(&engine, &credentials, &adele).await;
        let legs = engine.legs_of_node().await.unwrap();
        assert_eq!(legs.len(), 1);
        (credentials, legs[0].id.clone())
    };
    // Let the first store's writer thread finish.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let engine = engine(dir.path());
    let mut commands = record(&engine);
    let tasks = engine.start().await.unwrap();
    let (leg, command) = next(&mut commands).await;
    assert_eq!(leg.id, leg_id);
    assert!(matches!(command, LegCommand::Ring(_)), "{command:?}");
    // The agent did not survive the restart: the user is simulated again.
    let adele = credentials.users[0].id.clone();
    call_user(&engine, &credentials, &adele).await;
    let legs = engine.legs_of_node().await.unwrap();
    assert_eq!(legs.iter().map(|p| &p.id).collect::<Vec<_>>(), [&leg_id], "the new call's target is not an agent");
    for task in tasks {
        task.abort();
    }
}

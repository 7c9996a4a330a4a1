//! An invite whose ring ends at once (an immediate answer, an immediate decline) is settled in
//! the invite's own unit of work: the engine here never starts its timer task, yet once the
//! invite has answered `running` its operation is already settled and the roster changed.

use serde_json::json;
use switchboard_core::{AppId, Behaviour, TenantId};
use switchboard_engine::{Caller, ClockMode, DevCredentials, Engine, EngineConfig, Seed, SigningKeys};
use switchboard_store::SqliteStore;

fn caller(credentials: &DevCredentials) -> Caller {
    Caller { app_id: AppId(credentials.client_id.clone()), tenant_id: TenantId(credentials.tenant_id.clone()) }
}

async fn invite(engine: &Engine, credentials: &DevCredentials, call_id: &str, user: &str) -> String {
    let body = serde_json::from_value(json!({
        "participants": [{"identity": {"user": {"id": user}}}],
        "clientContext": "at-once",
    }))
    .unwrap();
    let (op, hold) = engine.invite(caller(credentials), call_id.to_owned(), body).await.unwrap();
    drop(hold);
    assert_eq!(op.status, "Running", "the invite answers with its operation running");
    op.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_that_ends_at_once_settles_in_the_invites_unit_of_work() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db.sqlite")).unwrap();
    let config = EngineConfig { clock: ClockMode::Virtual, ..EngineConfig::default() };
    let engine = Engine::new(store, SigningKeys::generate().unwrap(), config).unwrap();
    let (seed, credentials) = Seed::development();
    engine.seed(seed).await.unwrap();
    let [adele, alex, megan] = [0, 1, 2].map(|i| credentials.users[i].id.clone());

    // A peer-to-peer call to Adele, established by moving the clock past her answer.
    let body = serde_json::from_value(json!({
        "callbackUri": "http://127.0.0.1:9/cb",
        "targets": [{"identity": {"user": {"id": adele}}}],
        "requestedModalities": ["audio"],
        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
    }))
    .unwrap();
    let (call, hold) =
        engine.create_call(caller(&credentials), body, graph_model::GraphVersion::default()).await.unwrap();
    drop(hold);
    engine.advance(1_000).await.unwrap();

    engine.set_user_behaviour(alex.clone(), Behaviour::Answer { after_ms: 0 }).await.unwrap();
    engine.set_user_behaviour(megan.clone(), Behaviour::Decline { after_ms: 0 }).await.unwrap();
    let answered = invite(&engine, &credentials, &call.id, &alex).await;
    let declined = invite(&engine, &credentials, &call.id, &megan).await;

    // No timer has fired since the invites: the clock has not moved and no timer task runs.
    let op = engine.get_operation(caller(&credentials), call.id.clone(), answered).await.unwrap();
    assert_eq!(op.status, "Completed", "{op:?}");
    let op = engine.get_operation(caller(&credentials), call.id.clone(), declined).await.unwrap();
    assert_eq!(op.status, "Failed", "{op:?}");
    assert_eq!(op.result_info.as_ref().map(|r| r.code), Some(603), "{op:?}");
    let roster = engine.list_participants(caller(&credentials), call.id.clone(), 100, None).await.unwrap();
    let ids = serde_json::to_string(&roster.participants).unwrap();
    assert!(ids.contains(&alex), "Alex is in the roster: {ids}");
    assert!(!ids.contains(&megan), "Megan declined: {ids}");
}

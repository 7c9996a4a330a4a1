//! Criterion micro-benchmarks of the invite hot path (BENCHMARKS.md): parsing an invite
//! request, the core's invite step, serialising notifications, and the store's durable write
//! of one invite. `cargo bench -p switchboard-bench --bench hot_paths`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use graph_model::{CallDirection, CallState, InviteParticipantsBody, OperationStatus};
use switchboard_core::{
    invite, render, Call, CallId, Conversation, ConversationId, ConversationKind, EndpointKind, Invitee,
    InviteeOutcome, Operation, OperationId, OperationKind, Participant, ParticipantId, ParticipantState, Party,
    PartyKind, RingOutcome, TimerAction, Timestamp,
};
use switchboard_store::{SqliteStore, Store};

const INVITE: &str = r##"{"participants":[{"@odata.type":"#microsoft.graph.invitationParticipantInfo",
 "identity":{"@odata.type":"#microsoft.graph.identitySet","user":{"@odata.type":"#microsoft.graph.identity",
 "id":"c0000000-0000-4000-8000-000000000001","identityProvider":"AAD"}}}],"clientContext":"bench-1"}"##;

fn conversation() -> Conversation {
    Conversation {
        id: ConversationId("conv".into()),
        tenant_id: "t".into(),
        kind: ConversationKind::Meeting,
        chat_thread_id: Some("19:conv@thread.v2".into()),
        meeting_id: None,
        ended: false,
        ended_at: None,
        roster_sequence: 0,
        created_at: Timestamp(0),
    }
}

fn call(id: &str) -> Call {
    Call {
        id: CallId(id.into()),
        app_id: "app".into(),
        tenant_id: "t".into(),
        conversation_id: ConversationId("conv".into()),
        state: CallState::Established,
        direction: CallDirection::Outgoing,
        callback_uri: "http://127.0.0.1:1/cb".into(),
        my_participant_id: ParticipantId(format!("{id}-me")),
        source: None,
        targets: vec![],
        requested_modalities: vec![],
        media_config: None,
        chat_info: None,
        meeting_info: None,
        call_options: None,
        subject: None,
        ringing_timeout_in_seconds: None,
        result_info: None,
        peer: None,
        roster_started: false,
        keep_alive_due: None,
        created_at: Timestamp(0),
        api_version: graph_model::GraphVersion::Beta,
        incoming_context: None,
    }
}

fn party(i: usize) -> Party {
    Party {
        kind: PartyKind::User,
        id: format!("c0000000-0000-4000-8000-{i:012}"),
        display_name: Some(format!("Bench user {i}")),
        tenant_id: Some("t".into()),
        identity_provider: Some("AAD".into()),
    }
}

fn participant(i: usize) -> Participant {
    Participant {
        id: ParticipantId(format!("p{i}-{}", uuid_like(i))),
        conversation_id: ConversationId("conv".into()),
        party: party(i),
        state: ParticipantState::Connected,
        endpoint: EndpointKind::Simulated,
        node: None,
        leg_state: None,
        hidden: false,
        call_id: None,
        invited_by: None,
        is_muted: false,
        roster_sequence: i as i64,
        removed_reason: None,
        created_at: Timestamp(0),
    }
}

fn uuid_like(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-000000000000")
}

fn operation(i: usize) -> Operation {
    Operation {
        id: OperationId(format!("op-{}", uuid_like(i))),
        call_id: CallId("call".into()),
        kind: OperationKind::Invite,
        status: OperationStatus::Completed,
        client_context: Some("bench-1".into()),
        result_info: None,
        invitees: vec![Invitee {
            party: party(i),
            participant_id: participant(i).id,
            replaces_call_id: None,
            source_participant_id: None,
            endpoint_type: None,
            outcome: InviteeOutcome::Joined { at: Timestamp(1) },
            hidden: None,
            remove_from_default_audio_routing_group: None,
        }],
        created_at: Timestamp(0),
        last_action_at: Timestamp(1),
    }
}

fn parsing(c: &mut Criterion) {
    c.bench_function("invite request: JSON to a checked InviteRequest", |b| {
        b.iter(|| {
            let body: InviteParticipantsBody = serde_json::from_str(black_box(INVITE)).unwrap();
            invite::parse_invite(body).unwrap()
        })
    });
}

fn core_step(c: &mut Criterion) {
    let body: InviteParticipantsBody = serde_json::from_str(INVITE).unwrap();
    let targets = match invite::parse_invite(body).unwrap().mode {
        invite::InviteMode::Ring(targets) => targets,
        other => panic!("a ringing invite: {other:?}"),
    };
    let (call, conversation) = (call("call"), conversation());
    c.bench_function("core invite step: the call, ring and timer checks", |b| {
        b.iter(|| {
            invite::check_call_accepts_invites(black_box(&call)).unwrap();
            invite::check_ring(black_box(&conversation), black_box(&targets)).unwrap();
            switchboard_core::RingPlan::for_behaviour(
                &switchboard_core::Behaviour::Answer { after_ms: 0 },
                Timestamp(0),
                60,
            )
        })
    });
}

fn serialisation(c: &mut Criterion) {
    let op = operation(1);
    c.bench_function("notification: operation deleted to JSON", |b| {
        b.iter(|| serde_json::to_string(&render::operation_notification(black_box(&op))).unwrap())
    });
    let one = vec![participant(1)];
    c.bench_function("notification: roster of 1 (a delta) to JSON", |b| {
        b.iter(|| serde_json::to_string(&render::roster_notification(&CallId("call".into()), black_box(&one))).unwrap())
    });
    let hundred: Vec<Participant> = (0..100).map(participant).collect();
    c.bench_function("notification: whole roster of 100 to JSON", |b| {
        b.iter(|| {
            serde_json::to_string(&render::roster_notification(&CallId("call".into()), black_box(&hundred))).unwrap()
        })
    });
}

fn store_write(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Store = SqliteStore::open(&dir.path().join("bench.db")).unwrap().into();
    let (conv, bot) = (conversation(), call("call"));
    {
        let (conv, bot) = (conv.clone(), bot.clone());
        runtime
            .block_on(store.run(move |tx| -> Result<(), switchboard_store::StoreError> {
                tx.insert_conversation(&conv)?;
                tx.insert_call(&bot)
            }))
            .unwrap();
    }
    let mut n = 0usize;
    c.bench_function("store: one invite's durable transaction (participant, operation, timer, outbox)", |b| {
        b.iter(|| {
            n += 1;
            let (p, op, bot) = (participant(n), operation(n), bot.clone());
            runtime
                .block_on(store.run(move |tx| -> Result<i64, switchboard_store::StoreError> {
                    tx.insert_participant(&p)?;
                    tx.insert_operation(&op)?;
                    tx.insert_timer(
                        Timestamp(0),
                        &TimerAction::RingOutcome { participant_id: p.id.clone(), outcome: RingOutcome::Answered },
                    )?;
                    tx.enqueue_notification(&bot, "{}", Timestamp(0))
                }))
                .unwrap()
        })
    });
}

criterion_group!(benches, parsing, core_step, serialisation, store_write);
criterion_main!(benches);

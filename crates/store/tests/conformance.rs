//! The storage port's conformance suite. Every adapter must pass it; today that is SQLite
//! (the PostgreSQL adapter will run the same functions).

use graph_model::{CallDirection, CallState};
use switchboard_core::{
    Call, CallId, Conversation, ConversationId, ConversationKind, EndpointKind, Participant, ParticipantId,
    ParticipantState, Party, PartyKind, RingOutcome, TimerAction, Timestamp,
};
use switchboard_store::{AttemptResult, DeliveryState, SqliteStore, StoreError, Tx};

type Result<T> = std::result::Result<T, StoreError>;

fn conversation(id: &str) -> Conversation {
    Conversation {
        id: ConversationId(id.into()),
        tenant_id: "t".into(),
        kind: ConversationKind::Meeting,
        chat_thread_id: Some(format!("19:{id}@thread.v2")),
        meeting_id: None,
        ended: false,
        roster_sequence: 0,
        created_at: Timestamp(0),
    }
}

fn call(id: &str, conversation: &str) -> Call {
    Call {
        id: CallId(id.into()),
        app_id: "app".into(),
        tenant_id: "t".into(),
        conversation_id: ConversationId(conversation.into()),
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
        created_at: Timestamp(0),
        api_version: graph_model::GraphVersion::Beta,
    }
}

fn participant(id: &str, conversation: &str, user: &str, state: ParticipantState) -> Participant {
    Participant {
        id: ParticipantId(id.into()),
        conversation_id: ConversationId(conversation.into()),
        party: Party {
            kind: PartyKind::User,
            id: user.into(),
            display_name: None,
            tenant_id: None,
            identity_provider: None,
        },
        state,
        endpoint: EndpointKind::Simulated,
        call_id: None,
        invited_by: None,
        is_muted: false,
        roster_sequence: 0,
        removed_reason: None,
        created_at: Timestamp(0),
    }
}

async fn run<T: Send + 'static>(
    store: &SqliteStore,
    f: impl FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
) -> Result<T> {
    store.run(f).await
}

#[tokio::test]
async fn an_identity_is_unique_among_active_participants_only() {
    let store = SqliteStore::open_in_memory().unwrap();
    run(&store, |tx| {
        tx.insert_conversation(&conversation("c1"))?;
        tx.insert_participant(&participant("p1", "c1", "Alice", ParticipantState::Ringing))
    })
    .await
    .unwrap();
    let again =
        run(&store, |tx| tx.insert_participant(&participant("p2", "c1", "alice", ParticipantState::Ringing))).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    // Once removed, the identity may come back.
    run(&store, |tx| {
        let mut p = tx.participant("p1")?.unwrap();
        p.state = ParticipantState::Removed;
        tx.update_participant(&p)?;
        tx.insert_participant(&participant("p3", "c1", "alice", ParticipantState::Connected))
    })
    .await
    .unwrap();
    // Another conversation is another room.
    run(&store, |tx| {
        tx.insert_conversation(&conversation("c2"))?;
        tx.insert_participant(&participant("p4", "c2", "alice", ParticipantState::Connected))
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_failing_unit_of_work_leaves_no_trace_and_does_not_undo_others() {
    let store = SqliteStore::open_in_memory().unwrap();
    let good = run(&store, |tx| tx.insert_conversation(&conversation("kept")));
    let bad = run(&store, |tx| {
        tx.insert_conversation(&conversation("undone"))?;
        Err::<(), _>(StoreError::Conflict("rule broken".into()))
    });
    let (good, bad) = tokio::join!(good, bad);
    good.unwrap();
    assert!(bad.is_err());
    let (kept, undone) = run(&store, |tx| {
        Ok((tx.conversation(&ConversationId("kept".into()))?, tx.conversation(&ConversationId("undone".into()))?))
    })
    .await
    .unwrap();
    assert!(kept.is_some());
    assert!(undone.is_none());
}

#[tokio::test]
async fn the_outbox_hands_out_one_head_per_call_in_sequence_order() {
    let store = SqliteStore::open_in_memory().unwrap();
    let (a, b) = (call("a", "c"), call("b", "c"));
    let seqs = run(&store, move |tx| {
        Ok(vec![
            tx.enqueue_notification(&a, "a1", Timestamp(10))?,
            tx.enqueue_notification(&a, "a2", Timestamp(11))?,
            tx.enqueue_notification(&b, "b1", Timestamp(12))?,
        ])
    })
    .await
    .unwrap();
    assert_eq!(seqs, [1, 2, 1]);
    let due = run(&store, |tx| tx.due_deliveries(Timestamp(20), 10, &[])).await.unwrap();
    let bodies: Vec<&str> = due.iter().map(|r| r.body.as_str()).collect();
    assert_eq!(bodies, ["a1", "b1"], "only the head of each call's queue");
    // A busy call is skipped; a failed head holds its call back until its retry time.
    let first = due[0].id;
    let due = run(&store, |tx| tx.due_deliveries(Timestamp(20), 10, &[CallId("a".into())])).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].body, "b1");
    run(&store, move |tx| {
        tx.record_attempt(
            first,
            Timestamp(20),
            5,
            &AttemptResult::Failed { status: Some(500), error: "HTTP 500".into(), retry_at: Some(Timestamp(100)) },
        )
    })
    .await
    .unwrap();
    let due = run(&store, |tx| tx.due_deliveries(Timestamp(50), 10, &[])).await.unwrap();
    assert_eq!(due.iter().map(|r| r.body.as_str()).collect::<Vec<_>>(), ["b1"], "a2 waits behind a1");
    let due = run(&store, |tx| tx.due_deliveries(Timestamp(100), 10, &[])).await.unwrap();
    let a1 = due.iter().find(|r| r.call_id.0 == "a").expect("a1 is due again at its retry time");
    assert_eq!((a1.body.as_str(), a1.attempts), ("a1", 1));
    run(&store, move |tx| tx.record_attempt(first, Timestamp(100), 5, &AttemptResult::Delivered { status: 202 }))
        .await
        .unwrap();
    let log = run(&store, |tx| tx.notifications(Some(&CallId("a".into())), 10)).await.unwrap();
    assert_eq!(log[0].state, DeliveryState::Delivered);
    let attempts = run(&store, move |tx| tx.delivery_attempts(first)).await.unwrap();
    assert_eq!(attempts.iter().map(|a| a.status).collect::<Vec<_>>(), [Some(500), Some(202)]);
}

#[tokio::test]
async fn timers_come_due_in_time_order_and_fire_once() {
    let store = SqliteStore::open_in_memory().unwrap();
    let action =
        |p: &str| TimerAction::RingOutcome { participant_id: ParticipantId(p.into()), outcome: RingOutcome::Answered };
    let (late, early) = (action("late"), action("early"));
    run(&store, move |tx| {
        tx.insert_timer(Timestamp(200), &late)?;
        tx.insert_timer(Timestamp(100), &early)?;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(run(&store, |tx| tx.next_timer_due()).await.unwrap(), Some(Timestamp(100)));
    let due = run(&store, |tx| tx.due_timers(Timestamp(150), 10)).await.unwrap();
    assert_eq!(due.len(), 1);
    let id = due[0].id;
    assert!(run(&store, move |tx| tx.delete_timer(id)).await.unwrap());
    assert!(!run(&store, move |tx| tx.delete_timer(id)).await.unwrap(), "a timer is fired once");
    run(&store, |tx| tx.delete_participant_timers(&ParticipantId("late".into()))).await.unwrap();
    assert_eq!(run(&store, |tx| tx.next_timer_due()).await.unwrap(), None);
}

#[tokio::test]
async fn the_database_survives_a_reopen_and_migrations_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    {
        let store = SqliteStore::open(&path).unwrap();
        run(&store, |tx| tx.insert_conversation(&conversation("c1"))).await.unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let found = run(&store, |tx| tx.conversation(&ConversationId("c1".into()))).await.unwrap();
    assert_eq!(found, Some(conversation("c1")));
}

#[tokio::test]
async fn the_roster_pages_by_id_and_leaves_out_ringing_and_removed() {
    let store = SqliteStore::open_in_memory().unwrap();
    run(&store, |tx| {
        tx.insert_conversation(&conversation("c"))?;
        for (i, state) in [
            ParticipantState::Connected,
            ParticipantState::Ringing,
            ParticipantState::Connected,
            ParticipantState::Removed,
        ]
        .into_iter()
        .enumerate()
        {
            tx.insert_participant(&participant(&format!("p{i}"), "c", &format!("u{i}"), state))?;
        }
        Ok(())
    })
    .await
    .unwrap();
    let c = ConversationId("c".into());
    let first = run(&store, {
        let c = c.clone();
        move |tx| tx.roster_page(&c, None, 1)
    })
    .await
    .unwrap();
    assert_eq!(first.iter().map(|p| p.id.0.as_str()).collect::<Vec<_>>(), ["p0"]);
    let rest = run(&store, move |tx| tx.roster_page(&c, Some("p0"), 10)).await.unwrap();
    assert_eq!(rest.iter().map(|p| p.id.0.as_str()).collect::<Vec<_>>(), ["p2"]);
}

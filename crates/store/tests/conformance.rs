//! The storage port's conformance suite. Every adapter must pass it: each test runs against
//! SQLite and against PostgreSQL (in a fresh schema of the database named by
//! `SWITCHBOARD_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`, dropped
//! afterwards). The PostgreSQL-only tests at the end check claims between several nodes, and
//! that a claim never deadlocks against a unit writing the same queue.

use graph_model::{CallDirection, CallState, OperationStatus};
use switchboard_core::{
    Call, CallId, Conversation, ConversationId, ConversationKind, EndpointKind, Operation, OperationId, OperationKind,
    Participant, ParticipantId, ParticipantState, Party, PartyKind, RingOutcome, TimerAction, Timestamp,
};
use switchboard_store::{
    AgentSession, AttemptResult, DeliveryState, PgStore, SqliteStore, Store, StoreError, Tx, ROSTER_MARK_BODY,
};

type Result<T> = std::result::Result<T, StoreError>;

fn conversation(id: &str) -> Conversation {
    Conversation {
        id: ConversationId(id.into()),
        tenant_id: "t".into(),
        kind: ConversationKind::Meeting,
        chat_thread_id: Some(format!("19:{id}@thread.v2")),
        meeting_id: None,
        ended: false,
        ended_at: None,
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
        keep_alive_due: None,
        incoming_context: None,
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
        node: None,
        leg_state: None,
        hidden: false,
    }
}

async fn run<T: Send + 'static>(store: &Store, f: impl FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static) -> Result<T> {
    store.run(f).await
}

/// A database for one test: an SQLite file, or a fresh PostgreSQL schema. Opening it again
/// gives another handle on the same data (a restart, or on PostgreSQL another node).
enum Fixture {
    Sqlite(tempfile::TempDir),
    Postgres(PgSchema),
}

impl Fixture {
    fn sqlite() -> Fixture {
        Fixture::Sqlite(tempfile::tempdir().unwrap())
    }

    async fn postgres() -> Fixture {
        Fixture::Postgres(PgSchema::create().await)
    }

    async fn open(&self) -> Store {
        match self {
            Fixture::Sqlite(dir) => SqliteStore::open(&dir.path().join("db.sqlite")).unwrap().into(),
            Fixture::Postgres(schema) => {
                let url = schema.url.clone();
                tokio::task::spawn_blocking(move || PgStore::open(&url)).await.unwrap().unwrap().into()
            }
        }
    }
}

fn database_url() -> String {
    std::env::var("SWITCHBOARD_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A schema of its own in the test database, dropped with the value.
struct PgSchema {
    name: String,
    url: String,
}

impl PgSchema {
    async fn create() -> PgSchema {
        let name = format!("conformance_{}", uuid::Uuid::new_v4().simple());
        let base = database_url();
        let (n, b) = (name.clone(), base.clone());
        tokio::task::spawn_blocking(move || {
            let mut client = ::postgres::Client::connect(&b, ::postgres::NoTls)
                .unwrap_or_else(|e| panic!("PostgreSQL at {b} (set SWITCHBOARD_TEST_DATABASE_URL): {e}"));
            client.batch_execute(&format!("CREATE SCHEMA {n}")).unwrap();
        })
        .await
        .unwrap();
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-csearch_path%3D{name}");
        PgSchema { name, url }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (name, base) = (self.name.clone(), database_url());
        // The synchronous client cannot run inside the test's runtime: use a thread of its own.
        let _ = std::thread::spawn(move || {
            if let Ok(mut client) = ::postgres::Client::connect(&base, ::postgres::NoTls) {
                let _ = client.batch_execute(&format!("DROP SCHEMA {name} CASCADE"));
            }
        })
        .join();
    }
}

/// Declares each conformance test twice: `sqlite::name` and `postgres::name`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Fixture::sqlite()).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Fixture::postgres().await).await })*
        }
    };
}

conformance!(
    an_identity_is_unique_among_active_participants_only,
    a_failing_unit_of_work_leaves_no_trace_and_does_not_undo_others,
    a_failing_unit_alone_in_its_transaction_leaves_no_trace_and_keeps_its_error,
    a_call_changed_by_a_failing_unit_reads_as_it_was,
    a_conversation_changed_by_a_failing_unit_reads_as_it_was,
    a_user_changed_by_a_failing_unit_reads_as_it_was,
    the_outbox_hands_out_one_head_per_call_in_sequence_order,
    timers_come_due_in_time_order_and_fire_once,
    the_database_survives_a_reopen_and_migrations_run_once,
    the_roster_pages_by_id_and_leaves_out_ringing_and_removed,
    users_are_found_whatever_the_case_of_their_id,
    a_lost_lease_records_nothing,
    dead_letters_are_listed_by_state,
    a_redelivery_is_a_copy_at_the_end_of_its_calls_queue,
    stats_count_what_metrics_report,
    conversations_list_newest_first_and_operations_by_call,
    leg_commands_wait_in_their_nodes_inbox_in_order_until_deleted,
    live_legs_are_listed_by_owning_node,
    agent_sessions_are_found_by_user_and_cleared_per_node,
    a_silent_node_is_listed_and_forgotten_with_its_inbox_unless_seen_again,
    roster_marks_coalesce_and_stay_at_the_end_of_the_queue,
    the_next_delivery_time_counts_heads_of_idle_calls_and_waits_out_another_nodes_lease,
    updates_find_records_by_their_new_columns_whether_or_not_those_changed,
    a_conversations_call_ids_are_those_of_its_calls_in_the_same_order,
    the_holder_of_a_head_claims_the_run_behind_it_up_to_another_nodes_lease,
    ended_conversations_go_with_their_records_after_their_time_unless_a_notification_is_pending,
);

async fn an_identity_is_unique_among_active_participants_only(db: Fixture) {
    let store = db.open().await;
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

async fn a_failing_unit_of_work_leaves_no_trace_and_does_not_undo_others(db: Fixture) {
    let store = db.open().await;
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

/// Awaited one after the other, each unit is alone in its transaction (SQLite runs such a
/// unit without a savepoint and rolls the transaction back instead).
async fn a_failing_unit_alone_in_its_transaction_leaves_no_trace_and_keeps_its_error(db: Fixture) {
    let store = db.open().await;
    let bad = run(&store, |tx| {
        tx.insert_conversation(&conversation("alone"))?;
        Err::<(), _>(StoreError::Conflict("rule broken".into()))
    })
    .await;
    assert!(matches!(&bad, Err(StoreError::Conflict(m)) if m == "rule broken"), "{bad:?}");
    let undone = run(&store, |tx| tx.conversation(&ConversationId("alone".into()))).await.unwrap();
    assert!(undone.is_none());
    // The store goes on: the same write commits now.
    run(&store, |tx| tx.insert_conversation(&conversation("alone"))).await.unwrap();
    let kept = run(&store, |tx| tx.conversation(&ConversationId("alone".into()))).await.unwrap();
    assert!(kept.is_some());
}

/// The value of the field a [`Probe`] checks.
type Field = Option<String>;

/// One field of a record that a store may keep parsed between units of work (SQLite's writer
/// keeps calls and conversations): how to read it, and how to write it.
struct Probe {
    /// The field of the record named `id`; `None` when there is no such record.
    read: fn(&mut dyn Tx, &str) -> Result<Option<Field>>,
    /// Sets the field of the record named `id` (as an update of the whole record; a record that
    /// does not exist is written as if it did).
    write: fn(&mut dyn Tx, &str, &str) -> Result<()>,
}

/// A change undone must not be read back, whether its unit was alone in its transaction or
/// shared one; an update that matched no record leaves nothing to read.
async fn undone_changes_are_not_read_back(store: Store, probe: Probe) {
    let field = |store: &Store| {
        let store = store.clone();
        async move { run(&store, move |tx| (probe.read)(tx, "a")).await.unwrap().expect("record a") }
    };
    let before = field(&store).await;
    let change_then_fail = |to: &'static str| {
        move |tx: &mut dyn Tx| {
            (probe.write)(tx, "a", to)?;
            assert_eq!((probe.read)(tx, "a")?.flatten().as_deref(), Some(to), "a unit reads its own write");
            Err::<(), _>(StoreError::Conflict("rule broken".into()))
        }
    };
    assert!(run(&store, change_then_fail("alone")).await.is_err());
    assert_eq!(field(&store).await, before, "after a unit alone in its transaction failed");

    // A unit that holds the writer until the next two are queued behind it, so that those two
    // share a transaction (SQLite) and the second reads after the first is undone.
    let (release, held) = std::sync::mpsc::channel::<()>();
    let holder = run(&store, move |_| {
        held.recv().ok();
        Ok(())
    });
    let (held, failed, read, ()) =
        tokio::join!(holder, run(&store, change_then_fail("grouped")), field(&store), async {
            release.send(()).unwrap();
        });
    held.unwrap();
    assert!(failed.is_err());
    assert_eq!(read, before, "read in the same transaction after the failed unit");
    assert_eq!(field(&store).await, before, "after a unit that shared its transaction failed");

    run(&store, move |tx| (probe.write)(tx, "ghost", "written")).await.unwrap();
    assert_eq!(run(&store, move |tx| (probe.read)(tx, "ghost")).await.unwrap(), None);
}

async fn a_call_changed_by_a_failing_unit_reads_as_it_was(db: Fixture) {
    let store = db.open().await;
    run(&store, |tx| {
        tx.insert_conversation(&conversation("c"))?;
        tx.insert_call(&call("a", "c"))
    })
    .await
    .unwrap();
    let probe = Probe {
        read: |tx, id| Ok(tx.call(id)?.map(|c| c.subject)),
        write: |tx, id, subject| {
            let mut c = tx.call(id)?.unwrap_or_else(|| call(id, "c"));
            c.subject = Some(subject.into());
            tx.update_call(&c)
        },
    };
    undone_changes_are_not_read_back(store, probe).await;
}

fn directory_user(id: &str, name: &str) -> switchboard_core::User {
    switchboard_core::User {
        id: id.into(),
        tenant_id: switchboard_core::TenantId("t".into()),
        display_name: name.into(),
        behaviour: Default::default(),
    }
}

/// As [`undone_changes_are_not_read_back`], for a user: written by an upsert, under any case of
/// its id (`COLLATE NOCASE`).
async fn a_user_changed_by_a_failing_unit_reads_as_it_was(db: Fixture) {
    let store = db.open().await;
    run(&store, |tx| tx.upsert_user(&directory_user("a", "first"))).await.unwrap();
    let read = |tx: &mut dyn Tx| Ok(tx.user("A")?.map(|u| u.display_name));
    let name = |store: &Store| {
        let store = store.clone();
        async move { run(&store, read).await.unwrap() }
    };
    assert_eq!(name(&store).await.as_deref(), Some("first"));
    let change_then_fail = |to: &'static str| {
        move |tx: &mut dyn Tx| {
            tx.upsert_user(&directory_user("A", to))?;
            assert_eq!(read(tx)?.as_deref(), Some(to), "a unit reads its own write");
            Err::<(), _>(StoreError::Conflict("rule broken".into()))
        }
    };
    assert!(run(&store, change_then_fail("alone")).await.is_err());
    assert_eq!(name(&store).await.as_deref(), Some("first"), "after a unit alone in its transaction failed");

    let (release, held) = std::sync::mpsc::channel::<()>();
    let holder = run(&store, move |_| {
        held.recv().ok();
        Ok(())
    });
    let (held, failed, in_group, ()) =
        tokio::join!(holder, run(&store, change_then_fail("grouped")), name(&store), async {
            release.send(()).unwrap();
        });
    held.unwrap();
    assert!(failed.is_err());
    assert_eq!(in_group.as_deref(), Some("first"), "read in the same transaction after the failed unit");
    assert_eq!(name(&store).await.as_deref(), Some("first"), "after a unit that shared its transaction failed");
    // A write that commits is read back, under either case.
    run(&store, |tx| tx.upsert_user(&directory_user("A", "second"))).await.unwrap();
    assert_eq!(name(&store).await.as_deref(), Some("second"));
}

async fn a_conversation_changed_by_a_failing_unit_reads_as_it_was(db: Fixture) {
    let store = db.open().await;
    run(&store, |tx| tx.insert_conversation(&conversation("a"))).await.unwrap();
    // The thread id is an indexed column: its change takes the update that rewrites the keys.
    let probe = Probe {
        read: |tx, id| Ok(tx.conversation(&ConversationId(id.into()))?.map(|c| c.chat_thread_id)),
        write: |tx, id, thread| {
            let mut c = tx.conversation(&ConversationId(id.into()))?.unwrap_or_else(|| conversation(id));
            c.chat_thread_id = Some(thread.into());
            tx.update_conversation(&c)
        },
    };
    undone_changes_are_not_read_back(store, probe).await;
}

async fn the_outbox_hands_out_one_head_per_call_in_sequence_order(db: Fixture) {
    let store = db.open().await;
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
    let due = run(&store, |tx| tx.claim_deliveries(Timestamp(20), Timestamp(30), 10, &[])).await.unwrap();
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
    let due = run(&store, |tx| tx.claim_deliveries(Timestamp(100), Timestamp(110), 10, &[])).await.unwrap();
    let a1 = due.iter().find(|r| r.call_id.0 == "a").expect("a1 is due again at its retry time");
    assert_eq!((a1.body.as_str(), a1.attempts), ("a1", 1));
    run(&store, move |tx| tx.record_attempt(first, Timestamp(100), 5, &AttemptResult::Delivered { status: 202 }))
        .await
        .unwrap();
    let log = run(&store, |tx| tx.notifications(Some(&CallId("a".into())), None, 10)).await.unwrap();
    assert_eq!(log[0].state, DeliveryState::Delivered);
    let attempts = run(&store, move |tx| tx.delivery_attempts(first)).await.unwrap();
    assert_eq!(attempts.iter().map(|a| a.status).collect::<Vec<_>>(), [Some(500), Some(202)]);
}

async fn timers_come_due_in_time_order_and_fire_once(db: Fixture) {
    let store = db.open().await;
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

async fn the_database_survives_a_reopen_and_migrations_run_once(db: Fixture) {
    {
        let store = db.open().await;
        run(&store, |tx| tx.insert_conversation(&conversation("c1"))).await.unwrap();
    }
    let store = db.open().await;
    let found = run(&store, |tx| tx.conversation(&ConversationId("c1".into()))).await.unwrap();
    assert_eq!(found, Some(conversation("c1")));
}

async fn the_roster_pages_by_id_and_leaves_out_ringing_and_removed(db: Fixture) {
    let store = db.open().await;
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

async fn users_are_found_whatever_the_case_of_their_id(db: Fixture) {
    let store = db.open().await;
    let user = |id: &str, name: &str| switchboard_core::User {
        id: id.into(),
        tenant_id: switchboard_core::TenantId("t".into()),
        display_name: name.into(),
        behaviour: Default::default(),
    };
    let (first, second) = (user("Alice-ID", "Alice"), user("alice-id", "Alice Again"));
    run(&store, move |tx| tx.upsert_user(&first)).await.unwrap();
    run(&store, move |tx| tx.upsert_user(&second)).await.unwrap();
    let (found, all) = run(&store, |tx| Ok((tx.user("ALICE-id")?, tx.users()?))).await.unwrap();
    assert_eq!(found.map(|u| u.display_name), Some("Alice Again".to_owned()));
    assert_eq!(all.len(), 1, "one user, replaced");

    // Only ASCII letters fold, on every store (the engine compares ids the same way).
    let (upper, lower) = (user("ÄNNE", "Upper"), user("äNNE", "Lower"));
    run(&store, move |tx| tx.upsert_user(&upper)).await.unwrap();
    run(&store, move |tx| tx.upsert_user(&lower)).await.unwrap();
    let (upper, lower, all) = run(&store, |tx| Ok((tx.user("Änne")?, tx.user("änne")?, tx.users()?))).await.unwrap();
    assert_eq!(upper.map(|u| u.display_name), Some("Upper".to_owned()));
    assert_eq!(lower.map(|u| u.display_name), Some("Lower".to_owned()));
    // Listed by id in bytes after ASCII folding, on every store (PostgreSQL whatever its collation).
    let ids: Vec<&str> = all.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["alice-id", "ÄNNE", "äNNE"]);
}

async fn a_lost_lease_records_nothing(db: Fixture) {
    // Two handles on one database: two nodes (or, on SQLite, a process and its successor).
    let (one, two) = (db.open().await, db.open().await);
    let a = call("a", "c");
    let id = run(&one, move |tx| {
        tx.enqueue_notification(&a, "a1", Timestamp(0))?;
        Ok(tx.due_deliveries(Timestamp(0), 10, &[])?[0].id)
    })
    .await
    .unwrap();
    // Born leased to the node that enqueued it: the other node waits out the grace.
    let early = run(&two, |tx| tx.claim_deliveries(Timestamp(10), Timestamp(20), 10, &[])).await.unwrap();
    assert!(early.is_empty(), "{early:?}");
    let late = switchboard_store::BIRTH_LEASE_MS;
    let taken =
        run(&two, move |tx| tx.claim_deliveries(Timestamp(late), Timestamp(late + 10_000), 10, &[])).await.unwrap();
    assert_eq!(taken.iter().map(|r| r.id).collect::<Vec<_>>(), [id], "an expired lease is taken over");
    let again =
        run(&one, move |tx| tx.claim_deliveries(Timestamp(late), Timestamp(late + 10_000), 10, &[])).await.unwrap();
    assert!(again.is_empty(), "the row is leased to the other node now");
    let delivered = AttemptResult::Delivered { status: 202 };
    let d = delivered.clone();
    assert!(!run(&one, move |tx| tx.record_attempt(id, Timestamp(late), 1, &d)).await.unwrap(), "lease lost");
    assert!(run(&two, move |tx| tx.record_attempt(id, Timestamp(late), 1, &delivered)).await.unwrap());
    let attempts = run(&two, move |tx| tx.delivery_attempts(id)).await.unwrap();
    assert_eq!(attempts.len(), 1, "only the lease holder's attempt is kept");
}

async fn the_holder_of_a_head_claims_the_run_behind_it_up_to_another_nodes_lease(db: Fixture) {
    let (one, two) = (db.open().await, db.open().await);
    let a = call("a", "c");
    run(&one, move |tx| {
        for body in ["a1", "a2", "a3", "a4"] {
            tx.enqueue_notification(&a, body, Timestamp(0))?;
        }
        Ok(())
    })
    .await
    .unwrap();
    let (late, until) =
        (Timestamp(switchboard_store::BIRTH_LEASE_MS), Timestamp(switchboard_store::BIRTH_LEASE_MS + 10_000));
    let bodies = |rows: Vec<switchboard_store::OutboxRow>| rows.into_iter().map(|r| r.body).collect::<Vec<_>>();
    let a_id = CallId("a".into());
    // The other node takes the head once the birth lease is over, and two rows behind it.
    let (head, run_of_two) = run(&two, {
        let a_id = a_id.clone();
        move |tx| {
            let head = tx.claim_deliveries(late, until, 10, &[])?;
            let run = tx.claim_following(&a_id, head[0].sequence, late, until, 2)?;
            Ok((head, run))
        }
    })
    .await
    .unwrap();
    assert_eq!(bodies(head), ["a1"]);
    let untried = [run_of_two[0].id, run_of_two[1].id];
    assert_eq!(bodies(run_of_two), ["a2", "a3"], "in order, at most the limit");
    // Rows leased to another node stop a run: none behind them is taken out of order.
    let a_id2 = a_id.clone();
    let blocked = run(&one, move |tx| tx.claim_following(&a_id2, 1, late, until, 10)).await.unwrap();
    assert!(blocked.is_empty(), "{blocked:?}");
    // Rows their holder did not try are released together, and the run goes on from there.
    run(&two, move |tx| tx.release_leases(&untried)).await.unwrap();
    let rest = run(&one, move |tx| tx.claim_following(&a_id, 1, late, until, 10)).await.unwrap();
    assert_eq!(bodies(rest), ["a2", "a3", "a4"]);
}

async fn the_next_delivery_time_counts_heads_of_idle_calls_and_waits_out_another_nodes_lease(db: Fixture) {
    let (one, two) = (db.open().await, db.open().await);
    let next = |store: &Store, now: i64, busy: &[&str]| {
        let busy: Vec<CallId> = busy.iter().map(|c| CallId((*c).into())).collect();
        let store = store.clone();
        async move { run(&store, move |tx| tx.next_delivery_due(Timestamp(now), &busy)).await.unwrap() }
    };
    assert_eq!(next(&one, 0, &[]).await, None, "nothing pending");
    let (a, b) = (call("a", "c"), call("b", "c"));
    let first = run(&one, move |tx| {
        tx.enqueue_notification(&a, "a1", Timestamp(10))?;
        tx.enqueue_notification(&a, "a2", Timestamp(10))?;
        tx.enqueue_notification(&b, "b1", Timestamp(20))?;
        Ok(tx.claim_deliveries(Timestamp(20), Timestamp(100), 1, &[])?[0].id)
    })
    .await
    .unwrap();
    assert_eq!(next(&one, 20, &[]).await, Some(Timestamp(10)), "a's head, leased to this very node");
    assert_eq!(next(&one, 20, &["a"]).await, Some(Timestamp(20)), "a busy call counts with none of its rows");
    assert_eq!(next(&one, 20, &["a", "b"]).await, None);
    let born = Timestamp(20 + switchboard_store::BIRTH_LEASE_MS);
    assert_eq!(next(&two, 20, &[]).await, Some(Timestamp(100)), "another node waits out the lease");
    assert_eq!(next(&two, 20, &["a"]).await, Some(born), "and the birth lease");
    let failed = AttemptResult::Failed { status: Some(500), error: "HTTP 500".into(), retry_at: Some(Timestamp(500)) };
    assert!(run(&one, move |tx| tx.record_attempt(first, Timestamp(30), 1, &failed)).await.unwrap());
    assert_eq!(next(&one, 30, &["b"]).await, Some(Timestamp(500)), "a2 waits behind its failed head");
}

async fn dead_letters_are_listed_by_state(db: Fixture) {
    let store = db.open().await;
    let (a, b) = (call("a", "c"), call("b", "c"));
    let ids = run(&store, move |tx| {
        tx.enqueue_notification(&a, "a1", Timestamp(0))?;
        tx.enqueue_notification(&b, "b1", Timestamp(0))?;
        Ok(tx.claim_deliveries(Timestamp(0), Timestamp(100), 10, &[])?.iter().map(|r| r.id).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    let dead = AttemptResult::Failed { status: Some(500), error: "HTTP 500".into(), retry_at: None };
    let first = ids[0];
    assert!(run(&store, move |tx| tx.record_attempt(first, Timestamp(1), 1, &dead)).await.unwrap());
    let listed = run(&store, |tx| tx.notifications(None, Some(DeliveryState::Dead), 10)).await.unwrap();
    assert_eq!(listed.iter().map(|r| (r.id, r.state)).collect::<Vec<_>>(), [(first, DeliveryState::Dead)]);
    let pending = run(&store, |tx| tx.notifications(None, Some(DeliveryState::Pending), 10)).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(run(&store, |tx| tx.notifications(None, None, 10)).await.unwrap().len(), 2);
}

/// What is left of a conversation's records: the conversation, its call, its participant, its
/// operation, its participant's ring timer, its notifications, the delivery attempts of those.
async fn records_of(store: &Store, id: &'static str) -> [usize; 7] {
    run(store, move |tx| {
        let call = CallId(format!("{id}-call"));
        let notifications = tx.notifications(Some(&call), None, 10)?;
        let mut attempts = 0;
        for n in &notifications {
            attempts += tx.delivery_attempts(n.id)?.len();
        }
        let timers = tx.due_timers(Timestamp(i64::MAX), 100)?;
        let participant = format!("{id}-p");
        Ok([
            tx.conversation(&ConversationId(id.into()))?.is_some() as usize,
            tx.call(call.as_str())?.is_some() as usize,
            tx.participant(&participant)?.is_some() as usize,
            tx.operations_of_call(&call)?.len(),
            timers
                .iter()
                .filter(
                    |t| matches!(&t.action, TimerAction::RingOutcome { participant_id, .. } if participant_id.0 == participant),
                )
                .count(),
            notifications.len(),
            attempts,
        ])
    })
    .await
    .unwrap()
}

async fn ended_conversations_go_with_their_records_after_their_time_unless_a_notification_is_pending(db: Fixture) {
    let store = db.open().await;
    // Each conversation has a call, a participant with a timer, an operation and one
    // notification; all but `pending`'s notification get delivered.
    let conversations = [("old", Some(100)), ("pending", Some(100)), ("recent", Some(500)), ("live", None)];
    let delivered = run(&store, move |tx| {
        for (id, ended_at) in conversations {
            let mut c = conversation(id);
            tx.insert_conversation(&c)?;
            let call = call(&format!("{id}-call"), id);
            tx.insert_call(&call)?;
            let p = participant(&format!("{id}-p"), id, "alice", ParticipantState::Connected);
            tx.insert_participant(&p)?;
            let ring = TimerAction::RingOutcome { participant_id: p.id.clone(), outcome: RingOutcome::Answered };
            tx.insert_timer(Timestamp(10_000), &ring)?;
            tx.insert_operation(&Operation {
                id: OperationId(format!("{id}-op")),
                call_id: call.id.clone(),
                kind: OperationKind::Invite,
                status: OperationStatus::Completed,
                client_context: None,
                result_info: None,
                invitees: vec![],
                created_at: Timestamp(0),
                last_action_at: Timestamp(0),
            })?;
            tx.enqueue_notification(&call, "{}", Timestamp(0))?;
            if let Some(at) = ended_at {
                c.ended = true;
                c.ended_at = Some(Timestamp(at));
                tx.update_conversation(&c)?;
            }
        }
        let heads = tx.claim_deliveries(Timestamp(0), Timestamp(100), 10, &[])?;
        let mut delivered = Vec::new();
        for head in heads.into_iter().filter(|h| h.call_id.as_str() != "pending-call") {
            tx.record_attempt(head.id, Timestamp(1), 1, &AttemptResult::Delivered { status: 202 })?;
            delivered.push(head.id);
        }
        Ok(delivered)
    })
    .await
    .unwrap();
    assert_eq!(delivered.len(), 3);
    for id in ["old", "pending", "recent", "live"] {
        // Read (and, on SQLite, kept parsed) before the removal.
        assert_eq!(records_of(&store, id).await.iter().sum::<usize>(), if id == "pending" { 6 } else { 7 }, "{id}");
    }

    // Ended before 400: `old`; `pending` waits for its notification, `recent` for its time.
    assert_eq!(run(&store, |tx| tx.remove_ended_conversations(Timestamp(400), 10)).await.unwrap(), 1);
    assert_eq!(records_of(&store, "old").await, [0; 7]);
    assert_eq!(records_of(&store, "pending").await, [1, 1, 1, 1, 1, 1, 0]);
    assert_eq!(records_of(&store, "recent").await, [1; 7]);
    assert_eq!(records_of(&store, "live").await, [1; 7]);

    // Once `pending`'s notification is given up, it goes too; `limit` is kept, oldest first.
    let dead = AttemptResult::Failed { status: Some(500), error: "HTTP 500".into(), retry_at: None };
    let head = run(&store, |tx| tx.claim_deliveries(Timestamp(2), Timestamp(100), 10, &[])).await.unwrap();
    assert_eq!(head.len(), 1);
    let head = head[0].id;
    assert!(run(&store, move |tx| tx.record_attempt(head, Timestamp(3), 1, &dead)).await.unwrap());
    assert_eq!(run(&store, |tx| tx.remove_ended_conversations(Timestamp(1_000), 1)).await.unwrap(), 1);
    assert_eq!(records_of(&store, "pending").await, [0; 7]);
    assert_eq!(records_of(&store, "recent").await, [1; 7]);
    assert_eq!(run(&store, |tx| tx.remove_ended_conversations(Timestamp(1_000), 10)).await.unwrap(), 1);
    assert_eq!(records_of(&store, "recent").await, [0; 7]);
    assert_eq!(records_of(&store, "live").await, [1; 7]);
    assert_eq!(run(&store, |tx| tx.remove_ended_conversations(Timestamp(i64::MAX), 10)).await.unwrap(), 0);
}

// PostgreSQL only: several nodes on one database.

#[tokio::test]
async fn postgres_what_another_node_enqueues_to_a_held_call_is_born_leased_to_the_holder() {
    let db = Fixture::postgres().await;
    let (one, two) = (db.open().await, db.open().await);
    let c = call("held", "c");
    let id = c.id.clone();
    run(&one, move |tx| {
        tx.insert_conversation(&conversation("c"))?;
        tx.insert_call(&c)?;
        tx.hold_call(&id, Timestamp(1_000))
    })
    .await
    .unwrap();
    // Node two enqueues while node one holds the call (its response not written yet).
    run(&two, |tx| tx.enqueue_notification(&call("held", "c"), "n1", Timestamp(10))).await.unwrap();
    let until = Timestamp(60_000);
    let by_two = run(&two, move |tx| tx.claim_deliveries(Timestamp(20), until, 10, &[])).await.unwrap();
    assert!(by_two.is_empty(), "leased to the holder: {by_two:?}");
    let by_one = run(&one, move |tx| tx.claim_deliveries(Timestamp(20), until, 10, &[])).await.unwrap();
    assert_eq!(by_one.iter().map(|r| r.body.as_str()).collect::<Vec<_>>(), ["n1"]);
    let n1 = by_one[0].id;
    let delivered = AttemptResult::Delivered { status: 202 };
    assert!(run(&one, move |tx| tx.record_attempt(n1, Timestamp(30), 1, &delivered)).await.unwrap());
    // Once the hold is over, a notification is born leased to the node that enqueues it.
    run(&two, |tx| tx.enqueue_notification(&call("held", "c"), "n2", Timestamp(1_000))).await.unwrap();
    let by_one = run(&one, move |tx| tx.claim_deliveries(Timestamp(1_010), until, 10, &[])).await.unwrap();
    assert!(by_one.is_empty(), "n2 is node two's: {by_one:?}");
    let by_two = run(&two, move |tx| tx.claim_deliveries(Timestamp(1_010), until, 10, &[])).await.unwrap();
    assert_eq!(by_two.iter().map(|r| r.body.as_str()).collect::<Vec<_>>(), ["n2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_claimers_never_get_the_same_row() {
    let db = Fixture::postgres().await;
    let (one, two) = (db.open().await, db.open().await);
    const CALLS: usize = 60;
    run(&one, |tx| {
        for i in 0..CALLS {
            tx.enqueue_notification(&call(&format!("call{i:03}"), "c"), "n", Timestamp(0))?;
        }
        Ok(())
    })
    .await
    .unwrap();
    // Past the birth lease, both nodes claim at once, a few rows at a time, until none is left.
    let now = Timestamp(switchboard_store::BIRTH_LEASE_MS);
    let claimer = |store: Store| async move {
        // A node's own leased rows stay claimable by it, so it names them busy (as the engine
        // names the calls it is delivering to).
        let (mut mine, mut busy) = (Vec::new(), Vec::new());
        loop {
            let skip = busy.clone();
            let got =
                run(&store, move |tx| tx.claim_deliveries(now, Timestamp(now.0 + 60_000), 3, &skip)).await.unwrap();
            if got.is_empty() {
                return mine;
            }
            busy.extend(got.iter().map(|r| r.call_id.clone()));
            mine.extend(got.into_iter().map(|r| r.id));
        }
    };
    let (a, b) = tokio::join!(tokio::spawn(claimer(one)), tokio::spawn(claimer(two)));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut all: Vec<i64> = a.iter().chain(&b).copied().collect();
    all.sort_unstable();
    let total = all.len();
    all.dedup();
    assert_eq!(all.len(), total, "a row claimed twice");
    assert_eq!(total, CALLS, "every row claimed once (node one {}, node two {})", a.len(), b.len());
}

/// A delivery claiming a call's run locks its rows, then renders its roster mark under the
/// state lock; a unit holding that lock may move the mark (updating the rows behind it).
/// Before, the unit waited for the rows the claim had locked while the claim waited for the
/// lock, and PostgreSQL ended one of them as a deadlock (40P01). Now the unit leaves a mark a
/// claim has locked to that claim, which renders it once the unit commits, and puts a new mark
/// at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_claim_and_a_unit_moving_the_calls_roster_mark_never_deadlock() {
    let db = Fixture::postgres().await;
    let (one, two) = (db.open().await, db.open().await);
    let c = call("marked", "c");
    let setup = c.clone();
    run(&one, move |tx| {
        tx.insert_conversation(&conversation("c"))?;
        tx.insert_call(&setup)?;
        tx.enqueue_notification(&setup, "n1", Timestamp(0))?;
        tx.mark_roster_changed(&setup, Timestamp(0))?;
        tx.enqueue_notification(&setup, "n2", Timestamp(0))
    })
    .await
    .unwrap();
    let (locked, unit_holds_the_lock) = std::sync::mpsc::channel();
    let moved = c.clone();
    let unit = run(&two, move |tx| {
        tx.call("marked")?; // the unit's first read takes the state lock
        locked.send(()).unwrap();
        // Long enough for the claim to get as far as it can meanwhile.
        std::thread::sleep(std::time::Duration::from_millis(300));
        tx.mark_roster_changed(&moved, Timestamp(0))
    });
    // Past the rows' birth leases, so either node may claim them.
    let now = Timestamp(switchboard_store::BIRTH_LEASE_MS);
    let until = Timestamp(now.0 + 60_000);
    let claim = run(&one, move |tx| {
        unit_holds_the_lock.recv().unwrap();
        let Some(head) = tx.claim_next_of_call(&CallId("marked".into()), now, until)? else { return Ok(Vec::new()) };
        let mut run = vec![head.clone()];
        run.extend(tx.claim_following(&CallId("marked".into()), head.sequence, now, until, 15)?);
        // Rendering a mark reads the call and the roster (as the engine's claim does).
        tx.call("marked")?;
        for row in run.iter_mut().filter(|r| r.roster_mark) {
            tx.render_roster_mark(row.id, "roster")?;
            row.body = "roster".to_owned();
        }
        Ok(run.into_iter().map(|r| (r.body, r.sequence)).collect::<Vec<_>>())
    });
    let (unit, claim) = tokio::join!(unit, claim);
    assert!(unit.unwrap(), "the unit marked the roster changed");
    let claimed = claim.unwrap();
    let claimed: Vec<(&str, i64)> = claimed.iter().map(|(body, sequence)| (body.as_str(), *sequence)).collect();
    assert_eq!(claimed, [("n1", 1), ("roster", 2), ("n2", 3)], "the claim rendered the mark it had locked");
    let mark = run(&two, |tx| tx.roster_mark(&CallId("marked".into()))).await.unwrap();
    assert_eq!(mark.map(|m| m.sequence), Some(4), "the unit's change has a mark of its own, at the end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_nodes_firing_timers_fire_each_once() {
    let db = Fixture::postgres().await;
    let (one, two) = (db.open().await, db.open().await);
    const TIMERS: usize = 40;
    run(&one, |tx| {
        for i in 0..TIMERS {
            let action = TimerAction::RingOutcome {
                participant_id: ParticipantId(format!("p{i}")),
                outcome: RingOutcome::Answered,
            };
            tx.insert_timer(Timestamp(i as i64), &action)?;
        }
        Ok(())
    })
    .await
    .unwrap();
    // The engine's pattern: read what is due, then fire each in a unit that deletes its row.
    let firer = |store: Store| async move {
        let mut fired = 0;
        loop {
            let due = run(&store, |tx| tx.due_timers(Timestamp(1_000), 5)).await.unwrap();
            if due.is_empty() {
                return fired;
            }
            for timer in due {
                if run(&store, move |tx| tx.delete_timer(timer.id)).await.unwrap() {
                    fired += 1;
                }
            }
        }
    };
    let (a, b) = tokio::join!(tokio::spawn(firer(one)), tokio::spawn(firer(two)));
    assert_eq!(a.unwrap() + b.unwrap(), TIMERS);
}

async fn a_redelivery_is_a_copy_at_the_end_of_its_calls_queue(db: Fixture) {
    let store = db.open().await;
    let a = call("a", "c");
    let first = run(&store, move |tx| {
        tx.enqueue_notification(&a, "a1", Timestamp(10))?;
        tx.enqueue_notification(&a, "a2", Timestamp(11))?;
        Ok(tx.notifications(None, None, 10)?[0].id)
    })
    .await
    .unwrap();
    let recorded =
        run(&store, move |tx| tx.record_attempt(first, Timestamp(12), 3, &AttemptResult::Delivered { status: 202 }))
            .await
            .unwrap();
    assert!(recorded, "the row is born leased to this node");
    let copy = run(&store, move |tx| tx.requeue_notification(first, Timestamp(50))).await.unwrap().expect("a copy");
    assert_eq!((copy.body.as_str(), copy.sequence, copy.attempts), ("a1", 3, 0));
    assert_eq!((copy.state, copy.redelivery_of, copy.created_at), (DeliveryState::Pending, Some(first), Timestamp(50)));
    // The copy waits behind a2, which is still pending.
    let due = run(&store, |tx| tx.due_deliveries(Timestamp(60), 10, &[])).await.unwrap();
    assert_eq!(due.iter().map(|r| r.body.as_str()).collect::<Vec<_>>(), ["a2"]);
    assert!(run(&store, |tx| tx.requeue_notification(999, Timestamp(50))).await.unwrap().is_none());
    let original = run(&store, move |tx| tx.notification(first)).await.unwrap().unwrap();
    assert_eq!(original.state, DeliveryState::Delivered, "the original keeps its history");
}

async fn stats_count_what_metrics_report(db: Fixture) {
    let store = db.open().await;
    let stats = run(&store, |tx| {
        tx.insert_conversation(&conversation("c"))?;
        let live = call("live", "c");
        let mut ended = call("ended", "c");
        ended.state = CallState::Terminated;
        tx.insert_call(&live)?;
        tx.insert_call(&ended)?;
        tx.insert_participant(&participant("p1", "c", "u1", ParticipantState::Ringing))?;
        tx.insert_participant(&participant("p2", "c", "u2", ParticipantState::Connected))?;
        tx.insert_participant(&participant("p3", "c", "u3", ParticipantState::Connected))?;
        tx.insert_participant(&participant("p4", "c", "u4", ParticipantState::Removed))?;
        tx.enqueue_notification(&live, "n1", Timestamp(7))?;
        tx.enqueue_notification(&live, "n2", Timestamp(9))?;
        tx.stats()
    })
    .await
    .unwrap();
    assert_eq!(stats.outbox_pending, 2);
    assert_eq!(stats.outbox_oldest_pending_at, Some(Timestamp(7)));
    assert_eq!(stats.active_calls, 1);
    assert_eq!((stats.ringing_participants, stats.connected_participants), (1, 2));
}

async fn updates_find_records_by_their_new_columns_whether_or_not_those_changed(db: Fixture) {
    let store = db.open().await;
    let (thread, ended, stats, renamed) = run(&store, |tx| {
        let mut c = conversation("c");
        tx.insert_conversation(&c)?;
        let mut live = call("live", "c");
        tx.insert_call(&live)?;
        // The body alone changes: the records read back whole.
        c.roster_sequence = 5;
        tx.update_conversation(&c)?;
        live.subject = Some("renamed".into());
        tx.update_call(&live)?;
        let thread = tx.live_conversation_for_thread("19:c@thread.v2")?.map(|c| c.roster_sequence);
        let renamed = tx.call("live")?.and_then(|c| c.subject);
        // An indexed column changes too: the queries that filter on it see the change.
        c.ended = true;
        c.roster_sequence = 6;
        tx.update_conversation(&c)?;
        live.state = CallState::Terminated;
        tx.update_call(&live)?;
        let ended = tx.live_conversation_for_thread("19:c@thread.v2")?;
        Ok((thread, ended, tx.stats()?, renamed))
    })
    .await
    .unwrap();
    assert_eq!(thread, Some(5));
    assert_eq!(renamed.as_deref(), Some("renamed"));
    assert!(ended.is_none(), "an ended conversation is no thread's live conversation");
    assert_eq!(stats.active_calls, 0);
}

async fn a_conversations_call_ids_are_those_of_its_calls_in_the_same_order(db: Fixture) {
    let store = db.open().await;
    let (calls, ids, none) = run(&store, |tx| {
        tx.insert_conversation(&conversation("c"))?;
        tx.insert_conversation(&conversation("other"))?;
        for (id, conversation) in [("b", "c"), ("elsewhere", "other"), ("a", "c")] {
            tx.insert_call(&call(id, conversation))?;
        }
        let c = ConversationId("c".into());
        let none = tx.call_ids_in_conversation(&ConversationId("none".into()))?;
        Ok((tx.calls_in_conversation(&c)?, tx.call_ids_in_conversation(&c)?, none))
    })
    .await
    .unwrap();
    assert_eq!(calls.iter().map(|c| c.id.0.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(ids.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert!(none.is_empty());
}

async fn conversations_list_newest_first_and_operations_by_call(db: Fixture) {
    let store = db.open().await;
    let (live, ended) = run(&store, |tx| {
        tx.insert_conversation(&conversation("c1"))?;
        let mut c2 = conversation("c2");
        c2.ended = true;
        tx.insert_conversation(&c2)?;
        tx.insert_conversation(&conversation("c3"))?;
        Ok((tx.conversations(10, false)?, tx.conversations(2, true)?))
    })
    .await
    .unwrap();
    assert_eq!(live.iter().map(|c| c.id.0.as_str()).collect::<Vec<_>>(), ["c3", "c1"]);
    assert_eq!(ended.iter().map(|c| c.id.0.as_str()).collect::<Vec<_>>(), ["c3", "c2"]);
    let ops = run(&store, |tx| tx.operations_of_call(&CallId("none".into()))).await.unwrap();
    assert!(ops.is_empty());
}

async fn leg_commands_wait_in_their_nodes_inbox_in_order_until_deleted(db: Fixture) {
    let store = db.open().await;
    let ids = run(&store, |tx| {
        let p1 = ParticipantId("p1".into());
        let p2 = ParticipantId("p2".into());
        Ok(vec![
            tx.insert_leg_command("node-a", &p1, r#"{"command":"ring"}"#, Timestamp(1))?,
            tx.insert_leg_command("node-b", &p2, r#"{"command":"ring"}"#, Timestamp(2))?,
            tx.insert_leg_command("node-a", &p2, r#"{"command":"hangUp"}"#, Timestamp(3))?,
            tx.insert_leg_command("node-a", &p1, r#"{"command":"cancel"}"#, Timestamp(4))?,
        ])
    })
    .await
    .unwrap();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow in insertion order: {ids:?}");
    let a = run(&store, |tx| tx.leg_commands("node-a", 10)).await.unwrap();
    let commands: Vec<(&str, &str)> = a.iter().map(|r| (r.participant_id.as_str(), r.command.as_str())).collect();
    assert_eq!(
        commands,
        [("p1", r#"{"command":"ring"}"#), ("p2", r#"{"command":"hangUp"}"#), ("p1", r#"{"command":"cancel"}"#)]
    );
    assert!(a.iter().all(|r| r.node_id == "node-a"));
    assert_eq!(a[0].created_at, Timestamp(1));
    let limited = run(&store, |tx| tx.leg_commands("node-a", 2)).await.unwrap();
    assert_eq!(limited.len(), 2);
    let first = a[0].id;
    assert!(run(&store, move |tx| tx.delete_leg_command(first)).await.unwrap());
    assert!(!run(&store, move |tx| tx.delete_leg_command(first)).await.unwrap(), "a second delete finds nothing");
    // An unfinished command is still there after a restart.
    drop(store);
    let store = db.open().await;
    let a = run(&store, |tx| tx.leg_commands("node-a", 10)).await.unwrap();
    assert_eq!(a.iter().map(|r| r.id).collect::<Vec<_>>(), [ids[2], ids[3]]);
    assert_eq!(run(&store, |tx| tx.leg_commands("node-b", 10)).await.unwrap().len(), 1);
    // Forgetting the calls forgets their legs' commands.
    run(&store, |tx| tx.reset_calls()).await.unwrap();
    assert!(run(&store, |tx| tx.leg_commands("node-a", 10)).await.unwrap().is_empty());
}

async fn live_legs_are_listed_by_owning_node(db: Fixture) {
    let store = db.open().await;
    let leg = |id: &str, user: &str, state, node: Option<&str>| {
        let mut p = participant(id, "c1", user, state);
        p.endpoint = EndpointKind::Agent;
        p.node = node.map(str::to_owned);
        p.leg_state = Some(serde_json::json!({"dialog": id}));
        p
    };
    run(&store, move |tx| {
        tx.insert_conversation(&conversation("c1"))?;
        tx.insert_participant(&leg("a1", "u1", ParticipantState::Ringing, Some("node-a")))?;
        tx.insert_participant(&leg("a2", "u2", ParticipantState::Connected, Some("node-a")))?;
        tx.insert_participant(&leg("a3", "u3", ParticipantState::Removed, Some("node-a")))?;
        tx.insert_participant(&leg("b1", "u4", ParticipantState::Connected, Some("node-b")))?;
        tx.insert_participant(&participant("s1", "c1", "u5", ParticipantState::Connected))
    })
    .await
    .unwrap();
    let mine = run(&store, |tx| tx.participants_of_node("node-a")).await.unwrap();
    assert_eq!(mine.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["a1", "a2"]);
    assert_eq!(mine[0].node.as_deref(), Some("node-a"));
    assert_eq!(mine[0].leg_state, Some(serde_json::json!({"dialog": "a1"})));
    // The owner moves with an update (e.g. the leg ends and is no longer listed).
    run(&store, |tx| {
        let mut p = tx.participant("a1")?.unwrap();
        p.node = Some("node-b".into());
        tx.update_participant(&p)
    })
    .await
    .unwrap();
    let mine = run(&store, |tx| tx.participants_of_node("node-a")).await.unwrap();
    assert_eq!(mine.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["a2"]);
    let theirs = run(&store, |tx| tx.participants_of_node("node-b")).await.unwrap();
    assert_eq!(theirs.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["a1", "b1"]);
    // A conversation's live legs, whichever node owns them: not the simulated participant,
    // not the removed leg, nothing of another conversation.
    run(&store, move |tx| {
        tx.insert_conversation(&conversation("c2"))?;
        let mut other = participant("z1", "c2", "u6", ParticipantState::Connected);
        other.endpoint = EndpointKind::Agent;
        other.node = Some("node-a".into());
        tx.insert_participant(&other)
    })
    .await
    .unwrap();
    let live = run(&store, |tx| tx.live_legs(&ConversationId("c1".into()))).await.unwrap();
    assert_eq!(live.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["a1", "a2", "b1"]);
}

async fn agent_sessions_are_found_by_user_and_cleared_per_node(db: Fixture) {
    let store = db.open().await;
    let session = |id: &str, user: &str, node: &str, at: i64| AgentSession {
        session_id: id.into(),
        user_id: user.into(),
        node_id: node.into(),
        connected_at: Timestamp(at),
    };
    run(&store, move |tx| {
        tx.insert_agent_session(&session("s2", "Alice", "node-a", 20))?;
        tx.insert_agent_session(&session("s1", "alice", "node-b", 10))?;
        tx.insert_agent_session(&session("s3", "bob", "node-a", 5))?;
        tx.insert_agent_session(&session("s4", "Émile", "node-a", 7))
    })
    .await
    .unwrap();
    let duplicate = run(&store, move |tx| tx.insert_agent_session(&session("s1", "carol", "node-a", 1))).await;
    assert!(matches!(duplicate, Err(StoreError::Conflict(_))), "{duplicate:?}");
    let alice = run(&store, |tx| tx.agent_sessions_of_user("ALICE")).await.unwrap();
    assert_eq!(alice.iter().map(|s| s.session_id.as_str()).collect::<Vec<_>>(), ["s1", "s2"], "oldest first");
    assert_eq!(alice[0], session("s1", "alice", "node-b", 10));
    // Only ASCII letters fold.
    let emile = run(&store, |tx| Ok((tx.agent_sessions_of_user("éMILE")?, tx.agent_sessions_of_user("ÉMILE")?)));
    let (emile, other_e) = emile.await.unwrap();
    assert!(emile.is_empty(), "{emile:?}");
    assert_eq!(other_e.iter().map(|s| s.session_id.as_str()).collect::<Vec<_>>(), ["s4"]);
    assert!(run(&store, |tx| tx.delete_agent_session("s1")).await.unwrap());
    assert!(!run(&store, |tx| tx.delete_agent_session("s1")).await.unwrap());
    assert_eq!(run(&store, |tx| tx.clear_agent_sessions("node-a")).await.unwrap(), 3);
    assert!(run(&store, |tx| tx.agent_sessions_of_user("alice")).await.unwrap().is_empty());
    assert!(run(&store, |tx| tx.agent_sessions_of_user("bob")).await.unwrap().is_empty());
}

async fn a_silent_node_is_listed_and_forgotten_with_its_inbox_unless_seen_again(db: Fixture) {
    let store = db.open().await;
    let p1 = ParticipantId("p1".into());
    run(&store, move |tx| {
        assert!(!tx.node_alive("node-a", 1_000)?, "a new node is not known yet");
        assert!(tx.node_alive("node-a", 1_000)?, "then it is");
        tx.node_alive("node-b", 3_000)?;
        tx.node_alive("node-c", 2_000)?;
        tx.insert_leg_command("node-a", &p1, r#"{"command":"hangUp"}"#, Timestamp(1))?;
        tx.insert_leg_command("node-b", &p1, r#"{"command":"cancel"}"#, Timestamp(2))?;
        Ok(())
    })
    .await
    .unwrap();
    let silent = run(&store, |tx| tx.silent_nodes(2_500)).await.unwrap();
    assert_eq!(silent, ["node-a", "node-c"], "silent before 2,500 ms, longest silent first");
    // A node seen again is not forgotten, nor is its inbox.
    assert!(run(&store, |tx| tx.node_alive("node-a", 4_000)).await.unwrap());
    assert_eq!(run(&store, |tx| tx.silent_nodes(2_500)).await.unwrap(), ["node-c"]);
    assert!(!run(&store, |tx| tx.forget_node("node-a", 2_500)).await.unwrap());
    assert_eq!(run(&store, |tx| tx.leg_commands("node-a", 10)).await.unwrap().len(), 1);
    // A node still silent is forgotten with its inbox; other inboxes stay.
    run(&store, |tx| tx.node_alive("node-a", 1_000)).await.unwrap();
    assert!(run(&store, |tx| tx.forget_node("node-a", 2_500)).await.unwrap());
    assert!(!run(&store, |tx| tx.forget_node("node-a", 2_500)).await.unwrap(), "already forgotten");
    assert!(run(&store, |tx| tx.leg_commands("node-a", 10)).await.unwrap().is_empty());
    assert_eq!(run(&store, |tx| tx.leg_commands("node-b", 10)).await.unwrap().len(), 1);
    assert_eq!(run(&store, |tx| tx.silent_nodes(5_000)).await.unwrap(), ["node-c", "node-b"]);
    // A forgotten node that beats again learns that it was forgotten.
    assert!(!run(&store, |tx| tx.node_alive("node-a", 6_000)).await.unwrap());
}

/// (body, sequence, roster_mark) of a call's queue, in sequence order.
async fn queue(store: &Store, id: &str) -> Vec<(String, i64, bool)> {
    let id = CallId(id.into());
    let mut rows = run(store, move |tx| tx.notifications(Some(&id), None, 100)).await.unwrap();
    rows.sort_by_key(|r| r.sequence);
    rows.into_iter().map(|r| (r.body, r.sequence, r.roster_mark)).collect()
}

async fn roster_marks_coalesce_and_stay_at_the_end_of_the_queue(db: Fixture) {
    let store = db.open().await;
    let (a, b) = (call("a", "c"), call("b", "c"));
    let mark = || (ROSTER_MARK_BODY.to_owned(), 0, true);
    let (a1, b1) = (a.clone(), b.clone());
    let appended = run(&store, move |tx| {
        tx.enqueue_notification(&a1, "op1", Timestamp(10))?;
        let first = tx.mark_roster_changed(&a1, Timestamp(10))?;
        let again = tx.mark_roster_changed(&a1, Timestamp(11))?;
        let other = tx.mark_roster_changed(&b1, Timestamp(11))?;
        Ok((first, again, other))
    })
    .await
    .unwrap();
    assert_eq!(appended, (true, false, true), "a mark at the end of the queue covers the next change");
    let with_seq = |(body, _, m): (String, i64, bool), s: i64| (body, s, m);
    assert_eq!(queue(&store, "a").await, [("op1".to_owned(), 1, false), with_seq(mark(), 2)]);
    assert_eq!(queue(&store, "b").await, [with_seq(mark(), 1)], "each call has its own mark");
    let found = run(&store, |tx| tx.roster_mark(&CallId("a".into()))).await.unwrap().expect("a's mark");
    assert_eq!((found.sequence, found.roster_mark), (2, true));
    assert!(run(&store, |tx| tx.roster_mark(&CallId("none".into()))).await.unwrap().is_none());

    // A notification after the mark: the next change moves the mark behind it, gaplessly.
    let a2 = a.clone();
    let moved = run(&store, move |tx| {
        tx.enqueue_notification(&a2, "op2", Timestamp(12))?;
        tx.enqueue_notification(&a2, "op3", Timestamp(12))?;
        tx.mark_roster_changed(&a2, Timestamp(12))
    })
    .await
    .unwrap();
    assert!(moved);
    assert_eq!(
        queue(&store, "a").await,
        [("op1".to_owned(), 1, false), ("op2".to_owned(), 2, false), ("op3".to_owned(), 3, false), with_seq(mark(), 4)]
    );

    // Delivered in order; the claimed mark is rendered once and is then an ordinary row.
    for expected in ["op1", "op2", "op3"] {
        let rows = run(&store, |tx| tx.claim_deliveries(Timestamp(20), Timestamp(30), 10, &[CallId("b".into())]))
            .await
            .unwrap();
        assert_eq!(rows.iter().map(|r| r.body.as_str()).collect::<Vec<_>>(), [expected]);
        let id = rows[0].id;
        run(&store, move |tx| tx.record_attempt(id, Timestamp(21), 1, &AttemptResult::Delivered { status: 202 }))
            .await
            .unwrap();
    }
    let rendered = run(&store, |tx| {
        let rows = tx.claim_deliveries(Timestamp(22), Timestamp(30), 10, &[CallId("b".into())])?;
        assert_eq!(rows.len(), 1);
        assert!(rows[0].roster_mark, "the claimed head is the mark");
        tx.render_roster_mark(rows[0].id, "roster of 22")?;
        Ok(rows[0].id)
    })
    .await
    .unwrap();
    let row = run(&store, move |tx| tx.notification(rendered)).await.unwrap().unwrap();
    assert_eq!((row.body.as_str(), row.sequence, row.roster_mark), ("roster of 22", 4, false));
    // A change after the render needs a roster of its own: a new mark.
    let a3 = a.clone();
    assert!(run(&store, move |tx| tx.mark_roster_changed(&a3, Timestamp(23))).await.unwrap());
    assert_eq!(queue(&store, "a").await.last().cloned().unwrap(), with_seq(mark(), 5));
}

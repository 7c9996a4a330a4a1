//! What changed, published after each commit: the console's live view and the operation
//! counters of `/metrics` both come from here.
//!
//! Every engine transaction runs through [`Engine::run`], which hands the work a [`Recording`]
//! transaction: it forwards each call to the store's transaction and notes what was written.
//! Only once the store has committed are the notes published (a broadcast channel) and the
//! counters incremented, so a unit of work that fails or rolls back publishes nothing.
//!
//! The same [`Recording`] remembers the calls, conversations, participants, operations and
//! users its unit has read or written ([`Seen`]), so a unit reads each from the store once.

use std::collections::HashMap;

use serde::Serialize;
use switchboard_core::{
    Application, ApplicationInstance, Call, CallId, Conversation, ConversationId, Meeting, Operation, OperationKind,
    Participant, ParticipantId, PhoneNumber, Tenant, Timer, TimerAction, Timestamp, User,
};
use switchboard_store::{
    AgentSession, AttemptResult, DeliveryAttempt, DeliveryState, LegCommandRow, OutboxRow, StoreResult, StoreStats, Tx,
};

use crate::error::EngineResult;
use crate::{Engine, EngineError};

/// How many changes a slow subscriber may fall behind before it is told to resynchronise.
pub const CHANNEL_CAPACITY: usize = 4096;

/// One committed change. The console refetches the piece it names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Change {
    #[serde(rename_all = "camelCase")]
    Conversation { conversation_id: String },
    #[serde(rename_all = "camelCase")]
    Call { call_id: String, conversation_id: String },
    #[serde(rename_all = "camelCase")]
    Participant { participant_id: String, conversation_id: String },
    #[serde(rename_all = "camelCase")]
    Operation { operation_id: String, call_id: String },
    /// A notification was written to a call's queue, or a delivery attempt recorded.
    #[serde(rename_all = "camelCase")]
    Notification { call_id: Option<String>, notification_id: Option<i64> },
    /// Users, phone numbers, applications or meetings changed.
    Directory,
    #[serde(rename_all = "camelCase")]
    Clock { now_ms: i64 },
    /// Every call and notification was forgotten.
    Reset,
    /// Conversations ended longer ago than the retention period were removed, with their
    /// calls and notifications.
    Removed,
}

/// An operation that started or settled in a transaction, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OperationEvent {
    Started(OperationKind),
    Settled(OperationKind, graph_model::OperationStatus),
}

fn kind_label(kind: OperationKind) -> &'static str {
    match kind {
        OperationKind::Invite => "invite",
        OperationKind::MuteParticipant => "muteParticipant",
    }
}

/// What one transaction wrote, gathered by [`Recording`].
#[derive(Debug, Default)]
pub(crate) struct Notes {
    changes: Vec<Change>,
    operations: Vec<OperationEvent>,
    /// Leg commands were written: the leg task has work once this commits.
    leg_commands: bool,
}

impl Notes {
    fn change(&mut self, change: Change) {
        if !self.changes.contains(&change) {
            self.changes.push(change);
        }
    }
}

impl Engine {
    /// Runs `work` in one store transaction and, once it has committed, publishes what it
    /// changed. Every transaction of the engine goes through here.
    pub(crate) async fn run<T, F>(&self, work: F) -> EngineResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> EngineResult<T> + Send + 'static,
    {
        let (value, notes) = self
            .inner
            .store
            .run(move |tx| {
                let mut recording = Recording { inner: tx, notes: Notes::default(), seen: Seen::default() };
                let value = work(&mut recording)?;
                Ok::<_, EngineError>((value, recording.notes))
            })
            .await?;
        self.publish(notes);
        Ok(value)
    }

    fn publish(&self, notes: Notes) {
        if notes.leg_commands {
            self.inner.leg_wake.notify_one();
        }
        for event in notes.operations {
            let (kind, outcome) = match event {
                OperationEvent::Started(kind) => (kind, "started"),
                OperationEvent::Settled(kind, status) => (kind, status.notification_str()),
            };
            metrics::counter!("switchboard_operations_total", "kind" => kind_label(kind), "outcome" => outcome)
                .increment(1);
        }
        for change in notes.changes {
            // No subscriber is not an error: the console may simply be closed.
            let _ = self.inner.changes.send(change);
        }
    }

    /// Publishes a change that no transaction records (the clock moving).
    pub(crate) fn announce(&self, change: Change) {
        let _ = self.inner.changes.send(change);
    }

    /// Changes committed from now on, in commit order. A subscriber that falls more than
    /// [`CHANNEL_CAPACITY`] behind gets `Lagged` and should refetch everything.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Change> {
        self.inner.changes.subscribe()
    }
}

/// A transaction that forwards to the store's, notes every write, and remembers the records
/// it has read or written.
pub(crate) struct Recording<'a> {
    inner: &'a mut dyn Tx,
    notes: Notes,
    seen: Seen,
}

/// The records one unit of work has read or written, by id. A unit reads the same records
/// again and again (an invite whose ring ends at once reads its call three times, its
/// participant and operation right after writing them), and each store read is a query and a
/// JSON parse. Every write of these records goes through [`Recording`], which keeps the copy
/// here as written (write-through, after the store accepted it); the store has no other
/// statement that changes them but `reset_calls`, which forgets them all. So a remembered
/// record is what the store holds in this transaction. A unit that fails takes its `Seen`
/// with it.
#[derive(Default)]
struct Seen {
    calls: HashMap<String, Call>,
    conversations: HashMap<String, Conversation>,
    participants: HashMap<String, Participant>,
    operations: HashMap<String, Operation>,
    /// By the id asked for (user ids compare case-insensitively); forgotten on any user write.
    users: HashMap<String, User>,
}

/// `map[id]` if remembered; otherwise `read()`, remembered when found.
fn remembered<T: Clone>(
    map: &mut HashMap<String, T>,
    id: &str,
    read: impl FnOnce() -> StoreResult<Option<T>>,
) -> StoreResult<Option<T>> {
    if let Some(record) = map.get(id) {
        return Ok(Some(record.clone()));
    }
    let record = read()?;
    if let Some(record) = &record {
        map.insert(id.to_owned(), record.clone());
    }
    Ok(record)
}

/// Remembers `record` as written, once the store has accepted the write.
fn written<T: Clone>(map: &mut HashMap<String, T>, id: &str, record: &T, write: StoreResult<()>) -> StoreResult<()> {
    write?;
    map.insert(id.to_owned(), record.clone());
    Ok(())
}

impl Recording<'_> {
    fn call_changed(&mut self, call: &Call) {
        self.notes.change(Change::Call { call_id: call.id.0.clone(), conversation_id: call.conversation_id.0.clone() });
    }
    fn participant_changed(&mut self, p: &Participant) {
        self.notes.change(Change::Participant {
            participant_id: p.id.0.clone(),
            conversation_id: p.conversation_id.0.clone(),
        });
    }
    fn operation_changed(&mut self, op: &Operation) {
        self.notes.change(Change::Operation { operation_id: op.id.0.clone(), call_id: op.call_id.0.clone() });
    }
}

impl Tx for Recording<'_> {
    fn upsert_tenant(&mut self, tenant: &Tenant) -> StoreResult<()> {
        self.notes.change(Change::Directory);
        self.inner.upsert_tenant(tenant)
    }
    fn tenant(&mut self, id: &str) -> StoreResult<Option<Tenant>> {
        self.inner.tenant(id)
    }
    fn upsert_application(&mut self, app: &Application) -> StoreResult<()> {
        self.notes.change(Change::Directory);
        self.inner.upsert_application(app)
    }
    fn application(&mut self, client_id: &str) -> StoreResult<Option<Application>> {
        self.inner.application(client_id)
    }
    fn applications(&mut self) -> StoreResult<Vec<Application>> {
        self.inner.applications()
    }
    fn upsert_application_instance(&mut self, instance: &ApplicationInstance) -> StoreResult<()> {
        self.notes.change(Change::Directory);
        self.inner.upsert_application_instance(instance)
    }
    fn application_instances(&mut self, app_id: &str) -> StoreResult<Vec<ApplicationInstance>> {
        self.inner.application_instances(app_id)
    }
    fn upsert_user(&mut self, user: &User) -> StoreResult<()> {
        self.notes.change(Change::Directory);
        self.seen.users.clear();
        self.inner.upsert_user(user)
    }
    fn user(&mut self, id: &str) -> StoreResult<Option<User>> {
        remembered(&mut self.seen.users, id, || self.inner.user(id))
    }
    fn users(&mut self) -> StoreResult<Vec<User>> {
        self.inner.users()
    }
    fn upsert_phone(&mut self, phone: &PhoneNumber) -> StoreResult<()> {
        self.notes.change(Change::Directory);
        self.inner.upsert_phone(phone)
    }
    fn phone(&mut self, number: &str) -> StoreResult<Option<PhoneNumber>> {
        self.inner.phone(number)
    }
    fn phones(&mut self) -> StoreResult<Vec<PhoneNumber>> {
        self.inner.phones()
    }
    fn insert_meeting(&mut self, meeting: &Meeting) -> StoreResult<()> {
        self.notes.change(Change::Directory);
        self.inner.insert_meeting(meeting)
    }
    fn meeting(&mut self, id: &str) -> StoreResult<Option<Meeting>> {
        self.inner.meeting(id)
    }
    fn meetings(&mut self) -> StoreResult<Vec<Meeting>> {
        self.inner.meetings()
    }
    fn meeting_by_thread(&mut self, thread_id: &str) -> StoreResult<Option<Meeting>> {
        self.inner.meeting_by_thread(thread_id)
    }
    fn meeting_by_join_id(&mut self, join_meeting_id: &str) -> StoreResult<Option<Meeting>> {
        self.inner.meeting_by_join_id(join_meeting_id)
    }
    fn setting(&mut self, key: &str) -> StoreResult<Option<String>> {
        self.inner.setting(key)
    }
    fn set_setting(&mut self, key: &str, value: &str) -> StoreResult<()> {
        self.inner.set_setting(key, value)
    }

    fn insert_conversation(&mut self, c: &Conversation) -> StoreResult<()> {
        self.notes.change(Change::Conversation { conversation_id: c.id.0.clone() });
        written(&mut self.seen.conversations, &c.id.0, c, self.inner.insert_conversation(c))
    }
    fn update_conversation(&mut self, c: &Conversation) -> StoreResult<()> {
        self.notes.change(Change::Conversation { conversation_id: c.id.0.clone() });
        written(&mut self.seen.conversations, &c.id.0, c, self.inner.update_conversation(c))
    }
    fn conversation(&mut self, id: &ConversationId) -> StoreResult<Option<Conversation>> {
        remembered(&mut self.seen.conversations, &id.0, || self.inner.conversation(id))
    }
    fn live_conversation_for_thread(&mut self, thread_id: &str) -> StoreResult<Option<Conversation>> {
        self.inner.live_conversation_for_thread(thread_id)
    }
    fn live_conversation_for_meeting(&mut self, meeting_id: &str) -> StoreResult<Option<Conversation>> {
        self.inner.live_conversation_for_meeting(meeting_id)
    }
    fn insert_call(&mut self, call: &Call) -> StoreResult<()> {
        self.call_changed(call);
        written(&mut self.seen.calls, &call.id.0, call, self.inner.insert_call(call))
    }
    fn update_call(&mut self, call: &Call) -> StoreResult<()> {
        self.call_changed(call);
        written(&mut self.seen.calls, &call.id.0, call, self.inner.update_call(call))
    }
    fn call(&mut self, id: &str) -> StoreResult<Option<Call>> {
        remembered(&mut self.seen.calls, id, || self.inner.call(id))
    }
    fn calls_in_conversation(&mut self, id: &ConversationId) -> StoreResult<Vec<Call>> {
        // A roster change reads every call of its conversation, often right after reading the
        // one that caused it: the ids first, and the calls from what this unit has seen when
        // it has seen them all (one read of the rest otherwise, as each would cost a query).
        let ids = self.inner.call_ids_in_conversation(id)?;
        if let Some(calls) = ids.iter().map(|c| self.seen.calls.get(&c.0).cloned()).collect() {
            return Ok(calls);
        }
        let calls = self.inner.calls_in_conversation(id)?;
        for call in &calls {
            self.seen.calls.insert(call.id.0.clone(), call.clone());
        }
        Ok(calls)
    }
    fn call_ids_in_conversation(&mut self, id: &ConversationId) -> StoreResult<Vec<CallId>> {
        self.inner.call_ids_in_conversation(id)
    }
    fn insert_participant(&mut self, p: &Participant) -> StoreResult<()> {
        self.participant_changed(p);
        written(&mut self.seen.participants, &p.id.0, p, self.inner.insert_participant(p))
    }
    fn update_participant(&mut self, p: &Participant) -> StoreResult<()> {
        self.participant_changed(p);
        written(&mut self.seen.participants, &p.id.0, p, self.inner.update_participant(p))
    }
    fn participant(&mut self, id: &str) -> StoreResult<Option<Participant>> {
        remembered(&mut self.seen.participants, id, || self.inner.participant(id))
    }
    fn active_participants(&mut self, conversation: &ConversationId) -> StoreResult<Vec<Participant>> {
        self.inner.active_participants(conversation)
    }
    fn live_legs(&mut self, conversation: &ConversationId) -> StoreResult<Vec<Participant>> {
        self.inner.live_legs(conversation)
    }
    fn roster_page(
        &mut self,
        conversation: &ConversationId,
        after_id: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Participant>> {
        self.inner.roster_page(conversation, after_id, limit)
    }
    fn insert_operation(&mut self, op: &Operation) -> StoreResult<()> {
        self.operation_changed(op);
        self.notes.operations.push(OperationEvent::Started(op.kind));
        if op.status.is_final() {
            self.notes.operations.push(OperationEvent::Settled(op.kind, op.status));
        }
        written(&mut self.seen.operations, &op.id.0, op, self.inner.insert_operation(op))
    }
    fn update_operation(&mut self, op: &Operation) -> StoreResult<()> {
        self.operation_changed(op);
        if op.status.is_final() {
            // Counted once: only the write that moves it from running to final.
            let was_final = self.operation(op.id.as_str())?.is_some_and(|before| before.status.is_final());
            if !was_final {
                self.notes.operations.push(OperationEvent::Settled(op.kind, op.status));
            }
        }
        written(&mut self.seen.operations, &op.id.0, op, self.inner.update_operation(op))
    }
    fn operation(&mut self, id: &str) -> StoreResult<Option<Operation>> {
        remembered(&mut self.seen.operations, id, || self.inner.operation(id))
    }
    fn operations_of_call(&mut self, call: &CallId) -> StoreResult<Vec<Operation>> {
        self.inner.operations_of_call(call)
    }
    fn conversations(&mut self, limit: usize, include_ended: bool) -> StoreResult<Vec<Conversation>> {
        self.inner.conversations(limit, include_ended)
    }

    fn hold_call(&mut self, call: &CallId, until: Timestamp) -> StoreResult<()> {
        self.inner.hold_call(call, until)
    }
    fn insert_timer(&mut self, due_at: Timestamp, action: &TimerAction) -> StoreResult<i64> {
        self.inner.insert_timer(due_at, action)
    }
    fn delete_participant_timers(&mut self, participant: &ParticipantId) -> StoreResult<()> {
        self.inner.delete_participant_timers(participant)
    }
    fn delete_timer(&mut self, id: i64) -> StoreResult<bool> {
        self.inner.delete_timer(id)
    }
    fn due_timers(&mut self, now: Timestamp, limit: usize) -> StoreResult<Vec<Timer>> {
        self.inner.due_timers(now, limit)
    }
    fn next_timer_due(&mut self) -> StoreResult<Option<Timestamp>> {
        self.inner.next_timer_due()
    }

    fn enqueue_notification(&mut self, call: &Call, body: &str, now: Timestamp) -> StoreResult<i64> {
        self.notes.change(Change::Notification { call_id: Some(call.id.0.clone()), notification_id: None });
        self.inner.enqueue_notification(call, body, now)
    }
    fn mark_roster_changed(&mut self, call: &Call, now: Timestamp) -> StoreResult<bool> {
        self.notes.change(Change::Notification { call_id: Some(call.id.0.clone()), notification_id: None });
        self.inner.mark_roster_changed(call, now)
    }
    fn roster_mark(&mut self, call: &CallId) -> StoreResult<Option<OutboxRow>> {
        self.inner.roster_mark(call)
    }
    fn render_roster_mark(&mut self, id: i64, body: &str) -> StoreResult<()> {
        self.inner.render_roster_mark(id, body)
    }
    fn due_deliveries(&mut self, now: Timestamp, limit: usize, busy: &[CallId]) -> StoreResult<Vec<OutboxRow>> {
        self.inner.due_deliveries(now, limit, busy)
    }
    fn claim_next_of_call(
        &mut self,
        call: &CallId,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Option<OutboxRow>> {
        self.inner.claim_next_of_call(call, now, lease_until)
    }
    fn claim_following(
        &mut self,
        call: &CallId,
        after: i64,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<OutboxRow>> {
        self.inner.claim_following(call, after, now, lease_until, limit)
    }
    fn release_leases(&mut self, ids: &[i64]) -> StoreResult<()> {
        self.inner.release_leases(ids)
    }
    fn next_delivery_due(&mut self, now: Timestamp, busy: &[CallId]) -> StoreResult<Option<Timestamp>> {
        self.inner.next_delivery_due(now, busy)
    }
    fn claim_deliveries(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
        busy: &[CallId],
    ) -> StoreResult<Vec<OutboxRow>> {
        // A lease is bookkeeping between nodes, not a change anyone watches.
        self.inner.claim_deliveries(now, lease_until, limit, busy)
    }
    fn record_attempt(&mut self, id: i64, at: Timestamp, latency_ms: i64, result: &AttemptResult) -> StoreResult<bool> {
        let recorded = self.inner.record_attempt(id, at, latency_ms, result)?;
        if recorded {
            self.notes.change(Change::Notification { call_id: None, notification_id: Some(id) });
        }
        Ok(recorded)
    }
    fn notifications(
        &mut self,
        call: Option<&CallId>,
        state: Option<DeliveryState>,
        limit: usize,
    ) -> StoreResult<Vec<OutboxRow>> {
        self.inner.notifications(call, state, limit)
    }
    fn delivery_attempts(&mut self, outbox_id: i64) -> StoreResult<Vec<DeliveryAttempt>> {
        self.inner.delivery_attempts(outbox_id)
    }
    fn pending_notification_count(&mut self) -> StoreResult<i64> {
        self.inner.pending_notification_count()
    }
    fn notification(&mut self, id: i64) -> StoreResult<Option<OutboxRow>> {
        self.inner.notification(id)
    }
    fn requeue_notification(&mut self, id: i64, now: Timestamp) -> StoreResult<Option<OutboxRow>> {
        let row = self.inner.requeue_notification(id, now)?;
        if let Some(row) = &row {
            self.notes
                .change(Change::Notification { call_id: Some(row.call_id.0.clone()), notification_id: Some(row.id) });
        }
        Ok(row)
    }
    fn retarget_pending_notifications(&mut self, call: &CallId, callback_uri: &str) -> StoreResult<()> {
        self.notes.change(Change::Notification { call_id: Some(call.0.clone()), notification_id: None });
        self.inner.retarget_pending_notifications(call, callback_uri)
    }
    fn stats(&mut self) -> StoreResult<StoreStats> {
        self.inner.stats()
    }

    fn insert_leg_command(
        &mut self,
        node_id: &str,
        participant: &ParticipantId,
        command: &str,
        now: Timestamp,
    ) -> StoreResult<i64> {
        self.notes.leg_commands = true;
        self.inner.insert_leg_command(node_id, participant, command, now)
    }
    fn leg_commands(&mut self, node_id: &str, limit: usize) -> StoreResult<Vec<LegCommandRow>> {
        self.inner.leg_commands(node_id, limit)
    }
    fn delete_leg_command(&mut self, id: i64) -> StoreResult<bool> {
        self.inner.delete_leg_command(id)
    }
    fn participants_of_node(&mut self, node_id: &str) -> StoreResult<Vec<Participant>> {
        self.inner.participants_of_node(node_id)
    }
    fn insert_agent_session(&mut self, session: &AgentSession) -> StoreResult<()> {
        self.inner.insert_agent_session(session)
    }
    fn delete_agent_session(&mut self, session_id: &str) -> StoreResult<bool> {
        self.inner.delete_agent_session(session_id)
    }
    fn agent_sessions_of_user(&mut self, user_id: &str) -> StoreResult<Vec<AgentSession>> {
        self.inner.agent_sessions_of_user(user_id)
    }
    fn clear_agent_sessions(&mut self, node_id: &str) -> StoreResult<usize> {
        self.inner.clear_agent_sessions(node_id)
    }
    fn node_alive(&mut self, node_id: &str, at_ms: i64) -> StoreResult<bool> {
        self.inner.node_alive(node_id, at_ms)
    }
    fn silent_nodes(&mut self, before_ms: i64) -> StoreResult<Vec<String>> {
        self.inner.silent_nodes(before_ms)
    }
    fn forget_node(&mut self, node_id: &str, before_ms: i64) -> StoreResult<bool> {
        self.inner.forget_node(node_id, before_ms)
    }

    fn reset_calls(&mut self) -> StoreResult<()> {
        self.notes.change(Change::Reset);
        self.seen = Seen::default();
        self.inner.reset_calls()
    }

    fn remove_ended_conversations(&mut self, ended_before: Timestamp, limit: usize) -> StoreResult<usize> {
        let removed = self.inner.remove_ended_conversations(ended_before, limit)?;
        if removed > 0 {
            self.notes.change(Change::Removed);
            self.seen = Seen::default();
        }
        Ok(removed)
    }

    fn ping(&mut self) -> StoreResult<()> {
        self.inner.ping()
    }
}

#[cfg(test)]
mod tests {
    use switchboard_core::{ConversationKind, EndpointKind, ParticipantState, Party, PartyKind, TenantId};
    use switchboard_store::{SqliteStore, StoreError};

    use super::*;

    fn party(user: &str) -> switchboard_core::Party {
        Party { kind: PartyKind::User, id: user.into(), display_name: None, tenant_id: None, identity_provider: None }
    }

    fn user(id: &str, name: &str) -> User {
        User {
            id: id.into(),
            tenant_id: TenantId("t".into()),
            display_name: name.into(),
            behaviour: Default::default(),
        }
    }

    /// What a unit reads back through [`Recording`] is what the store holds: writes are kept
    /// as written, a write the store refused is not kept, and user writes forget the users.
    #[tokio::test]
    async fn a_unit_reads_back_what_the_store_holds() {
        let store = SqliteStore::open_in_memory().unwrap();
        store
            .run(|tx| {
                let mut r = Recording { inner: tx, notes: Notes::default(), seen: Seen::default() };
                let mut conversation = Conversation {
                    id: ConversationId("c".into()),
                    tenant_id: TenantId("t".into()),
                    kind: ConversationKind::Meeting,
                    chat_thread_id: None,
                    meeting_id: None,
                    ended: false,
                    ended_at: None,
                    roster_sequence: 0,
                    created_at: Timestamp(0),
                };
                r.insert_conversation(&conversation)?;
                let new = |user| {
                    crate::calls::new_participant(
                        &conversation,
                        party(user),
                        ParticipantState::Ringing,
                        EndpointKind::Simulated,
                        None,
                        Timestamp(0),
                    )
                };
                let (mut adele, twin) = (new("adele"), new("adele"));
                r.insert_participant(&adele)?;
                adele.state = ParticipantState::Connected;
                adele.roster_sequence = conversation.next_roster_sequence();
                r.update_participant(&adele)?;
                r.update_conversation(&conversation)?;
                let refused = r.insert_participant(&twin);
                assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");

                for (remembered, stored) in [
                    (r.participant(&adele.id.0)?, r.inner.participant(&adele.id.0)?),
                    (r.participant(&twin.id.0)?, r.inner.participant(&twin.id.0)?),
                ] {
                    assert_eq!(remembered, stored);
                }
                assert_eq!(r.participant(&adele.id.0)?.map(|p| p.state), Some(ParticipantState::Connected));
                assert_eq!(r.participant(&twin.id.0)?, None, "a refused insert is not remembered");
                assert_eq!(r.conversation(&conversation.id)?, r.inner.conversation(&conversation.id)?);
                assert_eq!(r.conversation(&conversation.id)?.map(|c| c.roster_sequence), Some(1));

                r.upsert_user(&user("Megan", "Megan"))?;
                assert_eq!(r.user("MEGAN")?.map(|u| u.display_name).as_deref(), Some("Megan"));
                r.upsert_user(&user("megan", "Megan Bowen"))?;
                assert_eq!(r.user("MEGAN")?.map(|u| u.display_name).as_deref(), Some("Megan Bowen"));
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
    }
}

//! The storage port: what the engine needs from a store, independent of the database.

use switchboard_core::{
    Application, ApplicationInstance, Call, CallId, Conversation, ConversationId, Meeting, Operation, Participant,
    ParticipantId, PhoneNumber, Tenant, Timer, TimerAction, Timestamp, User,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule of the data was broken (e.g. an identity already active in a conversation).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(String),
    /// The database cannot be reached now (refused or lost connection, server shutting down);
    /// the same request may succeed later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    #[error("the store is shut down")]
    Closed,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A notification waiting in (or delivered from) the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub id: i64,
    pub call_id: CallId,
    /// Per-call sequence number, sent in the `X-Switchboard-Sequence` header.
    pub sequence: i64,
    pub callback_uri: String,
    pub app_id: String,
    pub tenant_id: String,
    pub body: String,
    pub created_at: Timestamp,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub state: DeliveryState,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<Timestamp>,
    /// For a redelivery: the notification this row copies.
    pub redelivery_of: Option<i64>,
    /// A "roster changed" mark not yet rendered: its body is [`ROSTER_MARK_BODY`] until the
    /// delivery that claims it renders the call's whole roster into it
    /// ([`Tx::render_roster_mark`]).
    pub roster_mark: bool,
}

/// The body of a roster mark until it is rendered at delivery.
pub const ROSTER_MARK_BODY: &str = r#"{"rosterMark":"rendered at delivery"}"#;

/// Whether any call of the conversation (the outer query's `conversations` row) still has a
/// notification pending: such a conversation is not removed yet.
pub(crate) const HAS_PENDING: &str = "EXISTS (SELECT 1 FROM calls JOIN outbox ON outbox.call_id = calls.id \
     WHERE calls.conversation_id = conversations.id AND outbox.state = 'pending')";

/// Removes the conversation `$1` and everything recorded for it ([`Tx::remove_ended_conversations`]),
/// children first; both adapters run these (SQLite reads `$1` as its first parameter). Its
/// participants' ring timers go; other timers naming one of its calls or participants stay until
/// due, when they find nothing and do nothing; leg commands stay for the leg task, which lets
/// the legs go.
pub(crate) const REMOVE_CONVERSATION: &[&str] = &[
    "DELETE FROM delivery_attempts WHERE outbox_id IN \
     (SELECT outbox.id FROM outbox JOIN calls ON outbox.call_id = calls.id WHERE calls.conversation_id = $1)",
    "DELETE FROM outbox WHERE call_id IN (SELECT id FROM calls WHERE conversation_id = $1)",
    "DELETE FROM operations WHERE call_id IN (SELECT id FROM calls WHERE conversation_id = $1)",
    "DELETE FROM timers WHERE participant_id IN (SELECT id FROM participants WHERE conversation_id = $1)",
    "DELETE FROM participants WHERE conversation_id = $1",
    "DELETE FROM calls WHERE conversation_id = $1",
    "DELETE FROM conversations WHERE id = $1",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Delivered,
    Dead,
}

impl DeliveryState {
    pub fn parse(name: &str) -> Option<DeliveryState> {
        [DeliveryState::Pending, DeliveryState::Delivered, DeliveryState::Dead].into_iter().find(|s| s.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
        }
    }
}

/// The result of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptResult {
    Delivered {
        status: i64,
    },
    /// Failed; retry at `retry_at`, or give up (dead letter) when `None`.
    Failed {
        status: Option<i64>,
        error: String,
        retry_at: Option<Timestamp>,
    },
}

/// What an attempt writes to its outbox row (both adapters record it in one UPDATE).
pub(crate) struct AttemptColumns<'a> {
    pub state: &'static str,
    /// The retry time, or the time of death; `None` keeps the row's.
    pub next_attempt_at: Option<i64>,
    pub status: Option<i64>,
    pub error: Option<&'a str>,
    pub delivered_at: Option<i64>,
}

impl AttemptResult {
    pub(crate) fn columns(&self, at: Timestamp) -> AttemptColumns<'_> {
        match self {
            AttemptResult::Delivered { status } => AttemptColumns {
                state: DeliveryState::Delivered.as_str(),
                next_attempt_at: None,
                status: Some(*status),
                error: None,
                delivered_at: Some(at.0),
            },
            AttemptResult::Failed { status, error, retry_at } => AttemptColumns {
                state: if retry_at.is_some() { DeliveryState::Pending } else { DeliveryState::Dead }.as_str(),
                next_attempt_at: Some(retry_at.unwrap_or(at).0),
                status: *status,
                error: Some(error),
                delivered_at: None,
            },
        }
    }
}

/// One delivery attempt, kept for the notification log.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryAttempt {
    pub outbox_id: i64,
    pub attempt: i64,
    pub at: Timestamp,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub latency_ms: i64,
}

/// What `/metrics` reads at scrape time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreStats {
    /// Notifications waiting in the outbox (pending, retries included).
    pub outbox_pending: i64,
    /// When the oldest pending notification was written (domain time).
    pub outbox_oldest_pending_at: Option<Timestamp>,
    /// Calls not yet terminated.
    pub active_calls: i64,
    pub ringing_participants: i64,
    pub connected_participants: i64,
}

/// A command for a live leg, waiting in its node's inbox.
#[derive(Debug, Clone, PartialEq)]
pub struct LegCommandRow {
    pub id: i64,
    pub node_id: String,
    pub participant_id: ParticipantId,
    /// The command, as the engine serialised it (JSON).
    pub command: String,
    pub created_at: Timestamp,
}

/// An agent WebSocket connected to a node, signed in as a directory user.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSession {
    pub session_id: String,
    pub user_id: String,
    pub node_id: String,
    pub connected_at: Timestamp,
}

/// How long a notification stays leased to the node that enqueued it (domain milliseconds).
pub const BIRTH_LEASE_MS: i64 = 5_000;

/// One transaction. Every method reads or writes within it; nothing is visible to other
/// transactions until the closure that received it returns `Ok` and the store commits.
pub trait Tx {
    // Directory.
    fn upsert_tenant(&mut self, tenant: &Tenant) -> StoreResult<()>;
    fn tenant(&mut self, id: &str) -> StoreResult<Option<Tenant>>;
    fn upsert_application(&mut self, app: &Application) -> StoreResult<()>;
    fn application(&mut self, client_id: &str) -> StoreResult<Option<Application>>;
    fn applications(&mut self) -> StoreResult<Vec<Application>>;
    fn upsert_application_instance(&mut self, instance: &ApplicationInstance) -> StoreResult<()>;
    fn application_instances(&mut self, app_id: &str) -> StoreResult<Vec<ApplicationInstance>>;
    fn upsert_user(&mut self, user: &User) -> StoreResult<()>;
    fn user(&mut self, id: &str) -> StoreResult<Option<User>>;
    fn users(&mut self) -> StoreResult<Vec<User>>;
    fn upsert_phone(&mut self, phone: &PhoneNumber) -> StoreResult<()>;
    fn phone(&mut self, number: &str) -> StoreResult<Option<PhoneNumber>>;
    fn phones(&mut self) -> StoreResult<Vec<PhoneNumber>>;
    fn insert_meeting(&mut self, meeting: &Meeting) -> StoreResult<()>;
    fn meeting(&mut self, id: &str) -> StoreResult<Option<Meeting>>;
    /// Every online meeting, oldest first.
    fn meetings(&mut self) -> StoreResult<Vec<Meeting>>;
    fn meeting_by_thread(&mut self, thread_id: &str) -> StoreResult<Option<Meeting>>;
    fn meeting_by_join_id(&mut self, join_meeting_id: &str) -> StoreResult<Option<Meeting>>;
    fn setting(&mut self, key: &str) -> StoreResult<Option<String>>;
    /// Writes a setting; other nodes hear of it ([`Wake::Settings`]) once the transaction commits.
    fn set_setting(&mut self, key: &str, value: &str) -> StoreResult<()>;

    // Conversations, calls, participants, operations.
    fn insert_conversation(&mut self, conversation: &Conversation) -> StoreResult<()>;
    fn update_conversation(&mut self, conversation: &Conversation) -> StoreResult<()>;
    fn conversation(&mut self, id: &ConversationId) -> StoreResult<Option<Conversation>>;
    fn live_conversation_for_thread(&mut self, thread_id: &str) -> StoreResult<Option<Conversation>>;
    fn live_conversation_for_meeting(&mut self, meeting_id: &str) -> StoreResult<Option<Conversation>>;
    fn insert_call(&mut self, call: &Call) -> StoreResult<()>;
    fn update_call(&mut self, call: &Call) -> StoreResult<()>;
    fn call(&mut self, id: &str) -> StoreResult<Option<Call>>;
    fn calls_in_conversation(&mut self, id: &ConversationId) -> StoreResult<Vec<Call>>;
    /// The ids of [`Tx::calls_in_conversation`], in the same order, without reading the calls.
    fn call_ids_in_conversation(&mut self, id: &ConversationId) -> StoreResult<Vec<CallId>>;
    /// Fails with [`StoreError::Conflict`] when the identity is already active in the conversation.
    fn insert_participant(&mut self, participant: &Participant) -> StoreResult<()>;
    fn update_participant(&mut self, participant: &Participant) -> StoreResult<()>;
    fn participant(&mut self, id: &str) -> StoreResult<Option<Participant>>;
    /// Ringing and connected participants.
    fn active_participants(&mut self, conversation: &ConversationId) -> StoreResult<Vec<Participant>>;
    /// Ringing and connected participants with a live leg (an owning node), ordered by id.
    fn live_legs(&mut self, conversation: &ConversationId) -> StoreResult<Vec<Participant>>;
    /// Connected participants ordered by id, after `after_id`, at most `limit`.
    fn roster_page(
        &mut self,
        conversation: &ConversationId,
        after_id: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Participant>>;
    fn insert_operation(&mut self, operation: &Operation) -> StoreResult<()>;
    fn update_operation(&mut self, operation: &Operation) -> StoreResult<()>;
    fn operation(&mut self, id: &str) -> StoreResult<Option<Operation>>;
    /// The operations of a call, oldest first.
    fn operations_of_call(&mut self, call: &CallId) -> StoreResult<Vec<Operation>>;
    /// The newest `limit` conversations, newest first; ended ones only if `include_ended`.
    fn conversations(&mut self, limit: usize, include_ended: bool) -> StoreResult<Vec<Conversation>>;

    /// Notes that this node holds the call's notifications back until the HTTP response that
    /// created the call or its pending operation is written, at the latest until `until`: a
    /// notification another node enqueues to the call meanwhile is born leased to this node,
    /// which delivers it once its response is out (DESIGN.md "Notifications": no notification
    /// before that response). Nothing to write where one node serves the store (SQLite): the
    /// hold in that node's memory covers every notification.
    fn hold_call(&mut self, call: &CallId, until: Timestamp) -> StoreResult<()>;

    // Timers.
    fn insert_timer(&mut self, due_at: Timestamp, action: &TimerAction) -> StoreResult<i64>;
    /// Removes the timers of a participant (its ring is over).
    fn delete_participant_timers(&mut self, participant: &ParticipantId) -> StoreResult<()>;
    fn delete_timer(&mut self, id: i64) -> StoreResult<bool>;
    fn due_timers(&mut self, now: Timestamp, limit: usize) -> StoreResult<Vec<Timer>>;
    fn next_timer_due(&mut self) -> StoreResult<Option<Timestamp>>;

    // Outbox. Delivery is leased: a node claims the head of a call's queue (writing its node id
    // and a deadline), posts with no transaction open, and records the attempt only while the
    // lease is still its own. A row is born leased to the node that enqueued it for
    // [`BIRTH_LEASE_MS`], so the node holding a call's notifications back until its HTTP
    // response is written is the one that delivers them (unless it dies).
    /// Appends a notification to a call's queue; returns its per-call sequence number.
    fn enqueue_notification(&mut self, call: &Call, body: &str, now: Timestamp) -> StoreResult<i64>;
    /// Notes that the call's whole roster changed: a "roster changed" mark, rendered into the
    /// whole roster only when its delivery claims it, so a burst of changes costs one snapshot.
    /// A call has at most one unrendered mark, and it is always the last of its queue (a roster
    /// rendered late must not reach the bot before a notification enqueued after the change,
    /// e.g. the `deleted` of the operation that made it):
    /// - if the queue ends with the unrendered mark, that mark covers this change too (returns
    ///   `false`);
    /// - else an unrendered mark further up is moved to the end: the rows after it (never
    ///   tried, as delivery is in order) move up one sequence number, so numbers stay gapless;
    /// - else a mark is appended.
    ///
    /// Returns whether a mark was appended or moved.
    fn mark_roster_changed(&mut self, call: &Call, now: Timestamp) -> StoreResult<bool>;
    /// The call's unrendered roster mark, if it has one.
    fn roster_mark(&mut self, call: &CallId) -> StoreResult<Option<OutboxRow>>;
    /// Renders a claimed roster mark: its body becomes `body` (every attempt then sends the
    /// same) and it is no longer a mark.
    fn render_roster_mark(&mut self, id: i64, body: &str) -> StoreResult<()>;
    /// The head of each call's queue that is due at `now` and that this node may claim (no
    /// lease, its own, or expired), at most `limit` calls, skipping `busy` calls. Reads only.
    fn due_deliveries(&mut self, now: Timestamp, limit: usize, busy: &[CallId]) -> StoreResult<Vec<OutboxRow>>;
    /// Like [`Tx::due_deliveries`], and leases the rows to this node until `lease_until`. Two
    /// nodes claiming at once never get the same row (`FOR UPDATE SKIP LOCKED` on PostgreSQL).
    fn claim_deliveries(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
        busy: &[CallId],
    ) -> StoreResult<Vec<OutboxRow>>;
    /// Leases the head of one call's queue when it is due and not another node's (what a
    /// delivery that just finished takes next, keeping the call's order); `None` otherwise.
    fn claim_next_of_call(
        &mut self,
        call: &CallId,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Option<OutboxRow>>;
    /// Leases the rows that follow `after` (a sequence number this node holds) in one call's
    /// queue, in order, for as long as they are due and not another node's, at most `limit`:
    /// a delivery holding a call's head takes the rest of its run, posts them back to back and
    /// records them in one unit of work.
    fn claim_following(
        &mut self,
        call: &CallId,
        after: i64,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<OutboxRow>>;
    /// Ends this node's leases on rows it claimed and did not try (their run stopped at a
    /// failed attempt before them), so any node may take them when their call's head is due
    /// again. One statement, whatever the number of rows.
    fn release_leases(&mut self, ids: &[i64]) -> StoreResult<()>;
    /// When the delivery loop next has a head to claim, calls in `busy` aside (this node is
    /// delivering or holding them, and wakes itself when they are done): a head's next attempt,
    /// or, while another node's lease on it holds, the end of that lease. `None` when no call
    /// has anything pending.
    fn next_delivery_due(&mut self, now: Timestamp, busy: &[CallId]) -> StoreResult<Option<Timestamp>>;
    /// Records an attempt and ends this node's lease on the row. Returns `false` (and records
    /// nothing) when the lease is no longer this node's: another node took the row over.
    fn record_attempt(&mut self, id: i64, at: Timestamp, latency_ms: i64, result: &AttemptResult) -> StoreResult<bool>;
    /// Notifications of one call (or all when `None`), in one state (or any), newest last, at
    /// most `limit`.
    fn notifications(
        &mut self,
        call: Option<&CallId>,
        state: Option<DeliveryState>,
        limit: usize,
    ) -> StoreResult<Vec<OutboxRow>>;
    fn delivery_attempts(&mut self, outbox_id: i64) -> StoreResult<Vec<DeliveryAttempt>>;
    fn pending_notification_count(&mut self) -> StoreResult<i64>;
    fn notification(&mut self, id: i64) -> StoreResult<Option<OutboxRow>>;
    /// Appends a copy of notification `id` at the end of its call's queue, with the next
    /// sequence number of that call and no attempts; returns the new row (`None` if `id` is
    /// unknown). Redelivering at the end keeps every call's notifications in order.
    fn requeue_notification(&mut self, id: i64, now: Timestamp) -> StoreResult<Option<OutboxRow>>;

    // Endpoint legs. Each node has an inbox of commands for the live legs it owns, written in
    // the transaction of the change that causes them; the node's leg task runs them in order
    // and deletes each once its driver returns.
    /// Appends a command to `node_id`'s inbox; returns its id (ids grow in insertion order).
    fn insert_leg_command(
        &mut self,
        node_id: &str,
        participant: &ParticipantId,
        command: &str,
        now: Timestamp,
    ) -> StoreResult<i64>;
    /// The oldest `limit` commands of `node_id`'s inbox, in order.
    fn leg_commands(&mut self, node_id: &str, limit: usize) -> StoreResult<Vec<LegCommandRow>>;
    /// Removes a command that ran; `false` when it was already gone.
    fn delete_leg_command(&mut self, id: i64) -> StoreResult<bool>;
    /// Ringing and connected participants whose live leg `node_id` owns.
    fn participants_of_node(&mut self, node_id: &str) -> StoreResult<Vec<Participant>>;
    fn insert_agent_session(&mut self, session: &AgentSession) -> StoreResult<()>;
    /// `false` when there was no such session.
    fn delete_agent_session(&mut self, session_id: &str) -> StoreResult<bool>;
    /// The sessions of a user (whatever the case of the id), oldest first.
    fn agent_sessions_of_user(&mut self, user_id: &str) -> StoreResult<Vec<AgentSession>>;
    /// Forgets every session of a node (its WebSockets did not survive a restart); returns how many.
    fn clear_agent_sessions(&mut self, node_id: &str) -> StoreResult<usize>;

    // Node liveness, on wall time (milliseconds since the Unix epoch). Every node records that it
    // is alive every few seconds; a node silent past the timeout is taken over by another.
    /// Records that `node_id` was alive at `at_ms`; `false` when the node was not known (new,
    /// or forgotten by [`Tx::forget_node`] since it was last recorded).
    fn node_alive(&mut self, node_id: &str, at_ms: i64) -> StoreResult<bool>;
    /// The nodes last seen alive before `before_ms`, longest silent first.
    fn silent_nodes(&mut self, before_ms: i64) -> StoreResult<Vec<String>>;
    /// Forgets a node that is still silent since before `before_ms`: its row and its leg inbox
    /// (no one will run those commands). `false` when it was seen alive again, or is gone.
    fn forget_node(&mut self, node_id: &str, before_ms: i64) -> StoreResult<bool>;

    /// Counts for `/metrics`.
    fn stats(&mut self) -> StoreResult<StoreStats>;

    /// Points a call's pending notifications at another callback URI (a `302` from the bot).
    fn retarget_pending_notifications(&mut self, call: &CallId, callback_uri: &str) -> StoreResult<()>;

    /// Deletes every call, conversation, participant, operation, timer, notification and leg
    /// command (the directory, meetings and agent sessions stay).
    fn reset_calls(&mut self) -> StoreResult<()>;

    /// Removes at most `limit` conversations that ended before `ended_before`, oldest first,
    /// with their calls, participants, operations, participants' timers, notifications and
    /// delivery attempts. One whose calls still have a notification pending stays until it is
    /// delivered or given up. Returns how many were removed.
    fn remove_ended_conversations(&mut self, ended_before: Timestamp, limit: usize) -> StoreResult<usize>;

    /// Checks the store answers.
    fn ping(&mut self) -> StoreResult<()>;
}

/// What another node's commit tells this one (PostgreSQL `NOTIFY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Work may be due: timers, notifications, leg commands.
    Work,
    /// A setting changed (injected faults, for one).
    Settings,
}

//! The PostgreSQL adapter: several Switchboard nodes share one database.
//!
//! The storage port is synchronous (a unit of work is a closure over `&mut dyn Tx`), so this
//! adapter uses the synchronous `postgres` client and runs each unit on tokio's blocking pool,
//! one transaction per unit, on a connection from a small pool. (sqlx, which DESIGN.md names,
//! is async only: every query inside the synchronous port would need its own `block_on`.)
//!
//! Concurrency between nodes:
//! - Every unit that reads state in order to change it takes one transaction-scoped advisory
//!   lock before its first statement, so units are serialised across nodes as SQLite's single
//!   writer serialises them in one process (no lost updates of an operation's invitee outcomes
//!   or a conversation's roster sequence). Per-conversation locks are future work.
//! - Delivery and timer claims do not take it: they lock rows with `FOR UPDATE SKIP LOCKED`,
//!   so two nodes never claim the same outbox row or timer; recording a delivery attempt
//!   checks the lease and needs no global lock either.
//! - A commit that enqueued notifications, added timers or delivered a notification sends
//!   `NOTIFY switchboard` (payload: the schema), coalesced by PostgreSQL per transaction; each
//!   node listens on one dedicated connection and wakes its timer and delivery tasks. A commit
//!   that wrote a setting (injected faults, for one) sends the payload `<schema>:settings`.
//!
//! The advisory lock and the notification channel are keyed by the connection's schema, so
//! independent deployments (and tests) may share one database in separate schemas, selected
//! with `?options=-csearch_path%3D<schema>` in the URL.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Client, NoTls, Row};
use serde::de::DeserializeOwned;
use serde::Serialize;
use switchboard_core::{
    Application, ApplicationInstance, Call, CallId, Conversation, ConversationId, Meeting, Operation, Participant,
    ParticipantId, PhoneNumber, Tenant, Timer, TimerAction, Timestamp, User,
};

use crate::port::{
    AgentSession, AttemptResult, DeliveryAttempt, DeliveryState, LegCommandRow, OutboxRow, StoreError, StoreResult,
    StoreStats, Tx, Wake, BIRTH_LEASE_MS, HAS_PENDING, REMOVE_CONVERSATION, ROSTER_MARK_BODY,
};

/// Embedded migrations, applied in order; `schema_migrations` records which ran.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_initial.sql")),
    (2, include_str!("../migrations/postgres/0002_delivery_leases.sql")),
    (3, include_str!("../migrations/postgres/0003_console_and_metrics.sql")),
    (4, include_str!("../migrations/postgres/0004_endpoint_legs.sql")),
    (5, include_str!("../migrations/postgres/0005_roster_marks_and_queue_heads.sql")),
    (6, include_str!("../migrations/postgres/0006_live_legs.sql")),
    (7, include_str!("../migrations/postgres/0007_fewer_outbox_indexes.sql")),
    (8, include_str!("../migrations/postgres/0008_nodes.sql")),
    (9, include_str!("../migrations/postgres/0009_response_holds.sql")),
    (10, include_str!("../migrations/postgres/0010_conversation_end.sql")),
    (11, include_str!("../migrations/postgres/0011_ascii_case_user_ids.sql")),
];

/// First key of Switchboard's advisory locks (the second is the schema's hash).
const LOCK_CLASS_STATE: i32 = 0x5357_4231; // "SWB1": units that change state
const LOCK_CLASS_MIGRATE: i32 = 0x5357_4232; // "SWB2": migrations

/// The channel of wake-up notifications between nodes.
const CHANNEL: &str = "switchboard";

/// The notification payload of a commit that wrote a setting.
fn settings_payload(schema: &str) -> String {
    format!("{schema}:settings")
}

/// Connections kept per store (one more listens for notifications).
const POOL_SIZE: usize = 8;

/// Handle to the PostgreSQL store; cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: postgres::Config,
    node_id: String,
    /// The schema the connections use, and its hash (advisory lock key, NOTIFY payload).
    schema: String,
    schema_key: i32,
    pool: Mutex<Pool>,
    returned: Condvar,
}

struct Pool {
    idle: Vec<Client>,
    /// Connections checked out or idle.
    open: usize,
}

impl PgStore {
    /// Connects to `url`, applies the migrations (under an advisory lock, so nodes starting
    /// together run them once) and opens the pool. Blocking: call it off the async runtime.
    pub fn open(url: &str) -> StoreResult<PgStore> {
        let config: postgres::Config = url.parse().map_err(pg)?;
        let mut client = config.connect(NoTls).map_err(pg)?;
        let row = client.query_one("SELECT current_schema()::text, hashtext(current_schema())", &[]).map_err(pg)?;
        let schema: Option<String> = row.get(0);
        let schema = schema
            .ok_or_else(|| StoreError::Database("the connection's search_path names no existing schema".to_owned()))?;
        let schema_key: i32 = row.get(1);
        migrate(&mut client, schema_key)?;
        Ok(PgStore {
            inner: Arc::new(Inner {
                config,
                node_id: uuid::Uuid::new_v4().to_string(),
                schema,
                schema_key,
                pool: Mutex::new(Pool { idle: vec![client], open: 1 }),
                returned: Condvar::new(),
            }),
        })
    }

    /// This node's id in delivery leases.
    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// Runs `work` in a transaction on the blocking pool. Its writes commit only if it
    /// returns `Ok`; the result is handed back after the commit.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.run_blocking(work)).await.map_err(|_| E::from(StoreError::Closed))?
    }

    /// Starts a thread that listens for other nodes' wake-ups and calls `wake` for each (and
    /// after reconnecting, since notifications may have been missed meanwhile).
    pub fn listen(&self, wake: Arc<dyn Fn(Wake) + Send + Sync>) {
        let inner = self.inner.clone();
        let spawned = std::thread::Builder::new().name("pg-listen".into()).spawn(move || loop {
            match inner.config.connect(NoTls) {
                Ok(mut client) => {
                    if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")) {
                        tracing::warn!(error = %e, "cannot LISTEN");
                    } else {
                        wake(Wake::Work);
                        wake(Wake::Settings);
                        listen_until_broken(&mut client, &inner.schema, &*wake);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot connect the listening connection"),
            }
            std::thread::sleep(Duration::from_secs(1));
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the listening thread; polling only");
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing a synchronous client blocks on its own runtime, which must not happen on a
        // thread of the caller's async runtime: close them on a thread of their own.
        let idle = std::mem::take(&mut self.idle);
        if !idle.is_empty() {
            let _ = std::thread::spawn(move || drop(idle)).join();
        }
    }
}

/// Wakes on every notification for this schema; returns when the connection breaks.
fn listen_until_broken(client: &mut Client, schema: &str, wake: &(dyn Fn(Wake) + Send + Sync)) {
    use fallible_iterator::FallibleIterator;
    let settings = settings_payload(schema);
    loop {
        let mut notifications = client.notifications();
        let mut iter = notifications.timeout_iter(Duration::from_secs(30));
        loop {
            match iter.next() {
                Ok(Some(n)) if n.payload() == schema => wake(Wake::Work),
                Ok(Some(n)) if n.payload() == settings => wake(Wake::Settings),
                Ok(Some(_)) => {}
                // A quiet spell: check the connection is alive, then wait on.
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "the listening connection failed");
                    return;
                }
            }
        }
        drop(iter);
        drop(notifications);
        if client.is_valid(Duration::from_secs(5)).is_err() {
            return;
        }
    }
}

impl Inner {
    fn checkout(&self) -> StoreResult<Client> {
        let mut pool = self.pool.lock().expect("pool lock");
        loop {
            if let Some(client) = pool.idle.pop() {
                if client.is_closed() {
                    pool.open -= 1;
                    continue;
                }
                return Ok(client);
            }
            if pool.open < POOL_SIZE {
                pool.open += 1;
                drop(pool);
                return self.config.connect(NoTls).map_err(|e| {
                    self.pool.lock().expect("pool lock").open -= 1;
                    self.returned.notify_one();
                    connect_failed(e)
                });
            }
            pool = self.returned.wait(pool).expect("pool lock");
        }
    }

    fn check_in(&self, client: Client) {
        let mut pool = self.pool.lock().expect("pool lock");
        if client.is_closed() {
            pool.open -= 1;
        } else {
            pool.idle.push(client);
        }
        drop(pool);
        self.returned.notify_one();
    }

    fn run_blocking<T, E, F>(&self, work: F) -> Result<T, E>
    where
        E: From<StoreError>,
        F: FnOnce(&mut dyn Tx) -> Result<T, E>,
    {
        let mut client = self.checkout().map_err(E::from)?;
        let outcome = (|| {
            let mut transaction = client.transaction().map_err(|e| E::from(pg(e)))?;
            let mut tx = PgTx { t: &mut transaction, inner: self, locked: false, notified: false };
            let outcome = work(&mut tx);
            match outcome {
                Ok(value) => {
                    transaction.commit().map_err(|e| E::from(pg(e)))?;
                    Ok(value)
                }
                Err(e) => {
                    let _ = transaction.rollback();
                    Err(e)
                }
            }
        })();
        self.check_in(client);
        outcome
    }
}

fn migrate(client: &mut Client, schema_key: i32) -> StoreResult<()> {
    client.execute("SELECT pg_advisory_lock($1, $2)", &[&LOCK_CLASS_MIGRATE, &schema_key]).map_err(pg)?;
    let result = (|| {
        client
            .batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")
            .map_err(pg)?;
        for (version, sql) in MIGRATIONS {
            let applied = client
                .query_opt("SELECT 1 FROM schema_migrations WHERE version = $1", &[version])
                .map_err(pg)?
                .is_some();
            if applied {
                continue;
            }
            let mut t = client.transaction().map_err(pg)?;
            t.batch_execute(sql).map_err(pg)?;
            t.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[version]).map_err(pg)?;
            t.commit().map_err(pg)?;
        }
        Ok(())
    })();
    client.execute("SELECT pg_advisory_unlock($1, $2)", &[&LOCK_CLASS_MIGRATE, &schema_key]).map_err(pg)?;
    result
}

fn pg(e: postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        if *db.code() == postgres::error::SqlState::UNIQUE_VIOLATION {
            return StoreError::Conflict(db.message().to_owned());
        }
        // Connection exceptions (08), too many connections (53300), the server shutting down or
        // the session terminated by an administrator (57P0x): a later try may succeed.
        if code.starts_with("08") || code == "53300" || code.starts_with("57P0") {
            return StoreError::Unavailable(format!("{code}: {}", db.message()));
        }
        return StoreError::Database(format!("{code}: {}", db.message()));
    }
    // A closed client, or the socket to the server failing (a terminated session can show as
    // a reset or an early end of stream rather than its FATAL message).
    let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    if e.is_closed() || io {
        return StoreError::Unavailable(e.to_string());
    }
    StoreError::Database(e.to_string())
}

/// A failed connection attempt: whatever the server said (refused, login not permitted, too
/// many connections), the database is not reachable now.
fn connect_failed(e: postgres::Error) -> StoreError {
    match pg(e) {
        StoreError::Database(message) => StoreError::Unavailable(message),
        other => other,
    }
}

fn to_json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json<T: DeserializeOwned>(raw: &str) -> StoreResult<T> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// One unit of work's transaction.
pub struct PgTx<'a, 't> {
    t: &'a mut postgres::Transaction<'t>,
    inner: &'a Inner,
    /// Whether this transaction holds the state lock.
    locked: bool,
    /// Whether this transaction already sent its wake-up.
    notified: bool,
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

impl PgTx<'_, '_> {
    /// Takes the state lock (once per transaction) before a unit that changes state reads.
    fn lock(&mut self) -> StoreResult<()> {
        if !self.locked {
            self.t
                .execute("SELECT pg_advisory_xact_lock($1, $2)", &[&LOCK_CLASS_STATE, &self.inner.schema_key])
                .map_err(pg)?;
            self.locked = true;
        }
        Ok(())
    }

    /// Wakes every node's background tasks once this transaction commits.
    fn wake_nodes(&mut self) -> StoreResult<()> {
        if !self.notified {
            self.t.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &self.inner.schema]).map_err(pg)?;
            self.notified = true;
        }
        Ok(())
    }

    fn exec(&mut self, sql: &str, args: Params<'_>) -> StoreResult<u64> {
        self.lock()?;
        self.t.execute(sql, args).map_err(pg)
    }

    fn get_body<T: DeserializeOwned>(&mut self, sql: &str, args: Params<'_>) -> StoreResult<Option<T>> {
        self.lock()?;
        let row = self.t.query_opt(sql, args).map_err(pg)?;
        row.map(|r| from_json(r.get::<_, &str>(0))).transpose()
    }

    fn bodies<T: DeserializeOwned>(&mut self, sql: &str, args: Params<'_>) -> StoreResult<Vec<T>> {
        self.lock()?;
        let rows = self.t.query(sql, args).map_err(pg)?;
        rows.iter().map(|r| from_json(r.get::<_, &str>(0))).collect()
    }

    /// Appends a notification to the call's queue, a roster mark or not: a mark is inserted as
    /// one, so its row and the partial index of marks are written once.
    fn insert_notification(&mut self, call: &Call, body: &str, now: Timestamp, roster_mark: bool) -> StoreResult<i64> {
        self.lock()?;
        self.wake_nodes()?;
        let next: i64 = self
            .t
            .query_one("SELECT COALESCE(MAX(sequence), 0) + 1 FROM outbox WHERE call_id = $1", &[&call.id.0])
            .map_err(pg)?
            .get(0);
        let lease_until = now.0 + BIRTH_LEASE_MS;
        // Born leased to this node, or to the node holding the call back until its response is
        // written (`hold_call`).
        self.t
            .execute(
                "INSERT INTO outbox (call_id, sequence, callback_uri, app_id, tenant_id, body, created_at, \
                 next_attempt_at, state, lease_owner, lease_until, roster_mark) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 'pending', \
                 COALESCE((SELECT held_by FROM calls WHERE id = $1 AND held_until > $7), $8), $9, $10)",
                &[
                    &call.id.0,
                    &next,
                    &call.callback_uri,
                    &call.app_id.0,
                    &call.tenant_id.0,
                    &body,
                    &now.0,
                    &self.inner.node_id,
                    &lease_until,
                    &i32::from(roster_mark),
                ],
            )
            .map_err(pg)?;
        Ok(next)
    }

    fn outbox_rows(&mut self, sql: &str, args: Params<'_>) -> StoreResult<Vec<OutboxRow>> {
        let rows = self.t.query(sql, args).map_err(pg)?;
        Ok(rows.iter().map(outbox_row).collect())
    }
}

const OUTBOX_COLUMNS: &str = "id, call_id, sequence, callback_uri, app_id, tenant_id, body, created_at, attempts, \
     next_attempt_at, state, last_status, last_error, delivered_at, redelivery_of, roster_mark";

/// The claimable heads of calls' queues: `$1` now, `$2` limit, `$3` this node, `$4` busy calls.
/// Outbox row `o` heads its call's pending queue (a macro, so that constants can include it).
macro_rules! is_head {
    () => {
        "o.sequence = (SELECT MIN(sequence) FROM outbox i WHERE i.call_id = o.call_id AND i.state = 'pending')"
    };
}

const CLAIMABLE: &str = concat!(
    "SELECT o.id FROM outbox o WHERE o.state = 'pending' AND o.next_attempt_at <= $1 \
     AND (o.lease_owner IS NULL OR o.lease_owner = $3 OR o.lease_until <= $1) \
     AND NOT (o.call_id = ANY($4)) AND ",
    is_head!(),
    " ORDER BY o.next_attempt_at, o.id LIMIT $2"
);

fn outbox_row(r: &Row) -> OutboxRow {
    let state: &str = r.get(10);
    OutboxRow {
        id: r.get(0),
        call_id: CallId(r.get(1)),
        sequence: r.get(2),
        callback_uri: r.get(3),
        app_id: r.get(4),
        tenant_id: r.get(5),
        body: r.get(6),
        created_at: Timestamp(r.get(7)),
        attempts: r.get(8),
        next_attempt_at: Timestamp(r.get(9)),
        state: DeliveryState::parse(state).unwrap_or(DeliveryState::Pending),
        last_status: r.get(11),
        last_error: r.get(12),
        delivered_at: r.get::<_, Option<i64>>(13).map(Timestamp),
        redelivery_of: r.get(14),
        roster_mark: r.get::<_, i32>(15) != 0,
    }
}

fn participant_state(p: &Participant) -> &'static str {
    match p.state {
        switchboard_core::ParticipantState::Ringing => "ringing",
        switchboard_core::ParticipantState::Connected => "connected",
        switchboard_core::ParticipantState::Removed => "removed",
    }
}

fn call_ids(calls: &[CallId]) -> Vec<&str> {
    calls.iter().map(|c| c.0.as_str()).collect()
}

impl Tx for PgTx<'_, '_> {
    fn upsert_tenant(&mut self, tenant: &Tenant) -> StoreResult<()> {
        let body = to_json(tenant)?;
        self.exec(
            "INSERT INTO tenants (id, body) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body",
            &[&tenant.id.0, &body],
        )
        .map(drop)
    }
    fn tenant(&mut self, id: &str) -> StoreResult<Option<Tenant>> {
        self.get_body("SELECT body FROM tenants WHERE id = $1", &[&id])
    }
    fn upsert_application(&mut self, app: &Application) -> StoreResult<()> {
        let body = to_json(app)?;
        self.exec(
            "INSERT INTO applications (client_id, body) VALUES ($1, $2) \
             ON CONFLICT (client_id) DO UPDATE SET body = EXCLUDED.body",
            &[&app.client_id.0, &body],
        )
        .map(drop)
    }
    fn application(&mut self, client_id: &str) -> StoreResult<Option<Application>> {
        self.get_body("SELECT body FROM applications WHERE client_id = $1", &[&client_id])
    }
    fn applications(&mut self) -> StoreResult<Vec<Application>> {
        self.bodies("SELECT body FROM applications ORDER BY client_id", &[])
    }
    fn upsert_application_instance(&mut self, instance: &ApplicationInstance) -> StoreResult<()> {
        let body = to_json(instance)?;
        self.exec(
            "INSERT INTO application_instances (id, app_id, body) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET app_id = EXCLUDED.app_id, body = EXCLUDED.body",
            &[&instance.id, &instance.app_id.0, &body],
        )
        .map(drop)
    }
    fn application_instances(&mut self, app_id: &str) -> StoreResult<Vec<ApplicationInstance>> {
        self.bodies("SELECT body FROM application_instances WHERE app_id = $1 ORDER BY id", &[&app_id])
    }
    fn upsert_user(&mut self, user: &User) -> StoreResult<()> {
        let body = to_json(user)?;
        self.exec(
            "INSERT INTO users (id, body) VALUES ($1, $2) \
             ON CONFLICT (ascii_lower(id)) DO UPDATE SET id = EXCLUDED.id, body = EXCLUDED.body",
            &[&user.id, &body],
        )
        .map(drop)
    }
    fn user(&mut self, id: &str) -> StoreResult<Option<User>> {
        self.get_body("SELECT body FROM users WHERE ascii_lower(id) = ascii_lower($1)", &[&id])
    }
    fn users(&mut self) -> StoreResult<Vec<User>> {
        // In bytes, as SQLite's NOCASE orders them, whatever the database's collation.
        self.bodies("SELECT body FROM users ORDER BY ascii_lower(id) COLLATE \"C\"", &[])
    }
    fn upsert_phone(&mut self, phone: &PhoneNumber) -> StoreResult<()> {
        let body = to_json(phone)?;
        self.exec(
            "INSERT INTO phone_numbers (number, body) VALUES ($1, $2) \
             ON CONFLICT (number) DO UPDATE SET body = EXCLUDED.body",
            &[&phone.number, &body],
        )
        .map(drop)
    }
    fn phone(&mut self, number: &str) -> StoreResult<Option<PhoneNumber>> {
        self.get_body("SELECT body FROM phone_numbers WHERE number = $1", &[&number])
    }
    fn phones(&mut self) -> StoreResult<Vec<PhoneNumber>> {
        self.bodies("SELECT body FROM phone_numbers ORDER BY number", &[])
    }
    fn insert_meeting(&mut self, meeting: &Meeting) -> StoreResult<()> {
        let body = to_json(meeting)?;
        self.exec(
            "INSERT INTO meetings (id, thread_id, join_meeting_id, body) VALUES ($1, $2, $3, $4)",
            &[&meeting.id.0, &meeting.thread_id, &meeting.join_meeting_id, &body],
        )
        .map(drop)
    }
    fn meeting(&mut self, id: &str) -> StoreResult<Option<Meeting>> {
        self.get_body("SELECT body FROM meetings WHERE id = $1", &[&id])
    }
    fn meetings(&mut self) -> StoreResult<Vec<Meeting>> {
        self.bodies("SELECT body FROM meetings ORDER BY (body::jsonb->>'createdAt')::bigint, id", &[])
    }
    fn meeting_by_thread(&mut self, thread_id: &str) -> StoreResult<Option<Meeting>> {
        self.get_body("SELECT body FROM meetings WHERE thread_id = $1", &[&thread_id])
    }
    fn meeting_by_join_id(&mut self, join_meeting_id: &str) -> StoreResult<Option<Meeting>> {
        self.get_body("SELECT body FROM meetings WHERE join_meeting_id = $1", &[&join_meeting_id])
    }
    fn setting(&mut self, key: &str) -> StoreResult<Option<String>> {
        self.lock()?;
        let row = self.t.query_opt("SELECT value FROM settings WHERE key = $1", &[&key]).map_err(pg)?;
        Ok(row.map(|r| r.get(0)))
    }
    fn set_setting(&mut self, key: &str, value: &str) -> StoreResult<()> {
        self.exec(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&key, &value],
        )?;
        let payload = settings_payload(&self.inner.schema);
        self.t.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]).map_err(pg).map(drop)
    }

    fn insert_conversation(&mut self, c: &Conversation) -> StoreResult<()> {
        let body = to_json(c)?;
        let meeting = c.meeting_id.as_ref().map(|m| m.0.as_str());
        let ended_at = c.ended_at.map(|t| t.0);
        self.exec(
            "INSERT INTO conversations (id, chat_thread_id, meeting_id, ended, ended_at, body) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&c.id.0, &c.chat_thread_id, &meeting, &c.ended, &ended_at, &body],
        )
        .map(drop)
    }
    fn update_conversation(&mut self, c: &Conversation) -> StoreResult<()> {
        let body = to_json(c)?;
        let meeting = c.meeting_id.as_ref().map(|m| m.0.as_str());
        let ended_at = c.ended_at.map(|t| t.0);
        self.exec(
            "UPDATE conversations SET chat_thread_id = $2, meeting_id = $3, ended = $4, ended_at = $5, body = $6 \
             WHERE id = $1",
            &[&c.id.0, &c.chat_thread_id, &meeting, &c.ended, &ended_at, &body],
        )
        .map(drop)
    }
    fn conversation(&mut self, id: &ConversationId) -> StoreResult<Option<Conversation>> {
        self.get_body("SELECT body FROM conversations WHERE id = $1", &[&id.0])
    }
    fn live_conversation_for_thread(&mut self, thread_id: &str) -> StoreResult<Option<Conversation>> {
        self.get_body("SELECT body FROM conversations WHERE chat_thread_id = $1 AND NOT ended", &[&thread_id])
    }
    fn live_conversation_for_meeting(&mut self, meeting_id: &str) -> StoreResult<Option<Conversation>> {
        self.get_body("SELECT body FROM conversations WHERE meeting_id = $1 AND NOT ended", &[&meeting_id])
    }
    fn insert_call(&mut self, call: &Call) -> StoreResult<()> {
        let body = to_json(call)?;
        self.exec(
            "INSERT INTO calls (id, conversation_id, state, body) VALUES ($1, $2, $3, $4)",
            &[&call.id.0, &call.conversation_id.0, &call.state.as_str(), &body],
        )
        .map(drop)
    }
    fn update_call(&mut self, call: &Call) -> StoreResult<()> {
        let body = to_json(call)?;
        self.exec(
            "UPDATE calls SET conversation_id = $2, state = $3, body = $4 WHERE id = $1",
            &[&call.id.0, &call.conversation_id.0, &call.state.as_str(), &body],
        )
        .map(drop)
    }
    fn call(&mut self, id: &str) -> StoreResult<Option<Call>> {
        self.get_body("SELECT body FROM calls WHERE id = $1", &[&id])
    }
    fn hold_call(&mut self, call: &CallId, until: Timestamp) -> StoreResult<()> {
        self.exec(
            "UPDATE calls SET held_by = $2, held_until = $3 WHERE id = $1",
            &[&call.0, &self.inner.node_id, &until.0],
        )
        .map(drop)
    }
    fn calls_in_conversation(&mut self, id: &ConversationId) -> StoreResult<Vec<Call>> {
        self.bodies("SELECT body FROM calls WHERE conversation_id = $1 ORDER BY id", &[&id.0])
    }
    fn call_ids_in_conversation(&mut self, id: &ConversationId) -> StoreResult<Vec<CallId>> {
        self.lock()?;
        let rows = self.t.query("SELECT id FROM calls WHERE conversation_id = $1 ORDER BY id", &[&id.0]).map_err(pg)?;
        Ok(rows.iter().map(|r| CallId(r.get(0))).collect())
    }
    fn insert_participant(&mut self, p: &Participant) -> StoreResult<()> {
        let body = to_json(p)?;
        let key = p.party.key();
        let state = participant_state(p);
        self.lock()?;
        // A savepoint keeps the transaction usable after a uniqueness conflict, as on SQLite.
        let mut inner = self.t.transaction().map_err(pg)?;
        let inserted = inner.execute(
            "INSERT INTO participants (id, conversation_id, identity_key, state, node_id, body) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&p.id.0, &p.conversation_id.0, &key, &state, &p.node, &body],
        );
        match inserted {
            Ok(_) => inner.commit().map_err(pg),
            Err(e) => {
                let _ = inner.rollback();
                Err(pg(e))
            }
        }
    }
    fn update_participant(&mut self, p: &Participant) -> StoreResult<()> {
        let body = to_json(p)?;
        let key = p.party.key();
        let state = participant_state(p);
        self.exec(
            "UPDATE participants SET conversation_id = $2, identity_key = $3, state = $4, node_id = $5, body = $6 \
             WHERE id = $1",
            &[&p.id.0, &p.conversation_id.0, &key, &state, &p.node, &body],
        )
        .map(drop)
    }
    fn participant(&mut self, id: &str) -> StoreResult<Option<Participant>> {
        self.get_body("SELECT body FROM participants WHERE id = $1", &[&id])
    }
    fn active_participants(&mut self, conversation: &ConversationId) -> StoreResult<Vec<Participant>> {
        self.bodies(
            "SELECT body FROM participants WHERE conversation_id = $1 AND state IN ('ringing', 'connected') ORDER BY id",
            &[&conversation.0],
        )
    }
    fn live_legs(&mut self, conversation: &ConversationId) -> StoreResult<Vec<Participant>> {
        self.bodies(
            "SELECT body FROM participants \
             WHERE conversation_id = $1 AND node_id IS NOT NULL AND state IN ('ringing', 'connected') ORDER BY id",
            &[&conversation.0],
        )
    }
    fn roster_page(
        &mut self,
        conversation: &ConversationId,
        after_id: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Participant>> {
        self.bodies(
            "SELECT body FROM participants WHERE conversation_id = $1 AND state = 'connected' AND id > $2 \
             ORDER BY id LIMIT $3",
            &[&conversation.0, &after_id.unwrap_or(""), &(limit as i64)],
        )
    }
    fn insert_operation(&mut self, op: &Operation) -> StoreResult<()> {
        let body = to_json(op)?;
        self.exec("INSERT INTO operations (id, call_id, body) VALUES ($1, $2, $3)", &[&op.id.0, &op.call_id.0, &body])
            .map(drop)
    }
    fn update_operation(&mut self, op: &Operation) -> StoreResult<()> {
        let body = to_json(op)?;
        self.exec("UPDATE operations SET body = $2 WHERE id = $1", &[&op.id.0, &body]).map(drop)
    }
    fn operation(&mut self, id: &str) -> StoreResult<Option<Operation>> {
        self.get_body("SELECT body FROM operations WHERE id = $1", &[&id])
    }
    fn operations_of_call(&mut self, call: &CallId) -> StoreResult<Vec<Operation>> {
        self.bodies("SELECT body FROM operations WHERE call_id = $1 ORDER BY id", &[&call.0])
    }
    fn conversations(&mut self, limit: usize, include_ended: bool) -> StoreResult<Vec<Conversation>> {
        // Ids are UUIDv7: ordering by id is ordering by creation.
        self.bodies(
            "SELECT body FROM conversations WHERE $2 OR NOT ended ORDER BY id DESC LIMIT $1",
            &[&(limit as i64), &include_ended],
        )
    }

    fn insert_timer(&mut self, due_at: Timestamp, action: &TimerAction) -> StoreResult<i64> {
        let participant = match action {
            TimerAction::RingOutcome { participant_id, .. } => Some(participant_id.0.clone()),
            _ => None,
        };
        let body = to_json(action)?;
        self.lock()?;
        self.wake_nodes()?;
        let row = self
            .t
            .query_one(
                "INSERT INTO timers (due_at, participant_id, action) VALUES ($1, $2, $3) RETURNING id",
                &[&due_at.0, &participant, &body],
            )
            .map_err(pg)?;
        Ok(row.get(0))
    }
    fn delete_participant_timers(&mut self, participant: &ParticipantId) -> StoreResult<()> {
        self.exec("DELETE FROM timers WHERE participant_id = $1", &[&participant.0]).map(drop)
    }
    fn delete_timer(&mut self, id: i64) -> StoreResult<bool> {
        // The first statement of a timer's unit: the state lock is taken before it, so another
        // node that fired the timer meanwhile has committed, and this finds nothing.
        Ok(self.exec("DELETE FROM timers WHERE id = $1", &[&id])? > 0)
    }
    fn due_timers(&mut self, now: Timestamp, limit: usize) -> StoreResult<Vec<Timer>> {
        let rows = self
            .t
            .query(
                "SELECT id, due_at, action FROM timers WHERE due_at <= $1 ORDER BY due_at, id LIMIT $2 \
                 FOR UPDATE SKIP LOCKED",
                &[&now.0, &(limit as i64)],
            )
            .map_err(pg)?;
        rows.iter()
            .map(|r| Ok(Timer { id: r.get(0), due_at: Timestamp(r.get(1)), action: from_json(r.get::<_, &str>(2))? }))
            .collect()
    }
    fn next_timer_due(&mut self) -> StoreResult<Option<Timestamp>> {
        let row = self.t.query_one("SELECT MIN(due_at) FROM timers", &[]).map_err(pg)?;
        Ok(row.get::<_, Option<i64>>(0).map(Timestamp))
    }

    fn enqueue_notification(&mut self, call: &Call, body: &str, now: Timestamp) -> StoreResult<i64> {
        self.insert_notification(call, body, now, false)
    }
    fn mark_roster_changed(&mut self, call: &Call, now: Timestamp) -> StoreResult<bool> {
        // The state lock (which insert_notification takes too) first, so no other node appends
        // to this queue between reading and moving. A mark a delivery claim has locked is being
        // claimed: it will be rendered once this unit commits, and a new mark goes at the end.
        // Waiting for it instead would deadlock, since the claim waits for the state lock to
        // render it (`SKIP LOCKED`; `roster_mark` likewise).
        self.lock()?;
        let mark = self
            .t
            .query_opt(
                "SELECT id, sequence FROM outbox WHERE call_id = $1 AND roster_mark = 1 \
                 ORDER BY sequence DESC LIMIT 1 FOR UPDATE SKIP LOCKED",
                &[&call.id.0],
            )
            .map_err(pg)?
            .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1)));
        if let Some((id, sequence)) = mark {
            let last: i64 = self
                .t
                .query_one("SELECT MAX(sequence) FROM outbox WHERE call_id = $1", &[&call.id.0])
                .map_err(pg)?
                .get(0);
            if last == sequence {
                return Ok(false);
            }
            // Move it to the end: the rows after it move up one (through negative numbers, so
            // the unique (call_id, sequence) holds whatever order the rows are updated in).
            self.t.execute("DELETE FROM outbox WHERE id = $1", &[&id]).map_err(pg)?;
            self.t
                .execute(
                    "UPDATE outbox SET sequence = -(sequence - 1) WHERE call_id = $1 AND sequence > $2",
                    &[&call.id.0, &sequence],
                )
                .map_err(pg)?;
            self.t
                .execute("UPDATE outbox SET sequence = -sequence WHERE call_id = $1 AND sequence < 0", &[&call.id.0])
                .map_err(pg)?;
        }
        self.insert_notification(call, ROSTER_MARK_BODY, now, true)?;
        Ok(true)
    }
    fn roster_mark(&mut self, call: &CallId) -> StoreResult<Option<OutboxRow>> {
        // A mark a delivery claim has locked is skipped: the claim renders it (see
        // `mark_roster_changed`).
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE call_id = $1 AND roster_mark = 1 \
             ORDER BY sequence DESC LIMIT 1 FOR UPDATE SKIP LOCKED"
        );
        Ok(self.outbox_rows(&sql, &[&call.0])?.into_iter().next())
    }
    fn render_roster_mark(&mut self, id: i64, body: &str) -> StoreResult<()> {
        self.t.execute("UPDATE outbox SET body = $2, roster_mark = 0 WHERE id = $1", &[&id, &body]).map_err(pg)?;
        Ok(())
    }
    fn due_deliveries(&mut self, now: Timestamp, limit: usize, busy: &[CallId]) -> StoreResult<Vec<OutboxRow>> {
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id IN ({CLAIMABLE}) ORDER BY next_attempt_at, id");
        let busy = call_ids(busy);
        let node = self.inner.node_id.clone();
        self.outbox_rows(&sql, &[&now.0, &(limit as i64), &node, &busy])
    }
    fn claim_deliveries(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
        busy: &[CallId],
    ) -> StoreResult<Vec<OutboxRow>> {
        // Rows another claimer has locked are skipped, not waited for; a row whose lease was
        // taken meanwhile fails the re-checked condition after the lock.
        let sql = format!(
            "WITH claimed AS (UPDATE outbox SET lease_owner = $3, lease_until = $5 \
             WHERE id IN ({CLAIMABLE} FOR UPDATE SKIP LOCKED) \
             AND (lease_owner IS NULL OR lease_owner = $3 OR lease_until <= $1) RETURNING *) \
             SELECT {OUTBOX_COLUMNS} FROM claimed ORDER BY next_attempt_at, id"
        );
        let busy = call_ids(busy);
        let node = self.inner.node_id.clone();
        self.outbox_rows(&sql, &[&now.0, &(limit as i64), &node, &busy, &lease_until.0])
    }
    fn claim_next_of_call(
        &mut self,
        call: &CallId,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Option<OutboxRow>> {
        let sql = format!(
            "WITH claimed AS (UPDATE outbox SET lease_owner = $3, lease_until = $4 \
             WHERE id IN (SELECT o.id FROM outbox o WHERE o.call_id = $1 AND o.state = 'pending' \
               AND o.next_attempt_at <= $2 AND (o.lease_owner IS NULL OR o.lease_owner = $3 OR o.lease_until <= $2) \
               AND o.sequence = (SELECT MIN(sequence) FROM outbox i WHERE i.call_id = $1 AND i.state = 'pending') \
               FOR UPDATE SKIP LOCKED) \
             AND (lease_owner IS NULL OR lease_owner = $3 OR lease_until <= $2) RETURNING *) \
             SELECT {OUTBOX_COLUMNS} FROM claimed"
        );
        let node = self.inner.node_id.clone();
        Ok(self.outbox_rows(&sql, &[&call.0, &now.0, &node, &lease_until.0])?.pop())
    }
    fn claim_following(
        &mut self,
        call: &CallId,
        after: i64,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<OutboxRow>> {
        // The rows are locked while their leases are checked and written.
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS}, next_attempt_at <= $3 AND (lease_owner IS NULL OR lease_owner = $4 \
             OR lease_until <= $3) FROM outbox WHERE call_id = $1 AND state = 'pending' AND sequence > $2 \
             ORDER BY sequence LIMIT $5 FOR UPDATE"
        );
        let node = self.inner.node_id.clone();
        let rows = self.t.query(&sql, &[&call.0, &after, &now.0, &node, &(limit as i64)]).map_err(pg)?;
        let run: Vec<OutboxRow> = rows.iter().take_while(|r| r.get::<_, bool>(16)).map(outbox_row).collect();
        if let Some(last) = run.last() {
            self.t
                .execute(
                    "UPDATE outbox SET lease_owner = $4, lease_until = $5 \
                     WHERE call_id = $1 AND state = 'pending' AND sequence > $2 AND sequence <= $3",
                    &[&call.0, &after, &last.sequence, &node, &lease_until.0],
                )
                .map_err(pg)?;
        }
        Ok(run)
    }
    fn release_leases(&mut self, ids: &[i64]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let node = self.inner.node_id.clone();
        self.t
            .execute(
                "UPDATE outbox SET lease_owner = NULL, lease_until = NULL WHERE id = ANY($1) AND lease_owner = $2",
                &[&ids, &node],
            )
            .map_err(pg)?;
        Ok(())
    }
    fn next_delivery_due(&mut self, now: Timestamp, busy: &[CallId]) -> StoreResult<Option<Timestamp>> {
        let node = self.inner.node_id.clone();
        let busy = call_ids(busy);
        let row = self
            .t
            .query_one(
                concat!(
                    "SELECT MIN(CASE WHEN o.lease_owner IS NOT NULL AND o.lease_owner <> $2 AND o.lease_until > $1 \
                     THEN o.lease_until ELSE o.next_attempt_at END) FROM outbox o \
                     WHERE o.state = 'pending' AND NOT (o.call_id = ANY($3)) AND ",
                    is_head!()
                ),
                &[&now.0, &node, &busy],
            )
            .map_err(pg)?;
        Ok(row.get::<_, Option<i64>>(0).map(Timestamp))
    }
    fn record_attempt(&mut self, id: i64, at: Timestamp, latency_ms: i64, result: &AttemptResult) -> StoreResult<bool> {
        let node = self.inner.node_id.clone();
        let c = result.columns(at);
        let row = self
            .t
            .query_opt(
                "UPDATE outbox SET attempts = attempts + 1, lease_owner = NULL, lease_until = NULL, state = $3, \
                 next_attempt_at = COALESCE($4, next_attempt_at), last_status = $5, last_error = $6, \
                 delivered_at = COALESCE($7, delivered_at) \
                 WHERE id = $1 AND state = 'pending' AND lease_owner = $2 RETURNING attempts",
                &[&id, &node, &c.state, &c.next_attempt_at, &c.status, &c.error, &c.delivered_at],
            )
            .map_err(pg)?;
        let Some(row) = row else { return Ok(false) };
        let attempts: i64 = row.get(0);
        self.t
            .execute(
                "INSERT INTO delivery_attempts (outbox_id, attempt, at, status, error, latency_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&id, &attempts, &at.0, &c.status, &c.error, &latency_ms],
            )
            .map_err(pg)?;
        // The call's next notification may be leased to another node: wake it.
        self.wake_nodes()?;
        Ok(true)
    }
    fn notifications(
        &mut self,
        call: Option<&CallId>,
        state: Option<DeliveryState>,
        limit: usize,
    ) -> StoreResult<Vec<OutboxRow>> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM (SELECT * FROM outbox WHERE ($1::text IS NULL OR call_id = $1) \
             AND ($3::text IS NULL OR state = $3) ORDER BY id DESC LIMIT $2) recent ORDER BY id"
        );
        let call = call.map(|c| c.0.as_str());
        let state = state.map(DeliveryState::as_str);
        self.outbox_rows(&sql, &[&call, &(limit as i64), &state])
    }
    fn delivery_attempts(&mut self, outbox_id: i64) -> StoreResult<Vec<DeliveryAttempt>> {
        let rows = self
            .t
            .query(
                "SELECT outbox_id, attempt, at, status, error, latency_ms FROM delivery_attempts WHERE outbox_id = $1 \
                 ORDER BY attempt",
                &[&outbox_id],
            )
            .map_err(pg)?;
        Ok(rows
            .iter()
            .map(|r| DeliveryAttempt {
                outbox_id: r.get(0),
                attempt: r.get(1),
                at: Timestamp(r.get(2)),
                status: r.get(3),
                error: r.get(4),
                latency_ms: r.get(5),
            })
            .collect())
    }
    fn pending_notification_count(&mut self) -> StoreResult<i64> {
        Ok(self.t.query_one("SELECT COUNT(*) FROM outbox WHERE state = 'pending'", &[]).map_err(pg)?.get(0))
    }

    fn notification(&mut self, id: i64) -> StoreResult<Option<OutboxRow>> {
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = $1");
        Ok(self.outbox_rows(&sql, &[&id])?.into_iter().next())
    }
    fn requeue_notification(&mut self, id: i64, now: Timestamp) -> StoreResult<Option<OutboxRow>> {
        // The state lock serialises writers, so MAX(sequence) + 1 cannot be taken twice.
        self.lock()?;
        self.wake_nodes()?;
        let row = self
            .t
            .query_opt(
                "INSERT INTO outbox (call_id, sequence, callback_uri, app_id, tenant_id, body, created_at, \
                 next_attempt_at, state, redelivery_of) \
                 SELECT o.call_id, (SELECT MAX(sequence) + 1 FROM outbox i WHERE i.call_id = o.call_id), \
                 o.callback_uri, o.app_id, o.tenant_id, o.body, $2, $2, 'pending', o.id FROM outbox o WHERE o.id = $1 \
                 RETURNING id",
                &[&id, &now.0],
            )
            .map_err(pg)?;
        match row {
            Some(row) => self.notification(row.get(0)),
            None => Ok(None),
        }
    }

    fn stats(&mut self) -> StoreResult<StoreStats> {
        let outbox = self
            .t
            .query_one("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE state = 'pending'", &[])
            .map_err(pg)?;
        let calls = self.t.query_one("SELECT COUNT(*) FROM calls WHERE state <> 'terminated'", &[]).map_err(pg)?;
        let participants = self
            .t
            .query_one(
                "SELECT COUNT(*) FILTER (WHERE state = 'ringing'), COUNT(*) FILTER (WHERE state = 'connected') \
                 FROM participants WHERE state <> 'removed'",
                &[],
            )
            .map_err(pg)?;
        Ok(StoreStats {
            outbox_pending: outbox.get(0),
            outbox_oldest_pending_at: outbox.get::<_, Option<i64>>(1).map(Timestamp),
            active_calls: calls.get(0),
            ringing_participants: participants.get(0),
            connected_participants: participants.get(1),
        })
    }

    fn insert_leg_command(
        &mut self,
        node_id: &str,
        participant: &ParticipantId,
        command: &str,
        now: Timestamp,
    ) -> StoreResult<i64> {
        self.lock()?;
        // The owning node may be another: wake it once this commits.
        self.wake_nodes()?;
        let row = self
            .t
            .query_one(
                "INSERT INTO leg_commands (node_id, participant_id, command, created_at) VALUES ($1, $2, $3, $4) \
                 RETURNING id",
                &[&node_id, &participant.0, &command, &now.0],
            )
            .map_err(pg)?;
        Ok(row.get(0))
    }
    fn leg_commands(&mut self, node_id: &str, limit: usize) -> StoreResult<Vec<LegCommandRow>> {
        // Only the owning node reads its inbox: no lock needed (ids are assigned under the
        // state lock, so they grow in commit order).
        let rows = self
            .t
            .query(
                "SELECT id, node_id, participant_id, command, created_at FROM leg_commands WHERE node_id = $1 \
                 ORDER BY id LIMIT $2",
                &[&node_id, &(limit as i64)],
            )
            .map_err(pg)?;
        Ok(rows
            .iter()
            .map(|r| LegCommandRow {
                id: r.get(0),
                node_id: r.get(1),
                participant_id: ParticipantId(r.get(2)),
                command: r.get(3),
                created_at: Timestamp(r.get(4)),
            })
            .collect())
    }
    fn delete_leg_command(&mut self, id: i64) -> StoreResult<bool> {
        Ok(self.t.execute("DELETE FROM leg_commands WHERE id = $1", &[&id]).map_err(pg)? > 0)
    }
    fn participants_of_node(&mut self, node_id: &str) -> StoreResult<Vec<Participant>> {
        self.bodies(
            "SELECT body FROM participants WHERE node_id = $1 AND state IN ('ringing', 'connected') ORDER BY id",
            &[&node_id],
        )
    }
    fn insert_agent_session(&mut self, s: &AgentSession) -> StoreResult<()> {
        self.exec(
            "INSERT INTO agent_sessions (session_id, user_id, node_id, connected_at) VALUES ($1, $2, $3, $4)",
            &[&s.session_id, &s.user_id, &s.node_id, &s.connected_at.0],
        )
        .map(drop)
    }
    fn delete_agent_session(&mut self, session_id: &str) -> StoreResult<bool> {
        Ok(self.exec("DELETE FROM agent_sessions WHERE session_id = $1", &[&session_id])? > 0)
    }
    fn agent_sessions_of_user(&mut self, user_id: &str) -> StoreResult<Vec<AgentSession>> {
        self.lock()?;
        let rows = self
            .t
            .query(
                "SELECT session_id, user_id, node_id, connected_at FROM agent_sessions \
                 WHERE ascii_lower(user_id) = ascii_lower($1) ORDER BY connected_at, session_id",
                &[&user_id],
            )
            .map_err(pg)?;
        Ok(rows
            .iter()
            .map(|r| AgentSession {
                session_id: r.get(0),
                user_id: r.get(1),
                node_id: r.get(2),
                connected_at: Timestamp(r.get(3)),
            })
            .collect())
    }
    fn clear_agent_sessions(&mut self, node_id: &str) -> StoreResult<usize> {
        Ok(self.exec("DELETE FROM agent_sessions WHERE node_id = $1", &[&node_id])? as usize)
    }
    fn node_alive(&mut self, node_id: &str, at_ms: i64) -> StoreResult<bool> {
        // Under the store's lock, as `forget_node`: the row cannot go between the two.
        if self.exec("UPDATE nodes SET seen_at = $2 WHERE node_id = $1", &[&node_id, &at_ms])? > 0 {
            return Ok(true);
        }
        self.exec("INSERT INTO nodes (node_id, seen_at) VALUES ($1, $2)", &[&node_id, &at_ms])?;
        Ok(false)
    }
    fn silent_nodes(&mut self, before_ms: i64) -> StoreResult<Vec<String>> {
        self.lock()?;
        let rows = self
            .t
            .query("SELECT node_id FROM nodes WHERE seen_at < $1 ORDER BY seen_at, node_id", &[&before_ms])
            .map_err(pg)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
    fn forget_node(&mut self, node_id: &str, before_ms: i64) -> StoreResult<bool> {
        let forgotten = self.exec("DELETE FROM nodes WHERE node_id = $1 AND seen_at < $2", &[&node_id, &before_ms])?;
        if forgotten > 0 {
            self.exec("DELETE FROM leg_commands WHERE node_id = $1", &[&node_id])?;
        }
        Ok(forgotten > 0)
    }

    fn retarget_pending_notifications(&mut self, call: &CallId, callback_uri: &str) -> StoreResult<()> {
        self.exec(
            "UPDATE outbox SET callback_uri = $2 WHERE call_id = $1 AND state = 'pending'",
            &[&call.0, &callback_uri],
        )
        .map(drop)
    }

    fn remove_ended_conversations(&mut self, ended_before: Timestamp, limit: usize) -> StoreResult<usize> {
        self.lock()?;
        let sql = format!(
            "SELECT id FROM conversations WHERE ended AND ended_at < $1 AND NOT {HAS_PENDING} ORDER BY ended_at LIMIT $2"
        );
        let rows = self.t.query(&sql, &[&ended_before.0, &(limit as i64)]).map_err(pg)?;
        for row in &rows {
            let id: &str = row.get(0);
            for sql in REMOVE_CONVERSATION {
                self.exec(sql, &[&id])?;
            }
        }
        Ok(rows.len())
    }

    fn reset_calls(&mut self) -> StoreResult<()> {
        self.lock()?;
        self.t
            .batch_execute(
                "DELETE FROM conversations; DELETE FROM calls; DELETE FROM participants; DELETE FROM operations;
                 DELETE FROM timers; DELETE FROM outbox; DELETE FROM delivery_attempts; DELETE FROM leg_commands;",
            )
            .map_err(pg)
    }

    fn ping(&mut self) -> StoreResult<()> {
        self.t.query_one("SELECT 1", &[]).map(drop).map_err(pg)
    }
}

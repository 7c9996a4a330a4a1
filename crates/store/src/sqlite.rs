//! The SQLite adapter: one writer thread owns the connection and commits whatever work is
//! queued in one transaction (adaptive group commit), each unit inside its own savepoint so
//! that one failing unit does not undo the others (a unit alone in its transaction needs none:
//! the transaction is rolled back if it fails). A thread of its own makes the commits
//! durable (`sync_loop`): a unit's caller hears back only once the write-ahead log holding its
//! commit is on disk, and the writer goes on with the next group meanwhile.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use rusqlite::{params, Connection, OptionalExtension, PrepFlags, Statement};
use rustc_hash::FxHashMap;
use serde::de::DeserializeOwned;
use serde::Serialize;
use switchboard_core::{
    Application, ApplicationInstance, Call, CallId, Conversation, ConversationId, Meeting, Operation, Participant,
    ParticipantId, PhoneNumber, Tenant, Timer, TimerAction, Timestamp, User,
};

use crate::port::{
    AgentSession, AttemptResult, DeliveryAttempt, DeliveryState, LegCommandRow, OutboxRow, StoreError, StoreResult,
    StoreStats, Tx, BIRTH_LEASE_MS, HAS_PENDING, REMOVE_CONVERSATION, ROSTER_MARK_BODY,
};

/// Embedded migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_delivery_leases.sql"),
    include_str!("../migrations/0003_console_and_metrics.sql"),
    include_str!("../migrations/0004_endpoint_legs.sql"),
    include_str!("../migrations/0005_roster_marks_and_queue_heads.sql"),
    include_str!("../migrations/0006_live_legs.sql"),
    include_str!("../migrations/0007_fewer_outbox_indexes.sql"),
    include_str!("../migrations/0008_nodes.sql"),
    include_str!("../migrations/0009_conversation_end.sql"),
];

/// The head of each call's pending queue (its lowest sequence), with when it is due and who
/// leases it. Read off the covering index of pending rows alone (a bare column beside MIN()
/// comes from the row holding the minimum), so a call with thousands of queued notifications
/// costs an index scan, not thousands of row reads.
const PENDING_HEADS: &str = "SELECT id, call_id, MIN(sequence), next_attempt_at AS due, lease_owner AS owner, \
     lease_until AS until FROM outbox INDEXED BY outbox_pending_heads WHERE state = 'pending' GROUP BY call_id";

/// SQL built once from constants (`format!` syntax) and kept for the process: the writer's
/// [`Statements`] know a statement by the address of its text.
macro_rules! static_sql {
    ($($format:tt)*) => {{
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| format!($($format)*));
        SQL.as_str()
    }};
}

/// At most this many units of work commit in one transaction.
const MAX_GROUP: usize = 256;

type Finisher = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A unit of work for the writer: run it (inside a savepoint of its own when it shares the
/// transaction), and get back whether it failed and how to answer its caller.
type Job = Box<dyn FnOnce(&mut SqliteTx<'_, '_>, Isolation) -> (Finisher, bool) + Send>;

/// How a unit's writes are undone if it fails.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Isolation {
    /// Other units share the transaction: the unit runs in a savepoint, rolled back alone.
    Savepoint,
    /// The unit is alone in its transaction, which is rolled back if it fails: no savepoint,
    /// so SQLite does not copy every page the unit changes into a savepoint journal.
    Alone,
}

/// A group of units the writer has committed (or failed to), on its way to the sync thread.
struct Group {
    committed: Result<(), String>,
    /// Whether the group changed any row. One that only read has nothing to sync: what it
    /// read is on disk by the time it is answered (see `sync_loop`).
    wrote: bool,
    finishers: Vec<Finisher>,
}

/// Handle to the SQLite store; cheap to clone. SQLite serves one node: the server takes an
/// exclusive lock on its data directory, so opening clears the delivery leases a previous
/// process left behind.
#[derive(Clone)]
pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
    node_id: std::sync::Arc<str>,
}

impl SqliteStore {
    /// Opens (or creates) the database at `path`, applies migrations and starts the writer.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        let conn = Connection::open(path).map_err(db)?;
        // Checkpoints run on a connection and a thread of their own, so that no commit waits
        // for one (`checkpoint_loop`); the writer pokes it after its commits.
        let checkpoints = Connection::open(path).map_err(db)?;
        let (poke, pokes) = mpsc::sync_channel(1);
        // Commits are made durable by the sync thread, on the write-ahead log's file.
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let (committed, commits) = mpsc::channel::<Group>();
        let store = Self::start(conn, Some(poke), Some(committed))?;
        spawn("sqlite-checkpoint", move || checkpoint_loop(checkpoints, pokes))?;
        spawn("sqlite-sync", move || sync_loop(PathBuf::from(wal), commits))?;
        Ok(store)
    }

    /// A private in-memory database (unit tests of the engine and of this adapter).
    pub fn open_in_memory() -> StoreResult<SqliteStore> {
        Self::start(Connection::open_in_memory().map_err(db)?, None, None)
    }

    fn start(
        conn: Connection,
        checkpoints: Option<mpsc::SyncSender<()>>,
        durable: Option<mpsc::Sender<Group>>,
    ) -> StoreResult<SqliteStore> {
        // A 4 MiB page cache: every commit after a B-tree page split walks the whole cache
        // (SQLite parks a page at the lock-byte page number while it reorders siblings, and
        // the end of the transaction then truncates the cache from there), so a larger cache
        // costs more per commit than its hits save; pages it misses come from the OS cache.
        // The writer checkpoints only past 20,000 WAL pages (80 MiB), a backstop should the
        // checkpoint thread fall behind: a checkpoint copies every page the WAL holds and
        // syncs the database, and on the writer every commit queued behind it would wait.
        // `synchronous = NORMAL`: SQLite does not sync the log at each commit, because the
        // sync thread does, before any caller hears of the commit (see `sync_loop`).
        // `temp_store` stays the default: with `MEMORY` SQLite keeps each unit's savepoint
        // journal in 1 KiB chunks whatever the build's spill threshold; with the default it is
        // one buffer of up to `SQLITE_STMTJRNL_SPILL` (4 MiB, set in .cargo/config.toml).
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;
             PRAGMA cache_size = -4096;
             PRAGMA wal_autocheckpoint = 20000;",
        )
        .map_err(db)?;
        migrate(&conn)?;
        conn.execute_batch("UPDATE outbox SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL")
            .map_err(db)?;
        let node_id: std::sync::Arc<str> = uuid::Uuid::new_v4().to_string().into();
        let (jobs, queue) = mpsc::channel::<Job>();
        let node = node_id.clone();
        spawn("sqlite-writer", move || writer_loop(conn, queue, node, checkpoints, durable))?;
        Ok(SqliteStore { jobs, node_id })
    }

    /// This process's id in delivery leases.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Runs `work` in a transaction. Its writes commit only if it returns `Ok`; the result is
    /// handed back after the commit is durable.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel::<Result<T, E>>();
        let job: Job = Box::new(move |tx: &mut SqliteTx<'_, '_>, isolation| {
            let outcome = match isolation {
                Isolation::Savepoint => tx.savepoint(work),
                Isolation::Alone => work(tx),
            };
            let failed = outcome.is_err();
            let finish: Finisher = Box::new(move |commit: Result<(), String>| {
                let outcome = match commit {
                    Ok(()) => outcome,
                    Err(e) => Err(E::from(StoreError::Database(e))),
                };
                let _ = reply.send(outcome);
            });
            (finish, failed)
        });
        self.jobs.send(job).map_err(|_| E::from(StoreError::Closed))?;
        answer.await.map_err(|_| E::from(StoreError::Closed))?
    }
}

/// Checkpoints the WAL (PASSIVE: never blocking the writer, which goes on appending) at most
/// every [`CHECKPOINT_EVERY`] while commits come; SQLite restarts the WAL from its start once a
/// checkpoint has copied all of it. Ends when the writer does.
fn checkpoint_loop(conn: Connection, pokes: mpsc::Receiver<()>) {
    while pokes.recv().is_ok() {
        let started = Instant::now();
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "a WAL checkpoint failed");
        }
        metrics::histogram!("switchboard_store_checkpoint_duration_seconds").record(started.elapsed().as_secs_f64());
        std::thread::sleep(CHECKPOINT_EVERY);
    }
}

/// The pause between two checkpoints of the checkpoint thread. Each checkpoint ends by syncing
/// the database file, on the disk the sync thread syncs the log on: the less each one copies,
/// the shorter the sync that commits may wait behind. Every 100 ms, invite -> completed p99 at
/// 2,000 invites/s was 31.9 and 49.0 ms in two runs of six; every 20 ms, 5.5-7.2 ms in all six,
/// for 2% more server CPU at 800/s; every 5 ms cost 6% of the closed loop (BENCHMARKS.md).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> StoreResult<()> {
    std::thread::Builder::new().name(name.into()).spawn(work).map(drop).map_err(|e| StoreError::Database(e.to_string()))
}

/// Makes the writer's commits durable and only then answers their callers: each turn takes
/// every group committed since the last, syncs the write-ahead log once if any of them wrote,
/// and finishes them in commit order. A later group may have read what an earlier one wrote
/// before that was on disk; it is answered after a sync that covers both (a group that only
/// read is answered in the turn of the earlier groups or after it), and the log cannot keep
/// the later commit without the earlier one (its frames follow them, checksummed in a chain),
/// so no caller hears of a change that a crash could take back. A failed sync poisons the
/// store: the kernel may have dropped the pages it could not write, so no later sync proves
/// anything.
fn sync_loop(wal: PathBuf, commits: mpsc::Receiver<Group>) {
    let mut file: Option<std::fs::File> = None;
    let mut poisoned: Option<String> = None;
    while let Ok(first) = commits.recv() {
        let mut groups = vec![first];
        groups.extend(commits.try_iter());
        let synced = match &poisoned {
            Some(e) => Err(e.clone()),
            None if groups.iter().any(|g| g.wrote && g.committed.is_ok()) => {
                let started = Instant::now();
                let synced = sync_file(&wal, &mut file);
                // Every caller of these groups waits for this: a slow disk shows here first.
                metrics::histogram!("switchboard_store_log_sync_duration_seconds")
                    .record(started.elapsed().as_secs_f64());
                synced
            }
            None => Ok(()),
        };
        if let Err(e) = &synced {
            if poisoned.is_none() {
                tracing::error!(error = %e, "the write-ahead log could not be synced; no change is acknowledged from now on");
            }
            poisoned = Some(e.clone());
        }
        for group in groups {
            let outcome = group.committed.and_then(|()| synced.clone());
            for finish in group.finishers {
                finish(outcome.clone());
            }
        }
    }
}

/// Syncs the log's data (`fdatasync`), through a handle opened once, for writing: Windows
/// flushes a file only through a handle that may write it. Never creates the file.
fn sync_file(path: &Path, file: &mut Option<std::fs::File>) -> Result<(), String> {
    let f = match file {
        Some(f) => f,
        None => {
            let opened = std::fs::OpenOptions::new().read(true).write(true).open(path);
            file.insert(opened.map_err(|e| format!("{}: {e}", path.display()))?)
        }
    };
    f.sync_data().map_err(|e| format!("syncing {}: {e}", path.display()))
}

fn writer_loop(
    conn: Connection,
    queue: mpsc::Receiver<Job>,
    node: std::sync::Arc<str>,
    checkpoints: Option<mpsc::SyncSender<()>>,
    durable: Option<mpsc::Sender<Group>>,
) {
    let mut parsed = ParsedRecords::default();
    let stmts = Statements::new(&conn);
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let changes = conn.total_changes();
        // Prepared once, like every statement of the units (`execute_batch` would parse them again).
        let begun = stmts.execute("BEGIN IMMEDIATE");
        let mut finishers = Vec::with_capacity(batch.len());
        let isolation = if batch.len() == 1 { Isolation::Alone } else { Isolation::Savepoint };
        let mut failed = false;
        if begun.is_ok() {
            let mut tx = SqliteTx { stmts: &stmts, node: &node, parsed: &mut parsed };
            for job in batch {
                let (finish, unit_failed) = job(&mut tx, isolation);
                finishers.push(finish);
                failed |= unit_failed;
            }
        } else {
            // Nothing ran; each job is dropped and its caller sees the store as failed.
            tracing::error!(error = ?begun, "cannot begin a transaction");
            continue;
        }
        // A unit alone that failed is undone with its transaction; its caller hears its error.
        let rolled_back = isolation == Isolation::Alone && failed;
        let committed = if rolled_back {
            stmts.execute("ROLLBACK")
        } else {
            let committed = stmts.execute("COMMIT");
            if committed.is_err() {
                let _ = stmts.execute("ROLLBACK");
            }
            committed
        };
        if rolled_back || committed.is_err() {
            parsed.forget_all();
        }
        if let Some(poke) = &checkpoints {
            // Full means a poke is waiting already.
            let _ = poke.try_send(());
        }
        match &durable {
            Some(sync) => {
                let wrote = !rolled_back && conn.total_changes() != changes;
                if let Err(mpsc::SendError(group)) = sync.send(Group { committed, wrote, finishers }) {
                    let lost = group.committed.and(Err("the sync thread has stopped".to_owned()));
                    group.finishers.into_iter().for_each(|finish| finish(lost.clone()));
                }
            }
            None => finishers.into_iter().for_each(|finish| finish(committed.clone())),
        }
    }
}

fn migrate(conn: &Connection) -> StoreResult<()> {
    let applied: usize = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).map_err(db)? as usize;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        conn.execute_batch(&format!("BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;", index + 1)).map_err(db)?;
    }
    Ok(())
}

fn db(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(err, msg) = &e {
        if err.code == rusqlite::ErrorCode::ConstraintViolation {
            return StoreError::Conflict(msg.clone().unwrap_or_else(|| err.to_string()));
        }
    }
    StoreError::Database(e.to_string())
}

fn to_json<T: Serialize>(value: &T) -> StoreResult<String> {
    // A record's body is 0.5-2 KiB: starting at 1 KiB (serde_json starts at 128 bytes) spares
    // most of the reallocations as it grows.
    let mut out = Vec::with_capacity(1024);
    serde_json::to_writer(&mut out, value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    String::from_utf8(out).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json<T: DeserializeOwned>(raw: &str) -> StoreResult<T> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The body of the one row `sql` selects by `key`, parsed.
fn get_body<T: DeserializeOwned>(stmts: &Statements<'_>, sql: &'static str, key: &str) -> StoreResult<Option<T>> {
    let raw: Option<String> = stmts.get(sql).map_err(db)?.query_row([key], |r| r.get(0)).optional().map_err(db)?;
    raw.map(|r| from_json(&r)).transpose()
}

/// A transaction on the writer's connection.
pub struct SqliteTx<'t, 'c> {
    /// The writer's connection and its prepared statements.
    stmts: &'t Statements<'c>,
    /// This node's id in delivery leases.
    node: &'t str,
    parsed: &'t mut ParsedRecords,
}

/// The writer's prepared statements, by the address and length of their SQL text, which is
/// `'static`: rusqlite's `prepare_cached` hashes the text twice and copies it into a new
/// `Arc<str>` on every use, about 1,450 instructions per statement and 8% of the writer's
/// (41 statements per invite; BENCHMARKS.md). A statement is taken out while in use, so a
/// statement run again inside its own use (rows still being read) is simply prepared twice.
struct Statements<'c> {
    conn: &'c Connection,
    idle: RefCell<FxHashMap<(usize, usize), Statement<'c>>>,
}

impl<'c> Statements<'c> {
    fn new(conn: &'c Connection) -> Self {
        Statements { conn, idle: RefCell::default() }
    }

    fn get(&self, sql: &'static str) -> rusqlite::Result<Prepared<'_, 'c>> {
        let key = (sql.as_ptr() as usize, sql.len());
        let idle = self.idle.borrow_mut().remove(&key);
        let stmt = match idle {
            Some(stmt) => stmt,
            None => self.conn.prepare_with_flags(sql, PrepFlags::SQLITE_PREPARE_PERSISTENT)?,
        };
        Ok(Prepared { stmt: Some(stmt), key, home: self })
    }

    fn execute(&self, sql: &'static str) -> Result<(), String> {
        self.get(sql).and_then(|mut stmt| stmt.execute([])).map(drop).map_err(|e| e.to_string())
    }
}

/// A statement of [`Statements`] in use; it goes back when dropped (rusqlite has reset it by
/// then: `execute` resets after its step, and dropping `Rows` resets).
struct Prepared<'s, 'c> {
    stmt: Option<Statement<'c>>,
    key: (usize, usize),
    home: &'s Statements<'c>,
}

impl<'c> std::ops::Deref for Prepared<'_, 'c> {
    type Target = Statement<'c>;
    fn deref(&self) -> &Statement<'c> {
        self.stmt.as_ref().expect("a prepared statement is taken only when dropped")
    }
}

impl std::ops::DerefMut for Prepared<'_, '_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.stmt.as_mut().expect("a prepared statement is taken only when dropped")
    }
}

impl Drop for Prepared<'_, '_> {
    fn drop(&mut self) {
        if let Some(stmt) = self.stmt.take() {
            self.home.idle.borrow_mut().insert(self.key, stmt);
        }
    }
}

/// Calls, conversations and users as the writer last read or wrote them, parsed. Every invite
/// reads its call and its conversation, and parsing their JSON bodies was 9% of the writer's
/// instructions; an invited user is read from the directory too (2%). Only the writer's connection changes this database (one node, which locks its
/// data directory), so an entry goes stale only when a write it recorded is undone: a unit
/// rolled back to its savepoint, a group rolled back, a reset. Each of those forgets every entry.
#[derive(Default)]
struct ParsedRecords {
    calls: Parsed<Call>,
    conversations: Parsed<Conversation>,
    /// By id in ASCII lower case, as the table's `COLLATE NOCASE` compares them.
    users: Parsed<User>,
}

impl ParsedRecords {
    fn forget_all(&mut self) {
        self.calls.0.clear();
        self.conversations.0.clear();
        self.users.0.clear();
    }
}

/// One kind of [`ParsedRecords`], by id.
struct Parsed<T>(std::collections::HashMap<String, T>);

impl<T> Default for Parsed<T> {
    fn default() -> Self {
        Parsed(std::collections::HashMap::new())
    }
}

impl<T: Clone> Parsed<T> {
    /// Entries kept at most; past that the cache starts again empty (a node with more records
    /// than this in use at once reads some of them from the database again).
    const LIMIT: usize = 256;

    /// The record kept for `id`; otherwise `read()`, kept when found.
    fn read_through(&mut self, id: &str, read: impl FnOnce() -> StoreResult<Option<T>>) -> StoreResult<Option<T>> {
        if let Some(record) = self.0.get(id) {
            return Ok(Some(record.clone()));
        }
        let record = read()?;
        self.put(id, record.as_ref());
        Ok(record)
    }

    /// Keeps `record` as stored (`Some`), or forgets its id (`None`: no such row).
    fn put(&mut self, id: &str, record: Option<&T>) {
        match record {
            Some(record) => {
                if self.0.len() >= Self::LIMIT {
                    self.0.clear();
                }
                self.0.insert(id.to_owned(), record.clone());
            }
            None => {
                self.0.remove(id);
            }
        }
    }
}

impl SqliteTx<'_, '_> {
    /// Runs one unit of work in a savepoint, rolled back if it fails.
    fn savepoint<T, E>(&mut self, work: impl FnOnce(&mut dyn Tx) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        // Prepared once: a unit's savepoint is two statements of every unit of work.
        self.exec("SAVEPOINT unit", []).map_err(E::from)?;
        let outcome = work(self);
        if outcome.is_err() {
            self.parsed.forget_all();
            self.exec("ROLLBACK TO unit", []).map_err(E::from)?;
        }
        self.exec("RELEASE unit", []).map_err(E::from)?;
        outcome
    }

    fn get_body<T: DeserializeOwned>(&self, sql: &'static str, key: &str) -> StoreResult<Option<T>> {
        get_body(self.stmts, sql, key)
    }

    fn bodies<T: DeserializeOwned>(&self, sql: &'static str, args: impl rusqlite::Params) -> StoreResult<Vec<T>> {
        let mut stmt = self.stmts.get(sql).map_err(db)?;
        let rows = stmt.query_map(args, |r| r.get::<_, String>(0)).map_err(db)?;
        rows.map(|r| r.map_err(db).and_then(|raw| from_json(&raw))).collect()
    }

    /// The head of every call's pending queue, in no order. Sorting, limits and the calls to
    /// skip are applied by the caller: in SQL each needs a temporary B-tree per statement,
    /// which costs more than the few dozen heads a busy node has.
    fn pending_heads(&self, now: Timestamp) -> StoreResult<Vec<Head>> {
        let sql = static_sql!(
            "SELECT id, call_id, due, owner IS NULL OR owner = ?2 OR until <= ?1, until FROM ({PENDING_HEADS})"
        );
        let mut stmt = self.stmts.get(sql).map_err(db)?;
        let heads = stmt
            .query_map(params![now.0, self.node], |r| {
                Ok(Head { id: r.get(0)?, call_id: r.get(1)?, due: r.get(2)?, free: r.get(3)?, until: r.get(4)? })
            })
            .map_err(db)?
            .collect::<Result<_, _>>()
            .map_err(db)?;
        Ok(heads)
    }

    /// Leases an outbox row to this node until `until`.
    fn lease(&self, id: i64, until: Timestamp) -> StoreResult<usize> {
        self.exec("UPDATE outbox SET lease_owner = ?2, lease_until = ?3 WHERE id = ?1", params![id, self.node, until.0])
    }

    fn exec(&self, sql: &'static str, args: impl rusqlite::Params) -> StoreResult<usize> {
        self.stmts.get(sql).map_err(db)?.execute(args).map_err(db)
    }

    /// Appends a notification to the call's queue, a roster mark or not: a mark is inserted as
    /// one, so its row and the partial index of marks are written once.
    fn insert_notification(&mut self, call: &Call, body: &str, now: Timestamp, roster_mark: bool) -> StoreResult<i64> {
        let next: i64 = self
            .stmts
            .get("SELECT COALESCE(MAX(sequence), 0) + 1 FROM outbox WHERE call_id = ?1")
            .map_err(db)?
            .query_row([&call.id.0], |r| r.get(0))
            .map_err(db)?;
        self.exec(
            "INSERT INTO outbox (call_id, sequence, callback_uri, app_id, tenant_id, body, created_at, next_attempt_at, \
             state, lease_owner, lease_until, roster_mark) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 'pending', ?8, ?9, ?10)",
            params![
                call.id.0,
                next,
                call.callback_uri,
                call.app_id.0,
                call.tenant_id.0,
                body,
                now.0,
                self.node,
                now.0 + BIRTH_LEASE_MS,
                roster_mark
            ],
        )?;
        Ok(next)
    }
}

/// A conversation's columns, `?1` to `?6`: id, chat thread, meeting, ended, ended at, body.
type ConversationColumns<'a> = (&'a str, Option<&'a str>, Option<&'a str>, bool, Option<i64>, String);

fn conversation_columns(c: &Conversation) -> StoreResult<ConversationColumns<'_>> {
    let meeting = c.meeting_id.as_ref().map(|m| m.0.as_str());
    Ok((&c.id.0, c.chat_thread_id.as_deref(), meeting, c.ended, c.ended_at.map(|t| t.0), to_json(c)?))
}

/// The head of a call's pending queue ([`SqliteTx::pending_heads`]).
struct Head {
    id: i64,
    call_id: String,
    due: i64,
    /// Whether this node may claim it: no lease, its own, or an expired one (`None` when SQL
    /// could not tell, which claims nothing).
    free: Option<bool>,
    until: Option<i64>,
}

const OUTBOX_COLUMNS: &str = "id, call_id, sequence, callback_uri, app_id, tenant_id, body, created_at, attempts, \
     next_attempt_at, state, last_status, last_error, delivered_at, redelivery_of, roster_mark";

fn outbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    let state: String = r.get(10)?;
    Ok(OutboxRow {
        id: r.get(0)?,
        call_id: CallId(r.get(1)?),
        sequence: r.get(2)?,
        callback_uri: r.get(3)?,
        app_id: r.get(4)?,
        tenant_id: r.get(5)?,
        body: r.get(6)?,
        created_at: Timestamp(r.get(7)?),
        attempts: r.get(8)?,
        next_attempt_at: Timestamp(r.get(9)?),
        state: match state.as_str() {
            "delivered" => DeliveryState::Delivered,
            "dead" => DeliveryState::Dead,
            _ => DeliveryState::Pending,
        },
        last_status: r.get(11)?,
        last_error: r.get(12)?,
        delivered_at: r.get::<_, Option<i64>>(13)?.map(Timestamp),
        redelivery_of: r.get(14)?,
        roster_mark: r.get::<_, i64>(15)? != 0,
    })
}

fn participant_state(p: &Participant) -> &'static str {
    match p.state {
        switchboard_core::ParticipantState::Ringing => "ringing",
        switchboard_core::ParticipantState::Connected => "connected",
        switchboard_core::ParticipantState::Removed => "removed",
    }
}

impl Tx for SqliteTx<'_, '_> {
    fn upsert_tenant(&mut self, tenant: &Tenant) -> StoreResult<()> {
        self.exec("INSERT OR REPLACE INTO tenants (id, body) VALUES (?1, ?2)", params![tenant.id.0, to_json(tenant)?])
            .map(drop)
    }
    fn tenant(&mut self, id: &str) -> StoreResult<Option<Tenant>> {
        self.get_body("SELECT body FROM tenants WHERE id = ?1", id)
    }
    fn upsert_application(&mut self, app: &Application) -> StoreResult<()> {
        self.exec(
            "INSERT OR REPLACE INTO applications (client_id, body) VALUES (?1, ?2)",
            params![app.client_id.0, to_json(app)?],
        )
        .map(drop)
    }
    fn application(&mut self, client_id: &str) -> StoreResult<Option<Application>> {
        self.get_body("SELECT body FROM applications WHERE client_id = ?1", client_id)
    }
    fn applications(&mut self) -> StoreResult<Vec<Application>> {
        self.bodies("SELECT body FROM applications ORDER BY client_id", [])
    }
    fn upsert_application_instance(&mut self, instance: &ApplicationInstance) -> StoreResult<()> {
        self.exec(
            "INSERT OR REPLACE INTO application_instances (id, app_id, body) VALUES (?1, ?2, ?3)",
            params![instance.id, instance.app_id.0, to_json(instance)?],
        )
        .map(drop)
    }
    fn application_instances(&mut self, app_id: &str) -> StoreResult<Vec<ApplicationInstance>> {
        self.bodies("SELECT body FROM application_instances WHERE app_id = ?1 ORDER BY id", [app_id])
    }
    fn upsert_user(&mut self, user: &User) -> StoreResult<()> {
        self.exec("INSERT OR REPLACE INTO users (id, body) VALUES (?1, ?2)", params![user.id, to_json(user)?])?;
        self.parsed.users.put(&user.id.to_ascii_lowercase(), Some(user));
        Ok(())
    }
    fn user(&mut self, id: &str) -> StoreResult<Option<User>> {
        let stmts = self.stmts;
        let read = || get_body(stmts, "SELECT body FROM users WHERE id = ?1", id);
        self.parsed.users.read_through(&id.to_ascii_lowercase(), read)
    }
    fn users(&mut self) -> StoreResult<Vec<User>> {
        self.bodies("SELECT body FROM users ORDER BY id", [])
    }
    fn upsert_phone(&mut self, phone: &PhoneNumber) -> StoreResult<()> {
        self.exec(
            "INSERT OR REPLACE INTO phone_numbers (number, body) VALUES (?1, ?2)",
            params![phone.number, to_json(phone)?],
        )
        .map(drop)
    }
    fn phone(&mut self, number: &str) -> StoreResult<Option<PhoneNumber>> {
        self.get_body("SELECT body FROM phone_numbers WHERE number = ?1", number)
    }
    fn phones(&mut self) -> StoreResult<Vec<PhoneNumber>> {
        self.bodies("SELECT body FROM phone_numbers ORDER BY number", [])
    }
    fn insert_meeting(&mut self, meeting: &Meeting) -> StoreResult<()> {
        self.exec(
            "INSERT INTO meetings (id, thread_id, join_meeting_id, body) VALUES (?1, ?2, ?3, ?4)",
            params![meeting.id.0, meeting.thread_id, meeting.join_meeting_id, to_json(meeting)?],
        )
        .map(drop)
    }
    fn meeting(&mut self, id: &str) -> StoreResult<Option<Meeting>> {
        self.get_body("SELECT body FROM meetings WHERE id = ?1", id)
    }
    fn meetings(&mut self) -> StoreResult<Vec<Meeting>> {
        self.bodies("SELECT body FROM meetings ORDER BY rowid", [])
    }
    fn meeting_by_thread(&mut self, thread_id: &str) -> StoreResult<Option<Meeting>> {
        self.get_body("SELECT body FROM meetings WHERE thread_id = ?1", thread_id)
    }
    fn meeting_by_join_id(&mut self, join_meeting_id: &str) -> StoreResult<Option<Meeting>> {
        self.get_body("SELECT body FROM meetings WHERE join_meeting_id = ?1", join_meeting_id)
    }
    fn setting(&mut self, key: &str) -> StoreResult<Option<String>> {
        self.stmts
            .get("SELECT value FROM settings WHERE key = ?1")
            .map_err(db)?
            .query_row([key], |r| r.get(0))
            .optional()
            .map_err(db)
    }
    fn set_setting(&mut self, key: &str, value: &str) -> StoreResult<()> {
        self.exec("INSERT OR REPLACE INTO settings (key, value) VALUES (?1, ?2)", params![key, value]).map(drop)
    }

    fn insert_conversation(&mut self, c: &Conversation) -> StoreResult<()> {
        self.exec(
            "INSERT INTO conversations (id, chat_thread_id, meeting_id, ended, ended_at, body) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            conversation_columns(c)?,
        )?;
        self.parsed.conversations.put(&c.id.0, Some(c));
        Ok(())
    }
    fn update_conversation(&mut self, c: &Conversation) -> StoreResult<()> {
        let columns = conversation_columns(c)?;
        let args = params![columns.0, columns.1, columns.2, columns.3, columns.4, columns.5];
        // Most updates change the body alone (a roster sequence number): SQLite rewrites the
        // entries of every index whose column an UPDATE sets, changed or not, so those are set
        // only when they change.
        let same_keys = "UPDATE conversations SET body = ?6 \
             WHERE id = ?1 AND chat_thread_id IS ?2 AND meeting_id IS ?3 AND ended = ?4 AND ended_at IS ?5";
        let mut updated = self.exec(same_keys, args)?;
        if updated == 0 {
            updated = self.exec(
                "UPDATE conversations SET chat_thread_id = ?2, meeting_id = ?3, ended = ?4, ended_at = ?5, body = ?6 \
                 WHERE id = ?1",
                args,
            )?;
        }
        self.parsed.conversations.put(&c.id.0, (updated > 0).then_some(c));
        Ok(())
    }
    fn conversation(&mut self, id: &ConversationId) -> StoreResult<Option<Conversation>> {
        let stmts = self.stmts;
        self.parsed
            .conversations
            .read_through(&id.0, || get_body(stmts, "SELECT body FROM conversations WHERE id = ?1", &id.0))
    }
    fn live_conversation_for_thread(&mut self, thread_id: &str) -> StoreResult<Option<Conversation>> {
        self.get_body("SELECT body FROM conversations WHERE chat_thread_id = ?1 AND ended = 0", thread_id)
    }
    fn live_conversation_for_meeting(&mut self, meeting_id: &str) -> StoreResult<Option<Conversation>> {
        self.get_body("SELECT body FROM conversations WHERE meeting_id = ?1 AND ended = 0", meeting_id)
    }
    fn insert_call(&mut self, call: &Call) -> StoreResult<()> {
        self.exec(
            "INSERT INTO calls (id, conversation_id, state, body) VALUES (?1, ?2, ?3, ?4)",
            params![call.id.0, call.conversation_id.0, call.state.as_str(), to_json(call)?],
        )?;
        self.parsed.calls.put(&call.id.0, Some(call));
        Ok(())
    }
    fn update_call(&mut self, call: &Call) -> StoreResult<()> {
        let args = params![call.id.0, call.conversation_id.0, call.state.as_str(), to_json(call)?];
        // As for conversations: the indexed columns are set only when they change.
        let same_keys = "UPDATE calls SET body = ?4 WHERE id = ?1 AND conversation_id = ?2 AND state = ?3";
        let mut updated = self.exec(same_keys, args)?;
        if updated == 0 {
            updated = self.exec("UPDATE calls SET conversation_id = ?2, state = ?3, body = ?4 WHERE id = ?1", args)?;
        }
        self.parsed.calls.put(&call.id.0, (updated > 0).then_some(call));
        Ok(())
    }
    fn call(&mut self, id: &str) -> StoreResult<Option<Call>> {
        let stmts = self.stmts;
        self.parsed.calls.read_through(id, || get_body(stmts, "SELECT body FROM calls WHERE id = ?1", id))
    }
    // Sorted by id here, not by `ORDER BY id`: the index on `conversation_id` holds rowids,
    // so SQLite would open a sorter for every roster change.
    fn calls_in_conversation(&mut self, id: &ConversationId) -> StoreResult<Vec<Call>> {
        let mut calls: Vec<Call> = self.bodies("SELECT body FROM calls WHERE conversation_id = ?1", [&id.0])?;
        calls.sort_unstable_by(|a, b| a.id.0.cmp(&b.id.0));
        Ok(calls)
    }
    fn call_ids_in_conversation(&mut self, id: &ConversationId) -> StoreResult<Vec<CallId>> {
        let mut stmt = self.stmts.get("SELECT id FROM calls WHERE conversation_id = ?1").map_err(db)?;
        let ids = stmt.query_map([&id.0], |r| r.get::<_, String>(0)).map_err(db)?;
        let mut ids = ids.collect::<Result<Vec<_>, _>>().map_err(db)?;
        ids.sort_unstable();
        Ok(ids.into_iter().map(CallId).collect())
    }
    fn insert_participant(&mut self, p: &Participant) -> StoreResult<()> {
        self.exec(
            "INSERT INTO participants (id, conversation_id, identity_key, state, node_id, body) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![p.id.0, p.conversation_id.0, p.party.key(), participant_state(p), p.node, to_json(p)?],
        )
        .map(drop)
    }
    fn update_participant(&mut self, p: &Participant) -> StoreResult<()> {
        self.exec(
            "UPDATE participants SET conversation_id = ?2, identity_key = ?3, state = ?4, node_id = ?5, body = ?6 \
             WHERE id = ?1",
            params![p.id.0, p.conversation_id.0, p.party.key(), participant_state(p), p.node, to_json(p)?],
        )
        .map(drop)
    }
    fn participant(&mut self, id: &str) -> StoreResult<Option<Participant>> {
        self.get_body("SELECT body FROM participants WHERE id = ?1", id)
    }
    fn active_participants(&mut self, conversation: &ConversationId) -> StoreResult<Vec<Participant>> {
        self.bodies(
            "SELECT body FROM participants WHERE conversation_id = ?1 AND state IN ('ringing', 'connected') ORDER BY id",
            [&conversation.0],
        )
    }
    fn live_legs(&mut self, conversation: &ConversationId) -> StoreResult<Vec<Participant>> {
        self.bodies(
            "SELECT body FROM participants INDEXED BY participants_live_legs \
             WHERE conversation_id = ?1 AND node_id IS NOT NULL AND state IN ('ringing', 'connected') ORDER BY id",
            [&conversation.0],
        )
    }
    fn roster_page(
        &mut self,
        conversation: &ConversationId,
        after_id: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Participant>> {
        self.bodies(
            "SELECT body FROM participants WHERE conversation_id = ?1 AND state = 'connected' AND id > ?2 \
             ORDER BY id LIMIT ?3",
            params![conversation.0, after_id.unwrap_or(""), limit as i64],
        )
    }
    fn insert_operation(&mut self, op: &Operation) -> StoreResult<()> {
        self.exec(
            "INSERT INTO operations (id, call_id, body) VALUES (?1, ?2, ?3)",
            params![op.id.0, op.call_id.0, to_json(op)?],
        )
        .map(drop)
    }
    fn update_operation(&mut self, op: &Operation) -> StoreResult<()> {
        self.exec("UPDATE operations SET body = ?2 WHERE id = ?1", params![op.id.0, to_json(op)?]).map(drop)
    }
    fn operation(&mut self, id: &str) -> StoreResult<Option<Operation>> {
        self.get_body("SELECT body FROM operations WHERE id = ?1", id)
    }
    fn operations_of_call(&mut self, call: &CallId) -> StoreResult<Vec<Operation>> {
        self.bodies("SELECT body FROM operations WHERE call_id = ?1 ORDER BY id", [&call.0])
    }
    fn conversations(&mut self, limit: usize, include_ended: bool) -> StoreResult<Vec<Conversation>> {
        // Ids are UUIDv7: ordering by id is ordering by creation.
        self.bodies(
            "SELECT body FROM conversations WHERE ?2 OR ended = 0 ORDER BY id DESC LIMIT ?1",
            params![limit as i64, include_ended],
        )
    }

    fn hold_call(&mut self, _call: &CallId, _until: Timestamp) -> StoreResult<()> {
        Ok(()) // One node: its hold in memory covers every notification of the call.
    }
    fn insert_timer(&mut self, due_at: Timestamp, action: &TimerAction) -> StoreResult<i64> {
        let participant = match action {
            TimerAction::RingOutcome { participant_id, .. } => Some(participant_id.0.clone()),
            _ => None,
        };
        self.exec(
            "INSERT INTO timers (due_at, participant_id, action) VALUES (?1, ?2, ?3)",
            params![due_at.0, participant, to_json(action)?],
        )?;
        Ok(self.stmts.conn.last_insert_rowid())
    }
    fn delete_participant_timers(&mut self, participant: &ParticipantId) -> StoreResult<()> {
        self.exec("DELETE FROM timers WHERE participant_id = ?1", [&participant.0]).map(drop)
    }
    fn delete_timer(&mut self, id: i64) -> StoreResult<bool> {
        Ok(self.exec("DELETE FROM timers WHERE id = ?1", [id])? > 0)
    }
    fn due_timers(&mut self, now: Timestamp, limit: usize) -> StoreResult<Vec<Timer>> {
        let mut stmt = self
            .stmts
            .get("SELECT id, due_at, action FROM timers WHERE due_at <= ?1 ORDER BY due_at, id LIMIT ?2")
            .map_err(db)?;
        let rows = stmt
            .query_map(params![now.0, limit as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
            })
            .map_err(db)?;
        rows.map(|r| {
            let (id, due, action) = r.map_err(db)?;
            Ok(Timer { id, due_at: Timestamp(due), action: from_json(&action)? })
        })
        .collect()
    }
    fn next_timer_due(&mut self) -> StoreResult<Option<Timestamp>> {
        let mut stmt = self.stmts.get("SELECT MIN(due_at) FROM timers").map_err(db)?;
        let due: Option<i64> = stmt.query_row([], |r| r.get(0)).map_err(db)?;
        Ok(due.map(Timestamp))
    }

    fn enqueue_notification(&mut self, call: &Call, body: &str, now: Timestamp) -> StoreResult<i64> {
        self.insert_notification(call, body, now, false)
    }
    fn mark_roster_changed(&mut self, call: &Call, now: Timestamp) -> StoreResult<bool> {
        let mark: Option<(i64, i64)> = self
            .stmts
            .get("SELECT id, sequence FROM outbox WHERE call_id = ?1 AND roster_mark = 1")
            .map_err(db)?
            .query_row([&call.id.0], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(db)?;
        if let Some((id, sequence)) = mark {
            // The rows after the mark, in order (the unique index's): none when the queue
            // already ends with it.
            let after: Vec<i64> = self
                .stmts
                .get("SELECT id FROM outbox WHERE call_id = ?1 AND sequence > ?2 ORDER BY sequence")
                .map_err(db)?
                .query_map(params![call.id.0, sequence], |r| r.get(0))
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)?;
            if after.is_empty() {
                return Ok(false);
            }
            // Move it to the end: the rows after it move up one, in order, each to the number
            // the row before it left free. Row by row, by id: one UPDATE of the range scans the
            // index whose key it changes, which SQLite does in two passes through a temporary
            // B-tree (and twice over, through negative numbers, to keep the index unique).
            self.exec("DELETE FROM outbox WHERE id = ?1", [id])?;
            for row in after {
                self.exec("UPDATE outbox SET sequence = sequence - 1 WHERE id = ?1", [row])?;
            }
        }
        self.insert_notification(call, ROSTER_MARK_BODY, now, true)?;
        Ok(true)
    }
    fn roster_mark(&mut self, call: &CallId) -> StoreResult<Option<OutboxRow>> {
        self.stmts
            .get(static_sql!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE call_id = ?1 AND roster_mark = 1"))
            .map_err(db)?
            .query_row([&call.0], outbox_row)
            .optional()
            .map_err(db)
    }
    fn render_roster_mark(&mut self, id: i64, body: &str) -> StoreResult<()> {
        self.exec("UPDATE outbox SET body = ?2, roster_mark = 0 WHERE id = ?1", params![id, body])?;
        Ok(())
    }
    fn due_deliveries(&mut self, now: Timestamp, limit: usize, busy: &[CallId]) -> StoreResult<Vec<OutboxRow>> {
        // A call whose head is not due waits whole, which keeps its notifications in order.
        let mut due: Vec<Head> = self
            .pending_heads(now)?
            .into_iter()
            .filter(|h| h.due <= now.0 && h.free == Some(true) && !busy.iter().any(|b| b.0 == h.call_id))
            .collect();
        due.sort_unstable_by_key(|h| (h.due, h.id));
        due.iter().take(limit).map(|h| self.notification(h.id)).filter_map(Result::transpose).collect()
    }
    fn claim_deliveries(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
        busy: &[CallId],
    ) -> StoreResult<Vec<OutboxRow>> {
        // The writer thread is the only one: reading then leasing cannot race another claimer.
        let rows = self.due_deliveries(now, limit, busy)?;
        for row in &rows {
            self.lease(row.id, lease_until)?;
        }
        Ok(rows)
    }
    fn claim_next_of_call(
        &mut self,
        call: &CallId,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Option<OutboxRow>> {
        let sql = static_sql!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = (SELECT id FROM outbox INDEXED BY outbox_pending_heads \
               WHERE state = 'pending' AND call_id = ?1 ORDER BY sequence LIMIT 1) \
             AND next_attempt_at <= ?2 AND (lease_owner IS NULL OR lease_owner = ?3 OR lease_until <= ?2)"
        );
        let row = self
            .stmts
            .get(sql)
            .map_err(db)?
            .query_row(params![call.0, now.0, self.node], outbox_row)
            .optional()
            .map_err(db)?;
        if let Some(row) = &row {
            self.lease(row.id, lease_until)?;
        }
        Ok(row)
    }
    fn claim_following(
        &mut self,
        call: &CallId,
        after: i64,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<OutboxRow>> {
        let sql = static_sql!(
            "SELECT {OUTBOX_COLUMNS}, next_attempt_at <= ?3 AND (lease_owner IS NULL OR lease_owner = ?4 \
             OR lease_until <= ?3) FROM outbox WHERE call_id = ?1 AND state = 'pending' AND sequence > ?2 \
             ORDER BY sequence LIMIT ?5"
        );
        let mut stmt = self.stmts.get(sql).map_err(db)?;
        let rows = stmt
            .query_map(params![call.0, after, now.0, self.node, limit as i64], |r| Ok((outbox_row(r)?, r.get(16)?)))
            .map_err(db)?;
        let mut run = Vec::new();
        for row in rows {
            let (row, claimable): (OutboxRow, bool) = row.map_err(db)?;
            if !claimable {
                break;
            }
            run.push(row);
        }
        // Row by row, by id: one UPDATE of the sequence range scans the index whose lease
        // columns it changes, which SQLite does in two passes through a temporary B-tree.
        for row in &run {
            self.lease(row.id, lease_until)?;
        }
        Ok(run)
    }
    fn release_leases(&mut self, ids: &[i64]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        // The ids as one JSON array: one prepared statement for any number of rows.
        self.exec(
            "UPDATE outbox SET lease_owner = NULL, lease_until = NULL \
             WHERE id IN (SELECT value FROM json_each(?1)) AND lease_owner = ?2",
            params![to_json(&ids)?, self.node],
        )
        .map(drop)
    }
    fn next_delivery_due(&mut self, now: Timestamp, busy: &[CallId]) -> StoreResult<Option<Timestamp>> {
        // Another node's live lease holds a head until it ends.
        let heads = self.pending_heads(now)?.into_iter().filter(|h| !busy.iter().any(|b| b.0 == h.call_id));
        Ok(heads.map(|h| if h.free == Some(false) { h.until.unwrap_or(h.due) } else { h.due }).min().map(Timestamp))
    }
    fn record_attempt(&mut self, id: i64, at: Timestamp, latency_ms: i64, result: &AttemptResult) -> StoreResult<bool> {
        let c = result.columns(at);
        // One UPDATE: the row's lease, state and result change together (each index of the
        // outbox is written once). Not `RETURNING attempts`, which SQLite collects in a
        // temporary B-tree; the attempt's number is read back by its key instead.
        let updated = self.exec(
            "UPDATE outbox SET attempts = attempts + 1, lease_owner = NULL, lease_until = NULL, state = ?3, \
             next_attempt_at = COALESCE(?4, next_attempt_at), last_status = ?5, last_error = ?6, \
             delivered_at = COALESCE(?7, delivered_at) \
             WHERE id = ?1 AND state = 'pending' AND lease_owner = ?2",
            params![id, self.node, c.state, c.next_attempt_at, c.status, c.error, c.delivered_at],
        )?;
        if updated == 0 {
            return Ok(false);
        }
        self.exec(
            "INSERT INTO delivery_attempts (outbox_id, attempt, at, status, error, latency_ms) \
             SELECT id, attempts, ?2, ?3, ?4, ?5 FROM outbox WHERE id = ?1",
            params![id, at.0, c.status, c.error, latency_ms],
        )?;
        Ok(true)
    }
    fn notifications(
        &mut self,
        call: Option<&CallId>,
        state: Option<DeliveryState>,
        limit: usize,
    ) -> StoreResult<Vec<OutboxRow>> {
        let sql = static_sql!(
            "SELECT {OUTBOX_COLUMNS} FROM (SELECT * FROM outbox WHERE (?1 IS NULL OR call_id = ?1) \
             AND (?3 IS NULL OR state = ?3) ORDER BY id DESC LIMIT ?2) ORDER BY id"
        );
        let mut stmt = self.stmts.get(sql).map_err(db)?;
        let rows = stmt
            .query_map(params![call.map(|c| &c.0), limit as i64, state.map(DeliveryState::as_str)], outbox_row)
            .map_err(db)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db)
    }
    fn delivery_attempts(&mut self, outbox_id: i64) -> StoreResult<Vec<DeliveryAttempt>> {
        let mut stmt = self
            .stmts
            .get(
                "SELECT outbox_id, attempt, at, status, error, latency_ms FROM delivery_attempts WHERE outbox_id = ?1 \
                 ORDER BY attempt",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map([outbox_id], |r| {
                Ok(DeliveryAttempt {
                    outbox_id: r.get(0)?,
                    attempt: r.get(1)?,
                    at: Timestamp(r.get(2)?),
                    status: r.get(3)?,
                    error: r.get(4)?,
                    latency_ms: r.get(5)?,
                })
            })
            .map_err(db)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db)
    }
    fn pending_notification_count(&mut self) -> StoreResult<i64> {
        let mut stmt = self.stmts.get("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").map_err(db)?;
        stmt.query_row([], |r| r.get(0)).map_err(db)
    }
    fn notification(&mut self, id: i64) -> StoreResult<Option<OutboxRow>> {
        self.stmts
            .get(static_sql!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = ?1"))
            .map_err(db)?
            .query_row([id], outbox_row)
            .optional()
            .map_err(db)
    }
    fn requeue_notification(&mut self, id: i64, now: Timestamp) -> StoreResult<Option<OutboxRow>> {
        let inserted = self.exec(
            "INSERT INTO outbox (call_id, sequence, callback_uri, app_id, tenant_id, body, created_at, next_attempt_at, \
             state, redelivery_of) \
             SELECT o.call_id, (SELECT MAX(sequence) + 1 FROM outbox i WHERE i.call_id = o.call_id), o.callback_uri, \
             o.app_id, o.tenant_id, o.body, ?2, ?2, 'pending', o.id FROM outbox o WHERE o.id = ?1",
            params![id, now.0],
        )?;
        if inserted == 0 {
            return Ok(None);
        }
        let new_id = self.stmts.conn.last_insert_rowid();
        self.notification(new_id)
    }

    fn insert_leg_command(
        &mut self,
        node_id: &str,
        participant: &ParticipantId,
        command: &str,
        now: Timestamp,
    ) -> StoreResult<i64> {
        self.exec(
            "INSERT INTO leg_commands (node_id, participant_id, command, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![node_id, participant.0, command, now.0],
        )?;
        Ok(self.stmts.conn.last_insert_rowid())
    }
    fn leg_commands(&mut self, node_id: &str, limit: usize) -> StoreResult<Vec<LegCommandRow>> {
        let mut stmt = self
            .stmts
            .get(
                "SELECT id, node_id, participant_id, command, created_at FROM leg_commands WHERE node_id = ?1 \
                 ORDER BY id LIMIT ?2",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map(params![node_id, limit as i64], |r| {
                Ok(LegCommandRow {
                    id: r.get(0)?,
                    node_id: r.get(1)?,
                    participant_id: ParticipantId(r.get(2)?),
                    command: r.get(3)?,
                    created_at: Timestamp(r.get(4)?),
                })
            })
            .map_err(db)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db)
    }
    fn delete_leg_command(&mut self, id: i64) -> StoreResult<bool> {
        Ok(self.exec("DELETE FROM leg_commands WHERE id = ?1", [id])? > 0)
    }
    fn participants_of_node(&mut self, node_id: &str) -> StoreResult<Vec<Participant>> {
        self.bodies(
            "SELECT body FROM participants WHERE node_id = ?1 AND state IN ('ringing', 'connected') ORDER BY id",
            [node_id],
        )
    }
    fn insert_agent_session(&mut self, s: &AgentSession) -> StoreResult<()> {
        self.exec(
            "INSERT INTO agent_sessions (session_id, user_id, node_id, connected_at) VALUES (?1, ?2, ?3, ?4)",
            params![s.session_id, s.user_id, s.node_id, s.connected_at.0],
        )
        .map(drop)
    }
    fn delete_agent_session(&mut self, session_id: &str) -> StoreResult<bool> {
        Ok(self.exec("DELETE FROM agent_sessions WHERE session_id = ?1", [session_id])? > 0)
    }
    fn agent_sessions_of_user(&mut self, user_id: &str) -> StoreResult<Vec<AgentSession>> {
        let mut stmt = self
            .stmts
            .get(
                "SELECT session_id, user_id, node_id, connected_at FROM agent_sessions WHERE user_id = ?1 \
                 ORDER BY connected_at, session_id",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map([user_id], |r| {
                Ok(AgentSession {
                    session_id: r.get(0)?,
                    user_id: r.get(1)?,
                    node_id: r.get(2)?,
                    connected_at: Timestamp(r.get(3)?),
                })
            })
            .map_err(db)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db)
    }
    fn clear_agent_sessions(&mut self, node_id: &str) -> StoreResult<usize> {
        self.exec("DELETE FROM agent_sessions WHERE node_id = ?1", [node_id])
    }
    fn node_alive(&mut self, node_id: &str, at_ms: i64) -> StoreResult<bool> {
        if self.exec("UPDATE nodes SET seen_at = ?2 WHERE node_id = ?1", params![node_id, at_ms])? > 0 {
            return Ok(true);
        }
        self.exec("INSERT INTO nodes (node_id, seen_at) VALUES (?1, ?2)", params![node_id, at_ms])?;
        Ok(false)
    }
    fn silent_nodes(&mut self, before_ms: i64) -> StoreResult<Vec<String>> {
        let mut stmt =
            self.stmts.get("SELECT node_id FROM nodes WHERE seen_at < ?1 ORDER BY seen_at, node_id").map_err(db)?;
        let rows = stmt.query_map([before_ms], |r| r.get(0)).map_err(db)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db)
    }
    fn forget_node(&mut self, node_id: &str, before_ms: i64) -> StoreResult<bool> {
        let forgotten =
            self.exec("DELETE FROM nodes WHERE node_id = ?1 AND seen_at < ?2", params![node_id, before_ms])?;
        if forgotten > 0 {
            self.exec("DELETE FROM leg_commands WHERE node_id = ?1", [node_id])?;
        }
        Ok(forgotten > 0)
    }

    fn stats(&mut self) -> StoreResult<StoreStats> {
        let (outbox_pending, oldest): (i64, Option<i64>) = self
            .stmts
            .get("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE state = 'pending'")
            .map_err(db)?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db)?;
        let active_calls: i64 = self
            .stmts
            .get("SELECT COUNT(*) FROM calls WHERE state <> 'terminated'")
            .map_err(db)?
            .query_row([], |r| r.get(0))
            .map_err(db)?;
        let count_state = |state: &str| -> StoreResult<i64> {
            self.stmts
                .get("SELECT COUNT(*) FROM participants WHERE state = ?1")
                .map_err(db)?
                .query_row([state], |r| r.get(0))
                .map_err(db)
        };
        let ringing_participants = count_state("ringing")?;
        let connected_participants = count_state("connected")?;
        Ok(StoreStats {
            outbox_pending,
            outbox_oldest_pending_at: oldest.map(Timestamp),
            active_calls,
            ringing_participants,
            connected_participants,
        })
    }

    fn retarget_pending_notifications(&mut self, call: &CallId, callback_uri: &str) -> StoreResult<()> {
        self.exec(
            "UPDATE outbox SET callback_uri = ?2 WHERE call_id = ?1 AND state = 'pending'",
            params![call.0, callback_uri],
        )
        .map(drop)
    }

    fn remove_ended_conversations(&mut self, ended_before: Timestamp, limit: usize) -> StoreResult<usize> {
        let ids = {
            // `ended = 1` as in the partial index `conversations_ended`, which SQLite then reads.
            let sql = static_sql!(
                "SELECT id FROM conversations WHERE ended = 1 AND ended_at < ?1 AND NOT {HAS_PENDING} \
                 ORDER BY ended_at LIMIT ?2"
            );
            let mut stmt = self.stmts.get(sql).map_err(db)?;
            let rows = stmt.query_map(params![ended_before.0, limit as i64], |r| r.get::<_, String>(0)).map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)?
        };
        for id in &ids {
            for sql in REMOVE_CONVERSATION {
                self.exec(sql, [id])?;
            }
        }
        if !ids.is_empty() {
            self.parsed.forget_all();
        }
        Ok(ids.len())
    }

    fn reset_calls(&mut self) -> StoreResult<()> {
        self.parsed.forget_all();
        self.stmts
            .conn
            .execute_batch(
                "DELETE FROM conversations; DELETE FROM calls; DELETE FROM participants; DELETE FROM operations;
                 DELETE FROM timers; DELETE FROM outbox; DELETE FROM delivery_attempts; DELETE FROM leg_commands;",
            )
            .map_err(db)
    }

    fn ping(&mut self) -> StoreResult<()> {
        self.stmts.conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).map(drop).map_err(db)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::{sync_loop, Finisher, Group};

    /// `sync_loop` on its thread, fed groups of one caller each.
    struct Syncer {
        commits: mpsc::Sender<Group>,
        heard: mpsc::Sender<Result<(), String>>,
        answers: mpsc::Receiver<Result<(), String>>,
        thread: std::thread::JoinHandle<()>,
    }

    impl Syncer {
        fn start(wal: &std::path::Path) -> Syncer {
            let (commits, queue) = mpsc::channel::<Group>();
            let (heard, answers) = mpsc::channel();
            let wal = wal.to_owned();
            Syncer { commits, heard, answers, thread: std::thread::spawn(move || sync_loop(wal, queue)) }
        }

        /// Sends a group (its commit's outcome, whether it wrote) and returns what its caller heard.
        fn answer(&self, committed: Result<(), String>, wrote: bool) -> Result<(), String> {
            let heard = self.heard.clone();
            let finish: Finisher = Box::new(move |outcome| heard.send(outcome).unwrap());
            self.commits.send(Group { committed, wrote, finishers: vec![finish] }).unwrap();
            self.answers.recv().unwrap()
        }

        fn stop(self) {
            drop(self.commits);
            self.thread.join().unwrap();
        }
    }

    /// What the callers of the given groups heard, in order.
    fn answers(wal: &std::path::Path, groups: Vec<(Result<(), String>, bool)>) -> Vec<Result<(), String>> {
        let syncer = Syncer::start(wal);
        let heard = groups.into_iter().map(|(committed, wrote)| syncer.answer(committed, wrote)).collect();
        syncer.stop();
        heard
    }

    #[test]
    fn a_commit_is_answered_once_its_log_is_synced() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("db.sqlite-wal");
        std::fs::write(&wal, b"frames").unwrap();
        assert_eq!(answers(&wal, vec![(Ok(()), true), (Ok(()), true)]), vec![Ok(()), Ok(())]);
    }

    #[test]
    fn a_group_that_only_read_needs_no_sync() {
        let dir = tempfile::tempdir().unwrap();
        // No log file: a sync would fail.
        let wal = dir.path().join("missing-wal");
        assert_eq!(answers(&wal, vec![(Ok(()), false)]), vec![Ok(())]);
        // One that wrote is synced, and the sync fails.
        let heard = answers(&wal, vec![(Ok(()), true)]);
        assert!(heard[0].as_ref().is_err_and(|e| e.contains("missing-wal")), "{heard:?}");
    }

    #[test]
    fn a_failed_commit_keeps_its_error_and_needs_no_sync() {
        let dir = tempfile::tempdir().unwrap();
        // No log file: a sync would fail, but a group that did not commit has nothing to sync.
        let wal = dir.path().join("missing-wal");
        let heard = answers(&wal, vec![(Err("constraint failed".to_owned()), true)]);
        assert_eq!(heard, vec![Err("constraint failed".to_owned())]);
    }

    #[test]
    fn after_a_failed_sync_no_commit_is_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("db.sqlite-wal");
        let syncer = Syncer::start(&wal);
        // The log cannot be opened: the sync fails and the commit is not acknowledged.
        let first = syncer.answer(Ok(()), true);
        assert!(first.as_ref().is_err_and(|e| e.contains("db.sqlite-wal")), "{first:?}");
        // The file is there now, and a sync would succeed: still nothing is acknowledged.
        std::fs::write(&wal, b"frames").unwrap();
        assert_eq!(syncer.answer(Ok(()), true), first);
        syncer.stop();
    }
}

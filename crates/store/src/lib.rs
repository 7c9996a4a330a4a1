//! The storage port of Switchboard and its adapters.
//!
//! The engine runs each unit of work as a closure over [`Tx`], one transaction per closure:
//! a state change and the notifications it causes commit together (transactional outbox).
//! [`sqlite::SqliteStore`] is the embedded adapter: one writer thread, WAL, adaptive group
//! commit (whatever is queued commits together, with no fixed wait), and a thread that syncs
//! the WAL before any unit hears that its commit succeeded.
//! [`postgres::PgStore`] lets several nodes share one database. [`Store`] is either.

pub mod port;
pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

pub use port::*;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// The store the engine runs on: SQLite (one node) or PostgreSQL (several nodes).
#[derive(Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Store {
    /// Runs `work` in one transaction; its writes commit only if it returns `Ok`.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        match self {
            Store::Sqlite(s) => s.run(work).await,
            Store::Postgres(s) => s.run(work).await,
        }
    }

    /// This node's id in delivery leases.
    pub fn node_id(&self) -> &str {
        match self {
            Store::Sqlite(s) => s.node_id(),
            Store::Postgres(s) => s.node_id(),
        }
    }

    /// Whether other nodes may share this store.
    pub fn is_shared(&self) -> bool {
        matches!(self, Store::Postgres(_))
    }

    /// Calls `wake` whenever another node committed work this node may have to do, or changed a
    /// setting (PostgreSQL `LISTEN`); SQLite has no other node, so nothing to listen to. After
    /// the listening connection is (re)made, both kinds are called: some may have been missed.
    pub fn listen(&self, wake: Arc<dyn Fn(Wake) + Send + Sync>) {
        if let Store::Postgres(s) = self {
            s.listen(wake)
        }
    }
}

impl From<SqliteStore> for Store {
    fn from(s: SqliteStore) -> Store {
        Store::Sqlite(s)
    }
}

impl From<PgStore> for Store {
    fn from(s: PgStore) -> Store {
        Store::Postgres(s)
    }
}

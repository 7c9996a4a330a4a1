//! The storage port of Switchboard and its adapters.
//!
//! The engine runs each unit of work as a closure over [`Tx`], one transaction per closure:
//! a state change and the notifications it causes commit together (transactional outbox).
//! [`sqlite::SqliteStore`] is the embedded adapter: one writer thread, WAL, `synchronous=FULL`,
//! and adaptive group commit (whatever is queued commits together, with no fixed wait).

pub mod port;
pub mod sqlite;

pub use port::*;
pub use sqlite::SqliteStore;

//! The embedded SQLite backend (being written).
/// The embedded store.
#[derive(Debug)]
pub struct SqliteStore;

//! Store errors.

/// A state store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The storage engine reported an error.
    #[error("store {store}: {operation} failed: {reason}")]
    Backend {
        /// The store.
        store: String,
        /// What was being done.
        operation: &'static str,
        /// The engine's message.
        reason: String,
    },
    /// Stored bytes are not what this store wrote (corruption, or a store of another kind).
    #[error("store {store}: corrupt data: {reason}")]
    Corrupt {
        /// The store.
        store: String,
        /// What was wrong.
        reason: String,
    },
    /// The store's files are in use by another open store (in this process, another thread's
    /// copy of the task not closed yet; or another process): retry once it is closed.
    #[error("store {store} is locked by another open copy")]
    Locked {
        /// The store.
        store: String,
    },
    /// A file-system operation failed.
    #[error("store {store}: {operation}: {source}")]
    Io {
        /// The store.
        store: String,
        /// What was being done.
        operation: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

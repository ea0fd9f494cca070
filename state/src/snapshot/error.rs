//! Errors of the snapshot store.

/// A snapshot could not be taken, listed, collected or restored. Each names the task and, where
/// there is one, the object.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// `state.snapshot.store` is not a URL Sluice can use.
    #[error("state.snapshot.store {url:?}: {reason}")]
    Config {
        /// The configured value.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The object store failed (down, throttled, credentials refused...).
    #[error("task {task}: snapshot store: {operation} {object}: {source}")]
    Store {
        /// The task.
        task: String,
        /// What was attempted.
        operation: &'static str,
        /// The object (or prefix).
        object: String,
        /// The object store's error.
        #[source]
        source: Box<object_store::Error>,
    },
    /// A manifest with this sequence exists already: two instances are snapshotting one task
    /// (manifests are written create-only, so the second fails here instead of overwriting).
    #[error("task {task}: snapshot manifest {object} exists already: another instance snapshots this task")]
    Collision {
        /// The task.
        task: String,
        /// The manifest's object.
        object: String,
    },
    /// Local files (the checkpoint, or a restore's download) could not be read or written.
    #[error("task {task}: {operation} {path}: {source}")]
    Io {
        /// The task.
        task: String,
        /// What was attempted.
        operation: &'static str,
        /// The file or directory.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A snapshot failed a check (manifest checksum, file size or checksum, offsets beyond the
    /// changelog's end): restore falls back to an older snapshot, then to the changelog.
    #[error("task {task}: snapshot {object} is not usable: {reason}")]
    Invalid {
        /// The task.
        task: String,
        /// The manifest or file.
        object: String,
        /// What failed.
        reason: String,
    },
    /// RocksDB could not create the local checkpoint.
    #[error("task {task}: checkpoint: {reason}")]
    Checkpoint {
        /// The task.
        task: String,
        /// RocksDB's message.
        reason: String,
    },
}

impl SnapshotError {
    pub(crate) fn store(
        task: &str,
        operation: &'static str,
        object: impl ToString,
        e: object_store::Error,
    ) -> Self {
        SnapshotError::Store {
            task: task.to_string(),
            operation,
            object: object.to_string(),
            source: Box::new(e),
        }
    }

    pub(crate) fn io(task: &str, operation: &'static str, path: &std::path::Path, e: std::io::Error) -> Self {
        SnapshotError::Io {
            task: task.to_string(),
            operation,
            path: path.display().to_string(),
            source: e,
        }
    }

    pub(crate) fn invalid(task: &str, object: impl ToString, reason: impl Into<String>) -> Self {
        SnapshotError::Invalid {
            task: task.to_string(),
            object: object.to_string(),
            reason: reason.into(),
        }
    }
}

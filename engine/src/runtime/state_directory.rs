//! The instance's directory, `state.dir/<application.id>`: locked for the instance's lifetime
//! and holding its process id.
//!
//! As Kafka Streams keeps a process id in its state directory, an instance keeps its id across
//! restarts, so its transactional ids (`<application.id>-<process id>-StreamThread-<n>`) stay the
//! same: a restarted instance's producers fence their crashed predecessors' at once (aborting
//! their open transactions) instead of leaving `read_committed` readers of its partitions
//! stalled until `transaction.timeout.ms`. Two live instances with one state directory would
//! share those ids and fence each other forever, and one task's RocksDB database: the lock
//! makes the second one fail to start with a clear error.

use crate::error::StreamsError;
use std::collections::hash_map::RandomState;
use std::fs::{File, OpenOptions, TryLockError};
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The lock file, held with an exclusive advisory lock (released when the process dies).
const LOCK_FILE: &str = ".lock";
/// The process id, one line of hex.
const PROCESS_FILE: &str = "sluice-process-id";

/// A locked state directory. The lock is released when this is dropped (or the process dies).
#[derive(Debug)]
pub(crate) struct StateDirectory {
    process_id: String,
    _lock: File,
}

fn error(path: &Path, reason: impl Into<String>) -> StreamsError {
    StreamsError::StateDirectory {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl StateDirectory {
    /// Creates (if needed) and locks `root`, and reads its process id (creating one the first
    /// time). Fails if another instance holds the lock.
    pub(crate) fn lock(root: &Path) -> Result<StateDirectory, StreamsError> {
        std::fs::create_dir_all(root).map_err(|e| error(root, format!("cannot create it: {e}")))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(root.join(LOCK_FILE))
            .map_err(|e| error(root, format!("cannot open its lock file: {e}")))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(error(
                    root,
                    "another instance of the application uses it (its lock is held); give every \
                     instance its own state.dir",
                ))
            }
            Err(TryLockError::Error(e)) => return Err(error(root, format!("cannot lock it: {e}"))),
        }
        let process_id = Self::process_id(root)?;
        Ok(StateDirectory {
            process_id,
            _lock: lock,
        })
    }

    /// The id kept in the directory, or a new random one written there.
    fn process_id(root: &Path) -> Result<String, StreamsError> {
        let path: PathBuf = root.join(PROCESS_FILE);
        let mut existing = String::new();
        if let Ok(mut f) = File::open(&path) {
            f.read_to_string(&mut existing)
                .map_err(|e| error(root, format!("cannot read {PROCESS_FILE}: {e}")))?;
            let id = existing.trim();
            if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Ok(id.to_string());
            }
            tracing::warn!(path = %path.display(), "unreadable process id; writing a new one");
        }
        let id = random_id();
        // Write then rename: a crash mid-write leaves the old file or none, never half an id.
        let tmp = root.join(format!("{PROCESS_FILE}.tmp"));
        let written = File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(id.as_bytes())?;
                f.sync_all()
            })
            .and_then(|()| std::fs::rename(&tmp, &path));
        written.map_err(|e| error(root, format!("cannot write {PROCESS_FILE}: {e}")))?;
        Ok(id)
    }

    /// The instance's process id.
    pub(crate) fn process_id_str(&self) -> &str {
        &self.process_id
    }
}

/// 128 random bits as hex (the standard library's per-process random hasher keys, mixed with
/// the time and the process id).
fn random_id() -> String {
    let mut out = String::new();
    for salt in 0..2u64 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(salt);
        h.write_u32(std::process::id());
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_its_process_id_and_refuses_a_second_instance() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("app");
        let first = StateDirectory::lock(&root).unwrap();
        let id = first.process_id_str().to_string();
        assert_eq!(id.len(), 32);
        let err = StateDirectory::lock(&root).unwrap_err().to_string();
        assert!(err.contains("another instance"), "{err}");
        drop(first);
        let again = StateDirectory::lock(&root).unwrap();
        assert_eq!(again.process_id_str(), id, "a restart keeps the id");
        let other = tempfile::tempdir().unwrap();
        let elsewhere = StateDirectory::lock(other.path()).unwrap();
        assert_ne!(elsewhere.process_id_str(), id);
    }
}

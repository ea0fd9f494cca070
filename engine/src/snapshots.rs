//! The instance's snapshotter: publishes task databases to the snapshot store in the
//! background, and restores a task from it when its local state is missing or behind.
//!
//! Stream threads only ever do the cheap part: after a commit, if the task is due, a RocksDB
//! checkpoint (a flush, then hard links) of committed state. Uploading, publishing and garbage
//! collection run on a small tokio runtime of their own, so a slow or unreachable store never
//! blocks processing; a failure is logged, counted and retried after a backoff. At most one
//! snapshot per task is in flight (checkpoints pin disk space).

use crate::config::StreamsConfig;
use crate::metrics::{names, Metrics};
use crate::task_id::TaskId;
use sluice_state::snapshot::{RestoreProgress, Restored, SnapshotError, SnapshotStore, StoreOffset};
use sluice_state::TaskDb;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest wait before retrying a failed snapshot.
const MAX_BACKOFF_MS: u64 = 10 * 60 * 1000;

#[derive(Debug, Default)]
struct TaskState {
    in_flight: bool,
    /// Not before this (the runtime's clock, ms).
    next_due_ms: u64,
    /// Failures in a row (backoff doubles with each).
    failures: u32,
    /// The store positions of the last snapshot published (or in flight): a task whose
    /// positions have not moved is not snapshotted again.
    last: Option<Vec<StoreOffset>>,
}

/// Snapshots of the tasks of one application instance.
pub(crate) struct Snapshots {
    store: SnapshotStore,
    runtime: tokio::runtime::Runtime,
    interval_ms: u64,
    retained: usize,
    grace: Duration,
    /// Where checkpoints wait for their upload (under the state directory, so that hard links
    /// work).
    scratch: PathBuf,
    /// Publish on the calling thread (`__state.snapshot.inline__`, for simulations).
    inline: bool,
    tasks: Mutex<HashMap<TaskId, TaskState>>,
    idle: std::sync::Condvar,
    metrics: Metrics,
    /// Downloads started (names their staging directories).
    downloads: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots").field("store", &self.store).finish()
    }
}

impl Snapshots {
    /// The snapshotter `config` asks for, if any; checkpoints go under `state_root`.
    pub(crate) fn new(
        config: &StreamsConfig,
        metrics: &Metrics,
        state_root: &Path,
    ) -> Result<Option<Arc<Snapshots>>, SnapshotError> {
        let Some(url) = &config.state_snapshot_store else {
            return Ok(None);
        };
        let options: Vec<(String, String)> = config.state_snapshot_options.clone().into_iter().collect();
        let store = SnapshotStore::from_url(url, &options)?;
        let scratch = state_root.join(".snapshots");
        // Checkpoints of a previous run whose upload never finished.
        let _ = std::fs::remove_dir_all(&scratch);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sluice-snapshots")
            .enable_all()
            .build()
            .map_err(|e| SnapshotError::Io {
                task: "-".into(),
                operation: "start the snapshot runtime",
                path: String::new(),
                source: e,
            })?;
        Ok(Some(Arc::new(Snapshots {
            store,
            runtime,
            interval_ms: config.state_snapshot_interval_ms,
            retained: config.state_snapshot_retained,
            grace: Duration::from_millis(config.state_snapshot_gc_grace_ms),
            scratch,
            inline: config.state_snapshot_inline,
            tasks: Mutex::new(HashMap::new()),
            idle: std::sync::Condvar::new(),
            metrics: metrics.clone(),
            downloads: std::sync::atomic::AtomicU64::new(0),
        })))
    }

    fn counter(&self, name: &'static str, help: &'static str, task: TaskId) -> crate::metrics::Counter {
        self.metrics.counter(name, help, &[("task", &task.to_string())])
    }

    /// Called right after `task`'s stores committed: if the task is due and has no snapshot in
    /// flight, checkpoints `db` (committed state, `stores` giving each logged store's changelog
    /// position) and publishes it in the background.
    pub(crate) fn after_commit(
        self: &Arc<Self>,
        task: TaskId,
        db: &TaskDb,
        stores: Vec<StoreOffset>,
        now_ms: u64,
    ) {
        {
            let mut tasks = self.tasks.lock().expect("snapshot state lock poisoned");
            let state = tasks.entry(task).or_default();
            // Nothing new since the last snapshot, or nothing at all yet: nothing to publish.
            let unchanged = state.last.as_ref() == Some(&stores);
            let empty = stores.iter().all(|s| s.offset.is_none());
            if state.in_flight || now_ms < state.next_due_ms || unchanged || empty {
                return;
            }
            state.in_flight = true;
            state.next_due_ms = now_ms + self.interval_ms;
        }
        let checkpoint = self.scratch.join(format!("{task}-{now_ms}"));
        let started = std::time::Instant::now();
        let prepared = std::fs::create_dir_all(&self.scratch)
            .map_err(|e| e.to_string())
            .and_then(|()| db.checkpoint(&checkpoint).map_err(|e| e.to_string()))
            .and_then(|()| db.incarnation().map_err(|e| e.to_string()));
        // The part of a snapshot the stream thread pays for (a flush of the memtables, then
        // hard links).
        self.counter(
            names::SNAPSHOT_CHECKPOINT_MS,
            "Milliseconds stream threads spent checkpointing for snapshots",
            task,
        )
        .add(started.elapsed().as_millis() as u64);
        let incarnation = match prepared {
            Ok(incarnation) => incarnation,
            Err(reason) => {
                tracing::warn!(%task, %reason, "snapshot checkpoint failed");
                let _ = std::fs::remove_dir_all(&checkpoint);
                self.finished(task, now_ms, None);
                return;
            }
        };
        let job = Arc::clone(self).publish(task, checkpoint, incarnation, stores.clone(), now_ms);
        if self.inline {
            self.runtime.block_on(job);
        } else {
            self.runtime.spawn(job);
        }
    }

    /// Publishes a checkpoint, collects garbage, and records the outcome.
    async fn publish(
        self: Arc<Self>,
        task: TaskId,
        checkpoint: PathBuf,
        incarnation: String,
        stores: Vec<StoreOffset>,
        now_ms: u64,
    ) {
        let name = task.to_string();
        let result = self
            .store
            .publish(&name, &checkpoint, &incarnation, stores.clone())
            .await;
        let _ = tokio::fs::remove_dir_all(&checkpoint).await;
        let ok = match result {
            Ok(published) => {
                let m = &published.manifest;
                tracing::info!(
                    %task,
                    sequence = m.sequence,
                    files = m.files.len(),
                    uploaded_files = published.uploaded_files,
                    uploaded_bytes = published.uploaded_bytes,
                    ms = published.duration.as_millis() as u64,
                    "snapshot published"
                );
                self.counter(
                    names::SNAPSHOT_UPLOADED_BYTES,
                    "Bytes uploaded by snapshots",
                    task,
                )
                .add(published.uploaded_bytes);
                self.counter(
                    names::SNAPSHOT_DURATION_MS,
                    "Milliseconds spent publishing snapshots",
                    task,
                )
                .add(published.duration.as_millis() as u64);
                self.metrics
                    .gauge(
                        names::SNAPSHOT_NEWEST_MS,
                        "When the task's newest snapshot was published (ms since the epoch)",
                        &[("task", &name)],
                    )
                    .set(m.created_ms.max(0) as u64);
                if let Err(e) = self.store.collect_garbage(&name, self.retained, self.grace).await {
                    tracing::warn!(%task, error = %e, "snapshot garbage collection failed; retried after the next snapshot");
                }
                Some(stores)
            }
            Err(e) => {
                tracing::warn!(%task, error = %e, "snapshot failed; processing goes on, retrying later");
                None
            }
        };
        self.finished(task, now_ms, ok);
    }

    /// Records the outcome of a snapshot: `published` holds its store positions on success.
    fn finished(&self, task: TaskId, started_ms: u64, published: Option<Vec<StoreOffset>>) {
        let mut tasks = self.tasks.lock().expect("snapshot state lock poisoned");
        let state = tasks.entry(task).or_default();
        state.in_flight = false;
        if let Some(stores) = published {
            state.last = Some(stores);
            state.failures = 0;
            self.counter(names::SNAPSHOTS_TAKEN, "Snapshots published", task)
                .inc();
        } else {
            state.failures += 1;
            let backoff = self
                .interval_ms
                .saturating_mul(1 << state.failures.min(16))
                .min(MAX_BACKOFF_MS.max(self.interval_ms));
            state.next_due_ms = started_ms + backoff;
            self.counter(names::SNAPSHOTS_FAILED, "Snapshots that failed", task)
                .inc();
        }
        self.idle.notify_all();
    }

    /// Waits up to `timeout` for every snapshot in flight to finish; true if none is left.
    pub(crate) fn wait_idle(&self, timeout: Duration) -> bool {
        let tasks = self.tasks.lock().expect("snapshot state lock poisoned");
        let (tasks, _) = self
            .idle
            .wait_timeout_while(tasks, timeout, |t| t.values().any(|s| s.in_flight))
            .expect("snapshot state lock poisoned");
        !tasks.values().any(|s| s.in_flight)
    }

    /// Counts snapshots a restore of `task` could not use. (A function of the metrics alone:
    /// background restore jobs hold no reference to the snapshotter, whose runtime must not be
    /// dropped from one of its own workers.)
    fn skipped(metrics: &Metrics, task: TaskId, n: u64) {
        metrics
            .counter(
                names::SNAPSHOT_RESTORE_SKIPPED,
                "Snapshots a restore could not use",
                &[("task", &task.to_string())],
            )
            .add(n)
    }

    /// Runs `job` on the snapshotter's runtime (inline in simulations, so that seeds replay).
    fn run<T: Default + Send + 'static>(
        &self,
        job: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Pending<T> {
        if self.inline {
            Pending {
                ready: Some(self.runtime.block_on(job)),
                handle: None,
                runtime: self.runtime.handle().clone(),
            }
        } else {
            Pending {
                ready: None,
                handle: Some(self.runtime.spawn(job)),
                runtime: self.runtime.handle().clone(),
            }
        }
    }

    /// Asks in the background whether `task`'s newest snapshot is ahead of local state
    /// (`local` gives each logged store's committed offset; a missing store is behind). Store
    /// errors are logged and counted, and answer false: the changelog has everything.
    pub(crate) fn newest_ahead(
        self: &Arc<Self>,
        task: TaskId,
        local: HashMap<String, Option<i64>>,
    ) -> Pending<bool> {
        let (store, metrics) = (self.store.clone(), self.metrics.clone());
        self.run(async move {
            match store.latest(&task.to_string()).await {
                Ok(Some(latest)) => behind(&local, &latest.stores),
                Ok(None) => false,
                Err(e) => {
                    tracing::warn!(%task, error = %e, "snapshot store unreachable: restoring from the changelog");
                    Self::skipped(&metrics, task, 1);
                    false
                }
            }
        })
    }

    /// Downloads in the background `task`'s newest usable snapshot beside the database
    /// directory `dir` (which stays open meanwhile), if it is ahead of `local`; `changelog_end`
    /// gives each changelog topic's end. `None`: restore from local state and the changelog.
    /// `progress` counts the bytes downloaded.
    pub(crate) fn download(
        &self,
        task: TaskId,
        dir: &Path,
        local: HashMap<String, Option<i64>>,
        changelog_end: HashMap<String, i64>,
        progress: Arc<RestoreProgress>,
    ) -> Pending<Option<Staged>> {
        let (store, metrics) = (self.store.clone(), self.metrics.clone());
        let staging = self.staging_dir(dir);
        self.run(async move {
            let end_of = |s: &StoreOffset| changelog_end.get(&s.changelog_topic).copied();
            let restored = match store
                .restore_with_progress(&task.to_string(), &staging, &end_of, &progress)
                .await
            {
                Ok(Some(r)) => r,
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!(%task, error = %e, "snapshot restore failed: restoring from the changelog");
                    Self::skipped(&metrics, task, 1);
                    let _ = tokio::fs::remove_dir_all(&staging).await;
                    return None;
                }
            };
            Self::skipped(&metrics, task, restored.skipped.len() as u64);
            for e in &restored.skipped {
                tracing::warn!(%task, error = %e, "snapshot skipped");
            }
            let staged = Staged {
                dir: staging,
                restored: Some(restored),
            };
            // An older snapshot than the newest may be all that is usable: keep local state if
            // it is at least as far (dropping `staged` deletes the download).
            let manifest = &staged.restored.as_ref().expect("just set").manifest;
            behind(&local, &manifest.stores).then_some(staged)
        })
    }

    /// A fresh directory beside the database directory `dir` to download a snapshot into.
    /// Downloads an earlier owner of the task left behind (a crash, a cancelled restore) are
    /// deleted first.
    fn staging_dir(&self, dir: &Path) -> PathBuf {
        let prefix = format!(
            "{}.snapshot",
            dir.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
        );
        if let Some(parent) = dir.parent() {
            for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let n = self.downloads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        dir.with_file_name(format!("{prefix}-{n}"))
    }

    /// Replaces the database directory `dir` (closed by the caller) by a downloaded snapshot.
    /// If it cannot, it says so in the log, and local state and the changelog restore the task.
    pub(crate) fn install(&self, task: TaskId, mut staged: Staged, dir: &Path) {
        let swapped = TaskDb::destroy(dir)
            .map_err(|e| e.to_string())
            .and_then(|()| std::fs::rename(&staged.dir, dir).map_err(|e| e.to_string()));
        if let Err(reason) = swapped {
            tracing::warn!(%task, %reason, "could not move the restored snapshot into place: restoring from the changelog");
            return;
        }
        let restored = staged
            .restored
            .take()
            .expect("a staged snapshot is installed once");
        self.counter(names::SNAPSHOT_RESTORES, "Tasks restored from a snapshot", task)
            .inc();
        self.counter(
            names::SNAPSHOT_RESTORED_BYTES,
            "Bytes downloaded from snapshots",
            task,
        )
        .add(restored.bytes);
        tracing::info!(
            %task,
            sequence = restored.manifest.sequence,
            bytes = restored.bytes,
            ms = restored.duration.as_millis() as u64,
            "restored from snapshot; replaying the changelog tail"
        );
    }
}

/// A request to the snapshot store running on the snapshotter's runtime (or finished inline).
/// Dropping it cancels the request (a task closed while restoring).
pub(crate) struct Pending<T> {
    ready: Option<T>,
    handle: Option<tokio::task::JoinHandle<T>>,
    runtime: tokio::runtime::Handle,
}

impl<T: Default> Pending<T> {
    /// The result once the request finished (returned once); `None` while it runs. A request
    /// that panicked answers `T::default()` (no snapshot: the changelog restores).
    pub(crate) fn poll(&mut self) -> Option<T> {
        if let Some(ready) = self.ready.take() {
            return Some(ready);
        }
        if !self.handle.as_ref()?.is_finished() {
            return None;
        }
        let handle = self.handle.take().expect("checked above");
        Some(self.runtime.block_on(handle).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "a snapshot request failed: restoring from the changelog");
            T::default()
        }))
    }
}

impl<T> Drop for Pending<T> {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }
}

/// A snapshot downloaded beside a task's database, waiting to replace it. Dropped without
/// being installed, it deletes the download.
pub(crate) struct Staged {
    dir: PathBuf,
    restored: Option<Restored>,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.restored.is_some() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// True if some store of `snapshot` is ahead of `local` (a store missing locally, or with no
/// offset, is behind any snapshot that has one).
fn behind(local: &HashMap<String, Option<i64>>, snapshot: &[StoreOffset]) -> bool {
    snapshot
        .iter()
        .any(|s| s.offset > local.get(&s.store).copied().flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(store: &str, offset: Option<i64>) -> StoreOffset {
        StoreOffset {
            store: store.into(),
            changelog_topic: format!("app-{store}-changelog"),
            partition: 0,
            offset,
        }
    }

    #[test]
    fn local_state_is_behind_when_any_store_is() {
        let local: HashMap<String, Option<i64>> = [("a".to_string(), Some(10)), ("b".to_string(), None)]
            .into_iter()
            .collect();
        assert!(!behind(&local, &[offset("a", Some(10))]));
        assert!(!behind(&local, &[offset("a", Some(3)), offset("b", None)]));
        assert!(behind(&local, &[offset("a", Some(11))]));
        assert!(behind(&local, &[offset("b", Some(0))]));
        assert!(behind(&local, &[offset("c", Some(0))]));
    }
}

//! Restoring a task's stores, one bounded step at a time.
//!
//! A task restores before it processes: first, if a snapshot store is configured, it asks
//! whether the newest snapshot is ahead of local state and downloads it in the background
//! (the database stays open meanwhile, and is closed only to be replaced); then it replays
//! each logged store's changelog from the offset the store records, until the reader is
//! caught up. The stream thread calls [`Task::restore_step`] between polls of its group
//! consumer, so a restore of any length never holds up polling (heartbeats,
//! `max.poll.interval.ms`) nor the tasks that are ready to process; every step does at most
//! one changelog read (up to [`RESTORE_BATCH`] records) or one check of a background request.
//!
//! The lifecycle is an explicit state machine ([`Restoration`]):
//! `Start -> [CheckingSnapshot -> [Downloading]] -> Replaying(store by store) -> Done`.

use super::{StoreSet, Task};
use crate::error::StreamsError;
use crate::restore::ChangelogReader;
use crate::restore::{ReadOutcome, StoreRestore, END_WAIT_TIMEOUT, RESTORE_BATCH, STALL_TIMEOUT};
use crate::snapshots::{Pending, Staged};
use sluice_state::snapshot::RestoreProgress;
use std::collections::HashMap;
use std::sync::Arc;

/// Where a task's restoration stands.
#[derive(Default)]
pub(crate) enum Restoration {
    /// Not started.
    #[default]
    Start,
    /// Asking the snapshot store whether its newest snapshot is ahead of local state.
    CheckingSnapshot(Pending<bool>),
    /// Downloading that snapshot beside the open database.
    Downloading {
        pending: Pending<Option<Staged>>,
        progress: Arc<RestoreProgress>,
    },
    /// Replaying changelogs, one store after another.
    Replaying(Replay),
    /// Every store is restored.
    Done,
}

/// Changelog replay of the task's stores, in store order.
pub(crate) struct Replay {
    /// Index of the store being replayed among the task's stores.
    store: usize,
    phase: ReplayPhase,
    done: Vec<StoreRestore>,
}

enum ReplayPhase {
    /// The store's replay has not begun.
    Begin,
    /// The changelog's committed end lags the offset the committed input offsets vouch for:
    /// an open transaction of a crashed or fenced producer holds its last stable offset back
    /// until the coordinator resolves it. Replaying only to the end seen now would restore
    /// state older than the committed offsets (and count again what they say was counted).
    AwaitingEnd { since_ms: u64 },
    /// Reading from `next` towards `end` (the end offset when the replay began).
    Reading {
        from: i64,
        next: i64,
        end: i64,
        records: u64,
        wiped: bool,
        /// Since when reads before the end yielded nothing.
        stalled_since: Option<u64>,
    },
}

/// What one step of restoration did.
#[derive(Debug)]
pub(crate) enum RestoreStep {
    /// More to do. `progressed`: the step moved on (records applied, a phase done), so the
    /// next step should come at once.
    Working { progressed: bool },
    /// Every store restored; what each replayed.
    Done(Vec<StoreRestore>),
}

impl Task {
    /// Restores the task to completion, stepping until done (the test driver's restarts, and
    /// tests). The stream thread steps instead, between polls.
    pub(crate) fn restore(
        &mut self,
        reader: &mut dyn ChangelogReader,
    ) -> Result<Vec<StoreRestore>, StreamsError> {
        let started = std::time::Instant::now();
        loop {
            let now_ms = started.elapsed().as_millis() as u64;
            match self.restore_step(reader, now_ms)? {
                RestoreStep::Done(done) => return Ok(done),
                // A background snapshot request runs: do not spin.
                RestoreStep::Working { progressed: false } => {
                    std::thread::sleep(std::time::Duration::from_millis(1))
                }
                RestoreStep::Working { progressed: true } => {}
            }
        }
    }

    /// The changelog partition the restore reads now, if any.
    pub(crate) fn changelog_being_read(&self) -> Option<(Arc<str>, i32)> {
        let Restoration::Replaying(Replay {
            store,
            phase: ReplayPhase::Reading { .. },
            ..
        }) = &self.restoration
        else {
            return None;
        };
        let topic = self.stores.iter().nth(*store)?.changelog.clone()?;
        Some((topic, self.id.partition))
    }

    /// One bounded step of restoration (see the module docs); `now_ms` is the runtime's clock.
    pub(crate) fn restore_step(
        &mut self,
        reader: &mut dyn ChangelogReader,
        now_ms: u64,
    ) -> Result<RestoreStep, StreamsError> {
        let progressed = match std::mem::take(&mut self.restoration) {
            Restoration::Start => {
                self.metrics.restoring(true);
                self.restoration = self.check_snapshot();
                true
            }
            Restoration::CheckingSnapshot(mut pending) => match pending.poll() {
                None => {
                    self.restoration = Restoration::CheckingSnapshot(pending);
                    false
                }
                Some(false) => {
                    self.restoration = Restoration::Replaying(Replay::new());
                    true
                }
                Some(true) => {
                    self.restoration = self.download_snapshot(reader)?;
                    true
                }
            },
            Restoration::Downloading {
                mut pending,
                progress,
            } => {
                self.metrics.snapshot_remaining(progress.remaining_bytes());
                match pending.poll() {
                    None => {
                        self.restoration = Restoration::Downloading { pending, progress };
                        false
                    }
                    Some(staged) => {
                        self.metrics.snapshot_remaining(0);
                        if let Some(staged) = staged {
                            self.install_snapshot(staged)?;
                        }
                        self.restoration = Restoration::Replaying(Replay::new());
                        true
                    }
                }
            }
            Restoration::Replaying(mut replay) => {
                let step = self.replay_step(&mut replay, reader, now_ms)?;
                if replay.store >= self.stores.iter().count() {
                    self.restoration = Restoration::Done;
                    self.metrics.restoring(false);
                    return Ok(RestoreStep::Done(replay.done));
                }
                self.restoration = Restoration::Replaying(replay);
                return Ok(step);
            }
            Restoration::Done => return Ok(RestoreStep::Done(Vec::new())),
        };
        Ok(RestoreStep::Working { progressed })
    }

    /// The first step: without a snapshot store, straight to the changelogs; with one, ask
    /// (in the background) whether its newest snapshot is ahead of local state.
    fn check_snapshot(&self) -> Restoration {
        let (Some(snapshots), Some(_)) = (&self.snapshots, self.stores.db()) else {
            return Restoration::Replaying(Replay::new());
        };
        Restoration::CheckingSnapshot(snapshots.newest_ahead(self.id, self.local_offsets()))
    }

    /// Each logged store's committed changelog offset in the task's database.
    fn local_offsets(&self) -> HashMap<String, Option<i64>> {
        self.snapshot_offsets()
            .into_iter()
            .map(|s| (s.store, s.offset))
            .collect()
    }

    /// A snapshot is ahead of local state: read the changelogs' ends (a snapshot past them
    /// belongs to a recreated topic) and download it in the background.
    fn download_snapshot(&mut self, reader: &mut dyn ChangelogReader) -> Result<Restoration, StreamsError> {
        let (Some(snapshots), Some(db)) = (self.snapshots.clone(), self.stores.db()) else {
            return Ok(Restoration::Replaying(Replay::new()));
        };
        let dir = db.path().to_path_buf();
        let mut ends = HashMap::new();
        for s in self.stores.iter().filter(|s| s.persistent) {
            if let Some(topic) = &s.changelog {
                ends.insert(topic.to_string(), reader.end_offset(topic, self.id.partition)?);
            }
        }
        let progress = Arc::new(RestoreProgress::default());
        let pending = snapshots.download(self.id, &dir, self.local_offsets(), ends, Arc::clone(&progress));
        Ok(Restoration::Downloading { pending, progress })
    }

    /// Replaces the task's database by a downloaded snapshot: the database is closed only
    /// now, then the stores reopen on the snapshot.
    fn install_snapshot(&mut self, staged: Staged) -> Result<(), StreamsError> {
        let (Some(snapshots), Some(db)) = (self.snapshots.clone(), self.stores.db()) else {
            return Ok(());
        };
        let dir = db.path().to_path_buf();
        self.stores = StoreSet::closed();
        snapshots.install(self.id, staged, &dir);
        self.stores = StoreSet::open(self.id, &self.topology, &self.config.application_id, &self.state)?;
        Ok(())
    }

    /// One step of changelog replay: begins the current store, checks a held-back end, or
    /// reads and applies one batch.
    fn replay_step(
        &mut self,
        replay: &mut Replay,
        reader: &mut dyn ChangelogReader,
        now_ms: u64,
    ) -> Result<RestoreStep, StreamsError> {
        let task = self.id;
        let store_error = |source| StreamsError::Store { task, source };
        let targets = &self.changelog_targets;
        let Some(store) = self.stores.iter_mut().nth(replay.store) else {
            return Ok(RestoreStep::Working { progressed: true });
        };
        let Some(topic) = store.changelog.clone() else {
            replay.next_store();
            return Ok(RestoreStep::Working { progressed: true });
        };
        let mut progressed = true;
        match &mut replay.phase {
            ReplayPhase::Begin | ReplayPhase::AwaitingEnd { .. } => {
                let end = reader.end_offset(&topic, task.partition)?;
                if let Some(&target) = targets.get(&store.name).filter(|&&t| end <= t) {
                    let since_ms = match replay.phase {
                        ReplayPhase::AwaitingEnd { since_ms, .. } => since_ms,
                        _ => {
                            tracing::info!(%task, store = %store.name, end, target, "changelog end held back by an open transaction; waiting for it to resolve");
                            now_ms
                        }
                    };
                    if now_ms.saturating_sub(since_ms) > END_WAIT_TIMEOUT.as_millis() as u64 {
                        return Err(StreamsError::Topics {
                            reason: format!(
                                "changelog {topic}-{}: the committed offsets vouch for offset {target}, but its \
                                 committed end stays at {end} (a transaction left open for longer than {}s, or \
                                 the changelog was recreated)",
                                task.partition,
                                END_WAIT_TIMEOUT.as_secs()
                            ),
                        });
                    }
                    progressed = matches!(replay.phase, ReplayPhase::Begin);
                    replay.phase = ReplayPhase::AwaitingEnd { since_ms };
                } else {
                    let mut next = store.kv.committed_offset().map_or(0, |o| o + 1);
                    let wiped = next > end;
                    if wiped {
                        tracing::warn!(%task, store = %store.name, recorded = next - 1, end, "local state is ahead of its changelog: replaying it in full");
                        store.kv.wipe().map_err(store_error)?;
                        next = 0;
                    }
                    self.metrics
                        .restore_remaining(&store.name, end.saturating_sub(next).max(0) as u64);
                    replay.phase = ReplayPhase::Reading {
                        from: next,
                        next,
                        end,
                        records: 0,
                        wiped,
                        stalled_since: None,
                    };
                }
            }
            ReplayPhase::Reading {
                from,
                next,
                end,
                records,
                wiped,
                stalled_since,
            } => {
                // Read until the reader is caught up rather than up to `end`: a broker may
                // report an end offset short of the last record (DEVELOPERS.md), and every
                // record read is committed.
                match reader.read(&topic, task.partition, *next, RESTORE_BATCH)? {
                    ReadOutcome::Records(batch) => {
                        let last = batch.last().map_or(*next - 1, |r| r.offset);
                        *records += batch.len() as u64;
                        *stalled_since = None;
                        let mut bytes = 0u64;
                        let entries = batch
                            .into_iter()
                            .map(|r| {
                                bytes += (r.key.len() + r.value.as_ref().map_or(0, Vec::len)) as u64;
                                Ok((
                                    store.layout.store_key(r.key)?,
                                    store.stored_value(r.value, r.timestamp),
                                ))
                            })
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(store_error)?;
                        let n = entries.len() as u64;
                        store.kv.restore(entries, last).map_err(store_error)?;
                        *next = last + 1;
                        self.metrics.restored(n, bytes);
                        self.metrics
                            .restore_remaining(&store.name, end.saturating_sub(*next).max(0) as u64);
                    }
                    // Caught up short of what the committed offsets vouch for cannot be: the end
                    // was past the target when the replay began. Read on (a backstop).
                    ReadOutcome::CaughtUp if targets.get(&store.name).is_some_and(|&t| *next <= t) => {
                        tracing::warn!(%task, store = %store.name, next = *next, "changelog reader caught up before the committed target; reading on");
                        progressed = false;
                    }
                    ReadOutcome::CaughtUp => {
                        tracing::info!(%task, store = %store.name, from = *from, records = *records, wiped = *wiped, "store restored");
                        self.metrics.restore_remaining(&store.name, 0);
                        replay.done.push(StoreRestore {
                            store: store.name.clone(),
                            from: *from,
                            records: *records,
                            wiped: *wiped,
                        });
                        replay.next_store();
                    }
                    ReadOutcome::Waiting => {
                        progressed = false;
                        let since = *stalled_since.get_or_insert(now_ms);
                        if now_ms.saturating_sub(since) > STALL_TIMEOUT.as_millis() as u64 {
                            return Err(StreamsError::Topics {
                                reason: format!(
                                    "changelog {topic}-{} yields nothing before its end offset {end}",
                                    task.partition
                                ),
                            });
                        }
                    }
                }
            }
        }
        Ok(RestoreStep::Working { progressed })
    }
}

impl Drop for Task {
    /// A task closed while it restored no longer reports progress.
    fn drop(&mut self) {
        // `Start` too: a step that failed leaves the state there.
        if !matches!(self.restoration, Restoration::Done) {
            self.metrics.restoring(false);
            if self.snapshots.is_some() {
                self.metrics.snapshot_remaining(0);
            }
            for store in self.stores.iter().filter(|s| s.changelog.is_some()) {
                self.metrics.restore_remaining(&store.name, 0);
            }
        }
    }
}

impl Replay {
    fn new() -> Self {
        Replay {
            store: 0,
            phase: ReplayPhase::Begin,
            done: Vec::new(),
        }
    }

    fn next_store(&mut self) {
        self.store += 1;
        self.phase = ReplayPhase::Begin;
    }
}

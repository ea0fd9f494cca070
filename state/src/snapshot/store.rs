//! [`SnapshotStore`]: publishing, listing, restoring and collecting snapshots of task databases.

use super::manifest::{hex, FileEntry, Manifest, StoreOffset, FORMAT};
use super::{parse_location, SnapshotError};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    GetResultPayload, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart,
};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Files at least this large are uploaded in parts.
const MULTIPART_THRESHOLD: u64 = 8 * 1024 * 1024;
/// Parts in flight per multipart upload.
const MULTIPART_CONCURRENCY: usize = 4;
/// Read buffer for hashing and uploading, write buffer for downloading.
const CHUNK: usize = 1024 * 1024;
/// Files downloaded at once by a restore.
const DOWNLOAD_CONCURRENCY: usize = 4;
/// Block of a local file's copy (see [`copy_file`]).
const COPY_BLOCK: usize = 8 * 1024 * 1024;

/// Where the snapshots of an application's tasks live: an object store and a prefix.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use sluice_state::snapshot::SnapshotStore;
/// let store = SnapshotStore::from_url("memory://", &[]).unwrap();
/// assert!(store.manifests("0_1").await.unwrap().is_empty());
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

/// What [`SnapshotStore::publish`] did.
#[derive(Debug, Clone)]
pub struct Published {
    /// The new snapshot's manifest.
    pub manifest: Manifest,
    /// Files uploaded (the others were shared with the previous snapshot).
    pub uploaded_files: usize,
    /// Bytes uploaded.
    pub uploaded_bytes: u64,
    /// Time taken.
    pub duration: Duration,
}

/// What [`SnapshotStore::restore`] did.
#[derive(Debug)]
pub struct Restored {
    /// The snapshot restored.
    pub manifest: Manifest,
    /// Newer snapshots skipped, each with the reason it could not be used.
    pub skipped: Vec<SnapshotError>,
    /// Bytes downloaded.
    pub bytes: u64,
    /// Time taken.
    pub duration: Duration,
}

/// How far a running [`SnapshotStore::restore_with_progress`] got, readable from another
/// thread while it runs (for restore-progress metrics).
#[derive(Debug, Default)]
pub struct RestoreProgress {
    total: AtomicU64,
    downloaded: AtomicU64,
}

impl RestoreProgress {
    /// Bytes of the snapshot being downloaded (0 before one is chosen).
    pub fn total_bytes(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Bytes of it downloaded so far.
    pub fn downloaded_bytes(&self) -> u64 {
        self.downloaded.load(Ordering::Relaxed)
    }

    /// Bytes still to download.
    pub fn remaining_bytes(&self) -> u64 {
        self.total_bytes().saturating_sub(self.downloaded_bytes())
    }

    fn start(&self, manifest: &Manifest) {
        self.downloaded.store(0, Ordering::Relaxed);
        self.total
            .store(manifest.files.iter().map(|f| f.size).sum(), Ordering::Relaxed);
    }
}

/// What [`SnapshotStore::collect_garbage`] deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Manifests deleted (older than the retained ones, or unreadable).
    pub manifests: usize,
    /// Files deleted (named by no retained manifest).
    pub files: usize,
}

impl SnapshotStore {
    /// Snapshots in `store` under `prefix`.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: Path) -> Self {
        SnapshotStore { store, prefix }
    }

    /// Snapshots at `url` (`state.snapshot.store`), with object_store's `options` for it.
    pub fn from_url(url: &str, options: &[(String, String)]) -> Result<Self, SnapshotError> {
        let (store, prefix) = parse_location(url, options)?;
        Ok(SnapshotStore::new(store, prefix))
    }

    /// The object store (tests reach in to damage snapshots on purpose).
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    fn path(&self, relative: &str) -> Path {
        let mut p = self.prefix.clone();
        for part in relative.split('/') {
            p = p.clone().join(part);
        }
        p
    }

    /// The object a manifest's `object` field names.
    pub fn object(&self, relative: &str) -> Path {
        self.path(relative)
    }

    fn manifest_relative(task: &str, sequence: u64) -> String {
        format!("{task}/manifests/{sequence:020}.json")
    }

    /// The sequences of `task`'s manifests, newest first (readable or not).
    pub async fn manifests(&self, task: &str) -> Result<Vec<u64>, SnapshotError> {
        Ok(self.listed(task).await?.into_iter().map(|(s, _)| s).collect())
    }

    /// `task`'s manifest objects with their sequences, newest first.
    async fn listed(&self, task: &str) -> Result<Vec<(u64, object_store::ObjectMeta)>, SnapshotError> {
        let dir = self.path(&format!("{task}/manifests"));
        let listed: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(|e| SnapshotError::store(task, "list", &dir, e))?;
        let mut manifests: Vec<(u64, object_store::ObjectMeta)> = listed
            .into_iter()
            .filter_map(|m| Some((m.location.filename()?.strip_suffix(".json")?.parse().ok()?, m)))
            .collect();
        manifests.sort_unstable_by_key(|(sequence, _)| std::cmp::Reverse(*sequence));
        Ok(manifests)
    }

    /// Reads and checks manifest `sequence` of `task`.
    pub async fn manifest(&self, task: &str, sequence: u64) -> Result<Manifest, SnapshotError> {
        let relative = Self::manifest_relative(task, sequence);
        let path = self.path(&relative);
        let bytes = self
            .store
            .get(&path)
            .await
            .map_err(|e| SnapshotError::store(task, "read", &path, e))?
            .bytes()
            .await
            .map_err(|e| SnapshotError::store(task, "read", &path, e))?;
        let manifest =
            Manifest::open(&bytes).map_err(|reason| SnapshotError::invalid(task, &relative, reason))?;
        if manifest.task != task || manifest.sequence != sequence {
            return Err(SnapshotError::invalid(
                task,
                &relative,
                format!("names task {} sequence {}", manifest.task, manifest.sequence),
            ));
        }
        Ok(manifest)
    }

    /// The newest manifest of `task` that reads and checks, if any.
    pub async fn latest(&self, task: &str) -> Result<Option<Manifest>, SnapshotError> {
        self.latest_among(task, &self.manifests(task).await?).await
    }

    /// The first of `sequences` (newest first) whose manifest reads and checks.
    async fn latest_among(&self, task: &str, sequences: &[u64]) -> Result<Option<Manifest>, SnapshotError> {
        for &sequence in sequences {
            match self.manifest(task, sequence).await {
                Ok(m) => return Ok(Some(m)),
                Err(e @ SnapshotError::Invalid { .. }) => tracing::warn!(error = %e, "skipping snapshot"),
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Publishes the database checkpoint in `checkpoint` (a directory RocksDB wrote, holding
    /// committed state only) as `task`'s next snapshot. SST files that the previous snapshot
    /// of the same `incarnation` holds are shared, after checking that they are still there;
    /// the others are uploaded (in parts when large), then the manifest is written
    /// create-only. `stores` gives each store's changelog position, as recorded with the
    /// checkpointed state.
    pub async fn publish(
        &self,
        task: &str,
        checkpoint: &std::path::Path,
        incarnation: &str,
        stores: Vec<StoreOffset>,
    ) -> Result<Published, SnapshotError> {
        let started = Instant::now();
        let sequences = self.manifests(task).await?;
        let sequence = sequences.first().map_or(1, |s| s + 1);
        let previous = self.latest_among(task, &sequences).await?;
        let shared: HashMap<&str, &FileEntry> = previous
            .iter()
            .filter(|p| p.incarnation == incarnation)
            .flat_map(|p| p.files.iter().map(|f| (f.name.as_str(), f)))
            .collect();

        let mut names = Vec::new();
        let mut dir = tokio::fs::read_dir(checkpoint)
            .await
            .map_err(|e| SnapshotError::io(task, "list", checkpoint, e))?;
        while let Some(entry) = dir
            .next_entry()
            .await
            .map_err(|e| SnapshotError::io(task, "list", checkpoint, e))?
        {
            if entry.file_type().await.is_ok_and(|t| t.is_file()) {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();

        let (mut files, mut uploaded_files, mut uploaded_bytes) = (Vec::new(), 0, 0);
        for name in names {
            let local = checkpoint.join(&name);
            let size = tokio::fs::metadata(&local)
                .await
                .map_err(|e| SnapshotError::io(task, "stat", &local, e))?
                .len();
            let immutable = name.ends_with(".sst") || name.ends_with(".blob");
            if immutable {
                if let Some(entry) = shared.get(name.as_str()).filter(|e| e.size == size) {
                    let object = self.path(&entry.object);
                    match self.store.head(&object).await {
                        Ok(meta) if meta.size == size => {
                            files.push((*entry).clone());
                            continue;
                        }
                        // Gone or damaged: upload it again.
                        Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(SnapshotError::store(task, "check", &object, e)),
                    }
                }
            }
            let relative = if immutable {
                format!("{task}/files/{incarnation}/{name}")
            } else {
                format!("{task}/meta/{sequence:020}/{name}")
            };
            let sha256 = self.upload(task, &local, size, &relative).await?;
            uploaded_files += 1;
            uploaded_bytes += size;
            files.push(FileEntry {
                name,
                object: relative,
                size,
                sha256,
            });
        }

        let created_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let (manifest, bytes) = Manifest {
            format: FORMAT,
            task: task.to_string(),
            sequence,
            incarnation: incarnation.to_string(),
            created_ms,
            stores,
            files,
            checksum: String::new(),
        }
        .seal();
        let relative = Self::manifest_relative(task, sequence);
        let path = self.path(&relative);
        let create = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self.store.put_opts(&path, PutPayload::from(bytes), create).await {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => {
                return Err(SnapshotError::Collision {
                    task: task.to_string(),
                    object: relative,
                })
            }
            Err(e) => return Err(SnapshotError::store(task, "write", &path, e)),
        }
        Ok(Published {
            manifest,
            uploaded_files,
            uploaded_bytes,
            duration: started.elapsed(),
        })
    }

    /// Uploads `local` to `relative`, hashing it on the way; returns the SHA-256 (hex).
    async fn upload(
        &self,
        task: &str,
        local: &std::path::Path,
        size: u64,
        relative: &str,
    ) -> Result<String, SnapshotError> {
        let path = self.path(relative);
        let mut file = tokio::fs::File::open(local)
            .await
            .map_err(|e| SnapshotError::io(task, "read", local, e))?;
        let mut hasher = Sha256::new();
        if size < MULTIPART_THRESHOLD {
            let mut bytes = Vec::with_capacity(size as usize);
            file.read_to_end(&mut bytes)
                .await
                .map_err(|e| SnapshotError::io(task, "read", local, e))?;
            hasher.update(&bytes);
            self.store
                .put(&path, PutPayload::from(bytes))
                .await
                .map_err(|e| SnapshotError::store(task, "upload", &path, e))?;
        } else {
            let upload = self
                .store
                .put_multipart(&path)
                .await
                .map_err(|e| SnapshotError::store(task, "upload", &path, e))?;
            let mut writer = WriteMultipart::new(upload);
            let mut buffer = vec![0u8; CHUNK];
            loop {
                let n = file
                    .read(&mut buffer)
                    .await
                    .map_err(|e| SnapshotError::io(task, "read", local, e))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buffer[..n]);
                writer
                    .wait_for_capacity(MULTIPART_CONCURRENCY)
                    .await
                    .map_err(|e| SnapshotError::store(task, "upload", &path, e))?;
                writer.write(&buffer[..n]);
            }
            writer
                .finish()
                .await
                .map_err(|e| SnapshotError::store(task, "upload", &path, e))?;
        }
        Ok(hex(&hasher.finalize()))
    }

    /// Restores `task` into the directory `into` (which must not exist yet) from the newest
    /// usable snapshot: its manifest checks, no store's offset is at or beyond its changelog's
    /// end (`changelog_end` gives the offset the next record would take, `None` if unknown),
    /// and every file downloads with its size and SHA-256. Unusable snapshots are skipped
    /// (reported in [`Restored::skipped`]) in favour of older ones. `Ok(None)`: none is usable;
    /// restore from the changelog. Errors of the object store itself are returned: the caller
    /// decides whether to wait or to replay the changelog.
    pub async fn restore(
        &self,
        task: &str,
        into: &std::path::Path,
        changelog_end: &(dyn Fn(&StoreOffset) -> Option<i64> + Sync),
    ) -> Result<Option<Restored>, SnapshotError> {
        self.restore_with_progress(task, into, changelog_end, &RestoreProgress::default())
            .await
    }

    /// [`Self::restore`], reporting the bytes downloaded so far in `progress` (reset for each
    /// snapshot tried).
    pub async fn restore_with_progress(
        &self,
        task: &str,
        into: &std::path::Path,
        changelog_end: &(dyn Fn(&StoreOffset) -> Option<i64> + Sync),
        progress: &RestoreProgress,
    ) -> Result<Option<Restored>, SnapshotError> {
        let started = Instant::now();
        let mut skipped = Vec::new();
        for sequence in self.manifests(task).await? {
            let manifest = match self.manifest(task, sequence).await {
                Ok(m) => m,
                Err(e @ SnapshotError::Invalid { .. }) => {
                    skipped.push(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let relative = Self::manifest_relative(task, sequence);
            if let Some(reason) = beyond_changelog(&manifest, changelog_end) {
                skipped.push(SnapshotError::invalid(task, &relative, reason));
                continue;
            }
            let staging = staging_dir(into);
            let _ = tokio::fs::remove_dir_all(&staging).await;
            progress.start(&manifest);
            match self.download(task, &manifest, &staging, progress).await {
                Ok(bytes) => {
                    tokio::fs::rename(&staging, into)
                        .await
                        .map_err(|e| SnapshotError::io(task, "move", into, e))?;
                    return Ok(Some(Restored {
                        manifest,
                        skipped,
                        bytes,
                        duration: started.elapsed(),
                    }));
                }
                Err(e) => {
                    let _ = tokio::fs::remove_dir_all(&staging).await;
                    match e {
                        SnapshotError::Invalid { .. } => skipped.push(e),
                        // A missing file makes this snapshot unusable, not the store.
                        SnapshotError::Store { source, .. }
                            if matches!(*source, object_store::Error::NotFound { .. }) =>
                        {
                            skipped.push(SnapshotError::invalid(
                                task,
                                &relative,
                                format!("a file is missing: {source}"),
                            ))
                        }
                        other => return Err(other),
                    }
                }
            }
        }
        if !skipped.is_empty() {
            tracing::warn!(
                task,
                skipped = skipped.len(),
                "no usable snapshot: restoring from the changelog"
            );
        }
        Ok(None)
    }

    /// Downloads every file of `manifest` into `dir` (several at a time), checking sizes and
    /// checksums; returns the bytes downloaded.
    async fn download(
        &self,
        task: &str,
        manifest: &Manifest,
        dir: &std::path::Path,
        progress: &RestoreProgress,
    ) -> Result<u64, SnapshotError> {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| SnapshotError::io(task, "create", dir, e))?;
        // The futures are made before they are streamed: a closure mapping inside the stream
        // would make this future unusable with `tokio::spawn` (a higher-ranked lifetime the
        // compiler cannot prove `Send` for).
        let downloads: Vec<_> = manifest
            .files
            .iter()
            .map(|f| self.download_file(task, f, dir, progress))
            .collect();
        let sizes: Vec<u64> = futures::stream::iter(downloads)
            .buffer_unordered(DOWNLOAD_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(sizes.iter().sum())
    }

    /// Downloads one file into `dir`, hashing it on the way, and syncs it.
    async fn download_file(
        &self,
        task: &str,
        f: &FileEntry,
        dir: &std::path::Path,
        progress: &RestoreProgress,
    ) -> Result<u64, SnapshotError> {
        let object = self.path(&f.object);
        let local = dir.join(&f.name);
        let fetched = self
            .store
            .get(&object)
            .await
            .map_err(|e| SnapshotError::store(task, "download", &object, e))?;
        let (size, sha256) = match fetched.payload {
            // A local store's file: copied in large blocking reads. The stream object_store
            // makes of it reads 8 KiB per step, several times slower than the disk.
            GetResultPayload::File(source, _) => copy_file(source, local.clone(), progress)
                .await
                .map_err(|e| SnapshotError::io(task, "write", &local, e))?,
            GetResultPayload::Stream(stream) => {
                self.write_stream(task, &object, stream, &local, progress).await?
            }
        };
        if size != f.size || sha256 != f.sha256 {
            return Err(SnapshotError::invalid(
                task,
                &f.object,
                format!(
                    "{size} bytes with SHA-256 {sha256}, the manifest says {} bytes with {}",
                    f.size, f.sha256
                ),
            ));
        }
        Ok(size)
    }

    /// Writes a downloaded stream into `local` and syncs it; returns its size and SHA-256.
    async fn write_stream<B: AsRef<[u8]>>(
        &self,
        task: &str,
        object: &Path,
        mut stream: impl futures::Stream<Item = object_store::Result<B>> + Unpin,
        local: &std::path::Path,
        progress: &RestoreProgress,
    ) -> Result<(u64, String), SnapshotError> {
        let file = tokio::fs::File::create(local)
            .await
            .map_err(|e| SnapshotError::io(task, "write", local, e))?;
        let mut out = tokio::io::BufWriter::with_capacity(CHUNK, file);
        let (mut hasher, mut size) = (Sha256::new(), 0u64);
        while let Some(chunk) = stream
            .try_next()
            .await
            .map_err(|e| SnapshotError::store(task, "download", object, e))?
        {
            let chunk = chunk.as_ref();
            hasher.update(chunk);
            size += chunk.len() as u64;
            progress
                .downloaded
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            out.write_all(chunk)
                .await
                .map_err(|e| SnapshotError::io(task, "write", local, e))?;
        }
        out.flush()
            .await
            .map_err(|e| SnapshotError::io(task, "write", local, e))?;
        out.into_inner()
            .sync_all()
            .await
            .map_err(|e| SnapshotError::io(task, "write", local, e))?;
        Ok((size, hex(&hasher.finalize())))
    }

    /// Keeps `task`'s newest `retained` readable snapshots and deletes the rest: older and
    /// unreadable manifests, and files no retained manifest names. Only objects older than
    /// `grace` are deleted, so that the files of a snapshot being published (its manifest not
    /// written yet) survive.
    pub async fn collect_garbage(
        &self,
        task: &str,
        retained: usize,
        grace: Duration,
    ) -> Result<GcReport, SnapshotError> {
        let mut report = GcReport::default();
        let cutoff = chrono_cutoff(grace);
        let mut kept: Vec<Manifest> = Vec::new();
        for (sequence, meta) in self.listed(task).await? {
            let path = meta.location;
            let keep = if kept.len() < retained {
                match self.manifest(task, sequence).await {
                    Ok(m) => {
                        kept.push(m);
                        true
                    }
                    Err(e @ SnapshotError::Invalid { .. }) => {
                        tracing::warn!(task, error = %e, "unreadable manifest: deleted once past the grace period");
                        false
                    }
                    Err(e) => return Err(e),
                }
            } else {
                false
            };
            let old_enough = meta.last_modified < cutoff;
            if !keep && old_enough {
                self.delete(task, &path).await?;
                report.manifests += 1;
            }
        }
        let referenced: HashSet<Path> = kept
            .iter()
            .flat_map(|m| m.files.iter().map(|f| self.path(&f.object)))
            .collect();
        for dir in ["files", "meta"] {
            let dir = self.path(&format!("{task}/{dir}"));
            let objects: Vec<_> = self
                .store
                .list(Some(&dir))
                .try_collect()
                .await
                .map_err(|e| SnapshotError::store(task, "list", &dir, e))?;
            for meta in objects {
                if !referenced.contains(&meta.location) && meta.last_modified < cutoff {
                    self.delete(task, &meta.location).await?;
                    report.files += 1;
                }
            }
        }
        Ok(report)
    }

    async fn delete(&self, task: &str, path: &Path) -> Result<(), SnapshotError> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(SnapshotError::store(task, "delete", path, e)),
        }
    }
}

/// Why `manifest` cannot be restored given the changelogs' ends, if it cannot.
/// Copies `source` into a new file `local` in blocks of [`COPY_BLOCK`], each read, hashed and
/// written on the blocking pool (so that several files copy in parallel), then syncs it;
/// returns the size and SHA-256.
async fn copy_file(
    source: std::fs::File,
    local: std::path::PathBuf,
    progress: &RestoreProgress,
) -> std::io::Result<(u64, String)> {
    use std::io::{Read, Write};
    let blocking = |job: Box<dyn FnOnce() -> std::io::Result<CopyState> + Send>| async move {
        tokio::task::spawn_blocking(job)
            .await
            .map_err(std::io::Error::other)?
    };
    let mut state = blocking(Box::new(move || {
        Ok(CopyState {
            target: std::fs::File::create(&local)?,
            source,
            hasher: Sha256::new(),
            block: vec![0; COPY_BLOCK],
            read: 0,
            size: 0,
        })
    }))
    .await?;
    loop {
        state = blocking(Box::new(move || {
            let mut s = state;
            s.read = 0;
            // Fill the block: a short read is not the end of the file.
            while s.read < s.block.len() {
                match s.source.read(&mut s.block[s.read..]) {
                    Ok(0) => break,
                    Ok(n) => s.read += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            s.hasher.update(&s.block[..s.read]);
            s.target.write_all(&s.block[..s.read])?;
            s.size += s.read as u64;
            Ok(s)
        }))
        .await?;
        progress
            .downloaded
            .fetch_add(state.read as u64, Ordering::Relaxed);
        if state.read < COPY_BLOCK {
            break;
        }
    }
    let state = blocking(Box::new(move || {
        state.target.sync_all()?;
        Ok(state)
    }))
    .await?;
    Ok((state.size, hex(&state.hasher.finalize())))
}

/// A file copy between two blocks of [`copy_file`].
struct CopyState {
    source: std::fs::File,
    target: std::fs::File,
    hasher: Sha256,
    block: Vec<u8>,
    /// Bytes in `block` after the last read.
    read: usize,
    size: u64,
}

fn beyond_changelog(
    manifest: &Manifest,
    changelog_end: &(dyn Fn(&StoreOffset) -> Option<i64> + Sync),
) -> Option<String> {
    manifest.stores.iter().find_map(|s| {
        let offset = s.offset?;
        match changelog_end(s) {
            Some(end) if offset < end => None,
            Some(end) => Some(format!(
                "store {} holds changelog offset {offset} of {}-{}, whose end is {end} (topic recreated?)",
                s.store, s.changelog_topic, s.partition
            )),
            None => Some(format!(
                "the end of {}-{} is unknown",
                s.changelog_topic, s.partition
            )),
        }
    })
}

/// The directory a restore downloads into before moving it into place.
fn staging_dir(into: &std::path::Path) -> std::path::PathBuf {
    let mut name = into.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".restoring");
    into.with_file_name(name)
}

fn chrono_cutoff(grace: Duration) -> chrono::DateTime<chrono::Utc> {
    // A grace beyond what chrono represents keeps everything (subtracting it would overflow).
    chrono::Duration::from_std(grace)
        .ok()
        .and_then(|g| chrono::Utc::now().checked_sub_signed(g))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A local file several blocks long (and not a multiple of one) copies whole, with its
    /// SHA-256, and every byte counted as downloaded.
    #[test]
    fn copy_file_copies_every_block() {
        let dir = tempfile::tempdir().unwrap();
        let (source, target) = (dir.path().join("source"), dir.path().join("target"));
        let data: Vec<u8> = (0..2 * COPY_BLOCK + 5).map(|i| (i % 251) as u8).collect();
        std::fs::write(&source, &data).unwrap();
        let progress = RestoreProgress::default();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (size, sha256) = runtime
            .block_on(copy_file(
                std::fs::File::open(&source).unwrap(),
                target.clone(),
                &progress,
            ))
            .unwrap();
        assert_eq!(size, data.len() as u64);
        assert_eq!(sha256, hex(&Sha256::digest(&data)));
        assert_eq!(std::fs::read(&target).unwrap(), data);
        assert_eq!(progress.downloaded_bytes(), data.len() as u64);
    }
}

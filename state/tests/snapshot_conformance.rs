//! The conformance suite every snapshot backend passes: in memory, local files, and S3 (a local
//! `moto_server`). Each run takes snapshots of a real RocksDB task database, incrementally,
//! collects garbage, restores, and damages snapshots in every way restore must survive.

mod support;

use object_store::{ObjectStoreExt, PutPayload};
use sluice_state::snapshot::{RestoreProgress, SnapshotError, SnapshotStore, StoreOffset};
use sluice_state::{RocksDbResources, TaskDb, WriteBatch};
use std::time::Duration;
use support::moto::Moto;
use support::runtime;
use support::task_db::{self, contents, Contents, STORES};

const TASK: &str = "0_3";

/// A task database that the test fills and commits to, as a task would.
struct Db {
    db: TaskDb,
    dir: tempfile::TempDir,
    offset: i64,
}

impl Db {
    fn new() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let db = task_db::open(&dir.path().join("db"));
        Db { db, dir, offset: -1 }
    }

    /// Commits `n` keys starting at `from` to every store (see `task_db::commit`).
    fn commit(&mut self, from: usize, n: usize) {
        self.offset += n as i64;
        task_db::commit(&self.db, from, n, self.offset);
    }

    fn offsets(&self) -> Vec<StoreOffset> {
        task_db::offsets(&self.db, 3)
    }

    /// Checkpoints and publishes, as the runtime does after a commit.
    fn snapshot(
        &self,
        rt: &tokio::runtime::Runtime,
        store: &SnapshotStore,
    ) -> sluice_state::snapshot::Published {
        let checkpoint = self.dir.path().join(format!("checkpoint-{}", self.offset));
        self.db.checkpoint(&checkpoint).unwrap();
        let incarnation = self.db.incarnation().unwrap();
        let published = rt
            .block_on(store.publish(TASK, &checkpoint, &incarnation, self.offsets()))
            .unwrap();
        std::fs::remove_dir_all(&checkpoint).unwrap();
        published
    }
}

fn ends_at(end: i64) -> impl Fn(&StoreOffset) -> Option<i64> + Sync {
    move |_| Some(end)
}

/// Restores into a fresh directory; the restored database's contents, if any snapshot was
/// usable, with the skipped ones.
fn restore(rt: &tokio::runtime::Runtime, store: &SnapshotStore, end: i64) -> Option<(u64, usize, Contents)> {
    let dir = tempfile::tempdir().unwrap();
    let into = dir.path().join("db");
    let progress = RestoreProgress::default();
    let restored = rt
        .block_on(store.restore_with_progress(TASK, &into, &ends_at(end), &progress))
        .unwrap()?;
    // Progress ends with every byte of the restored snapshot downloaded.
    assert_eq!(progress.total_bytes(), restored.bytes);
    assert_eq!(progress.downloaded_bytes(), restored.bytes);
    assert_eq!(progress.remaining_bytes(), 0);
    let db = TaskDb::open(&into, &STORES, &RocksDbResources::unbounded()).unwrap();
    Some((restored.manifest.sequence, restored.skipped.len(), contents(&db)))
}

fn suite(store: SnapshotStore) {
    let rt = runtime();
    let mut db = Db::new();
    assert!(restore(&rt, &store, 0).is_none(), "nothing to restore yet");

    // Take: every file uploaded, the offsets recorded.
    db.commit(0, 2_000);
    let first = db.snapshot(&rt, &store);
    assert_eq!(first.manifest.sequence, 1);
    assert_eq!(first.uploaded_files, first.manifest.files.len());
    assert_eq!(first.uploaded_bytes, first.manifest.bytes());
    assert_eq!(first.manifest.stores[0].offset, Some(1_999));
    let after_first = contents(&db.db);

    // Incremental: the SST files of the first snapshot are shared, only new ones uploaded.
    db.commit(2_000, 500);
    let second = db.snapshot(&rt, &store);
    assert_eq!(second.manifest.sequence, 2);
    let shared = second
        .manifest
        .files
        .iter()
        .filter(|f| first.manifest.files.iter().any(|g| g.object == f.object))
        .count();
    assert!(shared > 0, "the second snapshot shares the first one's SST files");
    assert!(
        second.uploaded_bytes < second.manifest.bytes() / 2,
        "uploaded {} of {} bytes",
        second.uploaded_bytes,
        second.manifest.bytes()
    );
    let after_second = contents(&db.db);

    // Restore: the newest snapshot, byte for byte, with its offsets.
    let (sequence, skipped, restored) = restore(&rt, &store, 2_500).unwrap();
    assert_eq!((sequence, skipped), (2, 0));
    assert_eq!(restored, after_second);

    // Offsets beyond the changelog's end (topic recreated): the older snapshot fits.
    let (sequence, skipped, restored) = restore(&rt, &store, 2_000).unwrap();
    assert_eq!((sequence, skipped), (1, 1));
    assert_eq!(restored, after_first);
    assert!(
        restore(&rt, &store, 1_000).is_none(),
        "no snapshot fits: replay the changelog"
    );

    // Retention and garbage collection: the newest two kept, with every file they name.
    db.commit(2_500, 300);
    db.snapshot(&rt, &store);
    db.commit(2_800, 300);
    let fourth = db.snapshot(&rt, &store);
    let report = rt
        .block_on(store.collect_garbage(TASK, 2, Duration::ZERO))
        .unwrap();
    assert_eq!(report.manifests, 2);
    assert!(
        report.files > 0,
        "files only the deleted snapshots named are gone"
    );
    assert_eq!(rt.block_on(store.manifests(TASK)).unwrap(), vec![4, 3]);
    let third = rt.block_on(store.manifest(TASK, 3)).unwrap();
    for f in fourth.manifest.files.iter().chain(&third.files) {
        rt.block_on(store.object_store().head(&store.object(&f.object)))
            .unwrap_or_else(|e| panic!("{} of a retained snapshot: {e}", f.object));
    }
    let after_fourth = contents(&db.db);
    let (sequence, _, restored) = restore(&rt, &store, 3_100).unwrap();
    assert_eq!(sequence, 4);
    assert_eq!(restored, after_fourth);

    // A file of the newest snapshot only: damaged (same size), then missing. Each time the
    // restore falls back to the third snapshot.
    let own = fourth
        .manifest
        .files
        .iter()
        .find(|f| f.name.ends_with(".sst") && !third.files.iter().any(|g| g.object == f.object))
        .expect("the fourth snapshot has an SST file of its own");
    let object = store.object(&own.object);
    let garbage = vec![0x5a; own.size as usize];
    rt.block_on(store.object_store().put(&object, PutPayload::from(garbage)))
        .unwrap();
    let (sequence, skipped, _) = restore(&rt, &store, 3_100).unwrap();
    assert_eq!((sequence, skipped), (3, 1), "a corrupt SST file");
    rt.block_on(store.object_store().delete(&object)).unwrap();
    let (sequence, skipped, _) = restore(&rt, &store, 3_100).unwrap();
    assert_eq!((sequence, skipped), (3, 1), "a missing SST file");

    // The next snapshot never names a missing file: if the database still has that file
    // (compaction may have merged it away), it is uploaded again.
    db.commit(3_100, 10);
    let fifth = db.snapshot(&rt, &store);
    let reuploaded = fifth.manifest.files.iter().any(|f| f.object == own.object);
    if reuploaded {
        rt.block_on(store.object_store().head(&object))
            .expect("a file the new snapshot names is there");
    }
    let (sequence, skipped, restored) = restore(&rt, &store, 3_110).unwrap();
    assert_eq!((sequence, skipped), (5, 0));
    assert_eq!(restored, contents(&db.db));

    // A corrupt manifest: the newest usable snapshot is the third (the fourth misses a file).
    let manifest = store.object(&format!("{TASK}/manifests/{:020}.json", 5));
    rt.block_on(
        store
            .object_store()
            .put(&manifest, PutPayload::from_static(b"{\"format\": 1")),
    )
    .unwrap();
    let (sequence, skipped, _) = restore(&rt, &store, 3_110).unwrap();
    // The fourth is whole again if the fifth uploaded its missing file (same name, same
    // incarnation, same contents); otherwise the third is the newest usable one.
    let expected = if reuploaded { (4, 1) } else { (3, 2) };
    assert_eq!((sequence, skipped), expected, "a corrupt manifest");
    let err = rt.block_on(store.manifest(TASK, 5)).unwrap_err();
    assert!(matches!(err, SnapshotError::Invalid { .. }), "{err}");

    // The next snapshot numbers past the corrupt manifest, and garbage collection drops it.
    db.commit(3_110, 10);
    let sixth = db.snapshot(&rt, &store);
    assert_eq!(sixth.manifest.sequence, 6);
    rt.block_on(store.collect_garbage(TASK, 2, Duration::ZERO))
        .unwrap();
    // Kept: the two newest readable ones (the fourth reads, though a file of it is missing).
    assert_eq!(rt.block_on(store.manifests(TASK)).unwrap(), vec![6, 4]);

    // A failed snapshot (files uploaded, no manifest) leaves nothing a restore trusts, and its
    // files go after the grace period.
    let orphan = store.object(&format!(
        "{TASK}/files/{}/999999.sst",
        db.db.incarnation().unwrap()
    ));
    rt.block_on(
        store
            .object_store()
            .put(&orphan, PutPayload::from_static(b"partial")),
    )
    .unwrap();
    let (sequence, _, _) = restore(&rt, &store, 3_120).unwrap();
    assert_eq!(sequence, 6);
    let kept = rt
        .block_on(store.collect_garbage(TASK, 2, Duration::from_secs(3_600)))
        .unwrap();
    assert_eq!(
        kept.files, 0,
        "within the grace period: an upload may still be running"
    );
    rt.block_on(store.collect_garbage(TASK, 2, Duration::ZERO))
        .unwrap();
    assert!(rt.block_on(store.object_store().head(&orphan)).is_err());

    // A restored database is a new incarnation: its first snapshot uploads its own files.
    let dir = tempfile::tempdir().unwrap();
    let into = dir.path().join("db");
    rt.block_on(store.restore(TASK, &into, &ends_at(3_120)))
        .unwrap()
        .unwrap();
    let restored = TaskDb::open(&into, &STORES, &RocksDbResources::unbounded()).unwrap();
    assert_ne!(restored.incarnation().unwrap(), db.db.incarnation().unwrap());
}

#[test]
fn memory() {
    suite(SnapshotStore::from_url("memory://", &[]).unwrap());
}

#[test]
fn local_files() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}/snapshots", dir.path().display());
    std::fs::create_dir_all(dir.path().join("snapshots")).unwrap();
    suite(SnapshotStore::from_url(&url, &[]).unwrap());
}

#[test]
fn s3_on_moto_server() {
    let moto = Moto::start();
    moto.create_bucket("sluice-snapshots");
    suite(SnapshotStore::from_url("s3://sluice-snapshots/app", &moto.options()).unwrap());
}

/// S3 down: publishing and restoring fail with the store's error (the runtime logs, counts and
/// retries; processing goes on), never with a half-written snapshot.
#[test]
fn s3_down_is_an_error_not_a_snapshot() {
    let rt = runtime();
    let mut moto = Moto::start();
    moto.create_bucket("down");
    let store = SnapshotStore::from_url("s3://down/app", &moto.options()).unwrap();
    let mut db = Db::new();
    db.commit(0, 100);
    db.snapshot(&rt, &store);
    moto.stop();
    db.commit(100, 100);
    let checkpoint = db.dir.path().join("checkpoint-down");
    db.db.checkpoint(&checkpoint).unwrap();
    let err = rt
        .block_on(store.publish(TASK, &checkpoint, &db.db.incarnation().unwrap(), db.offsets()))
        .unwrap_err();
    assert!(matches!(err, SnapshotError::Store { .. }), "{err}");
    let into = db.dir.path().join("restore");
    let err = rt
        .block_on(store.restore(TASK, &into, &ends_at(1_000)))
        .unwrap_err();
    assert!(matches!(err, SnapshotError::Store { .. }), "{err}");
    assert!(!into.exists());
}

/// Files past the multipart threshold (8 MiB) upload in parts and restore byte for byte.
#[test]
fn large_files_upload_in_parts() {
    let rt = runtime();
    let moto = Moto::start();
    moto.create_bucket("large");
    let store = SnapshotStore::from_url("s3://large/app", &moto.options()).unwrap();
    let mut db = Db::new();
    // 100,000 keys of 100 incompressible bytes per store: SST files of about 10 MB.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    db.offset = 99_999;
    for s in STORES {
        let entries = (0..100_000)
            .map(|i| {
                let value: Vec<u8> = (0..13).flat_map(|_| noise().to_le_bytes()).take(100).collect();
                (format!("key-{i:08}").into_bytes(), Some(value))
            })
            .collect();
        db.db
            .backend(s)
            .unwrap()
            .apply(WriteBatch {
                entries,
                delete_ranges: Vec::new(),
                changelog_offset: Some(db.offset),
            })
            .unwrap();
    }
    db.db.flush().unwrap();
    let published = db.snapshot(&rt, &store);
    let largest = published.manifest.files.iter().map(|f| f.size).max().unwrap();
    assert!(largest >= 8 * 1024 * 1024, "largest file {largest} bytes");
    let (_, _, restored) = restore(&rt, &store, 100_000).unwrap();
    assert_eq!(restored, contents(&db.db));
}

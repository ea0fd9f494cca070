//! A process killed (SIGKILL) in the middle of publishing a snapshot leaves nothing a restore
//! trusts, and the next snapshot and restore are sound.
//!
//! The child (this binary, re-executed) publishes through an object store that stops at its
//! second upload and says so; the parent then kills it, so the kill lands at the same point in
//! every run: one file of the new snapshot uploaded, the rest and the manifest not.

mod support;

use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use sluice_state::snapshot::{SnapshotStore, StoreOffset};
use sluice_state::TaskDb;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::runtime;
use support::task_db::{self, contents, Contents};

const TASK: &str = "1_0";
/// The upload the child stops at (1-based).
const STALL_AT: usize = 2;

/// An object store that stops forever at its `STALL_AT`-th upload, after printing `STALLED`.
#[derive(Debug)]
struct StallingStore {
    inner: LocalFileSystem,
    uploads: AtomicUsize,
}

impl std::fmt::Display for StallingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StallingStore({})", self.inner)
    }
}

impl StallingStore {
    async fn upload_started(&self, location: &ObjectPath) {
        if self.uploads.fetch_add(1, Ordering::SeqCst) + 1 == STALL_AT {
            println!("STALLED {location}");
            std::future::pending::<()>().await;
        }
    }
}

#[async_trait::async_trait]
impl ObjectStore for StallingStore {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.upload_started(location).await;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.upload_started(location).await;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &ObjectPath, options: GetOptions) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjectPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&ObjectPath>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&ObjectPath>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

fn open(dir: &Path) -> TaskDb {
    task_db::open(&dir.join("db"))
}

/// Checkpoints `db` and publishes it to `store`, as the runtime does after a commit.
fn publish(rt: &tokio::runtime::Runtime, db: &TaskDb, dir: &Path, store: &SnapshotStore) -> u64 {
    let checkpoint = dir.join("checkpoint");
    let _ = std::fs::remove_dir_all(&checkpoint);
    db.checkpoint(&checkpoint).unwrap();
    let published = rt
        .block_on(store.publish(
            TASK,
            &checkpoint,
            &db.incarnation().unwrap(),
            task_db::offsets(db, 0),
        ))
        .unwrap();
    std::fs::remove_dir_all(&checkpoint).unwrap();
    published.manifest.sequence
}

/// Restores the newest usable snapshot into a fresh directory: its sequence and contents.
fn restore(rt: &tokio::runtime::Runtime, store: &SnapshotStore) -> (u64, Contents) {
    let dir = tempfile::tempdir().unwrap();
    let into = dir.path().join("db");
    let end = |_: &StoreOffset| Some(i64::MAX);
    let restored = rt
        .block_on(store.restore(TASK, &into, &end))
        .unwrap()
        .expect("a usable snapshot");
    (restored.manifest.sequence, contents(&task_db::open(&into)))
}

/// Every object of the task.
fn objects(rt: &tokio::runtime::Runtime, store: &SnapshotStore) -> Vec<String> {
    use futures::TryStreamExt;
    let mut all: Vec<String> = rt
        .block_on(
            store
                .object_store()
                .list(Some(&store.object(TASK)))
                .try_collect::<Vec<_>>(),
        )
        .unwrap()
        .into_iter()
        .map(|m| m.location.to_string())
        .collect();
    all.sort();
    all
}

/// The child: commits more, then publishes through the stalling store (killed there).
fn child(dir: &Path) {
    let db = open(dir);
    task_db::commit(&db, 2_000, 1_000, 2_999);
    let stalling = StallingStore {
        inner: LocalFileSystem::new_with_prefix(dir.join("snapshots")).unwrap(),
        uploads: AtomicUsize::new(0),
    };
    let store = SnapshotStore::new(Arc::new(stalling), ObjectPath::default());
    publish(&runtime(), &db, dir, &store);
    panic!("the publish should have stalled");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        child(Path::new(&args[2]));
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let rt = runtime();
    let base = tempfile::tempdir().unwrap();
    let dir = base.path();
    std::fs::create_dir_all(dir.join("snapshots")).unwrap();
    let url = format!("file://{}", dir.join("snapshots").display());
    let store = SnapshotStore::from_url(&url, &[]).unwrap();

    // A first snapshot, published completely.
    let first = {
        let db = open(dir);
        task_db::commit(&db, 0, 2_000, 1_999);
        assert_eq!(publish(&rt, &db, dir, &store), 1);
        contents(&db)
    };
    let complete = objects(&rt, &store);

    // The child commits more and is killed in the middle of publishing it.
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("child")
        .arg(dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("STALLED"),
        "the child did not reach its upload: {line:?}"
    );
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success());

    // What the killed publish uploaded is there, but no manifest names it: a restore gives the
    // first snapshot, unchanged.
    let after_kill = objects(&rt, &store);
    assert_eq!(after_kill.len(), complete.len() + STALL_AT - 1, "{after_kill:?}");
    assert_eq!(rt.block_on(store.manifests(TASK)).unwrap(), vec![1]);
    assert_eq!(restore(&rt, &store), (1, first));

    // The database the child committed to (its memtables flushed before the kill) publishes
    // again, and that snapshot restores to exactly its state.
    let db = open(dir);
    let now = contents(&db);
    assert_eq!(now[0].1, Some(2_999));
    assert_eq!(publish(&rt, &db, dir, &store), 2);
    assert_eq!(restore(&rt, &store), (2, now));

    // Garbage collection keeping one snapshot leaves only what it names.
    rt.block_on(store.collect_garbage(TASK, 1, Duration::ZERO))
        .unwrap();
    assert_eq!(rt.block_on(store.manifests(TASK)).unwrap(), vec![2]);
    let manifest = rt.block_on(store.manifest(TASK, 2)).unwrap();
    let named: Vec<String> = manifest.files.iter().map(|f| f.object.clone()).collect();
    for object in objects(&rt, &store) {
        assert!(
            object.ends_with(".json") || named.iter().any(|n| object.ends_with(n.as_str())),
            "{object} survived garbage collection"
        );
    }
    println!("snapshot_crash: a publish killed at upload {STALL_AT} left nothing trusted; the next snapshot restores");
}

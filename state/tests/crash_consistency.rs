//! Crash consistency of RocksDB stores, with real process crashes.
//!
//! A child process (this binary, re-executed) writes a store and aborts at a chosen point: no
//! destructors run and no memtable is flushed, exactly as after `kill -9`. The changelog is a
//! file the child appends to and syncs *before* applying a batch to the store, as the engine
//! produces changelog records in the transaction before it applies the overlay. The parent then
//! reopens the store, replays the changelog from the offset the store recorded, and checks the
//! result equals the committed state (a fold of the whole changelog) exactly.
//!
//! Run: `cargo test -p sluice-state --test crash_consistency`.

use sluice_state::{KeyValueStore, RocksDbResources, StoreError, TaskDb};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

const STORE: &str = "counts";

/// One changelog line: `offset key value|-`.
fn append_changelog(dir: &Path, records: &[(i64, String, Option<String>)]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("changelog"))
        .unwrap();
    for (offset, k, v) in records {
        writeln!(f, "{offset} {k} {}", v.as_deref().unwrap_or("-")).unwrap();
    }
    f.sync_all().unwrap();
}

fn read_changelog(dir: &Path) -> Vec<(i64, Vec<u8>, Option<Vec<u8>>)> {
    let Ok(f) = File::open(dir.join("changelog")) else {
        return Vec::new();
    };
    BufReader::new(f)
        .lines()
        .map(|l| {
            let l = l.unwrap();
            let mut parts = l.split(' ');
            let offset = parts.next().unwrap().parse().unwrap();
            let key = parts.next().unwrap().as_bytes().to_vec();
            let value = match parts.next().unwrap() {
                "-" => None,
                v => Some(v.as_bytes().to_vec()),
            };
            (offset, key, value)
        })
        .collect()
}

/// The committed state: every changelog record folded in order.
fn reference(dir: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut m = BTreeMap::new();
    for (_, k, v) in read_changelog(dir) {
        match v {
            Some(v) => m.insert(k, v),
            None => m.remove(&k),
        };
    }
    m
}

fn resources() -> RocksDbResources {
    RocksDbResources::bounded(8 << 20, 2 << 20)
}

fn open(dir: &Path) -> Result<KeyValueStore, StoreError> {
    let db = TaskDb::open(&dir.join("db"), &[STORE], &resources())?;
    Ok(KeyValueStore::new(STORE, db.backend(STORE)?))
}

/// Batch `n` of the workload: offsets `100n..100n+99`, puts and deletes over 60 keys.
fn batch(n: i64) -> Vec<(i64, String, Option<String>)> {
    (0..100)
        .map(|i| {
            let offset = n * 100 + i;
            let key = format!("k{:02}", (i * 7 + n * 13) % 60);
            let value = if (i + n) % 9 == 0 {
                None
            } else {
                Some(format!("v{offset}"))
            };
            (offset, key, value)
        })
        .collect()
}

/// Logs a batch to the changelog, then writes it through the store's overlay and commits it.
fn log_and_commit(dir: &Path, store: &mut KeyValueStore, n: i64) {
    let b = batch(n);
    append_changelog(dir, &b);
    for (_, k, v) in &b {
        match v {
            Some(v) => store.put(k.as_bytes(), v.as_bytes()),
            None => store.delete(k.as_bytes()),
        }
    }
    store.commit(Some(b.last().unwrap().0)).unwrap();
}

/// Replays the changelog after the recorded offset (in small batches), as the engine restores.
fn restore(dir: &Path, store: &mut KeyValueStore) -> usize {
    let from = store.committed_offset().map_or(0, |o| o + 1);
    let tail: Vec<_> = read_changelog(dir)
        .into_iter()
        .filter(|(o, _, _)| *o >= from)
        .collect();
    for chunk in tail.chunks(37) {
        let last = chunk.last().unwrap().0;
        store
            .restore(
                chunk.iter().map(|(_, k, v)| (k.clone(), v.clone())).collect(),
                last,
            )
            .unwrap();
    }
    tail.len()
}

fn contents(store: &KeyValueStore) -> BTreeMap<Vec<u8>, Vec<u8>> {
    store.all().unwrap().map(Result::unwrap).collect()
}

/// The child: runs `scenario` in `dir` and aborts at its crash point.
fn child(scenario: &str, dir: &Path) -> ! {
    let mut store = open(dir).unwrap();
    match scenario {
        // Durable batch 0, then batch 1 logged but never applied to the store.
        "crash-before-apply" => {
            log_and_commit(dir, &mut store, 0);
            store.flush().unwrap();
            append_changelog(dir, &batch(1));
            for (_, k, v) in batch(1) {
                match v {
                    Some(v) => store.put(k.as_bytes(), v.as_bytes()),
                    None => store.delete(k.as_bytes()),
                }
            }
        }
        // Batch 1 applied (memtable) but never flushed: lost with the process.
        "crash-after-apply" => {
            log_and_commit(dir, &mut store, 0);
            store.flush().unwrap();
            log_and_commit(dir, &mut store, 1);
            log_and_commit(dir, &mut store, 2);
        }
        // Everything flushed: nothing to replay.
        "crash-after-flush" => {
            for n in 0..3 {
                log_and_commit(dir, &mut store, n);
            }
            store.flush().unwrap();
        }
        // A restore interrupted halfway (the changelog was written by an earlier run).
        "crash-mid-restore" => {
            let tail = read_changelog(dir);
            let half = &tail[..tail.len() / 2];
            store
                .restore(
                    half.iter().map(|(_, k, v)| (k.clone(), v.clone())).collect(),
                    half.last().unwrap().0,
                )
                .unwrap();
        }
        other => panic!("unknown scenario {other}"),
    }
    std::process::abort()
}

fn run_child(scenario: &str, dir: &Path) {
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["child", scenario])
        .arg(dir)
        .status()
        .unwrap();
    assert!(
        !status.success(),
        "{scenario}: the child must crash, not exit cleanly"
    );
}

fn fresh_dir(base: &Path, name: &str) -> PathBuf {
    let d = base.join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Reopens after a crash and checks the restored state; returns (recorded offset, replayed).
fn check_recovery(dir: &Path) -> (Option<i64>, usize) {
    let mut store = open(dir).unwrap();
    let recorded = store.committed_offset();
    let replayed = restore(dir, &mut store);
    assert_eq!(
        contents(&store),
        reference(dir),
        "restored state differs from the committed state"
    );
    (recorded, replayed)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        child(&args[2], Path::new(&args[3]));
    }
    let base = tempfile::tempdir().unwrap();

    let dir = fresh_dir(base.path(), "before-apply");
    run_child("crash-before-apply", &dir);
    assert_eq!(check_recovery(&dir), (Some(99), 100));
    println!(
        "crash between changelog commit and store apply: recovered from offset 99, 100 records replayed"
    );

    let dir = fresh_dir(base.path(), "after-apply");
    run_child("crash-after-apply", &dir);
    assert_eq!(check_recovery(&dir), (Some(99), 200));
    println!("crash after store apply, before flush: memtables lost, recovered from offset 99, 200 records replayed");

    let dir = fresh_dir(base.path(), "after-flush");
    run_child("crash-after-flush", &dir);
    assert_eq!(check_recovery(&dir), (Some(299), 0));
    println!("crash after flush: nothing to replay");

    let dir = fresh_dir(base.path(), "mid-restore");
    append_changelog(&dir, &[batch(0), batch(1), batch(2), batch(3)].concat());
    run_child("crash-mid-restore", &dir);
    let (recorded, replayed) = check_recovery(&dir);
    assert!(recorded.is_none() || replayed < 400, "{recorded:?} {replayed}");
    println!("crash during restore: restore resumed (recorded offset {recorded:?}, {replayed} replayed)");

    // Corrupt local state: opening reports corruption; deleting it and replaying in full
    // restores the committed state.
    let dir = fresh_dir(base.path(), "corrupt");
    run_child("crash-after-flush", &dir);
    std::fs::write(dir.join("db").join("CURRENT"), b"garbage").unwrap();
    match open(&dir) {
        Err(StoreError::Corrupt { .. }) => {}
        other => panic!("expected corruption to be detected, got {:?}", other.map(|_| ())),
    }
    TaskDb::destroy(&dir.join("db")).unwrap();
    assert_eq!(check_recovery(&dir), (None, 300));
    println!("corrupt local state: detected, deleted, 300 records replayed");

    // Missing local state: a full replay.
    let dir = fresh_dir(base.path(), "missing");
    run_child("crash-after-flush", &dir);
    std::fs::remove_dir_all(dir.join("db")).unwrap();
    assert_eq!(check_recovery(&dir), (None, 300));
    println!("missing local state: 300 records replayed");

    println!("crash_consistency: all scenarios passed");
}

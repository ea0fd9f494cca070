//! State store benchmark: put/get/range throughput and restore rate of RocksDB stores, with the
//! in-memory store measured in the same run as the baseline (and RocksDB with a read cache,
//! `rocksdb.row.cache.bytes`, against RocksDB without); and peak RSS of 200 task databases
//! under the shared cache bound vs RocksDB's per-database defaults.
//!
//! ```text
//! cargo bench --bench state_stores            # full run (a few minutes)
//! cargo bench --bench state_stores -- --quick # small sizes; `cargo test` runs this too
//! ```
//! Figures are ratios against the baseline of the same run; absolute numbers vary by machine.

use sluice::state::{KeyValueStore, KvBackend, MemoryBackend, ReadCacheBudget, RocksDbResources, TaskDb};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

struct Sizes {
    keys: u64,
    ops: u64,
    scans: u64,
    restore_records: u64,
    restore_keys: u64,
    tasks: u64,
    records_per_task: u64,
}

const FULL: Sizes = Sizes {
    keys: 200_000,
    ops: 200_000,
    scans: 10_000,
    restore_records: 1_000_000,
    restore_keys: 100_000,
    tasks: 200,
    records_per_task: 5_000,
};

const QUICK: Sizes = Sizes {
    keys: 5_000,
    ops: 5_000,
    scans: 200,
    restore_records: 20_000,
    restore_keys: 2_000,
    tasks: 10,
    records_per_task: 200,
};

fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(b"account-");
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

/// A cheap, fixed permutation so gets are not sequential.
fn scatter(i: u64, n: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % n
}

fn rate(count: u64, started: Instant) -> f64 {
    count as f64 / started.elapsed().as_secs_f64()
}

struct OpRates {
    put: f64,
    get: f64,
    hot_get: f64,
    range: f64,
}

/// Keys the repeated reads go to: a table join's lookups, an aggregation's open windows.
const HOT_KEYS: u64 = 10_000;

/// Reads go through `KeyValueStore::read`, as processors read (lent bytes, the read cache if
/// the store has one).
fn store_ops(mut store: KeyValueStore, s: &Sizes) -> OpRates {
    let value = [7u8; 100];
    let started = Instant::now();
    for i in 0..s.keys {
        store.put(&key(i), &value);
        if i % 1000 == 999 {
            store.commit(Some(i as i64)).unwrap();
        }
    }
    store.commit(Some(s.keys as i64)).unwrap();
    let put = rate(s.keys, started);

    let started = Instant::now();
    let mut found = 0u64;
    for i in 0..s.ops {
        found += u64::from(store.read(&key(scatter(i, s.keys)), |v| v.is_some()).unwrap());
    }
    assert_eq!(found, s.ops);
    let get = rate(s.ops, started);

    let hot = HOT_KEYS.min(s.keys);
    let started = Instant::now();
    let mut bytes = 0u64;
    for i in 0..s.ops {
        bytes += store
            .read(&key(scatter(i, hot)), |v| v.map_or(0, |v| v.len() as u64))
            .unwrap();
    }
    assert_eq!(bytes, s.ops * value.len() as u64);
    let hot_get = rate(s.ops, started);

    let started = Instant::now();
    let mut entries = 0u64;
    for i in 0..s.scans {
        let from = scatter(i, s.keys - 100);
        entries += store
            .range_inclusive(&key(from), &key(from + 99))
            .unwrap()
            .count() as u64;
    }
    assert_eq!(entries, s.scans * 100);
    let range = rate(entries, started);
    OpRates {
        put,
        get,
        hot_get,
        range,
    }
}

fn restore_rate(backend: Box<dyn KvBackend>, s: &Sizes) -> f64 {
    let mut store = KeyValueStore::new("bench", backend);
    let value = vec![3u8; 100];
    let started = Instant::now();
    let mut offset = 0u64;
    while offset < s.restore_records {
        let n = 10_000.min(s.restore_records - offset);
        let batch: Vec<(Vec<u8>, Option<Vec<u8>>)> = (offset..offset + n)
            .map(|o| (key(scatter(o, s.restore_keys)).to_vec(), Some(value.clone())))
            .collect();
        offset += n;
        store.restore(batch, offset as i64 - 1).unwrap();
    }
    rate(s.restore_records, started)
}

/// Child process: opens `tasks` databases, writes and reads them, prints peak RSS in KiB.
fn memory_child(bounded: bool, tasks: u64, records: u64, dir: &Path) {
    let resources = if bounded {
        RocksDbResources::bounded(64 << 20, 16 << 20)
    } else {
        RocksDbResources::unbounded()
    };
    let value = [5u8; 1000];
    let mut stores = Vec::new();
    for t in 0..tasks {
        let db = TaskDb::open(&dir.join(format!("0_{t}")), &["store"], &resources).unwrap();
        let mut store = KeyValueStore::new("store", db.backend("store").unwrap());
        for i in 0..records {
            store.put(&key(i), &value);
            if i % 1000 == 999 {
                store.commit(None).unwrap();
            }
        }
        store.commit(None).unwrap();
        stores.push(store);
    }
    for store in &stores {
        for i in 0..records {
            assert!(store.get(&key(scatter(i, records))).unwrap().is_some());
        }
    }
    println!("{}", peak_rss_kib());
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn measure_memory(bounded: bool, s: &Sizes) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "memory-child",
            if bounded { "bounded" } else { "unbounded" },
            &s.tasks.to_string(),
            &s.records_per_task.to_string(),
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("memory-child") {
        memory_child(
            args[2] == "bounded",
            args[3].parse().unwrap(),
            args[4].parse().unwrap(),
            Path::new(&args[5]),
        );
        return;
    }
    // `cargo bench` passes --bench; `cargo test` (CI) runs the quick smoke version.
    let quick = !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--quick");
    let s = if quick { &QUICK } else { &FULL };
    let dir = tempfile::tempdir().unwrap();
    let resources = RocksDbResources::bounded(64 << 20, 16 << 20);
    let open = |name: &str, resources: &RocksDbResources| {
        TaskDb::open(&dir.path().join(name), &["bench"], resources)
            .unwrap()
            .backend("bench")
            .unwrap()
    };
    let rocks = |name: &str| open(name, &resources);

    println!(
        "state_stores benchmark ({} run)",
        if quick { "quick" } else { "full" }
    );
    let plain = |backend| KeyValueStore::new("bench", backend);
    let mem = store_ops(plain(Box::new(MemoryBackend::new())), s);
    let rdb = store_ops(plain(rocks("ops")), s);
    let cached = store_ops(
        plain(rocks("ops-read-cache")).with_read_cache(&ReadCacheBudget::new(16 << 20)),
        s,
    );
    println!(
        "{:<32}{:>14}{:>14}{:>8}{:>22}{:>8}",
        "operation", "in-memory /s", "RocksDB /s", "ratio", "RocksDB+read cache /s", "ratio"
    );
    let hot_label = format!("get (random, {} keys)", HOT_KEYS.min(s.keys));
    for (name, m, r, c) in [
        ("put (commit every 1000)", mem.put, rdb.put, cached.put),
        ("get (random, every key)", mem.get, rdb.get, cached.get),
        (hot_label.as_str(), mem.hot_get, rdb.hot_get, cached.hot_get),
        ("range (100 keys/scan)", mem.range, rdb.range, cached.range),
    ] {
        println!(
            "{name:<32}{m:>14.0}{r:>14.0}{:>8.2}{c:>22.0}{:>8.2}",
            r / m,
            c / r
        );
    }
    println!("(ratios: RocksDB over in-memory; with a 16 MiB read cache over RocksDB without)");

    let mem_restore = restore_rate(Box::new(MemoryBackend::new()), s);
    let rdb_restore = restore_rate(rocks("restore"), s);
    println!(
        "restore {} changelog records: in-memory {:.0}/s, RocksDB {:.0}/s (ratio {:.2})",
        s.restore_records,
        mem_restore,
        rdb_restore,
        rdb_restore / mem_restore
    );

    let unbounded = measure_memory(false, s);
    let bounded = measure_memory(true, s);
    println!(
        "peak RSS, {} task databases x {} records of 1 KB: per-database defaults {} MiB, shared bound (64 MiB cache, 16 MiB write buffers) {} MiB (ratio {:.2})",
        s.tasks,
        s.records_per_task,
        unbounded / 1024,
        bounded / 1024,
        bounded as f64 / unbounded as f64
    );
}

//! The conformance suite every backend passes: behaviour of a [`KeyValueStore`] over it, before
//! and after commits, and across aborts, with and without a read cache in front. Each
//! backend's tests call [`run_all`] with a factory.

use crate::{KeyValueStore, KvBackend, ReadCacheBudget, SessionSchema, WindowSchema};
use std::collections::BTreeMap;
use std::ops::Bound;

/// Makes a fresh, empty backend.
pub type Factory<'a> = &'a mut dyn FnMut() -> Box<dyn KvBackend>;

/// Makes a fresh, empty store: what each case runs on.
type Stores<'a> = &'a mut dyn FnMut() -> KeyValueStore;

fn store(stores: Stores<'_>) -> KeyValueStore {
    stores()
}

fn collect(iter: crate::MergedIter<'_>) -> Vec<(Vec<u8>, Vec<u8>)> {
    iter.map(|r| r.expect("iteration failed")).collect()
}

fn kv(k: &[u8], v: &[u8]) -> (Vec<u8>, Vec<u8>) {
    (k.to_vec(), v.to_vec())
}

/// Runs every case against stores over backends from `factory`: without a read cache, then
/// with one small enough that the cases' reads evict from it.
pub fn run_all(factory: Factory<'_>) {
    run_cases(&mut || KeyValueStore::new("conformance", factory()));
    let budget = ReadCacheBudget::new(2048);
    run_cases(&mut || KeyValueStore::new("conformance", factory()).with_read_cache(&budget));
}

fn run_cases(factory: Stores<'_>) {
    put_get_delete(factory);
    overwrite_and_commit(factory);
    iteration_is_unsigned_byte_order(factory);
    ranges_respect_bounds(factory);
    prefix_scan(factory);
    pending_deletes_hide_committed_keys(factory);
    abort_restores_committed_state(factory);
    changes_yield_latest_per_key(factory);
    offsets_and_restore(factory);
    delete_range_hides_and_removes(factory);
    large_values(factory);
    wipe_clears_everything(factory);
    point_reads_follow_every_change(factory);
    matches_reference_model(factory);
    reads_nest_stop_early_and_see_commits(factory);
    windows_fetch_by_key_and_time(factory);
    windows_expire_with_retention(factory);
    windows_survive_the_changelog_round_trip(factory);
    windows_can_retain_duplicates(factory);
    sessions_are_found_by_overlap(factory);
    sessions_expire_with_retention(factory);
}

fn put_get_delete(factory: Stores<'_>) {
    let mut s = store(factory);
    assert_eq!(s.get(b"a").unwrap(), None);
    s.put(b"a", b"1");
    s.put(b"", b"empty-key");
    assert_eq!(s.get(b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(s.get(b"").unwrap(), Some(b"empty-key".to_vec()));
    s.delete(b"a");
    assert_eq!(s.get(b"a").unwrap(), None);
    s.delete(b"never-written");
    assert_eq!(s.get(b"never-written").unwrap(), None);
    s.commit(None).unwrap();
    assert_eq!(s.get(b"a").unwrap(), None);
    assert_eq!(s.get(b"").unwrap(), Some(b"empty-key".to_vec()));
}

fn overwrite_and_commit(factory: Stores<'_>) {
    let mut s = store(factory);
    s.put(b"k", b"1");
    s.commit(Some(0)).unwrap();
    s.put(b"k", b"2");
    assert_eq!(s.get(b"k").unwrap(), Some(b"2".to_vec()));
    assert_eq!(s.get_committed(b"k").unwrap(), Some(b"1".to_vec()));
    s.commit(Some(1)).unwrap();
    assert_eq!(s.get_committed(b"k").unwrap(), Some(b"2".to_vec()));
    assert!(s.is_clean());
    // An estimate: RocksDB may count an overwritten key twice until compaction.
    assert!((1..=2).contains(&s.approximate_num_entries()));
}

fn iteration_is_unsigned_byte_order(factory: Stores<'_>) {
    let mut s = store(factory);
    for k in [&[0x80u8][..], &[0x01], &[0x01, 0x00], &[0xff], &[0x7f, 0xff]] {
        s.put(k, b"v");
    }
    let pending: Vec<Vec<u8>> = collect(s.all().unwrap()).into_iter().map(|(k, _)| k).collect();
    let expected = vec![
        vec![0x01],
        vec![0x01, 0x00],
        vec![0x7f, 0xff],
        vec![0x80],
        vec![0xff],
    ];
    assert_eq!(pending, expected);
    s.commit(None).unwrap();
    let committed: Vec<Vec<u8>> = collect(s.all().unwrap()).into_iter().map(|(k, _)| k).collect();
    assert_eq!(committed, expected);
}

fn ranges_respect_bounds(factory: Stores<'_>) {
    let mut s = store(factory);
    for k in [b"a", b"b", b"c", b"d"] {
        s.put(k, k);
    }
    s.commit(None).unwrap();
    s.put(b"bb", b"bb");
    let keys = |it: crate::MergedIter<'_>| collect(it).into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    assert_eq!(
        keys(s.range_inclusive(b"b", b"c").unwrap()),
        vec![b"b".to_vec(), b"bb".to_vec(), b"c".to_vec()]
    );
    assert_eq!(
        keys(s.range(Bound::Excluded(b"b"), Bound::Excluded(b"d")).unwrap()),
        vec![b"bb".to_vec(), b"c".to_vec()]
    );
    assert_eq!(
        keys(s.range(Bound::Unbounded, Bound::Excluded(b"b")).unwrap()),
        vec![b"a".to_vec()]
    );
    assert_eq!(
        keys(s.range(Bound::Included(b"c"), Bound::Unbounded).unwrap()),
        vec![b"c".to_vec(), b"d".to_vec()]
    );
    // Inverted and empty ranges are empty, not errors (Kafka Streams logs and returns nothing).
    assert!(keys(s.range_inclusive(b"d", b"a").unwrap()).is_empty());
    assert!(keys(s.range(Bound::Excluded(b"b"), Bound::Excluded(b"b")).unwrap()).is_empty());
}

fn prefix_scan(factory: Stores<'_>) {
    let mut s = store(factory);
    for k in [&b"ab"[..], b"abc", b"abd", b"ac", b"b"] {
        s.put(k, b"x");
    }
    s.put(&[0x61, 0xff], b"x");
    s.put(&[0x61, 0xff, 0x00], b"x");
    s.put(&[0x62], b"x");
    s.commit(None).unwrap();
    s.put(b"abz", b"pending");
    let keys: Vec<Vec<u8>> = collect(s.prefix_scan(b"ab").unwrap())
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        keys,
        vec![b"ab".to_vec(), b"abc".to_vec(), b"abd".to_vec(), b"abz".to_vec()]
    );
    let keys: Vec<Vec<u8>> = collect(s.prefix_scan(&[0x61, 0xff]).unwrap())
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, vec![vec![0x61, 0xff], vec![0x61, 0xff, 0x00]]);
    // b"b" and [0x62] are one key: 7 committed + 1 pending.
    assert_eq!(collect(s.prefix_scan(b"").unwrap()).len(), 8);
}

fn pending_deletes_hide_committed_keys(factory: Stores<'_>) {
    let mut s = store(factory);
    s.put(b"a", b"1");
    s.put(b"b", b"2");
    s.put(b"c", b"3");
    s.commit(None).unwrap();
    s.delete(b"b");
    s.put(b"c", b"33");
    assert_eq!(collect(s.all().unwrap()), vec![kv(b"a", b"1"), kv(b"c", b"33")]);
    assert_eq!(s.get(b"b").unwrap(), None);
    assert_eq!(s.get_committed(b"b").unwrap(), Some(b"2".to_vec()));
}

fn abort_restores_committed_state(factory: Stores<'_>) {
    let mut s = store(factory);
    s.put(b"a", b"1");
    s.commit(Some(5)).unwrap();
    s.put(b"a", b"2");
    s.put(b"z", b"9");
    s.delete(b"a");
    s.abort();
    assert!(s.is_clean());
    assert_eq!(collect(s.all().unwrap()), vec![kv(b"a", b"1")]);
    assert_eq!(s.committed_offset(), Some(5));
}

fn changes_yield_latest_per_key(factory: Stores<'_>) {
    let mut s = store(factory);
    s.put(b"x", b"old");
    s.commit(None).unwrap();
    s.put(b"b", b"1");
    s.put(b"b", b"2");
    s.put(b"a", b"1");
    s.delete(b"x");
    let changes: Vec<(Vec<u8>, Option<Vec<u8>>)> = s
        .changes()
        .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
        .collect();
    assert_eq!(
        changes,
        vec![
            (b"a".to_vec(), Some(b"1".to_vec())),
            (b"b".to_vec(), Some(b"2".to_vec())),
            (b"x".to_vec(), None)
        ]
    );
    assert!(s.pending_bytes() > 0);
    s.commit(None).unwrap();
    assert_eq!(s.changes().count(), 0);
    assert_eq!(s.pending_bytes(), 0);
}

fn offsets_and_restore(factory: Stores<'_>) {
    let mut s = store(factory);
    assert_eq!(s.committed_offset(), None);
    s.restore(
        vec![
            (b"a".to_vec(), Some(b"1".to_vec())),
            (b"b".to_vec(), Some(b"1".to_vec())),
            (b"a".to_vec(), Some(b"2".to_vec())),
            (b"b".to_vec(), None),
        ],
        17,
    )
    .unwrap();
    assert_eq!(s.committed_offset(), Some(17));
    assert_eq!(collect(s.all().unwrap()), vec![kv(b"a", b"2")]);
    // A commit without an offset keeps the recorded one.
    s.put(b"c", b"3");
    s.commit(None).unwrap();
    assert_eq!(s.committed_offset(), Some(17));
    s.put(b"c", b"4");
    s.commit(Some(20)).unwrap();
    assert_eq!(s.committed_offset(), Some(20));
}

fn delete_range_hides_and_removes(factory: Stores<'_>) {
    let mut s = store(factory);
    for k in [b"a1", b"a2", b"b1", b"b2"] {
        s.put(k, b"v");
    }
    s.commit(None).unwrap();
    s.put(b"a3", b"pending");
    s.delete_range(b"a", b"b");
    assert_eq!(s.get(b"a1").unwrap(), None);
    assert_eq!(s.get(b"a3").unwrap(), None);
    s.put(b"a9", b"after");
    let keys: Vec<Vec<u8>> = collect(s.all().unwrap()).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, vec![b"a9".to_vec(), b"b1".to_vec(), b"b2".to_vec()]);
    s.commit(None).unwrap();
    let keys: Vec<Vec<u8>> = collect(s.all().unwrap()).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, vec![b"a9".to_vec(), b"b1".to_vec(), b"b2".to_vec()]);
}

fn large_values(factory: Stores<'_>) {
    let mut s = store(factory);
    let big = vec![7u8; 4 << 20];
    s.put(b"big", &big);
    s.commit(None).unwrap();
    assert_eq!(s.get(b"big").unwrap().map(|v| v.len()), Some(big.len()));
}

fn wipe_clears_everything(factory: Stores<'_>) {
    let mut s = store(factory);
    s.put(b"a", b"1");
    s.commit(Some(3)).unwrap();
    s.put(b"b", b"2");
    s.wipe().unwrap();
    assert_eq!(collect(s.all().unwrap()), vec![]);
    assert_eq!(s.committed_offset(), None);
}

/// Point reads after each kind of change to the committed state: a store that caches what it
/// read (its read cache) must never answer with what it held before.
fn point_reads_follow_every_change(factory: Stores<'_>) {
    let mut s = store(factory);
    let read = |s: &mut KeyValueStore, k: &[u8]| {
        let lent = s.read(k, |v| v.map(<[u8]>::to_vec)).unwrap();
        assert_eq!(lent, s.get(k).unwrap(), "read and get agree");
        (lent, s.get_committed(k).unwrap())
    };
    assert_eq!(read(&mut s, b"a1"), (None, None));
    s.put(b"a1", b"1");
    s.put(b"b1", b"1");
    s.commit(Some(1)).unwrap();
    assert_eq!(read(&mut s, b"a1"), (Some(b"1".to_vec()), Some(b"1".to_vec())));
    s.put(b"a1", b"2");
    s.abort();
    assert_eq!(read(&mut s, b"a1"), (Some(b"1".to_vec()), Some(b"1".to_vec())));
    s.put(b"a1", b"3");
    s.commit(Some(2)).unwrap();
    assert_eq!(read(&mut s, b"a1"), (Some(b"3".to_vec()), Some(b"3".to_vec())));
    s.delete(b"a1");
    s.commit(Some(3)).unwrap();
    assert_eq!(read(&mut s, b"a1"), (None, None));
    s.put(b"a1", b"4");
    s.commit(Some(4)).unwrap();
    assert_eq!(read(&mut s, b"b1"), (Some(b"1".to_vec()), Some(b"1".to_vec())));
    s.delete_range(b"a", b"c");
    s.commit(Some(5)).unwrap();
    assert_eq!(read(&mut s, b"a1"), (None, None));
    assert_eq!(read(&mut s, b"b1"), (None, None));
    s.restore(vec![(b"b1".to_vec(), Some(b"5".to_vec()))], 6).unwrap();
    assert_eq!(read(&mut s, b"b1"), (Some(b"5".to_vec()), Some(b"5".to_vec())));
    s.wipe().unwrap();
    assert_eq!(read(&mut s, b"b1"), (None, None));
}

/// A seeded random walk of puts, deletes, range reads, commits and aborts against a
/// reference model: the committed map plus a pending map.
fn matches_reference_model(factory: Stores<'_>) {
    for seed in 0..20u64 {
        let mut rng = crate::test_rng::SplitMix64::new(seed);
        let mut s = store(factory);
        let mut committed: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut pending: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        for step in 0..400 {
            let key = vec![b'k', (rng.next() % 16) as u8];
            match rng.next() % 10 {
                0..=3 => {
                    let v = rng.next().to_be_bytes().to_vec();
                    s.put(&key, &v);
                    pending.insert(key, Some(v));
                }
                4 | 5 => {
                    s.delete(&key);
                    pending.insert(key, None);
                }
                6 => {
                    s.commit(Some(step)).unwrap();
                    for (k, v) in std::mem::take(&mut pending) {
                        match v {
                            Some(v) => committed.insert(k, v),
                            None => committed.remove(&k),
                        };
                    }
                }
                7 => {
                    s.abort();
                    pending.clear();
                }
                _ => {
                    let hi = vec![b'k', (rng.next() % 16) as u8];
                    let (lo, hi) = if key <= hi { (key, hi) } else { (hi, key) };
                    let mut view = committed.clone();
                    for (k, v) in &pending {
                        match v {
                            Some(v) => view.insert(k.clone(), v.clone()),
                            None => view.remove(k),
                        };
                    }
                    let expected: Vec<_> = view
                        .range(lo.clone()..=hi.clone())
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    assert_eq!(
                        collect(s.range_inclusive(&lo, &hi).unwrap()),
                        expected,
                        "seed {seed} step {step}"
                    );
                    assert_eq!(
                        s.get(&lo).unwrap(),
                        view.get(&lo).cloned(),
                        "seed {seed} step {step}"
                    );
                    assert_eq!(
                        s.read(&hi, |v| v.map(<[u8]>::to_vec)).unwrap(),
                        view.get(&hi).cloned(),
                        "seed {seed} step {step}"
                    );
                }
            }
        }
    }
}

/// Backends may keep state between range reads (RocksDB reuses one iterator): a read stopped
/// early, a read inside another, and a read after a commit each still see exactly their range.
fn reads_nest_stop_early_and_see_commits(factory: Stores<'_>) {
    let mut s = store(factory);
    for k in [b"a", b"b", b"c", b"d"] {
        s.put(k, k);
    }
    s.commit(Some(1)).unwrap();
    let excluded = |s: &KeyValueStore, from: &[u8], to: &[u8]| {
        collect(s.range(Bound::Excluded(from), Bound::Excluded(to)).unwrap())
    };
    let mut outer = s.range(Bound::Unbounded, Bound::Unbounded).unwrap();
    assert_eq!(outer.next().unwrap().unwrap(), kv(b"a", b"a"));
    assert_eq!(excluded(&s, b"a", b"d"), vec![kv(b"b", b"b"), kv(b"c", b"c")]);
    let rest: Vec<_> = outer.map(Result::unwrap).collect();
    assert_eq!(rest, vec![kv(b"b", b"b"), kv(b"c", b"c"), kv(b"d", b"d")]);
    // Stopped after one entry, then a read of a range before it.
    assert_eq!(
        s.range_inclusive(b"c", b"d").unwrap().next().unwrap().unwrap(),
        kv(b"c", b"c")
    );
    assert_eq!(
        collect(s.range_inclusive(b"", b"b").unwrap()),
        vec![kv(b"a", b"a"), kv(b"b", b"b")]
    );
    s.put(b"bb", b"new");
    s.delete(b"c");
    s.commit(Some(2)).unwrap();
    assert_eq!(excluded(&s, b"b", b"d"), vec![kv(b"bb", b"new")]);
    let committed: Vec<_> = s
        .range_committed(Bound::Included(b"b"), Bound::Unbounded)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(committed, vec![kv(b"b", b"b"), kv(b"bb", b"new"), kv(b"d", b"d")]);
}

const MIN: i64 = 60_000;

fn windows_fetch_by_key_and_time(factory: Stores<'_>) {
    let mut s = store(factory);
    let w = WindowSchema::new(10 * MIN, MIN);
    // "a" is a prefix of "ab": the length prefix keeps their windows apart.
    for (key, start) in [
        (&b"a"[..], 0),
        (b"a", 5 * MIN),
        (b"a", 6 * MIN + 1),
        (b"ab", 5 * MIN),
        (b"b", 5 * MIN),
    ] {
        w.put(
            &mut s,
            key,
            start,
            format!("{}@{start}", String::from_utf8_lossy(key)).as_bytes(),
        );
    }
    let now = 7 * MIN;
    let starts = |s: &KeyValueStore, key: &[u8], from: i64, to: i64| -> Vec<i64> {
        w.fetch(s, key, from, to, now)
            .unwrap()
            .into_iter()
            .map(|(t, _)| t)
            .collect()
    };
    assert_eq!(starts(&s, b"a", 0, 10 * MIN), vec![0, 5 * MIN, 6 * MIN + 1]);
    assert_eq!(
        starts(&s, b"a", 5 * MIN, 6 * MIN),
        vec![5 * MIN],
        "both bounds inclusive, crossing segments"
    );
    assert_eq!(starts(&s, b"ab", 0, 10 * MIN), vec![5 * MIN]);
    assert_eq!(starts(&s, b"c", 0, 10 * MIN), Vec::<i64>::new());
    assert_eq!(w.get(&s, b"a", 5 * MIN, now).unwrap(), Some(b"a@300000".to_vec()));
    s.commit(None).unwrap();
    assert_eq!(
        starts(&s, b"a", 0, 10 * MIN),
        vec![0, 5 * MIN, 6 * MIN + 1],
        "after commit"
    );
    w.delete(&mut s, b"a", 0);
    assert_eq!(starts(&s, b"a", 0, 10 * MIN), vec![5 * MIN, 6 * MIN + 1]);
    let all = w.fetch_all(&s, 5 * MIN, 5 * MIN, now).unwrap();
    let keys: Vec<&[u8]> = all.iter().map(|e| e.key.as_slice()).collect();
    // By segment, then by key length, then key bytes (the length prefix comes first).
    assert_eq!(keys, vec![&b"a"[..], b"b", b"ab"]);
}

fn windows_expire_with_retention(factory: Stores<'_>) {
    let mut s = store(factory);
    // Windows of 1 ms kept 2 minutes after they end; segments of one minute.
    let w = WindowSchema::new(2 * MIN, 1);
    for start in [0, MIN, 2 * MIN, 3 * MIN] {
        w.put(&mut s, b"k", start, b"v");
    }
    s.commit(None).unwrap();
    // Just after 3 min, windows ending at or before 1 min are expired.
    let now = 3 * MIN + 1;
    let live: Vec<i64> = w
        .fetch(&s, b"k", 0, 10 * MIN, now)
        .unwrap()
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(live, vec![2 * MIN, 3 * MIN]);
    assert_eq!(w.get(&s, b"k", MIN, now).unwrap(), None);
    // Expired windows can still be read as stored (final results of closed windows).
    assert_eq!(w.fetch_stored(&s, 0, 10 * MIN, 0).unwrap().windows.len(), 4);
    // What a scan saw past its range: the least later windows, up to `ahead`, and a horizon
    // below which it saw them all (at most the next segment's start: segments are one minute).
    w.put(&mut s, b"k", MIN + 30_000, b"v");
    w.put(&mut s, b"j", MIN + 30_000, b"v");
    w.put(&mut s, b"k", MIN + 40_000, b"v");
    let found = w.fetch_stored(&s, MIN, MIN + 1, 10).unwrap();
    assert_eq!(found.windows.len(), 1);
    let later = vec![
        (MIN + 30_000, b"j".to_vec()),
        (MIN + 30_000, b"k".to_vec()),
        (MIN + 40_000, b"k".to_vec()),
    ];
    assert_eq!((&found.later, found.horizon), (&later, 2 * MIN));
    // Two of three: the horizon is the first start left out.
    let found = w.fetch_stored(&s, MIN, MIN + 1, 2).unwrap();
    assert_eq!((&found.later[..], found.horizon), (&later[..2], MIN + 40_000));
    // One of three: both windows at the same start are left out.
    let found = w.fetch_stored(&s, MIN, MIN + 1, 1).unwrap();
    assert_eq!((found.later.len(), found.horizon), (0, MIN + 30_000));
    let empty = w.fetch_stored(&s, 5, 4, 10).unwrap();
    assert_eq!((empty.windows.len(), empty.later.len(), empty.horizon), (0, 0, 5));
    for (start, key) in &later {
        w.delete(&mut s, key, *start);
    }
    let stored = |s: &KeyValueStore| -> Vec<i64> {
        s.all()
            .unwrap()
            .map(|e| w.decode(&e.unwrap().0).unwrap().1)
            .collect()
    };
    let mut below = 0;
    w.expire(&mut s, now, &mut below);
    s.commit(None).unwrap();
    // Deletion is per segment: the window at 1 min shares its segment with live windows.
    assert_eq!(stored(&s), vec![MIN, 2 * MIN, 3 * MIN]);
    w.expire(&mut s, 4 * MIN + 1, &mut below);
    assert_eq!(below, 2);
    s.commit(None).unwrap();
    assert_eq!(
        stored(&s),
        vec![2 * MIN, 3 * MIN],
        "fully expired segments are deleted"
    );
}

fn windows_survive_the_changelog_round_trip(factory: Stores<'_>) {
    let mut s = store(factory);
    let w = WindowSchema::new(10 * MIN, MIN);
    w.put(&mut s, b"key", 7 * MIN + 3, b"v");
    let changes: Vec<(Vec<u8>, Option<Vec<u8>>)> = s
        .changes()
        .map(|(k, v)| (w.changelog_key(k).to_vec(), v.map(<[u8]>::to_vec)))
        .collect();
    s.abort();
    // A store with another retention (other segments) restores the same windows.
    let w2 = WindowSchema::new(100 * MIN, MIN);
    let restored = changes
        .into_iter()
        .map(|(k, v)| (w2.from_changelog_key(&k).unwrap(), v))
        .collect();
    s.restore(restored, 0).unwrap();
    assert_eq!(
        w2.fetch(&s, b"key", 0, 10 * MIN, 8 * MIN).unwrap(),
        vec![(7 * MIN + 3, b"v".to_vec())]
    );
    assert!(w2.from_changelog_key(b"short").is_err());
}

fn windows_can_retain_duplicates(factory: Stores<'_>) {
    let mut s = store(factory);
    let w = WindowSchema::new(10 * MIN, 0).with_duplicates();
    for (seq, v) in [(0u32, &b"first"[..]), (1, b"second")] {
        s.put(&w.store_key_seq(b"k", 5 * MIN, seq), v);
    }
    s.put(&w.store_key_seq(b"k", 6 * MIN, 2), b"third");
    s.put(&w.store_key_seq(b"kk", 5 * MIN, 3), b"other key");
    let found = w.fetch(&s, b"k", 5 * MIN, 5 * MIN, 7 * MIN).unwrap();
    assert_eq!(
        found,
        vec![(5 * MIN, b"first".to_vec()), (5 * MIN, b"second".to_vec())]
    );
    assert_eq!(w.fetch(&s, b"k", 0, 10 * MIN, 7 * MIN).unwrap().len(), 3);
    let key = w.store_key_seq(b"k", 6 * MIN, 2);
    assert_eq!(w.decode(&key), Some((b"k".to_vec(), 6 * MIN)));
    assert_eq!(w.from_changelog_key(w.changelog_key(&key)).unwrap(), key);
}

fn sessions_are_found_by_overlap(factory: Stores<'_>) {
    let mut s = store(factory);
    let ss = SessionSchema::new(10 * MIN);
    ss.put(&mut s, b"u", 0, 10, b"s1");
    ss.put(&mut s, b"u", 100, 150, b"s2");
    ss.put(&mut s, b"u", 2 * MIN, 2 * MIN + 5, b"s3");
    ss.put(&mut s, b"other", 100, 150, b"x");
    s.commit(None).unwrap();
    let found = |s: &KeyValueStore, from_end: i64, to_start: i64| -> Vec<Vec<u8>> {
        ss.find_sessions(s, b"u", from_end, to_start, 3 * MIN)
            .unwrap()
            .into_iter()
            .map(|x| x.value)
            .collect()
    };
    // Sessions overlapping [120 - 30, 120 + 30]: only s2.
    assert_eq!(found(&s, 90, 150), vec![b"s2".to_vec()]);
    assert_eq!(
        found(&s, 0, 2 * MIN + 10),
        vec![b"s1".to_vec(), b"s2".to_vec(), b"s3".to_vec()]
    );
    assert_eq!(found(&s, 11, 99), Vec::<Vec<u8>>::new());
    ss.delete(&mut s, b"u", 100, 150);
    assert_eq!(found(&s, 90, 150), Vec::<Vec<u8>>::new());
}

fn sessions_expire_with_retention(factory: Stores<'_>) {
    let mut s = store(factory);
    let ss = SessionSchema::new(2 * MIN);
    ss.put(&mut s, b"u", 0, 10, b"old");
    ss.put(&mut s, b"u", 3 * MIN, 3 * MIN, b"new");
    let now = 3 * MIN;
    let found: Vec<Vec<u8>> = ss
        .find_sessions(&s, b"u", 0, now, now)
        .unwrap()
        .into_iter()
        .map(|x| x.value)
        .collect();
    assert_eq!(found, vec![b"new".to_vec()]);
    ss.expire(&mut s, now, &mut 0);
    s.commit(None).unwrap();
    assert_eq!(s.all().unwrap().count(), 1);
    let key = ss.store_key(b"u", 5, 9);
    assert_eq!(ss.decode(&key), Some((b"u".to_vec(), 5, 9)));
    assert_eq!(
        ss.decode(&ss.from_changelog_key(ss.changelog_key(&key)).unwrap()),
        Some((b"u".to_vec(), 5, 9))
    );
}

//! Which stored windows close next, for `EmitStrategy::on_window_close`: a bounded, in-memory
//! queue of the windows starting after the last emission's cut-off, so that emitting the windows
//! a record closed reads just those windows instead of scanning the store.
//!
//! Window stores are ordered by key within a time segment, not by time: finding the windows that
//! closed means reading whole segments (every key's windows). Doing that for every record that
//! moves stream time on costs a segment's worth of reads per record. The queue is filled by such
//! a scan (what it saw past the cut-off) and kept up to date by the processor's writes; while the
//! cut-off stays below its horizon, the closed windows are taken from it.

use std::collections::{BTreeMap, BTreeSet};

/// How many windows the queue holds at most. A scan then serves this many windows' emissions;
/// the memory is this many keys per emit-on-close processor (per task).
pub(crate) const CLOSE_QUEUE_CAPACITY: usize = 4096;

/// Invariant: every stored window that starts after the last emission's cut-off and before
/// `horizon` is in `known`.
pub(crate) struct CloseQueue {
    /// Starts, each with the keys of the windows starting then.
    known: BTreeMap<i64, BTreeSet<Vec<u8>>>,
    len: usize,
    /// `i64::MIN`: nothing known, the next emission scans.
    horizon: i64,
    capacity: usize,
}

impl CloseQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        CloseQueue {
            known: BTreeMap::new(),
            len: 0,
            horizon: i64::MIN,
            capacity,
        }
    }

    /// Whether the queue knows every window starting after the last cut-off and at or before
    /// `cutoff`: then [`take_through`](Self::take_through) answers without a scan.
    pub(crate) fn covers(&self, cutoff: i64) -> bool {
        cutoff < self.horizon
    }

    /// Records a window the processor wrote (new or updated).
    pub(crate) fn written(&mut self, start: i64, key: &[u8]) {
        if start >= self.horizon {
            return;
        }
        let keys = self.known.entry(start).or_default();
        if keys.contains(key) {
            return;
        }
        keys.insert(key.to_vec());
        self.len += 1;
        if self.len > self.capacity {
            // Full: the latest window is forgotten and the horizon comes down to its start.
            // (Forgetting everything from the new window on would bring the horizon down to
            // the cut-off when windows are written just past it, as sliding windows are: a
            // scan per record again.)
            self.forget_latest();
        }
    }

    /// Removes and returns the windows starting at or before `cutoff`, ordered by start, then
    /// key. Only when the queue [`covers`](Self::covers) the cut-off.
    pub(crate) fn take_through(&mut self, cutoff: i64) -> Vec<(i64, Vec<u8>)> {
        debug_assert!(self.covers(cutoff));
        let later = self.known.split_off(&cutoff.saturating_add(1));
        let due = std::mem::replace(&mut self.known, later);
        let due: Vec<(i64, Vec<u8>)> = due
            .into_iter()
            .flat_map(|(start, keys)| keys.into_iter().map(move |k| (start, k)))
            .collect();
        self.len -= due.len();
        due
    }

    /// After a scan through a cut-off: the windows it saw starting after it (ordered by start,
    /// then key) and the horizon below which it saw them all.
    pub(crate) fn refill(&mut self, later: Vec<(i64, Vec<u8>)>, horizon: i64) {
        self.known.clear();
        self.len = 0;
        self.horizon = horizon;
        for (start, key) in later {
            if start >= self.horizon {
                break;
            }
            if self.known.entry(start).or_default().insert(key) {
                self.len += 1;
            }
            if self.len > self.capacity {
                self.forget_latest();
            }
        }
    }

    /// Stops trusting the queue until [`resume`](Self::resume), for the length of an emission:
    /// the windows it handed out are not in it any more, and if the emission fails half way (a
    /// panic in a store serde, caught and skipped with everything the aggregation forwarded for
    /// that record) the next emission must scan from the last saved cut-off to find them again.
    /// Returns the horizon.
    pub(crate) fn suspend(&mut self) -> i64 {
        std::mem::replace(&mut self.horizon, i64::MIN)
    }

    /// Trusts the queue again once the emission that [`suspend`](Self::suspend)ed it succeeded.
    pub(crate) fn resume(&mut self, horizon: i64) {
        self.horizon = horizon;
    }

    /// Forgets everything: the next emission scans.
    pub(crate) fn forget(&mut self) {
        self.known.clear();
        self.len = 0;
        self.horizon = i64::MIN;
    }

    /// Removes the window with the greatest start (and key); the horizon comes down to its start.
    fn forget_latest(&mut self) {
        let Some(mut latest) = self.known.last_entry() else {
            return;
        };
        let start = *latest.key();
        latest.get_mut().pop_last();
        if latest.get().is_empty() {
            latest.remove();
        }
        self.len -= 1;
        self.horizon = self.horizon.min(start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(due: &[(i64, Vec<u8>)]) -> Vec<(i64, &str)> {
        due.iter()
            .map(|(s, k)| (*s, std::str::from_utf8(k).unwrap()))
            .collect()
    }

    #[test]
    fn knows_nothing_until_a_scan_refills_it() {
        let mut q = CloseQueue::new(10);
        assert!(!q.covers(i64::MIN + 1));
        q.written(5, b"a");
        assert!(!q.covers(0));
        q.refill(vec![(10, b"b".to_vec())], 100);
        assert!(q.covers(99) && !q.covers(100));
        q.written(7, b"a");
        q.written(7, b"a");
        q.written(150, b"c"); // past the horizon: a later scan finds it
        assert_eq!(keys(&q.take_through(9)), vec![(7, "a")]);
        assert_eq!(keys(&q.take_through(50)), vec![(10, "b")]);
        assert!(q.take_through(99).is_empty());
        q.forget();
        assert!(!q.covers(0));
    }

    #[test]
    fn a_full_queue_forgets_its_latest_windows() {
        let mut q = CloseQueue::new(3);
        q.refill(vec![(10, b"a".to_vec()), (20, b"a".to_vec())], 100);
        q.written(30, b"a");
        // Full: a window at 25 forgets the one at 30; the queue covers up to 29 only.
        q.written(25, b"b");
        assert!(q.covers(29) && !q.covers(30));
        q.written(30, b"c"); // past the horizon now
        q.written(5, b"c"); // forgets the one at 25
        assert!(q.covers(24) && !q.covers(25));
        assert_eq!(keys(&q.take_through(24)), vec![(5, "c"), (10, "a"), (20, "a")]);
        // A refill with more than fits keeps the least; the horizon comes down to the start
        // of the first left out (windows at that start may stay: the queue does not cover it).
        q.refill(
            vec![
                (40, b"a".to_vec()),
                (40, b"b".to_vec()),
                (41, b"a".to_vec()),
                (41, b"b".to_vec()),
            ],
            100,
        );
        assert!(q.covers(40) && !q.covers(41));
        assert_eq!(keys(&q.take_through(40)), vec![(40, "a"), (40, "b")]);
    }
}

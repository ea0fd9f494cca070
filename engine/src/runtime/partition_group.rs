//! A task's buffered input: one bounded queue per input partition, released in timestamp order.

use crate::client::TopicPartition;
use crate::record::RawRecord;
use std::collections::{BTreeMap, VecDeque};

/// Buffered records of one task. A task reading several partitions processes the record with
/// the smallest timestamp among the queue heads (Kafka Streams' partition group). While a
/// registered partition's queue is empty, the task waits up to `max.task.idle.ms` for it
/// before processing the others (0: it never waits).
#[derive(Debug, Default)]
pub(crate) struct PartitionGroup {
    queues: BTreeMap<TopicPartition, VecDeque<RawRecord>>,
    len: usize,
    /// When a queue was first seen empty while others had records; reset once all have some.
    idle_since: Option<u64>,
    /// Partitions with records on the broker not fetched yet since their assignment (Kafka
    /// Streams' KIP-695 for `max.task.idle.ms` = 0): while one's queue is empty, the task
    /// waits for it rather than process the others ahead of it (a stream record before the
    /// table row it joins).
    lagging: BTreeMap<TopicPartition, LaggingWait>,
    /// Waits that ran out (`LAGGING_WAIT_MS`) since the last `take_lagging_timeouts`.
    lagging_timeouts: u64,
}

/// The wait for one lagging partition's records.
#[derive(Debug, Default)]
struct LaggingWait {
    /// When its queue was last seen going empty (the runtime's clock).
    since: Option<u64>,
    /// This wait ran out already (counted and logged once).
    gave_up: bool,
}

/// The longest a task waits for a lagging partition's records before processing the others
/// anyway (a partition that cannot be fetched must not stop its task).
pub(crate) const LAGGING_WAIT_MS: u64 = 30_000;

impl PartitionGroup {
    /// Makes `tp` an input of the task, so that an empty queue for it holds the task back
    /// (within `max.task.idle.ms`).
    pub(crate) fn register(&mut self, tp: TopicPartition) {
        self.queues.entry(tp).or_default();
    }

    /// True when the task may process now: every queue has records, or the wait for the empty
    /// ones (`max_idle_ms`; `None` never waits) ran out. `now_ms` is the runtime's clock.
    pub(crate) fn ready(&mut self, max_idle_ms: Option<u64>, now_ms: u64) -> bool {
        if self.len == 0 {
            return false;
        }
        let queues = &self.queues;
        for (tp, wait) in self.lagging.iter_mut() {
            if !queues.get(tp).is_some_and(VecDeque::is_empty) {
                *wait = LaggingWait::default();
                continue;
            }
            let waited = now_ms.saturating_sub(*wait.since.get_or_insert(now_ms));
            if waited < LAGGING_WAIT_MS {
                return false;
            }
            if !wait.gave_up {
                wait.gave_up = true;
                self.lagging_timeouts += 1;
                tracing::warn!(partition = %tp, "no records fetched for a lagging partition within {LAGGING_WAIT_MS} ms; processing the others");
            }
        }
        let Some(max_idle) = max_idle_ms else {
            return true;
        };
        if self.queues.values().all(|q| !q.is_empty()) {
            self.idle_since = None;
            return true;
        }
        let since = *self.idle_since.get_or_insert(now_ms);
        now_ms.saturating_sub(since) >= max_idle
    }

    /// Marks `tp` as lagging: records up to its end are on the broker, not fetched yet.
    pub(crate) fn set_lagging(&mut self, tp: TopicPartition) {
        self.lagging.insert(tp, LaggingWait::default());
    }

    /// The waits for lagging partitions that ran out since the last call.
    pub(crate) fn take_lagging_timeouts(&mut self) -> u64 {
        std::mem::take(&mut self.lagging_timeouts)
    }

    /// `tp` caught up with the end it had when marked lagging (or moved away).
    pub(crate) fn caught_up(&mut self, tp: &TopicPartition) {
        self.lagging.remove(tp);
    }

    /// Buffers records of `tp`, in offset order; returns the queue's length afterwards.
    pub(crate) fn add(&mut self, tp: TopicPartition, records: impl IntoIterator<Item = RawRecord>) -> usize {
        let q = self.queues.entry(tp).or_default();
        let before = q.len();
        q.extend(records);
        self.len += q.len() - before;
        q.len()
    }

    /// The next record in timestamp order (the first partition's among equal times), with its
    /// partition.
    pub(crate) fn next(&mut self) -> Option<(TopicPartition, RawRecord)> {
        let (tp, queue) = self
            .queues
            .iter_mut()
            .filter(|(_, q)| !q.is_empty())
            .min_by_key(|(_, q)| q.front().map_or(i64::MAX, |r| r.timestamp))?;
        let record = queue.pop_front()?;
        self.len -= 1;
        Some((tp.clone(), record))
    }

    /// Records buffered for `tp`.
    pub(crate) fn queued(&self, tp: &TopicPartition) -> usize {
        self.queues.get(tp).map_or(0, VecDeque::len)
    }

    /// Records buffered in all.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Drops everything buffered (the records are read again from the committed offsets).
    pub(crate) fn clear(&mut self) {
        self.queues.values_mut().for_each(VecDeque::clear);
        self.len = 0;
        self.idle_since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(topic: &str, offset: i64, ts: i64) -> RawRecord {
        RawRecord {
            topic: topic.into(),
            partition: 0,
            offset,
            timestamp: ts,
            key: None,
            value: None,
            headers: Default::default(),
        }
    }

    #[test]
    fn releases_records_in_timestamp_order_across_partitions() {
        let mut g = PartitionGroup::default();
        let a = TopicPartition::new("a", 0);
        let b = TopicPartition::new("b", 0);
        g.add(a.clone(), [rec("a", 0, 10)]);
        g.add(a.clone(), [rec("a", 1, 30)]);
        g.add(b.clone(), [rec("b", 0, 20)]);
        assert_eq!(g.queued(&a), 2);
        let order: Vec<i64> = std::iter::from_fn(|| g.next().map(|(_, r)| r.timestamp)).collect();
        assert_eq!(order, vec![10, 20, 30]);
        assert_eq!(g.len(), 0);
    }

    #[test]
    fn a_lagging_empty_partition_holds_the_task_back_even_without_max_task_idle() {
        let mut g = PartitionGroup::default();
        let (stream, table) = (TopicPartition::new("stream", 0), TopicPartition::new("table", 0));
        g.register(stream.clone());
        g.register(table.clone());
        g.set_lagging(table.clone());
        g.add(stream.clone(), [rec("stream", 0, 100)]);
        assert!(!g.ready(None, 0), "the table's rows are still on the broker");
        assert!(!g.ready(None, LAGGING_WAIT_MS - 1));
        // Its records arrive: ready, in timestamp order (the table row first).
        g.add(table.clone(), [rec("table", 0, 50)]);
        assert!(g.ready(None, LAGGING_WAIT_MS - 1));
        assert_eq!(g.next().unwrap().0, table);
        // Empty again while still lagging: the wait starts over.
        assert!(!g.ready(None, LAGGING_WAIT_MS));
        g.caught_up(&table);
        assert!(
            g.ready(None, LAGGING_WAIT_MS),
            "caught up: an empty queue means no data"
        );
    }

    #[test]
    fn a_lagging_partition_that_never_delivers_stops_holding_the_task_back() {
        let mut g = PartitionGroup::default();
        let (stream, table) = (TopicPartition::new("stream", 0), TopicPartition::new("table", 0));
        g.set_lagging(table.clone());
        g.register(table);
        g.add(stream, [rec("stream", 0, 100)]);
        assert!(!g.ready(None, 1_000));
        assert_eq!(g.take_lagging_timeouts(), 0);
        assert!(g.ready(None, 1_000 + LAGGING_WAIT_MS + 7));
        assert!(g.ready(None, 1_000 + LAGGING_WAIT_MS + 9));
        assert_eq!(
            g.take_lagging_timeouts(),
            1,
            "counted once, whenever the wait is seen past its cap"
        );
    }

    #[test]
    fn an_empty_partition_holds_the_task_back_for_max_task_idle() {
        let mut g = PartitionGroup::default();
        let a = TopicPartition::new("a", 0);
        let b = TopicPartition::new("b", 0);
        g.register(a.clone());
        g.register(b.clone());
        let t0 = 1_000;
        assert!(!g.ready(Some(50), t0), "nothing buffered");
        g.add(a.clone(), [rec("a", 0, 10)]);
        assert!(g.ready(None, t0), "max.task.idle.ms = 0 never waits");
        assert!(!g.ready(Some(50), t0), "b is empty: wait");
        assert!(!g.ready(Some(50), t0 + 49));
        assert!(g.ready(Some(50), t0 + 50), "waited long enough");
        g.add(b.clone(), [rec("b", 0, 5)]);
        assert!(g.ready(Some(50), t0), "both have records");
        assert_eq!(g.next().map(|(tp, _)| tp), Some(b));
    }
}

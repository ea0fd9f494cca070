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
}

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

    /// Buffers a record; returns the queue's length afterwards.
    pub(crate) fn add(&mut self, tp: TopicPartition, record: RawRecord) -> usize {
        let q = self.queues.entry(tp).or_default();
        q.push_back(record);
        self.len += 1;
        q.len()
    }

    /// The next record in timestamp order, with its partition.
    pub(crate) fn next(&mut self) -> Option<(TopicPartition, RawRecord)> {
        let (tp, _) = self
            .queues
            .iter()
            .filter_map(|(tp, q)| q.front().map(|r| (tp, r.timestamp)))
            .min_by_key(|(_, ts)| *ts)?;
        let tp = tp.clone();
        let record = self.queues.get_mut(&tp)?.pop_front()?;
        self.len -= 1;
        Some((tp, record))
    }

    /// Records buffered for `tp`.
    pub(crate) fn queued(&self, tp: &TopicPartition) -> usize {
        self.queues.get(tp).map_or(0, VecDeque::len)
    }

    /// Records buffered in all.
    #[cfg(test)]
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
        g.add(a.clone(), rec("a", 0, 10));
        g.add(a.clone(), rec("a", 1, 30));
        g.add(b.clone(), rec("b", 0, 20));
        assert_eq!(g.queued(&a), 2);
        let order: Vec<i64> = std::iter::from_fn(|| g.next().map(|(_, r)| r.timestamp)).collect();
        assert_eq!(order, vec![10, 20, 30]);
        assert_eq!(g.len(), 0);
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
        g.add(a.clone(), rec("a", 0, 10));
        assert!(g.ready(None, t0), "max.task.idle.ms = 0 never waits");
        assert!(!g.ready(Some(50), t0), "b is empty: wait");
        assert!(!g.ready(Some(50), t0 + 49));
        assert!(g.ready(Some(50), t0 + 50), "waited long enough");
        g.add(b.clone(), rec("b", 0, 5));
        assert!(g.ready(Some(50), t0), "both have records");
        assert_eq!(g.next().map(|(tp, _)| tp), Some(b));
    }
}

//! Records the topology wrote to topics it reads (repartition topics), waiting to be processed.
//! They are released as the runtime's tasks would take them from their partitions: each task
//! reads each topic in order, and among the heads of all queues the earliest record goes first
//! (Kafka Streams' partition group), so a batch committed at once is processed in timestamp
//! order across topics, not topic after topic.

use crate::record::RawRecord;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

#[derive(Default)]
pub(crate) struct Routed {
    /// Per reading task and topic, in the order written.
    queues: BTreeMap<(usize, Arc<str>), VecDeque<RawRecord>>,
}

impl Routed {
    pub(crate) fn push(&mut self, task: usize, record: RawRecord) {
        self.queues
            .entry((task, Arc::clone(&record.topic)))
            .or_default()
            .push_back(record);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// The earliest record among the queues' heads (ties: the first queue in task, topic
    /// order), with the task that reads it.
    pub(crate) fn pop(&mut self) -> Option<(usize, RawRecord)> {
        let key = self
            .queues
            .iter()
            .filter_map(|(k, q)| q.front().map(|r| (k, r.timestamp)))
            .min_by_key(|(_, ts)| *ts)
            .map(|(k, _)| k.clone())?;
        let queue = self.queues.get_mut(&key)?;
        let record = queue.pop_front()?;
        if queue.is_empty() {
            self.queues.remove(&key);
        }
        Some((key.0, record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(topic: &str, timestamp: i64) -> RawRecord {
        RawRecord {
            topic: Arc::from(topic),
            partition: 0,
            offset: 0,
            timestamp,
            key: None,
            value: None,
            headers: Default::default(),
        }
    }

    #[test]
    fn releases_in_timestamp_order_across_topics_and_in_order_within_one() {
        let mut r = Routed::default();
        for (topic, ts) in [("a", 10), ("a", 30), ("a", 5), ("b", 20)] {
            r.push(1, record(topic, ts));
        }
        let order: Vec<(String, i64)> = std::iter::from_fn(|| r.pop())
            .map(|(_, rec)| (rec.topic.to_string(), rec.timestamp))
            .collect();
        // Topic a's out-of-order 5 waits behind its 30, as in a partition.
        assert_eq!(
            order,
            vec![
                ("a".into(), 10),
                ("b".into(), 20),
                ("a".into(), 30),
                ("a".into(), 5)
            ]
        );
        assert!(r.is_empty());
    }
}

//! Reading changelogs for restoration through the stream thread's restore consumer.
//!
//! Every restoring task reads its changelogs through one consumer, at the same time: the
//! consumer is assigned the changelog partitions being read, and what a poll returns is
//! buffered per partition until its task asks (as Kafka Streams' changelog reader restores all
//! of a thread's tasks at once). So a task with a short changelog is done, and processes,
//! while another still replays a long one.

use crate::client::{Consumer, TopicPartition};
use crate::error::StreamsError;
use crate::restore::{ChangelogReader, ChangelogRecord, ReadOutcome, RESTORE_BATCH};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

/// How long a poll waits for records: short, because the thread polls its group consumer
/// between restore steps.
const POLL_WAIT: Duration = Duration::from_millis(50);

/// Records buffered for all partitions together past which the consumer is not polled again
/// until tasks took some (every restoring task reads once per step, so this drains).
const MAX_BUFFERED: usize = 4 * RESTORE_BATCH;

/// The restore consumer's assignment and what it fetched, kept by the stream thread across
/// restore steps (reassigning the consumer drops what it prefetched).
#[derive(Debug, Default)]
pub(crate) struct RestoreCursor {
    /// The partitions assigned, each with the offset of the next record its task reads.
    reading: BTreeMap<TopicPartition, i64>,
    /// Records polled for a partition, not yet read by its task.
    buffered: HashMap<TopicPartition, VecDeque<ChangelogRecord>>,
    ends: HashMap<TopicPartition, i64>,
    /// The consumer's assignment no longer matches `reading`.
    reassign: bool,
}

impl RestoreCursor {
    /// Stops reading partitions that no restoring task needs any more (a task closed while it
    /// restored, or a store restored).
    pub(crate) fn retain(&mut self, needed: &BTreeSet<TopicPartition>) {
        let before = self.reading.len();
        self.reading.retain(|tp, _| needed.contains(tp));
        self.buffered.retain(|tp, _| needed.contains(tp));
        self.reassign |= self.reading.len() != before;
    }

    fn buffered_total(&self) -> usize {
        self.buffered.values().map(VecDeque::len).sum()
    }

    /// Takes up to `max` buffered records of `tp`, advancing its next offset.
    fn take(&mut self, tp: &TopicPartition, max: usize) -> Option<Vec<ChangelogRecord>> {
        let queue = self.buffered.get_mut(tp).filter(|q| !q.is_empty())?;
        let batch: Vec<ChangelogRecord> = queue.drain(..max.min(queue.len())).collect();
        let last = batch.last().expect("non-empty").offset;
        self.reading.insert(tp.clone(), last + 1);
        Some(batch)
    }
}

/// [`ChangelogReader`] over the restore consumer of a stream thread.
pub(crate) struct ConsumerChangelogReader<'a> {
    consumer: &'a mut dyn Consumer,
    cursor: &'a mut RestoreCursor,
}

impl<'a> ConsumerChangelogReader<'a> {
    pub(crate) fn new(consumer: &'a mut dyn Consumer, cursor: &'a mut RestoreCursor) -> Self {
        ConsumerChangelogReader { consumer, cursor }
    }

    /// Assigns the consumer every partition being read, from each one's next offset (what was
    /// buffered is dropped and fetched again).
    fn reassign(&mut self) -> Result<(), StreamsError> {
        self.cursor.buffered.clear();
        let assignment: Vec<(TopicPartition, i64)> = self
            .cursor
            .reading
            .iter()
            .map(|(tp, &next)| (tp.clone(), next))
            .collect();
        self.consumer
            .assign(&assignment)
            .map_err(|e| StreamsError::client("assigning changelogs to the restore consumer", e))?;
        self.cursor.reassign = false;
        Ok(())
    }
}

impl ChangelogReader for ConsumerChangelogReader<'_> {
    fn end_offset(&mut self, topic: &str, partition: i32) -> Result<i64, StreamsError> {
        let tp = TopicPartition::new(topic, partition);
        let end = self
            .consumer
            .end_offset(&tp)
            .map_err(|e| StreamsError::client(format!("reading the end of changelog {tp}"), e))?;
        self.cursor.ends.insert(tp, end);
        Ok(end)
    }

    fn read(
        &mut self,
        topic: &str,
        partition: i32,
        from: i64,
        max: usize,
    ) -> Result<ReadOutcome, StreamsError> {
        let tp = TopicPartition::new(topic, partition);
        if self.cursor.reading.get(&tp) != Some(&from) {
            // A partition new to the consumer, or read from elsewhere than it stands.
            self.cursor.reading.insert(tp.clone(), from);
            self.cursor.reassign = true;
        }
        if self.cursor.reassign {
            self.reassign()?;
        }
        if let Some(batch) = self.cursor.take(&tp, max) {
            return Ok(ReadOutcome::Records(batch));
        }
        if self.cursor.buffered_total() >= MAX_BUFFERED {
            return Ok(ReadOutcome::Waiting);
        }
        // Where the consumer stands decides what an empty poll means: before the end offset
        // records are still to come; at or past it, the changelog is caught up (what remains
        // are transaction markers).
        let end = self.cursor.ends.get(&tp).copied().unwrap_or(i64::MAX);
        let position = self
            .consumer
            .position(&tp)
            .map_err(|e| StreamsError::client(format!("reading the position in {tp}"), e))?
            .unwrap_or(from);
        let at_end = position >= end;
        let records = self
            .consumer
            .poll(POLL_WAIT, max)
            .map_err(|e| StreamsError::client(format!("reading changelog {tp}"), e))?;
        for r in records {
            let polled = TopicPartition::new(std::sync::Arc::clone(&r.topic), r.partition);
            if !self.cursor.reading.contains_key(&polled) {
                continue;
            }
            self.cursor
                .buffered
                .entry(polled)
                .or_default()
                .push_back(ChangelogRecord {
                    offset: r.offset,
                    key: r.key.unwrap_or_default(),
                    value: r.value,
                    timestamp: r.timestamp,
                });
        }
        if let Some(batch) = self.cursor.take(&tp, max) {
            return Ok(ReadOutcome::Records(batch));
        }
        if at_end {
            // Nothing more to fetch for it: the next read of another partition reassigns.
            self.cursor.reading.remove(&tp);
            self.cursor.reassign = true;
            return Ok(ReadOutcome::CaughtUp);
        }
        Ok(ReadOutcome::Waiting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::sim::{Faults, SimCluster};
    use crate::client::ConsumerRole;
    use crate::config::StreamsConfig;

    /// Reads `partition` to the end through `reader`, one read per call of `step`.
    fn read_all(
        reader: &mut ConsumerChangelogReader<'_>,
        partition: i32,
        next: &mut i64,
        got: &mut Vec<i64>,
    ) -> bool {
        match reader.read("cl", partition, *next, 7).unwrap() {
            ReadOutcome::Records(batch) => {
                assert!(batch.len() <= 7);
                for r in batch {
                    assert!(r.offset >= *next, "in order, never twice");
                    got.push(r.offset);
                    *next = r.offset + 1;
                }
                false
            }
            ReadOutcome::CaughtUp => true,
            ReadOutcome::Waiting => false,
        }
    }

    /// Two tasks restore through one consumer, one read each in turn: each gets its own
    /// partition's records, in order, all of them, and is caught up at its own end.
    #[test]
    fn interleaved_reads_of_two_changelogs_share_the_consumer() {
        let cluster = SimCluster::new(1, Faults::none());
        cluster.create_topic("cl", 2);
        let mut expected: [Vec<i64>; 2] = [Vec::new(), Vec::new()];
        for i in 0..200 {
            let (p, offset) = cluster.produce("cl", format!("k{i}").as_bytes(), b"v", i);
            expected[p as usize].push(offset);
        }
        assert!(
            expected.iter().all(|e| e.len() > 20),
            "both partitions get records"
        );
        let client = cluster.client(0, &StreamsConfig::new("app", "sim"));
        let mut consumer = client
            .consumer(ConsumerRole::Restore {
                client_id: "restore".into(),
            })
            .unwrap();
        let mut cursor = RestoreCursor::default();
        let (mut next, mut got, mut done) = ([0i64; 2], [Vec::new(), Vec::new()], [false; 2]);
        for p in 0..2 {
            ConsumerChangelogReader::new(&mut *consumer, &mut cursor)
                .end_offset("cl", p)
                .unwrap();
        }
        for _ in 0..1000 {
            for p in 0..2 {
                if !done[p] {
                    let mut reader = ConsumerChangelogReader::new(&mut *consumer, &mut cursor);
                    done[p] = read_all(&mut reader, p as i32, &mut next[p], &mut got[p]);
                }
            }
            if done == [true; 2] {
                break;
            }
        }
        assert_eq!(done, [true; 2]);
        assert_eq!(got, expected);
        assert!(
            cursor.reading.is_empty(),
            "caught-up changelogs leave the consumer"
        );
        assert!(cursor.buffered.values().all(VecDeque::is_empty));
    }
}

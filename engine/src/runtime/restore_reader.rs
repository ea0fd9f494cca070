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
    /// Per partition, the offset after the last record a poll ever returned for it (records
    /// dropped with a task, or read again from an earlier offset, included). See `read`.
    fetched: HashMap<TopicPartition, i64>,
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

    /// Assigns the consumer every partition being read, each from the offset after what is
    /// buffered for it (buffers are kept), if the assignment changed since the last call. With
    /// nothing to read, the consumer is left with no partitions (it stops fetching).
    pub(crate) fn sync(&mut self) -> Result<(), StreamsError> {
        if !self.cursor.reassign {
            return Ok(());
        }
        let assignment: Vec<(TopicPartition, i64)> = self
            .cursor
            .reading
            .iter()
            .map(|(tp, &next)| {
                let after_buffered = self
                    .cursor
                    .buffered
                    .get(tp)
                    .and_then(VecDeque::back)
                    .map_or(next, |r| r.offset + 1);
                (tp.clone(), after_buffered)
            })
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
            self.cursor.buffered.remove(&tp);
            self.cursor.reassign = true;
        }
        self.sync()?;
        if let Some(batch) = self.cursor.take(&tp, max) {
            return Ok(ReadOutcome::Records(batch));
        }
        if self.cursor.buffered_total() >= MAX_BUFFERED {
            return Ok(ReadOutcome::Waiting);
        }
        // Where the consumer stands decides what an empty poll means: before the end offset
        // records are still to come; at or past it, the changelog is caught up (what remains
        // are transaction markers, which the position passes and no record shows). But right
        // after an assignment the position can still be the previous one (librdkafka resets it
        // asynchronously), past records that were fetched then and not yet read: so the
        // position counts only once everything ever fetched below the end was read.
        let end = self.cursor.ends.get(&tp).copied().unwrap_or(i64::MAX);
        let position = self
            .consumer
            .position(&tp)
            .map_err(|e| StreamsError::client(format!("reading the position in {tp}"), e))?
            .unwrap_or(from);
        let fetched = self.cursor.fetched.get(&tp).copied().unwrap_or(0).min(end);
        let at_end = position >= end && from >= fetched;
        let records = self
            .consumer
            .poll(POLL_WAIT, max)
            .map_err(|e| StreamsError::client(format!("reading changelog {tp}"), e))?;
        for r in records {
            let polled = TopicPartition::new(std::sync::Arc::clone(&r.topic), r.partition);
            let fetched = self.cursor.fetched.entry(polled.clone()).or_insert(0);
            *fetched = (*fetched).max(r.offset + 1);
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
    use crate::client::{
        ClientError, ConsumerOps, ConsumerRole, GroupMetadata, OffsetAndMetadata, RebalanceListener,
    };
    use crate::config::StreamsConfig;
    use crate::record::RawRecord;
    use std::sync::Arc;

    /// A consumer that behaves like librdkafka's after `assign`: the position of a partition
    /// it already read stays the old one for a moment, and the first poll after an assignment
    /// returns nothing (the fetch restarts).
    struct LaggingConsumer {
        inner: Box<dyn Consumer>,
        /// The position each partition reached, as of the last poll that returned records.
        last: HashMap<TopicPartition, i64>,
        stale: HashMap<TopicPartition, i64>,
        fresh_assignment: bool,
    }

    impl ConsumerOps for LaggingConsumer {
        fn commit(&self, offsets: &[(TopicPartition, OffsetAndMetadata)]) -> Result<(), ClientError> {
            self.inner.commit(offsets)
        }
        fn committed(
            &self,
            partitions: &[TopicPartition],
        ) -> Result<Vec<(TopicPartition, Option<OffsetAndMetadata>)>, ClientError> {
            self.inner.committed(partitions)
        }
        fn group_metadata(&self) -> Option<GroupMetadata> {
            self.inner.group_metadata()
        }
    }

    impl Consumer for LaggingConsumer {
        fn subscribe(
            &mut self,
            topics: &[String],
            listener: Arc<dyn RebalanceListener>,
        ) -> Result<(), ClientError> {
            self.inner.subscribe(topics, listener)
        }
        fn assign(&mut self, partitions: &[(TopicPartition, i64)]) -> Result<(), ClientError> {
            for (tp, _) in partitions {
                if let Some(&old) = self.last.get(tp) {
                    self.stale.insert(tp.clone(), old);
                }
            }
            self.fresh_assignment = true;
            self.inner.assign(partitions)
        }
        fn poll(&mut self, timeout: Duration, max: usize) -> Result<Vec<RawRecord>, ClientError> {
            if std::mem::take(&mut self.fresh_assignment) {
                return Ok(Vec::new());
            }
            self.stale.clear();
            let records = self.inner.poll(timeout, max)?;
            for r in &records {
                self.last.insert(
                    TopicPartition::new(Arc::clone(&r.topic), r.partition),
                    r.offset + 1,
                );
            }
            Ok(records)
        }
        fn pause(&mut self, partitions: &[TopicPartition]) -> Result<(), ClientError> {
            self.inner.pause(partitions)
        }
        fn resume(&mut self, partitions: &[TopicPartition]) -> Result<(), ClientError> {
            self.inner.resume(partitions)
        }
        fn seek(&mut self, partition: &TopicPartition, offset: Option<i64>) -> Result<(), ClientError> {
            self.inner.seek(partition, offset)
        }
        fn end_offset(&mut self, partition: &TopicPartition) -> Result<i64, ClientError> {
            self.inner.end_offset(partition)
        }
        fn position(&mut self, partition: &TopicPartition) -> Result<Option<i64>, ClientError> {
            match self.stale.get(partition) {
                Some(&old) => Ok(Some(old)),
                None => self.inner.position(partition),
            }
        }
        fn rejoin(&mut self) -> Result<(), ClientError> {
            self.inner.rejoin()
        }
        fn close(&mut self) -> Result<(), ClientError> {
            self.inner.close()
        }
    }

    /// A task whose changelog records another task's read fetched, then dropped (the task was
    /// suspended), reads them again from its own offset: the consumer's stale position, past
    /// them, must not make it caught up.
    #[test]
    fn a_stale_position_after_reassignment_does_not_end_a_replay_early() {
        let (_cluster, expected, inner) = changelog_of(40);
        let mut consumer = LaggingConsumer {
            inner,
            last: HashMap::new(),
            stale: HashMap::new(),
            fresh_assignment: false,
        };
        let mut cursor = RestoreCursor::default();
        for p in 0..2 {
            ConsumerChangelogReader::new(&mut consumer, &mut cursor)
                .end_offset("cl", p)
                .unwrap();
        }
        // Both partitions assigned; reads of partition 1 fetch (and buffer) partition 0 too.
        let (mut next, mut got) = ([0i64; 2], [Vec::new(), Vec::new()]);
        let mut reader = ConsumerChangelogReader::new(&mut consumer, &mut cursor);
        assert_eq!(reader.read("cl", 0, 0, 1).unwrap(), ReadOutcome::Waiting);
        while !read_all(&mut reader, 1, &mut next[1], &mut got[1]) {}
        assert!(cursor
            .buffered
            .get(&TopicPartition::new("cl", 0))
            .is_some_and(|b| !b.is_empty()));
        // Partition 0's task is suspended: its buffer goes; then it reads again from 0.
        cursor.retain(&BTreeSet::new());
        ConsumerChangelogReader::new(&mut consumer, &mut cursor)
            .sync()
            .unwrap();
        let mut reader = ConsumerChangelogReader::new(&mut consumer, &mut cursor);
        let mut rounds = 0;
        while !read_all(&mut reader, 0, &mut next[0], &mut got[0]) {
            rounds += 1;
            assert!(rounds < 100);
        }
        assert_eq!(got, expected, "every record of both changelogs, none skipped");
    }

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

    /// A two-partition changelog `cl` of `n` records on a simulated cluster: the cluster, each
    /// partition's offsets, and a restore consumer.
    fn changelog_of(n: i64) -> (SimCluster, [Vec<i64>; 2], Box<dyn Consumer>) {
        let cluster = SimCluster::new(1, Faults::none());
        cluster.create_topic("cl", 2);
        let mut expected: [Vec<i64>; 2] = [Vec::new(), Vec::new()];
        for i in 0..n {
            let (p, offset) = cluster.produce("cl", format!("k{i}").as_bytes(), b"v", i);
            expected[p as usize].push(offset);
        }
        let consumer = cluster
            .client(0, &StreamsConfig::new("app", "sim"))
            .consumer(ConsumerRole::Restore {
                client_id: "restore".into(),
            })
            .unwrap();
        (cluster, expected, consumer)
    }

    /// Two tasks restore through one consumer, one read each in turn: each gets its own
    /// partition's records, in order, all of them, and is caught up at its own end.
    #[test]
    fn interleaved_reads_of_two_changelogs_share_the_consumer() {
        let (_cluster, expected, mut consumer) = changelog_of(200);
        assert!(
            expected.iter().all(|e| e.len() > 20),
            "both partitions get records"
        );
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

//! Reading changelogs for restoration through a manually assigned consumer.

use crate::client::{Consumer, TopicPartition};
use crate::clock::Clock;
use crate::error::StreamsError;
use crate::restore::{ChangelogReader, ChangelogRecord};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a changelog may yield nothing before its end offset is reached.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// How long an open transaction may hold a changelog's committed end below the offset the
/// committed input offsets vouch for: longer than any producer's `transaction.timeout.ms`
/// plus the coordinator's abort of it.
const END_WAIT_TIMEOUT: Duration = Duration::from_secs(180);

/// How long to wait for records past the reported end offset before calling the changelog
/// caught up. Some brokers report an end short of the last batch (DEVELOPERS.md); reading on
/// until the partition runs dry restores those records too.
const PAST_END_POLL: Duration = Duration::from_millis(50);

/// [`ChangelogReader`] over the restore consumer of a stream thread.
pub(crate) struct ConsumerChangelogReader<'a> {
    consumer: &'a mut dyn Consumer,
    /// The partition assigned and the offset the consumer will return next.
    assigned: Option<(TopicPartition, i64)>,
    ends: HashMap<TopicPartition, i64>,
    clock: Arc<dyn Clock>,
}

impl<'a> ConsumerChangelogReader<'a> {
    pub(crate) fn new(consumer: &'a mut dyn Consumer, clock: Arc<dyn Clock>) -> Self {
        ConsumerChangelogReader {
            consumer,
            assigned: None,
            ends: HashMap::new(),
            clock,
        }
    }
}

impl ChangelogReader for ConsumerChangelogReader<'_> {
    fn end_offset(&mut self, topic: &str, partition: i32) -> Result<i64, StreamsError> {
        let tp = TopicPartition::new(topic, partition);
        let end = self
            .consumer
            .end_offset(&tp)
            .map_err(|e| StreamsError::client(format!("reading the end of changelog {tp}"), e))?;
        self.ends.insert(tp, end);
        Ok(end)
    }

    fn wait_for_end_past(&mut self, topic: &str, partition: i32, offset: i64) -> Result<i64, StreamsError> {
        let tp = TopicPartition::new(topic, partition);
        let started = self.clock.now_ms();
        loop {
            let end = self.end_offset(topic, partition)?;
            if end > offset {
                return Ok(end);
            }
            if self.clock.now_ms().saturating_sub(started) > END_WAIT_TIMEOUT.as_millis() as u64 {
                return Err(StreamsError::Topics {
                    reason: format!(
                        "changelog {tp}: the committed offsets vouch for offset {offset}, but its committed \
                         end stays at {end} (a transaction left open for longer than {}s, or the \
                         changelog was recreated)",
                        END_WAIT_TIMEOUT.as_secs()
                    ),
                });
            }
            // Nothing is assigned to read here: the poll only lets time pass (and serves the
            // client's events) while the coordinator resolves the transaction.
            self.consumer
                .assign(&[])
                .map_err(|e| StreamsError::client(format!("waiting on changelog {tp}"), e))?;
            self.assigned = None;
            self.consumer
                .poll(Duration::from_millis(100), 1)
                .map_err(|e| StreamsError::client(format!("waiting on changelog {tp}"), e))?;
        }
    }

    fn read(
        &mut self,
        topic: &str,
        partition: i32,
        from: i64,
        max: usize,
    ) -> Result<Vec<ChangelogRecord>, StreamsError> {
        let tp = TopicPartition::new(topic, partition);
        if self.assigned.as_ref() != Some(&(tp.clone(), from)) {
            self.consumer
                .assign(&[(tp.clone(), from)])
                .map_err(|e| StreamsError::client(format!("assigning changelog {tp}"), e))?;
        }
        let end = self.ends.get(&tp).copied().unwrap_or(i64::MAX);
        let started = self.clock.now_ms();
        loop {
            // Where the consumer stands decides how long to wait: before the end offset records
            // must come; at or past it, a short poll only picks up what the end missed.
            let position = self
                .consumer
                .position(&tp)
                .map_err(|e| StreamsError::client(format!("reading the position in {tp}"), e))?
                .unwrap_or(from);
            let at_end = position >= end;
            let wait = if at_end {
                PAST_END_POLL
            } else {
                Duration::from_millis(100)
            };
            let records = self
                .consumer
                .poll(wait, max)
                .map_err(|e| StreamsError::client(format!("reading changelog {tp}"), e))?;
            let batch: Vec<ChangelogRecord> = records
                .into_iter()
                .filter(|r| r.topic == tp.topic && r.partition == tp.partition)
                .map(|r| ChangelogRecord {
                    offset: r.offset,
                    key: r.key.unwrap_or_default(),
                    value: r.value,
                    timestamp: r.timestamp,
                })
                .collect();
            if let Some(last) = batch.last() {
                self.assigned = Some((tp, last.offset + 1));
                return Ok(batch);
            }
            // Nothing came: caught up if the position reached the end (what remains are
            // transaction markers), else wait for the broker.
            if at_end {
                self.assigned = Some((tp, position));
                return Ok(Vec::new());
            }
            if self.clock.now_ms().saturating_sub(started) > STALL_TIMEOUT.as_millis() as u64 {
                return Err(StreamsError::Topics {
                    reason: format!("changelog {tp} yields nothing before its end offset {end}"),
                });
            }
        }
    }
}

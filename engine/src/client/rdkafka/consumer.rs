//! Consumers over `BaseConsumer`, with rebalance callbacks delivered to a
//! [`RebalanceListener`] from inside `poll`.

use super::classify;
use crate::buffer_pool::BufferPool;
use crate::client::{
    ClientError, ClientErrorKind, Consumer, ConsumerOps, GroupMetadata, OffsetAndMetadata, RebalanceListener,
    TopicPartition,
};
use crate::record::{Headers, RawRecord};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers as _, Message};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long metadata-style calls (committed offsets, watermarks) may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct Context {
    listener: Mutex<Option<Arc<dyn RebalanceListener>>>,
    /// Ends of the assigned partitions from the newest statistics (high watermark, last
    /// stable offset), and whether they came since the last `lag` call.
    ends: Mutex<(bool, Ends)>,
}

/// Per assigned partition: (high watermark, last stable offset).
type Ends = BTreeMap<TopicPartition, (i64, i64)>;

impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", fac, "{log_message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", fac, "{log_message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", fac, "{log_message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", fac, "{log_message}"),
        }
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        tracing::warn!(target: "librdkafka", %error, reason, "client error");
    }

    /// librdkafka's statistics (every `statistics.interval.ms`, delivered inside `poll`): the
    /// ends of the assigned partitions as the last fetches saw them.
    fn stats(&self, statistics: rdkafka::Statistics) {
        let mut ends = BTreeMap::new();
        for (topic, t) in &statistics.topics {
            for (&partition, p) in &t.partitions {
                // -1 is librdkafka's internal "unassigned" partition; -1 offsets are unknown.
                if partition >= 0 && p.desired && p.hi_offset >= 0 {
                    ends.insert(
                        TopicPartition::new(topic.as_str(), partition),
                        (p.hi_offset, p.ls_offset),
                    );
                }
            }
        }
        *self.ends.lock().expect("ends lock poisoned") = (true, ends);
    }
}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let listener = self.listener.lock().expect("listener lock poisoned").clone();
            if let Some(l) = listener {
                if consumer.assignment_lost() {
                    l.on_lost(&Ops(consumer), &partitions_of(tpl));
                } else {
                    l.on_revoked(&Ops(consumer), &partitions_of(tpl));
                }
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let listener = self.listener.lock().expect("listener lock poisoned").clone();
                if let Some(l) = listener {
                    l.on_assigned(&Ops(consumer), &partitions_of(tpl));
                }
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance failed"),
            Rebalance::Revoke(_) => {}
        }
    }
}

fn partitions_of(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .map(|e| TopicPartition::new(e.topic(), e.partition()))
        .collect()
}

fn tpl_of(partitions: &[TopicPartition]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        tpl.add_partition(&p.topic, p.partition);
    }
    tpl
}

/// Consumer operations usable from a rebalance callback.
struct Ops<'a>(&'a BaseConsumer<Context>);

impl ConsumerOps for Ops<'_> {
    fn commit(&self, offsets: &[(TopicPartition, OffsetAndMetadata)]) -> Result<(), ClientError> {
        let mut tpl = TopicPartitionList::new();
        for (tp, om) in offsets {
            tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(om.offset))
                .map_err(|e| classify("commit offsets", e))?;
            if let Some(mut elem) = tpl.find_partition(&tp.topic, tp.partition) {
                elem.set_metadata(om.metadata.clone());
            }
        }
        self.0
            .commit(&tpl, CommitMode::Sync)
            .map_err(|e| classify("commit offsets", e))
    }

    fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<Vec<(TopicPartition, Option<OffsetAndMetadata>)>, ClientError> {
        let tpl = self
            .0
            .committed_offsets(tpl_of(partitions), CALL_TIMEOUT)
            .map_err(|e| classify("read committed offsets", e))?;
        // A partition whose offset came back with an error (say, still unstable: a
        // transaction holding offsets for it is not decided yet) has no offset to trust: the
        // whole read is to be tried again, not taken as "nothing committed" (which would
        // start the partition from the beginning).
        if let Some(e) = tpl.elements().iter().find(|e| e.error().is_err()) {
            return Err(ClientError::new(
                ClientErrorKind::Retriable,
                "read committed offsets",
                format!(
                    "{}[{}]: {}",
                    e.topic(),
                    e.partition(),
                    e.error().err().map(|e| e.to_string()).unwrap_or_default()
                ),
            ));
        }
        Ok(tpl
            .elements()
            .iter()
            .map(|e| {
                let om = match e.offset() {
                    Offset::Offset(o) => Some(OffsetAndMetadata {
                        offset: o,
                        metadata: e.metadata().to_string(),
                    }),
                    _ => None,
                };
                (TopicPartition::new(e.topic(), e.partition()), om)
            })
            .collect())
    }

    fn group_metadata(&self) -> Option<GroupMetadata> {
        self.0
            .group_metadata()
            .map(|m| GroupMetadata(Arc::new(Mutex::new(m))))
    }
}

/// A librdkafka consumer.
pub(crate) struct RdConsumer {
    consumer: BaseConsumer<Context>,
    /// `isolation.level=read_committed`: the end of a partition is its last stable offset.
    read_committed: bool,
    /// Names of the topics records came from, shared by their records (a name per record
    /// cost an allocation per record).
    topics: Vec<Arc<str>>,
    /// Buffers of records the runtime is done with: each polled key and value is copied into
    /// one (see `recycle`).
    buffers: BufferPool,
    /// Per partition read: the offset after the last record `poll` returned, or where a seek
    /// or an assignment put the consumer (see `behind`). Kept here because librdkafka's own
    /// position asks its main thread for the assignment, a round trip per call.
    read_to: Vec<(TopicPartition, i64)>,
}

/// A partition's end as a consumer sees it: its last stable offset for `read_committed`
/// consumers (when known), else its high watermark.
fn end_of((hi, ls): (i64, i64), read_committed: bool) -> i64 {
    if read_committed && ls >= 0 {
        ls
    } else {
        hi
    }
}

/// Whether one of `partitions` is in `read_to` short of its end in `ends`.
fn any_behind(
    partitions: &[TopicPartition],
    read_to: &[(TopicPartition, i64)],
    ends: &Ends,
    read_committed: bool,
) -> bool {
    read_to.iter().any(|(tp, at)| {
        partitions.contains(tp) && ends.get(tp).is_some_and(|&e| *at < end_of(e, read_committed))
    })
}

/// Sets where `partition` has been read to.
fn note_read_to(read_to: &mut Vec<(TopicPartition, i64)>, topic: &Arc<str>, partition: i32, next: i64) {
    match read_to
        .iter_mut()
        .find(|(tp, _)| tp.partition == partition && tp.topic == *topic)
    {
        Some((_, at)) => *at = next,
        None => read_to.push((
            TopicPartition {
                topic: Arc::clone(topic),
                partition,
            },
            next,
        )),
    }
}

/// Capacity the consumer keeps in buffers of processed records. It covers the records one
/// step buffers (a poll of up to 2,000, plus what waits per partition) at a kilobyte each; with
/// larger records the rest are allocated and freed as before.
const BUFFER_BUDGET: usize = 8 * 1024 * 1024;
/// The largest buffer kept.
const MAX_KEPT_BUFFER: usize = 64 * 1024;

impl RdConsumer {
    /// librdkafka's position of every assigned partition that has one (a record returned
    /// since its assignment or seek), or `None` if librdkafka could not say.
    fn positions(&self) -> Option<Vec<(TopicPartition, i64)>> {
        let tpl = self.consumer.position().ok()?;
        Some(
            tpl.elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(at) => Some((TopicPartition::new(e.topic(), e.partition()), at)),
                    _ => None,
                })
                .collect(),
        )
    }

    /// Whether one of `partitions` was read short of its end in the newest statistics.
    fn behind_ends(&self, partitions: &[TopicPartition]) -> bool {
        let guard = self.consumer.context().ends.lock().expect("ends lock poisoned");
        any_behind(partitions, &self.read_to, &guard.1, self.read_committed)
    }

    pub(crate) fn create(mut config: ClientConfig, group_member: bool) -> Result<Self, ClientError> {
        if !group_member {
            // Manual assignment still needs a group id in librdkafka; it never joins.
            config.set("group.id", "sluice-unused-group");
        }
        let read_committed = config.get("isolation.level") == Some("read_committed");
        let consumer = config
            .create_with_context(Context {
                listener: Mutex::new(None),
                ends: Mutex::new((false, BTreeMap::new())),
            })
            .map_err(|e| classify("create consumer", e))?;
        Ok(RdConsumer {
            topics: Vec::new(),
            buffers: BufferPool::new(BUFFER_BUDGET, MAX_KEPT_BUFFER),
            read_to: Vec::new(),
            consumer,
            read_committed,
        })
    }
}

/// The shared name of `topic` among `known`. A consumer reads a handful of topics: a linear scan.
fn topic_name(known: &mut Vec<Arc<str>>, topic: &str) -> Arc<str> {
    if let Some(t) = known.iter().find(|t| &***t == topic) {
        return Arc::clone(t);
    }
    let t: Arc<str> = topic.into();
    known.push(Arc::clone(&t));
    t
}

impl ConsumerOps for RdConsumer {
    fn commit(&self, offsets: &[(TopicPartition, OffsetAndMetadata)]) -> Result<(), ClientError> {
        Ops(&self.consumer).commit(offsets)
    }
    fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<Vec<(TopicPartition, Option<OffsetAndMetadata>)>, ClientError> {
        Ops(&self.consumer).committed(partitions)
    }
    fn group_metadata(&self) -> Option<GroupMetadata> {
        Ops(&self.consumer).group_metadata()
    }
}

impl Consumer for RdConsumer {
    fn subscribe(
        &mut self,
        topics: &[String],
        listener: Arc<dyn RebalanceListener>,
    ) -> Result<(), ClientError> {
        *self
            .consumer
            .context()
            .listener
            .lock()
            .expect("listener lock poisoned") = Some(listener);
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        self.consumer
            .subscribe(&topics)
            .map_err(|e| classify("subscribe", e))
    }

    fn assign(&mut self, partitions: &[(TopicPartition, i64)]) -> Result<(), ClientError> {
        let mut tpl = TopicPartitionList::new();
        for (tp, offset) in partitions {
            tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(*offset))
                .map_err(|e| classify("assign", e))?;
        }
        self.consumer.assign(&tpl).map_err(|e| classify("assign", e))?;
        self.read_to = partitions.to_vec();
        Ok(())
    }

    fn poll(&mut self, timeout: Duration, max: usize) -> Result<Vec<RawRecord>, ClientError> {
        let mut out = Vec::new();
        let mut wait = timeout;
        while out.len() < max {
            match self.consumer.poll(wait) {
                None => break,
                Some(Err(e)) => {
                    let err = classify("poll", e);
                    if err.kind == ClientErrorKind::Retriable {
                        tracing::warn!(error = %err, "poll error, retrying");
                        break;
                    }
                    return Err(err);
                }
                Some(Ok(m)) => {
                    let headers = m
                        .headers()
                        .map(|hs| {
                            Headers::from_pairs(
                                hs.iter()
                                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                                    .collect(),
                            )
                        })
                        .unwrap_or_default();
                    out.push(RawRecord {
                        topic: topic_name(&mut self.topics, m.topic()),
                        partition: m.partition(),
                        offset: m.offset(),
                        timestamp: m.timestamp().to_millis().unwrap_or(-1),
                        key: m.key().map(|k| self.buffers.copy_of(k)),
                        value: m.payload().map(|v| self.buffers.copy_of(v)),
                        headers,
                    });
                }
            }
            wait = Duration::ZERO;
        }
        // Records of a partition come in offset order: its last one here says where it has
        // been read to. (One lookup per run of records of one partition.)
        for (i, r) in out.iter().enumerate() {
            let run_ends = out
                .get(i + 1)
                .is_none_or(|n| n.partition != r.partition || !Arc::ptr_eq(&n.topic, &r.topic));
            if run_ends {
                note_read_to(&mut self.read_to, &r.topic, r.partition, r.offset + 1);
            }
        }
        Ok(out)
    }

    fn recycle(&mut self, records: &mut Vec<RawRecord>) {
        for r in records.drain(..) {
            if let Some(k) = r.key {
                self.buffers.give(k);
            }
            if let Some(v) = r.value {
                self.buffers.give(v);
            }
        }
    }

    fn pause(&mut self, partitions: &[TopicPartition]) -> Result<(), ClientError> {
        self.consumer
            .pause(&tpl_of(partitions))
            .map_err(|e| classify("pause", e))
    }

    fn resume(&mut self, partitions: &[TopicPartition]) -> Result<(), ClientError> {
        self.consumer
            .resume(&tpl_of(partitions))
            .map_err(|e| classify("resume", e))
    }

    fn seek(&mut self, partition: &TopicPartition, offset: Option<i64>) -> Result<(), ClientError> {
        // Where the partition has been read to follows the seek (a rewind reads again); the
        // start's offset is not known here.
        self.read_to.retain(|(tp, _)| tp != partition);
        if let Some(o) = offset {
            note_read_to(&mut self.read_to, &partition.topic, partition.partition, o);
        }
        let offset = offset.map_or(Offset::Beginning, Offset::Offset);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&partition.topic, partition.partition, offset)
            .map_err(|e| classify("seek", e))?;
        let sought = self
            .consumer
            .seek_partitions(tpl, CALL_TIMEOUT)
            .map_err(|e| classify("seek", e))?;
        match sought.elements().first().map(|e| e.error()) {
            // librdkafka has not started fetching the partition: it still waits for the
            // group coordinator's committed offsets (right after a broker restart, say),
            // and starts from them. Not an error of the partition: try again later.
            Some(Err(KafkaError::OffsetFetch(RDKafkaErrorCode::State))) => Err(ClientError::new(
                ClientErrorKind::Retriable,
                "seek",
                format!("{partition}: not fetching yet (waiting for its committed offset)"),
            )),
            Some(Err(e)) => Err(classify("seek", e)),
            _ => Ok(()),
        }
    }

    fn rejoin(&mut self) -> Result<(), ClientError> {
        let topics = self.consumer.subscription().map_err(|e| classify("rejoin", e))?;
        let topics: Vec<String> = topics.elements().iter().map(|e| e.topic().to_string()).collect();
        self.consumer.unsubscribe();
        self.read_to.clear();
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        self.consumer.subscribe(&names).map_err(|e| classify("rejoin", e))
    }

    fn end_offset(&mut self, partition: &TopicPartition) -> Result<i64, ClientError> {
        let (_, high) = self
            .consumer
            .fetch_watermarks(&partition.topic, partition.partition, CALL_TIMEOUT)
            .map_err(|e| classify("read end offset", e))?;
        Ok(high)
    }

    fn position(&mut self, partition: &TopicPartition) -> Result<Option<i64>, ClientError> {
        let tpl = self
            .consumer
            .position()
            .map_err(|e| classify("read position", e))?;
        Ok(tpl
            .find_partition(&partition.topic, partition.partition)
            .and_then(|e| match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            }))
    }

    /// From the newest statistics' ends (every `statistics.interval.ms`, so up to that old):
    /// under a steady load the consumer has read past them, while in a backlog they lie ahead.
    /// A partition that looks behind is checked against librdkafka's own position before it
    /// counts: that one steps over transaction markers (a partition whose last entry is a
    /// commit marker ends one past its last record) and follows rebalances.
    fn behind(&mut self, partitions: &[TopicPartition]) -> bool {
        if !self.behind_ends(partitions) {
            return false;
        }
        // A round trip to librdkafka's main thread, only when the cheap answer is "behind":
        // in a backlog, once per step that drained the consumer (a step processes up to
        // a thousand records).
        let Some(positions) = self.positions() else {
            return true;
        };
        self.read_to = positions;
        self.behind_ends(partitions)
    }

    fn lag(&mut self, committed: bool) -> Option<Vec<(TopicPartition, i64)>> {
        let ends = {
            let mut guard = self.consumer.context().ends.lock().expect("ends lock poisoned");
            let (fresh, ends) = &mut *guard;
            if !(committed || *fresh) || ends.is_empty() {
                return None;
            }
            *fresh = false;
            ends.clone()
        };
        // Positions are local (no request): fresh at every call.
        let lag = self
            .positions()?
            .into_iter()
            .filter_map(|(tp, position)| {
                let end = end_of(*ends.get(&tp)?, self.read_committed);
                Some((tp, (end - position).max(0)))
            })
            .collect();
        Some(lag)
    }

    fn close(&mut self) -> Result<(), ClientError> {
        // Leaving the group runs the revocation callback (the last commit) inside poll.
        self.consumer.unsubscribe();
        let _ = self.consumer.poll(Duration::from_millis(100));
        *self
            .consumer
            .context()
            .listener
            .lock()
            .expect("listener lock poisoned") = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_is_behind_until_read_to_its_end() {
        let orders: Arc<str> = "orders".into();
        let mut read_to = Vec::new();
        let running = [TopicPartition::new("orders", 0), TopicPartition::new("orders", 1)];
        let ends: Ends = [
            (TopicPartition::new("orders", 0), (100, 90)),
            (TopicPartition::new("orders", 1), (50, 50)),
        ]
        .into_iter()
        .collect();
        // Nothing read yet: no partition counts.
        assert!(!any_behind(&running, &read_to, &ends, false));
        note_read_to(&mut read_to, &orders, 1, 50);
        assert!(
            !any_behind(&running, &read_to, &ends, false),
            "partition 1 is at its end"
        );
        note_read_to(&mut read_to, &orders, 0, 90);
        assert!(
            any_behind(&running, &read_to, &ends, false),
            "10 records past 90 below the high watermark"
        );
        assert!(
            !any_behind(&running, &read_to, &ends, true),
            "a read_committed consumer ends at the last stable offset"
        );
        // One entry per partition, whatever `Arc` names the topic.
        note_read_to(&mut read_to, &"orders".into(), 0, 100);
        assert_eq!(read_to.len(), 2);
        assert!(!any_behind(&running, &read_to, &ends, false));
        // A partition the ends do not know (not assigned any more) does not count.
        note_read_to(&mut read_to, &orders, 7, 0);
        assert!(!any_behind(&running, &read_to, &ends, false));
        // Nor does one outside the partitions asked about (a restoring task's, paused).
        note_read_to(&mut read_to, &orders, 0, 10);
        assert!(any_behind(&running, &read_to, &ends, false));
        assert!(!any_behind(&running[1..], &read_to, &ends, false));
    }
}

//! The simulated consumer: a group member (eager rebalances, callbacks from inside `poll`) or
//! manually assigned; `read_committed` or not.

use super::{GroupMetadataSim, Shared};
use crate::client::{
    ClientError, ClientErrorKind, Consumer, ConsumerOps, GroupMetadata, OffsetAndMetadata, RebalanceListener,
    TopicPartition,
};
use crate::record::RawRecord;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// The most an idle poll moves the clock.
const MAX_IDLE_MS: u64 = 100;

pub(crate) struct SimConsumer {
    shared: Shared,
    group: String,
    read_committed: bool,
    /// Group membership: member id and the generation of the partitions held.
    member: Option<(u64, i32)>,
    topics: Vec<String>,
    listener: Option<Arc<dyn RebalanceListener>>,
    owned: Vec<TopicPartition>,
    positions: BTreeMap<TopicPartition, i64>,
    /// Paused partitions. As in librdkafka (not Java's consumer), a pause outlives the
    /// partition's revocation: a partition assigned again to this consumer is still paused
    /// until resumed, so the runtime must not assume a fresh assignment fetches.
    paused: BTreeSet<TopicPartition>,
}

impl SimConsumer {
    pub(crate) fn new(shared: Shared, group: String, read_committed: bool) -> Self {
        SimConsumer {
            shared,
            group,
            read_committed,
            member: None,
            topics: Vec::new(),
            listener: None,
            owned: Vec::new(),
            positions: BTreeMap::new(),
            paused: BTreeSet::new(),
        }
    }

    fn join(&mut self) {
        let (group, topics) = (self.group.clone(), self.topics.clone());
        let id = self.shared.with(|c| {
            let id = c.new_member();
            let now = c.now_ms;
            c.group(&group).join(id, topics, now);
            id
        });
        self.member = Some((id, -1));
    }

    /// Gives up every partition held, telling the listener first (revoked: its last chance to
    /// commit; lost: someone else may own them already).
    fn revoke_all(&mut self, lost: bool) {
        let owned = std::mem::take(&mut self.owned);
        if !owned.is_empty() {
            if let Some(l) = self.listener.clone() {
                if lost {
                    l.on_lost(&*self, &owned);
                } else {
                    l.on_revoked(&*self, &owned);
                }
            }
        }
        self.positions.clear();
    }

    /// Acts on what the group coordinator says until it says nothing.
    fn follow_group(&mut self) {
        while let Some((member, _)) = self.member {
            let group = self.group.clone();
            let action = self.shared.with(|c| {
                let now = c.now_ms;
                let counts: BTreeMap<String, i32> = self
                    .topics
                    .iter()
                    .map(|t| (t.clone(), c.partitions(t).unwrap_or(0)))
                    .collect();
                c.group(&group)
                    .poll(member, now, |t| counts.get(t).copied().unwrap_or(0))
            });
            match action {
                super::group::MemberAction::None => break,
                super::group::MemberAction::Revoke => self.revoke_all(false),
                super::group::MemberAction::Lost => {
                    self.revoke_all(true);
                    self.join();
                }
                super::group::MemberAction::Assign {
                    generation,
                    partitions,
                } => {
                    self.member = Some((member, generation));
                    let committed = self.committed_now(&partitions);
                    self.positions = committed;
                    self.owned = partitions.clone();
                    if let Some(l) = self.listener.clone() {
                        l.on_assigned(&*self, &partitions);
                    }
                }
            }
        }
    }

    /// Start positions: the committed offsets, else the partitions' start.
    fn committed_now(&self, partitions: &[TopicPartition]) -> BTreeMap<TopicPartition, i64> {
        let group = self.group.clone();
        self.shared.with(|c| {
            let g = c.existing_group(&group);
            partitions
                .iter()
                .map(|tp| {
                    let o = g.and_then(|g| g.committed.get(tp)).map_or(0, |om| om.offset);
                    (tp.clone(), o)
                })
                .collect()
        })
    }
}

impl ConsumerOps for SimConsumer {
    fn commit(&self, offsets: &[(TopicPartition, OffsetAndMetadata)]) -> Result<(), ClientError> {
        self.shared.crash_point("commit offsets: before");
        let (member, generation) = self.member.unwrap_or((0, -1));
        let group = self.group.clone();
        self.shared
            .with(|c| c.commit_offsets(&group, member, generation, offsets))?;
        self.shared.crash_point("commit offsets: after");
        Ok(())
    }

    fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<Vec<(TopicPartition, Option<OffsetAndMetadata>)>, ClientError> {
        let group = self.group.clone();
        self.shared.with(|c| {
            if c.offset_read_fails() {
                return Err(ClientError::new(
                    ClientErrorKind::Retriable,
                    "read committed offsets",
                    "the group coordinator is loading (injected)",
                ));
            }
            let g = c.existing_group(&group);
            Ok(partitions
                .iter()
                .map(|tp| (tp.clone(), g.and_then(|g| g.committed.get(tp)).cloned()))
                .collect())
        })
    }

    fn group_metadata(&self) -> Option<GroupMetadata> {
        self.member.map(|(member, generation)| {
            GroupMetadata(Arc::new(GroupMetadataSim {
                group: self.group.clone(),
                member,
                generation,
            }))
        })
    }
}

impl Consumer for SimConsumer {
    fn subscribe(
        &mut self,
        topics: &[String],
        listener: Arc<dyn RebalanceListener>,
    ) -> Result<(), ClientError> {
        self.topics = topics.to_vec();
        self.listener = Some(listener);
        self.join();
        Ok(())
    }

    fn assign(&mut self, partitions: &[(TopicPartition, i64)]) -> Result<(), ClientError> {
        self.owned = partitions.iter().map(|(tp, _)| tp.clone()).collect();
        self.positions = partitions.iter().cloned().collect();
        Ok(())
    }

    fn poll(&mut self, timeout: Duration, max: usize) -> Result<Vec<RawRecord>, ClientError> {
        self.shared.crash_point("poll");
        self.follow_group();
        let readable: Vec<TopicPartition> = self
            .owned
            .iter()
            .filter(|tp| !self.paused.contains(*tp))
            .cloned()
            .collect();
        let mut out = Vec::new();
        if !readable.is_empty() {
            let read_committed = self.read_committed;
            let fetched = self.shared.with(|c| {
                // A fair share per partition, so that every input of a task is fetched together.
                let max = c.fetch_limit.map_or(max, |limit| limit.min(max));
                let share = (max / readable.len()).max(1);
                readable
                    .iter()
                    .map(|tp| {
                        let from = self.positions.get(tp).copied().unwrap_or(0);
                        c.read(tp, from, share, read_committed).map(|r| (tp.clone(), r))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })?;
            for (tp, (records, next)) in fetched {
                self.positions.insert(tp.clone(), next);
                out.extend(records.into_iter().map(|(offset, d)| RawRecord {
                    topic: Arc::clone(&tp.topic),
                    partition: tp.partition,
                    offset,
                    timestamp: d.timestamp,
                    key: d.key,
                    value: d.value,
                    headers: d.headers,
                }));
            }
        }
        if out.is_empty() {
            let idle = (timeout.as_millis() as u64).min(MAX_IDLE_MS);
            self.shared.with(|c| c.advance(idle));
        }
        Ok(out)
    }

    fn pause(&mut self, partitions: &[TopicPartition]) -> Result<(), ClientError> {
        self.paused.extend(partitions.iter().cloned());
        Ok(())
    }

    fn resume(&mut self, partitions: &[TopicPartition]) -> Result<(), ClientError> {
        for tp in partitions {
            self.paused.remove(tp);
        }
        Ok(())
    }

    fn seek(&mut self, partition: &TopicPartition, offset: Option<i64>) -> Result<(), ClientError> {
        if self.owned.contains(partition) {
            self.positions.insert(partition.clone(), offset.unwrap_or(0));
        }
        Ok(())
    }

    fn end_offset(&mut self, partition: &TopicPartition) -> Result<i64, ClientError> {
        let rc = self.read_committed;
        self.shared.with(|c| c.end_offset(partition, rc))
    }

    fn position(&mut self, partition: &TopicPartition) -> Result<Option<i64>, ClientError> {
        Ok(self.positions.get(partition).copied())
    }

    /// Exact: the simulation knows every partition's end now, and the position of every
    /// partition assigned.
    fn behind(&mut self, partitions: &[TopicPartition]) -> bool {
        let read_committed = self.read_committed;
        self.shared.with(|c| {
            partitions.iter().any(|tp| {
                self.positions
                    .get(tp)
                    .is_some_and(|&at| c.end_offset(tp, read_committed).is_ok_and(|end| at < end))
            })
        })
    }

    fn rejoin(&mut self) -> Result<(), ClientError> {
        if let Some((member, _)) = self.member {
            let group = self.group.clone();
            self.shared.with(|c| {
                let now = c.now_ms;
                c.group(&group).leave(member, now);
            });
            // The runtime closed the tasks already: nothing to revoke.
            self.owned.clear();
            self.positions.clear();
            self.join();
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), ClientError> {
        if let Some((member, _)) = self.member {
            self.revoke_all(false);
            let group = self.group.clone();
            self.shared.with(|c| {
                let now = c.now_ms;
                c.group(&group).leave(member, now);
            });
            self.member = None;
        }
        self.listener = None;
        Ok(())
    }
}

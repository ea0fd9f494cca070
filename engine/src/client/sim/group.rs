//! A consumer group coordinator with Kafka's eager rebalance protocol and the range assignor.
//!
//! A membership change starts a rebalance (`Preparing`): every member must come back (poll)
//! and give up its partitions; offset commits with the current generation are still accepted
//! meanwhile, so members commit on revocation. Once all have come back, the generation moves on
//! and the new assignment is handed out at each member's next poll. A member that does not come
//! back within the rebalance timeout, or stops polling for the session timeout, is removed: its
//! later commits fail, and at its next poll it learns it lost its partitions and joins again.

use crate::client::{OffsetAndMetadata, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};

/// What a member must do at its poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MemberAction {
    /// Give up every partition held (commit first): a rebalance is in progress.
    Revoke,
    /// The rebalance completed: these partitions are the member's at `generation`.
    Assign {
        generation: i32,
        partitions: Vec<TopicPartition>,
    },
    /// The member was removed from the group: its partitions are lost; it must join again.
    Lost,
    /// Nothing to do.
    None,
}

#[derive(Debug)]
struct Member {
    topics: Vec<String>,
    /// Generation whose assignment the member holds (or -1).
    generation: i32,
    /// It gave up its partitions for the rebalance in progress.
    rejoined: bool,
    last_seen_ms: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Group {
    pub(crate) generation: i32,
    members: BTreeMap<u64, Member>,
    /// Members removed but not yet told.
    removed: BTreeSet<u64>,
    /// `Some(start)` while a rebalance is in progress.
    preparing_since: Option<u64>,
    /// Assignment of the current generation.
    assignment: BTreeMap<u64, Vec<TopicPartition>>,
    pub(crate) committed: BTreeMap<TopicPartition, OffsetAndMetadata>,
    /// Rebalances completed.
    pub(crate) rebalances: u64,
}

impl Group {
    pub(crate) fn join(&mut self, member: u64, topics: Vec<String>, now_ms: u64) {
        self.members.insert(
            member,
            Member {
                topics,
                generation: -1,
                // A new member holds nothing to give up.
                rejoined: true,
                last_seen_ms: now_ms,
            },
        );
        self.prepare(now_ms);
    }

    pub(crate) fn leave(&mut self, member: u64, now_ms: u64) {
        if self.members.remove(&member).is_some() {
            self.prepare(now_ms);
        }
    }

    /// Removes a member without its knowledge (timeouts, or the simulation kicking it).
    pub(crate) fn remove(&mut self, member: u64, now_ms: u64) {
        if self.members.remove(&member).is_some() {
            self.removed.insert(member);
            self.prepare(now_ms);
        }
    }

    pub(crate) fn member_ids(&self) -> Vec<u64> {
        self.members.keys().copied().collect()
    }

    fn prepare(&mut self, now_ms: u64) {
        if self.preparing_since.is_none() {
            self.preparing_since = Some(now_ms);
            for m in self.members.values_mut() {
                m.rejoined = m.generation < 0;
            }
        }
        self.complete_if_ready();
    }

    fn complete_if_ready(&mut self) {
        if self.preparing_since.is_some() && self.members.values().all(|m| m.rejoined) {
            self.preparing_since = None;
            self.generation += 1;
            self.rebalances += 1;
            self.assignment = BTreeMap::new();
        }
    }

    /// Removes members silent for `session_ms`, or not back within `rebalance_ms` of a
    /// rebalance's start.
    pub(crate) fn expire(&mut self, now_ms: u64, session_ms: u64, rebalance_ms: u64) {
        let overdue = self
            .preparing_since
            .is_some_and(|s| now_ms.saturating_sub(s) > rebalance_ms);
        let expired: Vec<u64> = self
            .members
            .iter()
            .filter(|(_, m)| now_ms.saturating_sub(m.last_seen_ms) > session_ms || (overdue && !m.rejoined))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.remove(id, now_ms);
        }
    }

    /// A member polls: heartbeat, and what it must do.
    pub(crate) fn poll(
        &mut self,
        member: u64,
        now_ms: u64,
        partitions_of: impl Fn(&str) -> i32,
    ) -> MemberAction {
        if self.removed.remove(&member) {
            return MemberAction::Lost;
        }
        let preparing = self.preparing_since.is_some();
        let generation = self.generation;
        let Some(m) = self.members.get_mut(&member) else {
            return MemberAction::Lost;
        };
        m.last_seen_ms = now_ms;
        if preparing {
            if !m.rejoined {
                m.rejoined = true;
                self.complete_if_ready();
                return MemberAction::Revoke;
            }
            return MemberAction::None;
        }
        if m.generation < generation {
            m.generation = generation;
            if self.assignment.is_empty() {
                self.assignment = self.range_assignment(partitions_of);
            }
            let partitions = self.assignment.get(&member).cloned().unwrap_or_default();
            return MemberAction::Assign {
                generation,
                partitions,
            };
        }
        MemberAction::None
    }

    /// True if `member` is in the group at `generation`: its offset commits are accepted.
    pub(crate) fn accepts(&self, member: u64, generation: i32) -> bool {
        self.members.contains_key(&member) && generation == self.generation
    }

    /// Kafka's range assignor: per topic, members (sorted) get consecutive ranges, the first
    /// ones one extra partition; equal partition counts line up across topics.
    fn range_assignment(&self, partitions_of: impl Fn(&str) -> i32) -> BTreeMap<u64, Vec<TopicPartition>> {
        let mut topics: BTreeSet<&str> = BTreeSet::new();
        for m in self.members.values() {
            topics.extend(m.topics.iter().map(String::as_str));
        }
        let mut out: BTreeMap<u64, Vec<TopicPartition>> = BTreeMap::new();
        for topic in topics {
            let members: Vec<u64> = self
                .members
                .iter()
                .filter(|(_, m)| m.topics.iter().any(|t| t == topic))
                .map(|(id, _)| *id)
                .collect();
            let n = partitions_of(topic).max(0) as usize;
            let (per, extra) = (n / members.len(), n % members.len());
            let mut next = 0;
            for (i, id) in members.iter().enumerate() {
                let count = per + usize::from(i < extra);
                out.entry(*id)
                    .or_default()
                    .extend((next..next + count).map(|p| TopicPartition::new(topic, p as i32)));
                next += count;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(action: MemberAction) -> Vec<String> {
        match action {
            MemberAction::Assign { partitions, .. } => partitions.iter().map(|p| p.to_string()).collect(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn eager_rebalance_revokes_everywhere_before_assigning_ranges() {
        let mut g = Group::default();
        let topics = vec!["a".to_string(), "b".to_string()];
        let count = |_: &str| 3;
        g.join(1, topics.clone(), 0);
        assert_eq!(
            parts(g.poll(1, 0, count)),
            ["a-0", "a-1", "a-2", "b-0", "b-1", "b-2"]
        );
        assert!(g.accepts(1, 1));

        g.join(2, topics, 10);
        // Until member 1 revokes, nothing new is handed out, and generation 1 still commits.
        assert_eq!(g.poll(2, 10, count), MemberAction::None);
        assert!(g.accepts(1, 1));
        assert_eq!(
            g.poll(1, 11, count),
            MemberAction::Revoke,
            "member 1 gives its partitions up"
        );
        assert!(!g.accepts(1, 1), "the generation moved on");
        assert_eq!(parts(g.poll(1, 12, count)), ["a-0", "a-1", "b-0", "b-1"]);
        assert_eq!(
            parts(g.poll(2, 12, count)),
            ["a-2", "b-2"],
            "co-partitioned ranges line up"
        );
        assert_eq!(g.poll(2, 13, count), MemberAction::None);
    }

    #[test]
    fn silent_members_are_removed_and_learn_it_at_their_next_poll() {
        let mut g = Group::default();
        g.join(1, vec!["a".into()], 0);
        g.join(2, vec!["a".into()], 0);
        g.poll(1, 0, |_| 2);
        g.poll(2, 0, |_| 2);
        g.poll(1, 5_000, |_| 2);
        g.expire(7_000, 6_000, 60_000);
        assert!(
            !g.accepts(2, g.generation),
            "member 2 was silent for longer than the session"
        );
        assert_eq!(g.poll(2, 7_001, |_| 2), MemberAction::Lost);
        assert_eq!(g.poll(1, 7_002, |_| 2), MemberAction::Revoke);
        assert_eq!(parts(g.poll(1, 7_003, |_| 2)), ["a-0", "a-1"]);
    }
}

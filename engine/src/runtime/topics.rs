//! Topic setup at start: source topics must exist; each sub-topology's inputs must have one
//! partition count (tasks are sub-topology x partition, and the range assignor puts equal
//! partitions of its topics on one member); join inputs must be co-partitioned; internal topics
//! (repartition, changelog) are created with the partition counts this implies.

use crate::client::{Admin, NewTopic};
use crate::config::StreamsConfig;
use crate::error::StreamsError;
use sluice_dsl::topology::{InternalTopicKind, StoreKind, TopicRef, Topology};
use std::collections::BTreeMap;

/// Extra retention of window changelogs beyond the store's (Kafka Streams'
/// `windowstore.changelog.additional.retention.ms`).
const WINDOW_CHANGELOG_EXTRA_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

/// Partition counts resolved at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TopicPlan {
    /// Per sub-topology: its partition (= task) count.
    pub(crate) sub_topology_partitions: BTreeMap<u32, i32>,
    /// Every topic the topology reads, resolved, with its partitions.
    pub(crate) source_partitions: BTreeMap<String, i32>,
}

fn topics_error(reason: String) -> StreamsError {
    StreamsError::Topics { reason }
}

/// Checks source topics and creates internal topics.
pub(crate) fn prepare(
    topology: &Topology,
    config: &StreamsConfig,
    admin: &dyn Admin,
) -> Result<TopicPlan, StreamsError> {
    let app = &config.application_id;
    let mut counts: BTreeMap<TopicRef, i32> = BTreeMap::new();
    for sub in topology.sub_topologies() {
        for t in sub.source_topics.iter().filter(|t| !t.is_internal()) {
            let n = admin
                .partitions(t.name())
                .map_err(|e| StreamsError::client(format!("reading topic {t}"), e))?
                .ok_or_else(|| topics_error(format!("source topic {t} does not exist: create it first")))?;
            counts.insert(t.clone(), n);
        }
    }
    for g in topology.global_tables() {
        admin
            .partitions(&g.topic)
            .map_err(|e| StreamsError::client(format!("reading topic {}", g.topic), e))?
            .ok_or_else(|| {
                topics_error(format!(
                    "global table topic {} does not exist: create it first",
                    g.topic
                ))
            })?;
    }

    // Repartition topics: as chosen, else as the sub-topology writing them; co-partitioned
    // ones as their group. Iterate: a writer may itself read a repartition topic.
    let repartitions: Vec<(TopicRef, u32, Option<u32>)> = topology
        .internal_topics()
        .iter()
        .filter_map(|t| match t.kind {
            InternalTopicKind::Repartition {
                writer, partitions, ..
            } => Some((t.topic.clone(), writer, partitions)),
            _ => None,
        })
        .collect();
    for (topic, _, chosen) in &repartitions {
        if let Some(n) = chosen {
            counts.insert(topic.clone(), *n as i32);
        }
    }
    for _ in 0..=repartitions.len() {
        for (topic, writer, chosen) in &repartitions {
            if chosen.is_some() {
                continue;
            }
            let sub = topology
                .sub_topology(*writer)
                .expect("writers are stream sub-topologies");
            if let Some(n) = sub.source_topics.iter().filter_map(|t| counts.get(t)).max() {
                counts.insert(topic.clone(), *n);
            }
        }
        for group in topology.copartition_groups() {
            let user_max = group
                .iter()
                .filter(|t| !t.is_internal())
                .filter_map(|t| counts.get(t))
                .max()
                .copied();
            if let Some(n) = user_max {
                for t in group.iter().filter(|t| t.is_internal()) {
                    if !repartitions
                        .iter()
                        .any(|(r, _, chosen)| r == t && chosen.is_some())
                    {
                        counts.insert(t.clone(), n);
                    }
                }
            }
        }
    }

    for group in topology.copartition_groups() {
        let sizes: Vec<(String, i32)> = group
            .iter()
            .map(|t| (t.resolve(app), counts.get(t).copied().unwrap_or(-1)))
            .collect();
        if sizes.windows(2).any(|w| w[0].1 != w[1].1) {
            return Err(topics_error(format!(
                "joined topics must be co-partitioned (equal partition counts): {sizes:?}"
            )));
        }
    }
    let mut plan = TopicPlan::default();
    for sub in topology.sub_topologies() {
        let sizes: Vec<(String, i32)> = sub
            .source_topics
            .iter()
            .map(|t| (t.resolve(app), counts.get(t).copied().unwrap_or(-1)))
            .collect();
        if sizes.windows(2).any(|w| w[0].1 != w[1].1) {
            return Err(topics_error(format!(
                "topics read by sub-topology {} must have equal partition counts: {sizes:?}",
                sub.id
            )));
        }
        let n = sizes.first().map_or(1, |(_, n)| *n);
        plan.sub_topology_partitions.insert(sub.id, n);
        for (t, n) in sizes {
            plan.source_partitions.insert(t, n);
        }
    }

    let mut wanted = Vec::new();
    for t in topology.internal_topics() {
        let name = t.topic.resolve(app);
        let (partitions, configs) = match &t.kind {
            InternalTopicKind::Repartition { .. } => (
                counts[&t.topic],
                vec![("cleanup.policy".to_string(), "delete".to_string())],
            ),
            InternalTopicKind::Changelog { store, sub_topology } => {
                let spec = topology
                    .store(store)
                    .expect("changelogs belong to declared stores");
                let configs = match spec.kind {
                    StoreKind::Window { retention_ms, .. } | StoreKind::Session { retention_ms } => vec![
                        ("cleanup.policy".to_string(), "compact,delete".to_string()),
                        (
                            "retention.ms".to_string(),
                            (retention_ms + WINDOW_CHANGELOG_EXTRA_RETENTION_MS).to_string(),
                        ),
                    ],
                    _ => vec![("cleanup.policy".to_string(), "compact".to_string())],
                };
                (plan.sub_topology_partitions[sub_topology], configs)
            }
            _ => continue,
        };
        if let Some(existing) = admin
            .partitions(&name)
            .map_err(|e| StreamsError::client(format!("reading topic {name}"), e))?
        {
            if existing != partitions {
                return Err(topics_error(format!(
                    "internal topic {name} has {existing} partitions, the topology needs {partitions}: \
                     delete it (or reset the application) to recreate it"
                )));
            }
            continue;
        }
        wanted.push(NewTopic {
            name,
            partitions,
            replication_factor: config.replication_factor,
            configs,
        });
    }
    tracing::info!(topics = ?wanted.iter().map(|t| &t.name).collect::<Vec<_>>(), "creating internal topics");
    admin
        .create_topics(&wanted)
        .map_err(|e| StreamsError::client("creating internal topics", e))?;
    Ok(plan)
}

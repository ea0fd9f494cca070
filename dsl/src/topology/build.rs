//! Validation and sub-topology discovery: `Graph` -> `Topology`.

use super::*;
use crate::graph::Graph;
use std::collections::{BTreeMap, BTreeSet, HashMap};

impl Topology {
    pub(crate) fn from_graph(graph: Graph) -> Result<Topology, TopologyError> {
        if let Some(e) = graph.errors.into_iter().next() {
            return Err(e);
        }
        let Graph {
            mut nodes,
            mut stores,
            mut global_tables,
            on_demand_stores,
            ..
        } = graph;
        drop_unread_stores(&mut nodes, &mut stores, &on_demand_stores);
        check_processor_stores(&nodes, &mut stores, &global_tables)?;
        check_versioned_stores(&nodes, &stores)?;
        check_unique_names(&nodes, &stores)?;
        check_sources(&nodes, &global_tables)?;

        let groups = connected_groups(&nodes);
        let mut node_sub_topology = vec![0u32; nodes.len()];
        let mut sub_topologies = Vec::with_capacity(groups.len());
        // One numbering for global stores and stream sub-topologies, in the order they were
        // built (as Kafka Streams numbers them, so task ids match a Kafka Streams application's).
        let mut next_id = 0u32;
        let mut globals = global_tables.iter_mut().peekable();
        for members in groups {
            while let Some(g) = globals.next_if(|g| g.position <= members[0]) {
                g.sub_topology = next_id;
                next_id += 1;
            }
            let id = next_id;
            next_id += 1;
            let mut sources = Vec::new();
            let mut source_topics = Vec::new();
            let mut group_stores: Vec<String> = Vec::new();
            for &n in &members {
                node_sub_topology[n] = id;
                match &nodes[n].kind {
                    NodeKind::Source(s) => {
                        sources.push(n);
                        source_topics.extend(s.topics.iter().cloned());
                    }
                    NodeKind::Processor(p) => {
                        for s in p.stores() {
                            if !group_stores.iter().any(|g| g == s) {
                                group_stores.push(s.to_string());
                            }
                        }
                    }
                    NodeKind::Sink(_) => {}
                }
            }
            sub_topologies.push(SubTopology {
                id,
                nodes: members,
                sources,
                source_topics,
                stores: group_stores,
            });
        }

        for g in globals {
            g.sub_topology = next_id;
            next_id += 1;
        }
        let internal_topics = internal_topics(&nodes, &stores, &sub_topologies, &node_sub_topology);
        let copartition_groups = copartition_groups(&nodes);
        Ok(Topology {
            nodes,
            stores,
            sub_topologies,
            internal_topics,
            node_sub_topology,
            global_tables,
            copartition_groups,
        })
    }
}

/// Drops the stores of table sources that nothing reads (no join looks them up, no operator
/// asked for old values): as Kafka Streams, such a source keeps no state and has no changelog.
fn drop_unread_stores(nodes: &mut [Node], stores: &mut Vec<StoreSpec>, on_demand: &[String]) {
    for name in on_demand {
        let readers = nodes
            .iter()
            .filter(|n| match &n.kind {
                NodeKind::Processor(ProcessorSpec::TableSource { .. }) => false,
                NodeKind::Processor(p) => p.stores().contains(&name.as_str()),
                _ => false,
            })
            .count();
        if readers > 0 {
            continue;
        }
        for n in nodes.iter_mut() {
            if let NodeKind::Processor(ProcessorSpec::TableSource { store, .. }) = &mut n.kind {
                if store.as_deref() == Some(name.as_str()) {
                    *store = None;
                }
            }
        }
        stores.retain(|s| &s.name != name);
    }
}

/// Every store a processor names exists; stores added with `add_state_store` that no
/// processor uses are dropped (as in Kafka Streams, such a store belongs to no task: it is
/// never opened and has no changelog).
fn check_processor_stores(
    nodes: &[Node],
    stores: &mut Vec<StoreSpec>,
    globals: &[GlobalTableSpec],
) -> Result<(), TopologyError> {
    for n in nodes {
        if let NodeKind::Processor(p @ ProcessorSpec::Process { .. }) = &n.kind {
            for s in p.stores() {
                if !stores.iter().any(|spec| spec.name == s) {
                    return Err(TopologyError::UnknownStore {
                        node: n.name.clone(),
                        store: s.to_string(),
                    });
                }
            }
        }
    }
    stores.retain(|spec| {
        globals.iter().any(|g| g.store == spec.name)
            || nodes.iter().any(|n| match &n.kind {
                NodeKind::Processor(p) => p.stores().contains(&spec.name.as_str()),
                _ => false,
            })
    });
    Ok(())
}

/// Versioned stores are kept by table sources and read by stream-table joins only.
fn check_versioned_stores(nodes: &[Node], stores: &[StoreSpec]) -> Result<(), TopologyError> {
    for n in nodes {
        let NodeKind::Processor(p) = &n.kind else { continue };
        if matches!(
            p,
            ProcessorSpec::TableSource { .. } | ProcessorSpec::StreamTableJoin { .. }
        ) {
            continue;
        }
        for store in p.stores() {
            let versioned = stores
                .iter()
                .any(|s| s.name == store && matches!(s.kind, StoreKind::Versioned { .. }));
            if versioned {
                return Err(TopologyError::VersionedStoreUse {
                    store: store.to_string(),
                    node: n.name.clone(),
                });
            }
        }
    }
    Ok(())
}

fn check_unique_names(nodes: &[Node], stores: &[StoreSpec]) -> Result<(), TopologyError> {
    let mut seen = HashMap::new();
    for n in nodes {
        if seen.insert(n.name.as_str(), ()).is_some() {
            return Err(TopologyError::DuplicateNodeName { name: n.name.clone() });
        }
    }
    let mut seen = HashMap::new();
    for s in stores {
        if seen.insert(s.name.as_str(), ()).is_some() {
            return Err(TopologyError::DuplicateStoreName { name: s.name.clone() });
        }
    }
    Ok(())
}

fn check_sources(nodes: &[Node], global_tables: &[GlobalTableSpec]) -> Result<(), TopologyError> {
    let global_topics: Vec<TopicRef> = global_tables
        .iter()
        .map(|g| TopicRef::User(g.topic.clone()))
        .collect();
    let mut readers: HashMap<&TopicRef, &str> = HashMap::new();
    for (g, topic) in global_tables.iter().zip(&global_topics) {
        if let Some(first) = readers.insert(topic, &g.store) {
            return Err(TopologyError::TopicAlreadyRegistered {
                topic: topic.name().to_string(),
                first: first.to_string(),
                second: g.store.clone(),
            });
        }
    }
    let mut any = !global_tables.is_empty();
    for n in nodes {
        if let NodeKind::Source(s) = &n.kind {
            any = true;
            for t in &s.topics {
                if let Some(first) = readers.insert(t, &n.name) {
                    return Err(TopologyError::TopicAlreadyRegistered {
                        topic: t.name().to_string(),
                        first: first.to_string(),
                        second: n.name.clone(),
                    });
                }
            }
        }
    }
    if any {
        Ok(())
    } else {
        Err(TopologyError::NoSource)
    }
}

/// Nodes joined by an edge or by a shared store belong together (Kafka Streams' node groups).
/// Returned in order of each group's smallest node id, members sorted.
fn connected_groups(nodes: &[Node]) -> Vec<Vec<NodeId>> {
    let mut parent: Vec<usize> = (0..nodes.len()).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    fn union(parent: &mut [usize], a: usize, b: usize) {
        let (ra, rb) = (find(parent, a), find(parent, b));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    let mut store_owner: HashMap<&str, NodeId> = HashMap::new();
    for (id, n) in nodes.iter().enumerate() {
        for &c in &n.children {
            union(&mut parent, id, c);
        }
        for s in n.stores() {
            match store_owner.get(s) {
                Some(&owner) => union(&mut parent, owner, id),
                None => {
                    store_owner.insert(s, id);
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<NodeId>> = BTreeMap::new();
    for id in 0..nodes.len() {
        let root = find(&mut parent, id);
        groups.entry(root).or_default().push(id);
    }
    groups.into_values().collect()
}

fn internal_topics(
    nodes: &[Node],
    stores: &[StoreSpec],
    subs: &[SubTopology],
    node_sub: &[u32],
) -> Vec<InternalTopic> {
    let mut out = Vec::new();
    for (id, n) in nodes.iter().enumerate() {
        if let NodeKind::Sink(s) = &n.kind {
            if !s.topic.is_internal() {
                continue;
            }
            if let Some(reader) = subs.iter().find(|st| st.source_topics.contains(&s.topic)) {
                let topic = InternalTopic {
                    topic: s.topic.clone(),
                    kind: InternalTopicKind::Repartition {
                        writer: node_sub[id],
                        reader: reader.id,
                        partitions: s.partitions,
                    },
                };
                if !out.contains(&topic) {
                    out.push(topic);
                }
            }
        }
    }
    for st in subs {
        for name in &st.stores {
            if let Some(topic) = stores
                .iter()
                .find(|s| &s.name == name)
                .and_then(|s| s.changelog_topic())
            {
                out.push(InternalTopic {
                    topic,
                    kind: InternalTopicKind::Changelog {
                        store: name.clone(),
                        sub_topology: st.id,
                    },
                });
            }
        }
    }
    out
}

/// The node writing each store (tables, aggregates, and each side of a stream-stream join).
fn store_writers(nodes: &[Node]) -> HashMap<&str, NodeId> {
    let mut writers = HashMap::new();
    for (id, n) in nodes.iter().enumerate() {
        if let NodeKind::Processor(p) = &n.kind {
            let written = match p {
                ProcessorSpec::TableSource {
                    store: Some(store), ..
                }
                | ProcessorSpec::ToTable { store }
                | ProcessorSpec::JoinResult { store }
                | ProcessorSpec::Aggregate { store, .. }
                | ProcessorSpec::WindowAggregate { store, .. }
                | ProcessorSpec::SessionAggregate { store, .. } => Some(store),
                ProcessorSpec::JoinWindow { store, .. } => Some(store),
                _ => None,
            };
            if let Some(store) = written {
                writers.insert(store.as_str(), id);
            }
        }
    }
    writers
}

/// Topics read by sources upstream of `node` (through parents).
fn upstream_sources(nodes: &[Node], node: NodeId, out: &mut BTreeSet<TopicRef>) {
    let mut stack = vec![node];
    let mut seen = BTreeSet::new();
    while let Some(n) = stack.pop() {
        if !seen.insert(n) {
            continue;
        }
        if let NodeKind::Source(s) = &nodes[n].kind {
            out.extend(s.topics.iter().cloned());
        }
        stack.extend(nodes[n].parents.iter().copied());
    }
}

/// For each join, the source topics feeding either side must be co-partitioned; joins sharing a
/// topic share a group.
/// Adds `group` to `groups`, merged with every group it overlaps.
fn merge_group(groups: &mut Vec<BTreeSet<TopicRef>>, mut group: BTreeSet<TopicRef>) {
    let (overlapping, rest): (Vec<_>, Vec<_>) = std::mem::take(groups)
        .into_iter()
        .partition(|g| !g.is_disjoint(&group));
    for g in overlapping {
        group.extend(g);
    }
    *groups = rest;
    groups.push(group);
}

fn copartition_groups(nodes: &[Node]) -> Vec<Vec<TopicRef>> {
    let writers = store_writers(nodes);
    let mut groups: Vec<BTreeSet<TopicRef>> = Vec::new();
    for (id, n) in nodes.iter().enumerate() {
        let NodeKind::Processor(p) = &n.kind else { continue };
        let other_store = match p {
            ProcessorSpec::StreamTableJoin { table: view, .. }
            | ProcessorSpec::TableTableJoin { other: view, .. }
            // A foreign-key join's subscription topic meets the right table, its response
            // topic the left one.
            | ProcessorSpec::FkSubscriptionJoin { table: view }
            | ProcessorSpec::FkResolve { table: view, .. } => &view.store,
            ProcessorSpec::StreamStreamJoin { other_store, .. } => other_store,
            _ => continue,
        };
        let mut group = BTreeSet::new();
        upstream_sources(nodes, id, &mut group);
        if let Some(&writer) = writers.get(other_store.as_str()) {
            upstream_sources(nodes, writer, &mut group);
        }
        merge_group(&mut groups, group);
    }
    // A cogroup: several aggregations write one store, so their inputs meet per key.
    let mut aggregators: BTreeMap<&str, Vec<NodeId>> = BTreeMap::new();
    for (id, n) in nodes.iter().enumerate() {
        if let NodeKind::Processor(
            ProcessorSpec::Aggregate { store, .. } | ProcessorSpec::WindowAggregate { store, .. },
        ) = &n.kind
        {
            aggregators.entry(store.as_str()).or_default().push(id);
        }
    }
    for ids in aggregators.values().filter(|ids| ids.len() > 1) {
        let mut group = BTreeSet::new();
        for &id in ids {
            upstream_sources(nodes, id, &mut group);
        }
        merge_group(&mut groups, group);
    }
    let mut out: Vec<Vec<TopicRef>> = groups
        .into_iter()
        .filter(|g| g.len() > 1)
        .map(|g| g.into_iter().collect())
        .collect();
    out.sort();
    out
}

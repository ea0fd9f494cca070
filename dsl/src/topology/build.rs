//! Validation and sub-topology discovery: `Graph` -> `Topology`.

use super::*;
use crate::graph::Graph;
use std::collections::{BTreeMap, HashMap};

impl Topology {
    pub(crate) fn from_graph(graph: Graph) -> Result<Topology, TopologyError> {
        if let Some(e) = graph.errors.into_iter().next() {
            return Err(e);
        }
        let Graph { nodes, stores, .. } = graph;
        check_unique_names(&nodes, &stores)?;
        check_sources(&nodes)?;

        let groups = connected_groups(&nodes);
        let mut node_sub_topology = vec![0u32; nodes.len()];
        let mut sub_topologies = Vec::with_capacity(groups.len());
        for (id, members) in groups.into_iter().enumerate() {
            let id = id as u32;
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

        let internal_topics = internal_topics(&nodes, &stores, &sub_topologies, &node_sub_topology);
        Ok(Topology {
            nodes,
            stores,
            sub_topologies,
            internal_topics,
            node_sub_topology,
        })
    }
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

fn check_sources(nodes: &[Node]) -> Result<(), TopologyError> {
    let mut readers: HashMap<&TopicRef, &str> = HashMap::new();
    let mut any = false;
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

//! `Topology::describe()`: Kafka Streams' `TopologyDescription` text format.

use super::*;
use std::fmt;

/// A printable description of a topology.
///
/// ```text
/// Topologies:
///    Sub-topology: 0
///     Source: KSTREAM-SOURCE-0000000000 (topics: [payments])
///       --> KSTREAM-FILTER-0000000001
///     Processor: KSTREAM-FILTER-0000000001 (stores: [])
///       --> KSTREAM-SINK-0000000002
///       <-- KSTREAM-SOURCE-0000000000
///     Sink: KSTREAM-SINK-0000000002 (topic: large-payments)
///       <-- KSTREAM-FILTER-0000000001
/// ```
pub struct TopologyDescription<'a> {
    pub(crate) topology: &'a Topology,
}

impl fmt::Display for TopologyDescription<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.topology;
        writeln!(f, "Topologies:")?;
        let mut globals = t.global_tables.iter().peekable();
        for st in &t.sub_topologies {
            while let Some(g) = globals.next_if(|g| g.sub_topology < st.id) {
                global(f, g)?;
            }
            writeln!(f, "   Sub-topology: {}", st.id)?;
            for &id in &st.nodes {
                let n = &t.nodes[id];
                match &n.kind {
                    NodeKind::Source(s) => {
                        let topics: Vec<&str> = s.topics.iter().map(|t| t.name()).collect();
                        writeln!(f, "    Source: {} (topics: [{}])", n.name, topics.join(", "))?
                    }
                    NodeKind::Processor(p) => writeln!(
                        f,
                        "    Processor: {} (stores: [{}])",
                        n.name,
                        p.stores().join(", ")
                    )?,
                    NodeKind::Sink(s) => writeln!(f, "    Sink: {} (topic: {})", n.name, s.topic.name())?,
                }
                if !n.children.is_empty() {
                    let names: Vec<&str> = n.children.iter().map(|&c| t.nodes[c].name.as_str()).collect();
                    writeln!(f, "      --> {}", names.join(", "))?;
                } else if matches!(n.kind, NodeKind::Processor(_)) {
                    writeln!(f, "      --> none")?;
                }
                if !n.parents.is_empty() {
                    let names: Vec<&str> = n.parents.iter().map(|&p| t.nodes[p].name.as_str()).collect();
                    writeln!(f, "      <-- {}", names.join(", "))?;
                }
            }
            writeln!(f)?;
        }
        for g in globals {
            global(f, g)?;
        }
        Ok(())
    }
}

/// A global store, as Kafka Streams describes it: a sub-topology of its own that runs no task
/// (every instance reads every partition of the topic).
fn global(f: &mut fmt::Formatter<'_>, g: &GlobalTableSpec) -> fmt::Result {
    writeln!(
        f,
        "   Sub-topology: {} for global store (will not generate tasks)",
        g.sub_topology
    )?;
    writeln!(f, "    Source: {} (topics: [{}])", g.source_name, g.topic)?;
    writeln!(f, "      --> {}", g.processor_name)?;
    writeln!(f, "    Processor: {} (stores: [{}])", g.processor_name, g.store)?;
    writeln!(f, "      --> none")?;
    writeln!(f, "      <-- {}", g.source_name)?;
    writeln!(f)
}

impl fmt::Debug for TopologyDescription<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

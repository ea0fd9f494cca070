//! `TaskId`: (sub-topology, partition).

use std::fmt;

/// A task: one sub-topology over one partition of its inputs. Displays as Kafka Streams does,
/// `<sub-topology>_<partition>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    /// The sub-topology.
    pub sub_topology: u32,
    /// The input partition.
    pub partition: i32,
}

impl TaskId {
    /// A task id.
    pub fn new(sub_topology: u32, partition: i32) -> Self {
        TaskId {
            sub_topology,
            partition,
        }
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sub_topology == u32::MAX {
            // The global stores' pseudo-task.
            return f.write_str("global");
        }
        write!(f, "{}_{}", self.sub_topology, self.partition)
    }
}

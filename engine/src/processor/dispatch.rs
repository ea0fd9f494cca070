//! Dispatch: running one call at one node of a task's sub-topology, and delivering what it
//! forwards.
//!
//! A processor's `forward` runs the children at once, depth-first, as Kafka Streams'
//! `ProcessorContext.forward` does: a child sees what the processor wrote before forwarding
//! (stores, output), not what it writes after, and records forwarded before a later failure
//! have already gone downstream. No record is queued between nodes: each hop is one call.
//!
//! Invariants:
//! - A node's processor is out of the task's list while it runs, so a node never re-enters
//!   itself (topologies are acyclic: no descendant of a node is the node).
//! - A panic is caught at the node that panicked and goes to the processing exception
//!   handler there; the processor goes back into the list either way.
//! - An error a child returns (a failure, not a record a handler skipped) stops the parent's
//!   later forwards and is what the parent's dispatch returns.

use super::{Processor, ProcessorContext};
use crate::error::StreamsError;
use crate::record::Record;
use sluice_dsl::processor::PunctuationType;
use sluice_dsl::topology::{NodeId, Topology};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What a dispatch does at a node.
pub(crate) enum Call {
    Process(Record),
    Flush,
    /// Initialize a Processor API node (if it is not yet).
    Start,
    /// Run a Processor API node's punctuations of a kind due at a time.
    Punctuate(PunctuationType, i64),
}

/// A task's processors and where a context's node sits among them.
pub(crate) struct Graph<'a> {
    topology: &'a Topology,
    node: NodeId,
    /// Indexed by node id; `None` for nodes of other sub-topologies and for the nodes running
    /// now (this one and its ancestors).
    processors: &'a mut [Option<Box<dyn Processor>>],
    /// The first error a child returned while this node ran.
    failed: Option<StreamsError>,
}

impl<'a> Graph<'a> {
    /// The graph at `node`, for a dispatch from the task.
    pub(crate) fn new(
        topology: &'a Topology,
        node: NodeId,
        processors: &'a mut [Option<Box<dyn Processor>>],
    ) -> Self {
        Graph {
            topology,
            node,
            processors,
            failed: None,
        }
    }
}

impl ProcessorContext<'_> {
    /// A context for `node`, a child of this context's node.
    fn at(&mut self, node: NodeId) -> ProcessorContext<'_> {
        let topology = self.graph.topology;
        ProcessorContext {
            task: self.task,
            node: topology.node(node).name(),
            stores: &mut *self.stores,
            output: &mut *self.output,
            recycler: &mut *self.recycler,
            input: self.input,
            stream_time: self.stream_time,
            wall_clock_ms: self.wall_clock_ms,
            globals: self.globals,
            metrics: &mut *self.metrics,
            config: self.config,
            graph: Graph {
                topology,
                node,
                processors: &mut *self.graph.processors,
                failed: None,
            },
        }
    }
}

/// Runs `call` at the context's node, with a panic going to the processing exception handler.
/// True if the call ran punctuations.
pub(crate) fn run(mut ctx: ProcessorContext<'_>, call: Call) -> Result<bool, StreamsError> {
    let node = ctx.graph.node;
    let mut processor = ctx.graph.processors[node]
        .take()
        .expect("a node runs once at a time (topologies are acyclic) and only in its own task");
    let mut punctuated = false;
    let outcome = catch_unwind(AssertUnwindSafe(|| match call {
        Call::Process(record) => processor.process(&mut ctx, record),
        Call::Flush => processor.flush(&mut ctx),
        Call::Start => processor.start(&mut ctx),
        Call::Punctuate(kind, now) => processor
            .punctuate(&mut ctx, kind, now)
            .map(|fired| punctuated = fired),
    }));
    ctx.graph.processors[node] = Some(processor);
    let result = match outcome {
        Ok(result) => result,
        Err(panic) => ctx.processing_failed(panic_message(panic.as_ref())),
    };
    match ctx.graph.failed.take() {
        Some(error) => Err(error),
        None => result.map(|()| punctuated),
    }
}

/// Delivers `record` to the children of the context's node: every child (the last gets the
/// record itself, the others a clone), or only the `only`-th. After a child failed, later
/// records are dropped: the task is failing.
pub(crate) fn forward(ctx: &mut ProcessorContext<'_>, only: Option<usize>, record: Record) {
    if ctx.graph.failed.is_some() {
        return;
    }
    let topology = ctx.graph.topology;
    let children = topology.node(ctx.graph.node).children();
    let result = match only {
        Some(i) => run(ctx.at(children[i]), Call::Process(record)),
        None => match children.split_last() {
            None => Ok(false),
            Some((&last, others)) => {
                let mut result = Ok(false);
                for &child in others {
                    result = run(ctx.at(child), Call::Process(record.clone()));
                    if result.is_err() {
                        break;
                    }
                }
                result.and_then(|_| run(ctx.at(last), Call::Process(record)))
            }
        },
    };
    if let Err(error) = result {
        ctx.graph.failed = Some(error);
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

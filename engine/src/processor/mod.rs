//! Processors: the engine's implementation of each node of a topology.
//!
//! A processor receives one record at a time and forwards zero or more records; each forward
//! runs the node's children at once, depth-first (see [`dispatch`]). Stateful processors reach
//! their stores through the context; table processors forward old and new values; caching ones
//! forward at `flush`.

mod aggregate;
mod close_queue;
mod custom;
pub(crate) mod dispatch;
mod emit_progress;
mod foreign_key_join;
mod record_cache;
mod session_aggregate;
mod sink;
mod stateless;
mod stream_stream_join;
mod stream_table_join;
mod suppress;
mod table;
mod table_aggregate;
mod table_group_by;
mod table_reader;
mod table_table_join;
mod versioned_source;
mod window_aggregate;

pub(crate) use stream_stream_join::SharedClock;

pub(crate) use record_cache::CacheBudget;

use crate::config::StreamsConfig;
use crate::error::{RecordPosition, StreamsError};
use crate::global::GlobalStores;
use crate::metrics::{DropReason, TaskMetrics};
use crate::record::{OutputRecord, RawRecord, Record};
use crate::task::StoreSet;
use crate::task_id::TaskId;
use sluice_dsl::serde::SerdeError;
use sluice_dsl::topology::{NodeKind, ProcessorSpec, StoreKind, Topology};
use std::sync::Arc;

/// What a processor sees of its task while it runs.
pub(crate) struct ProcessorContext<'a> {
    pub(crate) task: TaskId,
    pub(crate) node: &'a str,
    pub(crate) stores: &'a mut StoreSet,
    pub(crate) output: &'a mut Vec<OutputRecord>,
    /// The task's reusable values and buffers (sinks encode into its buffers).
    pub(crate) recycler: &'a mut crate::task::Recycler,
    /// The input record being processed; `None` during commit-time flushes.
    pub(crate) input: Option<&'a RawRecord>,
    /// The task's stream time.
    pub(crate) stream_time: i64,
    /// Wall-clock time (ms since the epoch) of the batch being processed.
    pub(crate) wall_clock_ms: i64,
    /// Global tables' stores (read only).
    pub(crate) globals: &'a GlobalStores,
    pub(crate) metrics: &'a mut TaskMetrics,
    pub(crate) config: &'a StreamsConfig,
    /// The task's processors, where forwarded records go.
    pub(crate) graph: dispatch::Graph<'a>,
}

impl ProcessorContext<'_> {
    /// Runs every child on `record` (the processor continues once they are done).
    pub(crate) fn forward(&mut self, record: Record) {
        dispatch::forward(self, None, record);
    }

    /// Runs the `child`-th child (by position) on `record`.
    pub(crate) fn forward_to(&mut self, child: usize, record: Record) {
        dispatch::forward(self, Some(child), record);
    }

    /// Counts a skipped record; skips are never silent.
    pub(crate) fn drop_record(&mut self, reason: DropReason) {
        tracing::debug!(task = %self.task, node = self.node, reason = reason.as_str(), "record dropped");
        self.metrics.dropped(reason);
    }

    pub(crate) fn position(&self) -> Option<RecordPosition> {
        self.input.map(|r| RecordPosition {
            topic: std::sync::Arc::clone(&r.topic),
            partition: r.partition,
            offset: r.offset,
        })
    }

    /// A processing error at this node (a panic, or a Processor API node's error), handed to
    /// `processing.exception.handler`: `Ok` if it skips the record.
    pub(crate) fn processing_failed(&mut self, message: String) -> Result<(), StreamsError> {
        let error = StreamsError::Processing {
            task: self.task,
            node: self.node.to_string(),
            position: self.position(),
            message,
        };
        crate::handlers::apply(
            self.config.processing_exception_handler,
            error,
            DropReason::ProcessingError,
            self.input,
            self.config,
            self.output,
            self.metrics,
        )
    }

    /// True if `key` serializes to null with `serde` (only a serde that reads null can).
    pub(crate) fn is_null_key(
        &self,
        serde: &sluice_dsl::serde::ErasedSerde,
        key: &sluice_dsl::dynamic::Dyn,
    ) -> Result<bool, StreamsError> {
        if !serde.accepts_null() {
            return Ok(false);
        }
        let bytes = serde.serialize(key).map_err(|e| StreamsError::Processing {
            task: self.task,
            node: self.node.to_string(),
            position: self.position(),
            message: format!("cannot serialize the key: {e}"),
        })?;
        Ok(bytes.is_none())
    }

    /// An error for bytes in `store` that its serde cannot read.
    pub(crate) fn store_data_error(&self, store: &str, source: SerdeError) -> StreamsError {
        StreamsError::StoreData {
            task: self.task,
            store: store.to_string(),
            source: Box::new(source),
        }
    }
}

/// The engine's side of one node.
pub(crate) trait Processor: Send {
    /// Called once the task's stores are restored, with the task's committed stream time.
    fn init(&mut self, _stream_time: i64) {}

    /// Handles one record.
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError>;

    /// Forwards what the record cache holds (called at commit, and at-least-once when the thread
    /// is idle; in topological order).
    fn flush(&mut self, _ctx: &mut ProcessorContext<'_>) -> Result<(), StreamsError> {
        Ok(())
    }

    /// True if this processor holds a record cache that `flush` empties.
    fn has_cache(&self) -> bool {
        false
    }

    /// Drops cached state after an aborted transaction, and any stream time it advanced: the
    /// task calls `init` with the committed stream time right after.
    fn abort(&mut self) {}

    /// Processor API nodes: initializes the user's processor (it may schedule punctuations)
    /// if that has not happened since the task's start or last abort.
    fn start(&mut self, _ctx: &mut ProcessorContext<'_>) -> Result<(), StreamsError> {
        Ok(())
    }

    /// Processor API nodes: runs the punctuations of `kind` due at `now`; true if any ran.
    fn punctuate(
        &mut self,
        _ctx: &mut ProcessorContext<'_>,
        _kind: sluice_dsl::processor::PunctuationType,
        _now: i64,
    ) -> Result<bool, StreamsError> {
        Ok(false)
    }

    /// True for Processor API nodes (the task starts and punctuates them).
    fn is_custom(&self) -> bool {
        false
    }

    /// The task is closing cleanly.
    fn close(&mut self) {}
}

/// Forwards records unchanged (source nodes, branch children, merges).
pub(crate) struct PassThrough;

impl Processor for PassThrough {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        ctx.forward(record);
        Ok(())
    }
}

/// What processors of one task share while they are built: the clocks of stream-stream joins
/// (both sides of a join advance one stream time).
#[derive(Default)]
pub(crate) struct BuildShared {
    join_clocks: std::collections::HashMap<String, SharedClock>,
    /// Per store written by several aggregations (a cogroup), their one emitter.
    emitters: std::collections::HashMap<String, Arc<std::sync::Mutex<table::TableEmitter>>>,
}

/// Creates the processor for `node`.
pub(crate) fn build(
    topology: &Topology,
    node: usize,
    stores: &StoreSet,
    config: &StreamsConfig,
    budget: &CacheBudget,
    shared: &mut BuildShared,
) -> Box<dyn Processor> {
    let n = topology.node(node);
    match n.kind() {
        NodeKind::Source(_) => Box::new(PassThrough),
        NodeKind::Sink(spec) => Box::new(sink::Sink::new(spec, &config.application_id)),
        NodeKind::Processor(ProcessorSpec::Process {
            supplier,
            stores: names,
            ..
        }) => {
            let connected = names
                .iter()
                .map(|name| {
                    let spec = topology
                        .store(name)
                        .expect("the topology declares every store it uses");
                    (
                        name.clone(),
                        stores.index(name),
                        spec.key_serde.clone(),
                        spec.value_serde.clone(),
                        spec.kind == StoreKind::KeyValue,
                    )
                })
                .collect();
            let children = n
                .children()
                .iter()
                .map(|&c| topology.node(c).name().to_string())
                .collect();
            Box::new(custom::Custom::new(
                std::sync::Arc::clone(supplier),
                connected,
                children,
            ))
        }
        NodeKind::Processor(spec) => build_processor(spec, topology, stores, budget, shared),
        _ => unreachable!("node kinds are matched exhaustively by the engine's version of the DSL"),
    }
}

fn build_processor(
    spec: &ProcessorSpec,
    topology: &Topology,
    stores: &StoreSet,
    budget: &CacheBudget,
    shared: &mut BuildShared,
) -> Box<dyn Processor> {
    use stateless::*;
    let store_spec = |store: &str| {
        topology
            .store(store)
            .expect("the topology declares every store it uses")
    };
    let emitter = |store: &str| table::TableEmitter::new(stores.index(store), store_spec(store), budget);
    // The aggregations writing one store (a cogroup's) share its emitter.
    let mut emitter_handle = |store: &str| {
        let writers = topology
            .nodes()
            .iter()
            .filter(|n| {
                matches!(n.kind(), NodeKind::Processor(
                    ProcessorSpec::Aggregate { store: s, .. } | ProcessorSpec::WindowAggregate { store: s, .. }
                ) if s == store)
            })
            .count();
        if writers > 1 {
            let e = shared
                .emitters
                .entry(store.to_string())
                .or_insert_with(|| Arc::new(std::sync::Mutex::new(emitter(store))));
            table::EmitterHandle::Shared(Arc::clone(e))
        } else {
            table::EmitterHandle::Own(emitter(store))
        }
    };
    let retention = |store: &str| match store_spec(store).kind {
        StoreKind::Window { retention_ms, .. } | StoreKind::Session { retention_ms } => retention_ms,
        _ => unreachable!("windowed aggregates declare windowed stores"),
    };
    let progress = |store: &Option<String>| {
        store
            .as_deref()
            .map(|s| emit_progress::EmitProgress::new(stores.index(s)))
    };
    match spec {
        ProcessorSpec::Filter { predicate, negate } => Box::new(Filter {
            predicate: Arc::clone(predicate),
            negate: *negate,
        }),
        ProcessorSpec::Map(f) => Box::new(Map(Arc::clone(f))),
        ProcessorSpec::MapValues(f) => Box::new(MapValues(Arc::clone(f))),
        ProcessorSpec::SelectKey(f) => Box::new(SelectKey(Arc::clone(f))),
        ProcessorSpec::FlatMap(f) => Box::new(FlatMap(Arc::clone(f))),
        ProcessorSpec::FlatMapValues(f) => Box::new(FlatMapValues(Arc::clone(f))),
        ProcessorSpec::Peek(f) => Box::new(Peek(Arc::clone(f))),
        ProcessorSpec::Foreach(f) => Box::new(Foreach(Arc::clone(f))),
        ProcessorSpec::Branch { predicates } => Box::new(Branch(predicates.clone())),
        ProcessorSpec::PassThrough => Box::new(PassThrough),
        ProcessorSpec::DropNullKeys { key_serde } => Box::new(DropNullKeys {
            key_serde: key_serde.clone(),
        }),
        ProcessorSpec::TableSource {
            store: Some(store), ..
        } if matches!(store_spec(store).kind, StoreKind::Versioned { .. }) => {
            let spec = store_spec(store);
            let StoreKind::Versioned { history_retention_ms } = spec.kind else {
                unreachable!("matched above")
            };
            Box::new(versioned_source::VersionedSource {
                store: stores.index(store),
                store_name: store.clone(),
                schema: sluice_state::VersionedSchema::new(history_retention_ms),
                key_serde: spec.key_serde.clone(),
                value_serde: spec.value_serde.clone(),
            })
        }
        ProcessorSpec::TableSource {
            store: Some(store), ..
        }
        | ProcessorSpec::ToTable { store } => Box::new(table::Materialize::new(emitter(store), true)),
        ProcessorSpec::TableSource {
            store: None,
            key_serde,
        } => Box::new(table::UnmaterializedSource {
            key_serde: key_serde.clone(),
        }),
        ProcessorSpec::JoinResult { store } => Box::new(table::Materialize::new(emitter(store), false)),
        ProcessorSpec::ToStream => Box::new(table::ToStream),
        ProcessorSpec::TableFilter {
            predicate,
            negate,
            send_old_values,
        } => Box::new(table::TableFilter {
            predicate: Arc::clone(predicate),
            negate: *negate,
            send_old_values: *send_old_values,
        }),
        ProcessorSpec::TableMapValues(f) => Box::new(table::TableMapValues(Arc::clone(f))),
        ProcessorSpec::FkSubscribe {
            extractor,
            foreign_key_serde,
            value_serde,
            left,
        } => Box::new(foreign_key_join::FkSubscribe {
            extractor: Arc::clone(extractor),
            foreign_key_serde: foreign_key_serde.clone(),
            value_serde: value_serde.clone(),
            left: *left,
        }),
        ProcessorSpec::FkReceive {
            store,
            foreign_key_serde,
            primary_key_serde,
        } => Box::new(foreign_key_join::FkReceive {
            store: stores.index(store),
            foreign_key_serde: foreign_key_serde.clone(),
            primary_key_serde: primary_key_serde.clone(),
        }),
        ProcessorSpec::FkSubscriptionJoin { table } => Box::new(foreign_key_join::FkSubscriptionJoin {
            table: table_reader::TableReader::new(
                table,
                store_spec(&table.store),
                stores.index(&table.store),
            ),
        }),
        ProcessorSpec::FkForeignJoin {
            store,
            foreign_key_serde,
            primary_key_serde,
        } => Box::new(foreign_key_join::FkForeignJoin {
            store: stores.index(store),
            foreign_key_serde: foreign_key_serde.clone(),
            primary_key_serde: primary_key_serde.clone(),
        }),
        ProcessorSpec::FkResolve {
            table,
            value_serde,
            joiner,
            left,
        } => Box::new(foreign_key_join::FkResolve {
            table: table_reader::TableReader::new(
                table,
                store_spec(&table.store),
                stores.index(&table.store),
            ),
            value_serde: value_serde.clone(),
            joiner: Arc::clone(joiner),
            left: *left,
        }),
        ProcessorSpec::TableGroupBy { mapper, key_serde } => Box::new(table_group_by::TableGroupBy {
            mapper: Arc::clone(mapper),
            key_serde: key_serde.clone(),
        }),
        ProcessorSpec::TableAggregate { store, aggregation } => Box::new(
            table_aggregate::TableAggregate::new(emitter(store), aggregation.clone()),
        ),
        ProcessorSpec::Aggregate { store, aggregation } => Box::new(aggregate::Aggregate::new(
            emitter_handle(store),
            aggregation.clone(),
        )),
        ProcessorSpec::WindowAggregate {
            store,
            windows,
            aggregation,
            windowed_key,
            emit_store,
        } => Box::new(window_aggregate::WindowAggregate::new(
            emitter_handle(store),
            retention(store),
            *windows,
            aggregation.clone(),
            Arc::clone(windowed_key),
            progress(emit_store),
        )),
        ProcessorSpec::SessionAggregate {
            store,
            windows,
            aggregation,
            merger,
            windowed_key,
            emit_store,
        } => Box::new(session_aggregate::SessionAggregate::new(
            emitter(store),
            retention(store),
            *windows,
            aggregation.clone(),
            Arc::clone(merger),
            Arc::clone(windowed_key),
            progress(emit_store),
        )),
        ProcessorSpec::Suppress {
            store,
            key_serde,
            value_serde,
            window_of,
            grace_ms,
            max_records,
        } => Box::new(suppress::Suppress::new(
            stores.index(store),
            store.clone(),
            key_serde.clone(),
            value_serde.clone(),
            Arc::clone(window_of),
            *grace_ms,
            *max_records,
        )),
        ProcessorSpec::StreamTableJoin { table, joiner, left } => {
            Box::new(stream_table_join::StreamTableJoin {
                table: table_reader::TableReader::new(
                    table,
                    store_spec(&table.store),
                    stores.index(&table.store),
                ),
                joiner: Arc::clone(joiner),
                left: *left,
            })
        }
        ProcessorSpec::GlobalTableJoin {
            store,
            key_mapper,
            global_key_serde,
            joiner,
            left,
        } => Box::new(stream_table_join::GlobalTableJoin {
            store: store.clone(),
            key_mapper: Arc::clone(key_mapper),
            key_serde: global_key_serde.clone(),
            joiner: Arc::clone(joiner),
            left: *left,
        }),
        ProcessorSpec::TableTableJoin {
            other,
            this_is_left,
            join_type,
            joiner,
        } => Box::new(table_table_join::TableTableJoin {
            other: table_reader::TableReader::new(
                other,
                store_spec(&other.store),
                stores.index(&other.store),
            ),
            this_is_left: *this_is_left,
            join_type: *join_type,
            joiner: Arc::clone(joiner),
        }),
        ProcessorSpec::JoinWindow {
            store,
            this_is_left,
            join_name,
        } => {
            let clock = Arc::clone(shared.join_clocks.entry(join_name.clone()).or_default());
            let spec = store_spec(store);
            Box::new(stream_stream_join::JoinWindow::new(
                stores.index(store),
                retention(store),
                spec.key_serde.clone(),
                spec.value_serde.clone(),
                *this_is_left,
                clock,
            ))
        }
        ProcessorSpec::StreamStreamJoin {
            this_store,
            other_store,
            outer_store,
            this_is_left,
            join_type,
            windows,
            joiner,
            join_name,
        } => {
            let clock = Arc::clone(shared.join_clocks.entry(join_name.clone()).or_default());
            let sides = stream_stream_join::JoinSides {
                other_store: stores.index(other_store),
                outer_store: outer_store.as_deref().map(|s| stores.index(s)),
                key_serde: store_spec(this_store).key_serde.clone(),
                this_serde: store_spec(this_store).value_serde.clone(),
                other_serde: store_spec(other_store).value_serde.clone(),
            };
            Box::new(stream_stream_join::StreamStreamJoin::new(
                sides,
                *this_is_left,
                *join_type,
                *windows,
                Arc::clone(joiner),
                clock,
            ))
        }
        other => unreachable!(
            "processor {} is not implemented by this engine",
            other.kind_name()
        ),
    }
}

/// The value `count()` folds in for a null value: it counts records and never looks at one.
pub(crate) fn null_placeholder() -> sluice_dsl::dynamic::Dyn {
    std::sync::Arc::new(())
}

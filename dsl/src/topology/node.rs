//! The nodes of a topology: sources, processors (what the engine must run) and sinks.

use crate::consumed::AutoOffsetReset;
use crate::dynamic::*;
use crate::materialized::StoreType;
use crate::serde::ErasedSerde;
use crate::windows::WindowDefinition;
use std::fmt;

/// Index of a node in [`Topology::nodes`](crate::Topology::nodes).
pub type NodeId = usize;

/// A topic as the topology names it. Internal topics (repartition, changelog) are prefixed
/// with `application.id` when the application runs, as in Kafka Streams.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TopicRef {
    /// A user topic, used as named.
    User(String),
    /// An internal topic: `<application.id>-<name>`.
    Internal(String),
}

impl TopicRef {
    /// The topic's name in the cluster for application `app_id`.
    pub fn resolve(&self, app_id: &str) -> String {
        match self {
            TopicRef::User(t) => t.clone(),
            TopicRef::Internal(t) => format!("{app_id}-{t}"),
        }
    }

    /// The name as the topology writes it (internal topics without the application prefix).
    pub fn name(&self) -> &str {
        match self {
            TopicRef::User(t) | TopicRef::Internal(t) => t,
        }
    }

    /// True for repartition and changelog topics.
    pub fn is_internal(&self) -> bool {
        matches!(self, TopicRef::Internal(_))
    }
}

impl fmt::Display for TopicRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A node of the processor graph.
#[derive(Debug)]
pub struct Node {
    pub(crate) name: String,
    pub(crate) kind: NodeKind,
    pub(crate) parents: Vec<NodeId>,
    pub(crate) children: Vec<NodeId>,
}

impl Node {
    /// The node's unique name (`KSTREAM-FILTER-0000000001`, or the user's).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// What the node does.
    pub fn kind(&self) -> &NodeKind {
        &self.kind
    }
    /// Nodes that forward to this one.
    pub fn parents(&self) -> &[NodeId] {
        &self.parents
    }
    /// Nodes this one forwards to, in order (a branch forwards to `children[i]` for branch `i`).
    pub fn children(&self) -> &[NodeId] {
        &self.children
    }
    /// Names of the state stores the node reads or writes.
    pub fn stores(&self) -> Vec<&str> {
        match &self.kind {
            NodeKind::Processor(p) => p.stores(),
            _ => Vec::new(),
        }
    }
}

/// Source, processor or sink.
#[derive(Debug)]
#[non_exhaustive]
pub enum NodeKind {
    /// Reads topics and deserializes records.
    Source(SourceSpec),
    /// Transforms records.
    Processor(ProcessorSpec),
    /// Serializes records and writes them to a topic.
    Sink(SinkSpec),
}

/// A source node: topics, serdes, event-time extraction.
pub struct SourceSpec {
    /// Topics read (one per source in the DSL).
    pub topics: Vec<TopicRef>,
    /// Key serde.
    pub key_serde: ErasedSerde,
    /// Value serde.
    pub value_serde: ErasedSerde,
    /// Event-time extractor; `None` uses the record timestamp.
    pub timestamp_extractor: Option<TimestampExtractorFn>,
    /// Per-source `auto.offset.reset` override.
    pub offset_reset: Option<AutoOffsetReset>,
}

impl fmt::Debug for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceSpec")
            .field("topics", &self.topics)
            .field("key_serde", &self.key_serde)
            .field("value_serde", &self.value_serde)
            .field("timestamp_extractor", &self.timestamp_extractor.is_some())
            .field("offset_reset", &self.offset_reset)
            .finish()
    }
}

/// A sink node.
#[derive(Debug)]
pub struct SinkSpec {
    /// Topic written.
    pub topic: TopicRef,
    /// Key serde.
    pub key_serde: ErasedSerde,
    /// Value serde.
    pub value_serde: ErasedSerde,
    /// Partitions of an internal topic, if chosen (`Repartitioned::with_number_of_partitions`).
    pub partitions: Option<u32>,
    /// Chooses each record's partition from its value (a foreign-key join's responses go back
    /// to the partition of the row that subscribed); `None` partitions by key.
    pub partition_of: Option<PartitionOf>,
}

/// `value -> partition` for a sink (see [`SinkSpec::partition_of`]).
#[derive(Clone)]
pub struct PartitionOf(pub PartitionOfFn);

impl fmt::Debug for PartitionOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PartitionOf")
    }
}

/// A global table: its topic, read in full on every instance into its store.
#[derive(Debug, Clone)]
pub struct GlobalTableSpec {
    /// The topic (every partition).
    pub topic: String,
    /// The store (its `logging` is off: the topic is the changelog).
    pub store: String,
    /// Key serde of the topic.
    pub key_serde: ErasedSerde,
    /// Value serde of the topic.
    pub value_serde: ErasedSerde,
    /// The names Kafka Streams gives its source and its table-source processor (described as
    /// a sub-topology of their own, which runs no task).
    pub source_name: String,
    /// See `source_name`.
    pub processor_name: String,
    /// The sub-topology number `describe()` gives it: Kafka Streams numbers global stores' and
    /// stream sub-topologies in one sequence, in the order they were built.
    pub sub_topology: u32,
    /// How many nodes the graph had when the global table was built (orders the numbering).
    pub(crate) position: usize,
}

/// What a processor node does; the engine implements each variant.
///
/// Records on *stream* edges carry a value (or null); records on *table* edges (out of
/// `TableSource`, `ToTable`, aggregations and the `Table*` processors) also carry the previous
/// value of their key, Kafka Streams' `Change<V>`.
#[non_exhaustive]
pub enum ProcessorSpec {
    /// Keeps records matching the predicate (or not matching, if `negate`).
    Filter {
        /// The user's predicate.
        predicate: PredicateFn,
        /// `filter_not`.
        negate: bool,
    },
    /// Replaces key and value.
    Map(KeyValueMapperFn),
    /// Replaces the value.
    MapValues(ValueMapperIntoFn),
    /// Replaces the key.
    SelectKey(KeySelectorFn),
    /// Zero or more records per record.
    FlatMap(FlatMapperFn),
    /// Zero or more values per record, same key.
    FlatMapValues(FlatValueMapperFn),
    /// Calls an action and forwards the record unchanged.
    Peek(ForeachFn),
    /// Calls an action; terminal.
    Foreach(ForeachFn),
    /// Forwards each record to `children[i]` for the first `predicates[i]` it matches; `None`
    /// is the default branch (always last).
    Branch {
        /// One per child, in order.
        predicates: Vec<Option<PredicateFn>>,
    },
    /// Forwards unchanged (branch children, merges).
    PassThrough,
    /// `KTable::group_by`: each update of the table goes to the selected key as a
    /// [`TableChange`](super::TableChange) stream record: one with both values when the old
    /// and the new value select the same key, else the retraction to the old key first, then
    /// the addition to the new one.
    TableGroupBy {
        /// `(key, value) -> (new key, new value)`.
        mapper: KeyValueMapperFn,
        /// Serde of the new keys (keys are compared by their bytes).
        key_serde: ErasedSerde,
    },
    /// `KGroupedTable` `count` / `reduce` / `aggregate`: applies each `TableChange` to the
    /// key's aggregate (retract the old value, then add the new one).
    TableAggregate {
        /// The aggregate store.
        store: String,
        /// Adder and subtractor.
        aggregation: TableAggregation,
    },
    /// Foreign-key join, left side: turns each update of a left row into subscriptions keyed
    /// by the foreign key (Kafka Streams' `SubscriptionSendProcessorSupplier`).
    FkSubscribe {
        /// `(key, value) -> foreign key`.
        extractor: KeySelectorFn,
        /// Serde of the foreign keys (null-ness and comparisons).
        foreign_key_serde: ErasedSerde,
        /// Serde of the left values (their digests).
        value_serde: ErasedSerde,
        /// A left join.
        left: bool,
    },
    /// Foreign-key join, right side: keeps subscriptions in `store` (`SubscriptionReceive`).
    FkReceive {
        /// The subscription store.
        store: String,
        /// Serde of the foreign keys.
        foreign_key_serde: ErasedSerde,
        /// Serde of the left keys.
        primary_key_serde: ErasedSerde,
    },
    /// Foreign-key join, right side: answers a subscription with the right row's current
    /// value (`SubscriptionJoinProcessorSupplier`).
    FkSubscriptionJoin {
        /// The right table.
        table: TableView,
    },
    /// Foreign-key join, right side: sends each update of a right row to every left row
    /// subscribed to it (`ForeignTableJoinProcessorSupplier`).
    FkForeignJoin {
        /// The subscription store.
        store: String,
        /// Serde of the foreign keys.
        foreign_key_serde: ErasedSerde,
        /// Serde of the left keys.
        primary_key_serde: ErasedSerde,
    },
    /// Foreign-key join, left side again: joins a response with the left row's current value
    /// if it is still the value that subscribed (`ResponseJoinProcessorSupplier`).
    FkResolve {
        /// The left table.
        table: TableView,
        /// Serde of the left values (their digests).
        value_serde: ErasedSerde,
        /// `(key, left value, right value) -> result`.
        joiner: JoinerFn,
        /// A left join.
        left: bool,
    },
    /// A processor of the Processor API (`KStream::process` / `process_values`).
    Process {
        /// Makes each task's instance.
        supplier: crate::processor::ProcessorSupplierFn,
        /// The stores connected to it, in the order given.
        stores: Vec<String>,
        /// `process_values`: keys never change.
        fixed_key: bool,
    },
    /// Drops records whose key serializes to null (before a repartition topic).
    DropNullKeys {
        /// Serde of the keys.
        key_serde: ErasedSerde,
    },
    /// A source topic read as a table: forwards each record as a change. Materialized in a
    /// store only when something reads the table (a join, an interactive query, a downstream
    /// operator that needs old values); otherwise, as Kafka Streams' `KTableSource`, it keeps
    /// nothing and forwards every record, deletions of absent keys included.
    TableSource {
        /// The table's store, if materialized.
        store: Option<String>,
        /// Serde of the keys: a key that serializes to null is skipped.
        key_serde: ErasedSerde,
    },
    /// Materializes a stream as a table (latest value per key, null deletes).
    ToTable {
        /// The table's store.
        store: String,
    },
    /// Materializes the results of a table-table join (null deletes a result). Unlike a table
    /// source, it never forwards the deletion of a result it does not hold.
    JoinResult {
        /// The join's store.
        store: String,
    },
    /// Turns table changes into a stream of new values (deletes are null values).
    ToStream,
    /// Aggregates values per key (`aggregate`, `count`, `reduce`).
    Aggregate {
        /// The aggregate store.
        store: String,
        /// How values fold into the aggregate.
        aggregation: Aggregation,
    },
    /// Aggregates values per key and time or sliding window.
    WindowAggregate {
        /// The window store; values are `timestamp (8 bytes) | aggregate`.
        store: String,
        /// `Time` or `Sliding`.
        windows: WindowDefinition,
        /// How values fold into the aggregate.
        aggregation: Aggregation,
        /// Builds the `Windowed<K>` key of an output record.
        windowed_key: WindowedKeyFn,
        /// With `EmitStrategy::on_window_close`: the store recording how far final results
        /// were emitted (so a restart does not emit them again). `None`: emit updates.
        emit_store: Option<String>,
    },
    /// Aggregates values per key and session, merging sessions that a record bridges.
    SessionAggregate {
        /// The session store.
        store: String,
        /// `Session`.
        windows: WindowDefinition,
        /// How values fold into the aggregate.
        aggregation: Aggregation,
        /// Combines the aggregates of two merged sessions.
        merger: MergerFn,
        /// Builds the `Windowed<K>` key of an output record.
        windowed_key: WindowedKeyFn,
        /// As for `WindowAggregate`.
        emit_store: Option<String>,
    },
    /// Holds a windowed table's updates and forwards each window's last value once it closes.
    Suppress {
        /// The buffer store.
        store: String,
        /// Serde of the table's `Windowed<K>` keys.
        key_serde: ErasedSerde,
        /// Serde of the table's values.
        value_serde: ErasedSerde,
        /// The window of a `Windowed<K>` key.
        window_of: WindowOfFn,
        /// Grace period of the upstream windows.
        grace_ms: i64,
        /// Fail when more windows than this are buffered.
        max_records: Option<u64>,
    },
    /// Filters table changes: a filtered-out new value becomes a delete.
    TableFilter {
        /// The user's predicate.
        predicate: PredicateFn,
        /// `filter_not`.
        negate: bool,
        /// Whether a downstream operator reads old values (left and outer table-table joins).
        /// Without, as Kafka Streams, every update is forwarded: a filtered-out one as a
        /// deletion, even of a key never forwarded; with, an update whose old and new values
        /// are both filtered out is not forwarded.
        send_old_values: bool,
    },
    /// Maps table values (old and new).
    TableMapValues(ValueMapperFn),
    /// Joins each stream record with the table's current value for its key; output at the
    /// stream record's time. Table updates produce nothing.
    StreamTableJoin {
        /// How to read the table.
        table: TableView,
        /// `joiner(key, stream value, table value)`.
        joiner: JoinerFn,
        /// Left join: records without a table value are joined with `None`.
        left: bool,
    },
    /// Joins each stream record with a global table's value for `key_mapper(key, value)`.
    GlobalTableJoin {
        /// The global store.
        store: String,
        /// Maps a stream record to the global table's key.
        key_mapper: KeyValueToKeyFn,
        /// Serde of the global table's keys.
        global_key_serde: ErasedSerde,
        /// `joiner(key, stream value, table value)`.
        joiner: JoinerFn,
        /// Left join.
        left: bool,
    },
    /// One side of a table-table join: each change on this side is joined with the other
    /// side's current value; the result updates a materialized result table downstream.
    TableTableJoin {
        /// How to read the other table.
        other: TableView,
        /// True if this is the left table.
        this_is_left: bool,
        /// Inner, left or outer.
        join_type: JoinType,
        /// `joiner(key, left, right)`.
        joiner: JoinerFn,
    },
    /// Keeps one side's records of a windowed stream-stream join in its window store for the
    /// other side to find, and forwards them to its join processor (Kafka Streams'
    /// `KSTREAM-WINDOWED-` nodes).
    JoinWindow {
        /// The side's window store.
        store: String,
        /// True for the left stream.
        this_is_left: bool,
        /// The join's name (shared with its `StreamStreamJoin` processors).
        join_name: String,
    },
    /// One side of a windowed stream-stream join (KIP-633 semantics for left and outer joins).
    StreamStreamJoin {
        /// Window store of this side's records (written by its `JoinWindow` node; here for its
        /// serdes).
        this_store: String,
        /// Window store of the other side's records.
        other_store: String,
        /// Store of records still waiting for a join partner (left and outer joins).
        outer_store: Option<String>,
        /// True if this is the left stream.
        this_is_left: bool,
        /// Inner, left or outer.
        join_type: JoinType,
        /// The join windows.
        windows: JoinWindowsSpec,
        /// `joiner(key, left, right)`.
        joiner: JoinerFn,
        /// Shared between both sides of one join: names their common stream-time tracker.
        join_name: String,
    },
}

/// Inner, left or outer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinType {
    /// Both sides must match.
    Inner,
    /// Every left record or value produces output.
    Left,
    /// Every record or value of either side produces output.
    Outer,
}

/// The time bounds of a stream-stream join: a left record at `t` joins right records in
/// `[t - before_ms, t + after_ms]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindowsSpec {
    /// How far before a left record a right record may be.
    pub before_ms: i64,
    /// How far after.
    pub after_ms: i64,
    /// Grace period for out-of-order records.
    pub grace_ms: i64,
}

/// How to read a table's current value for a key: its nearest materialized store, then the
/// stateless table operators applied since (Kafka Streams' value getters).
#[derive(Clone)]
pub struct TableView {
    /// The materialized store.
    pub store: String,
    /// Applied in order to the stored value.
    pub steps: Vec<ViewStep>,
}

/// A stateless table operator replayed on lookups.
#[derive(Clone)]
pub enum ViewStep {
    /// `KTable::filter` / `filter_not`.
    Filter {
        /// The predicate.
        predicate: PredicateFn,
        /// `filter_not`.
        negate: bool,
    },
    /// `KTable::map_values`.
    MapValues(ValueMapperFn),
}

impl fmt::Debug for TableView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TableView({}, {} steps)", self.store, self.steps.len())
    }
}

impl ProcessorSpec {
    /// The Kafka Streams-style kind name, for descriptions and errors.
    pub fn kind_name(&self) -> &'static str {
        match self {
            ProcessorSpec::Filter { negate: false, .. } => "filter",
            ProcessorSpec::Filter { negate: true, .. } => "filter_not",
            ProcessorSpec::Map(_) => "map",
            ProcessorSpec::MapValues(_) => "map_values",
            ProcessorSpec::SelectKey(_) => "select_key",
            ProcessorSpec::FlatMap(_) => "flat_map",
            ProcessorSpec::FlatMapValues(_) => "flat_map_values",
            ProcessorSpec::Peek(_) => "peek",
            ProcessorSpec::Foreach(_) => "foreach",
            ProcessorSpec::Branch { .. } => "branch",
            ProcessorSpec::PassThrough => "pass_through",
            ProcessorSpec::TableSource { .. } => "table_source",
            ProcessorSpec::ToTable { .. } => "to_table",
            ProcessorSpec::JoinResult { .. } => "join_result",
            ProcessorSpec::ToStream => "to_stream",
            ProcessorSpec::Aggregate { .. } => "aggregate",
            ProcessorSpec::WindowAggregate { .. } => "window_aggregate",
            ProcessorSpec::SessionAggregate { .. } => "session_aggregate",
            ProcessorSpec::Suppress { .. } => "suppress",
            ProcessorSpec::StreamTableJoin { .. } => "stream_table_join",
            ProcessorSpec::GlobalTableJoin { .. } => "global_table_join",
            ProcessorSpec::TableTableJoin { .. } => "table_table_join",
            ProcessorSpec::StreamStreamJoin { .. } => "stream_stream_join",
            ProcessorSpec::JoinWindow { .. } => "join_window",
            ProcessorSpec::TableFilter { .. } => "table_filter",
            ProcessorSpec::DropNullKeys { .. } => "drop_null_keys",
            ProcessorSpec::TableMapValues(_) => "table_map_values",
            ProcessorSpec::TableGroupBy { .. } => "table_group_by",
            ProcessorSpec::FkSubscribe { .. } => "fk_subscribe",
            ProcessorSpec::FkReceive { .. } => "fk_receive",
            ProcessorSpec::FkSubscriptionJoin { .. } => "fk_subscription_join",
            ProcessorSpec::FkForeignJoin { .. } => "fk_foreign_join",
            ProcessorSpec::FkResolve { .. } => "fk_resolve",
            ProcessorSpec::TableAggregate { .. } => "table_aggregate",
            ProcessorSpec::Process { fixed_key: false, .. } => "process",
            ProcessorSpec::Process { fixed_key: true, .. } => "process_values",
        }
    }

    /// Names of the stores this processor uses.
    pub fn stores(&self) -> Vec<&str> {
        match self {
            ProcessorSpec::TableSource { store, .. } => store.iter().map(String::as_str).collect(),
            ProcessorSpec::ToTable { store }
            | ProcessorSpec::JoinResult { store }
            | ProcessorSpec::Aggregate { store, .. }
            | ProcessorSpec::TableAggregate { store, .. }
            | ProcessorSpec::Suppress { store, .. } => vec![store.as_str()],
            ProcessorSpec::WindowAggregate {
                store, emit_store, ..
            }
            | ProcessorSpec::SessionAggregate {
                store, emit_store, ..
            } => std::iter::once(store.as_str())
                .chain(emit_store.as_deref())
                .collect(),
            ProcessorSpec::StreamTableJoin { table: view, .. }
            | ProcessorSpec::TableTableJoin { other: view, .. }
            | ProcessorSpec::FkSubscriptionJoin { table: view }
            | ProcessorSpec::FkResolve { table: view, .. } => vec![view.store.as_str()],
            ProcessorSpec::FkReceive { store, .. } | ProcessorSpec::FkForeignJoin { store, .. } => {
                vec![store.as_str()]
            }
            ProcessorSpec::JoinWindow { store, .. } => vec![store.as_str()],
            ProcessorSpec::Process { stores, .. } => stores.iter().map(String::as_str).collect(),
            // As Kafka Streams lists them: the other side's store, then the shared outer store.
            ProcessorSpec::StreamStreamJoin {
                other_store,
                outer_store,
                ..
            } => std::iter::once(other_store.as_str())
                .chain(outer_store.as_deref())
                .collect(),
            // Global stores belong to no task: they do not join sub-topologies.
            _ => Vec::new(),
        }
    }
}

impl fmt::Debug for ProcessorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind_name())?;
        let stores = self.stores();
        if !stores.is_empty() {
            write!(f, "{stores:?}")?;
        }
        Ok(())
    }
}

/// How values fold into an aggregate.
#[derive(Clone)]
pub enum Aggregation {
    /// `aggregator(key, value, aggregate or initializer())`.
    Aggregate {
        /// The initial aggregate of a new key or window.
        initializer: InitializerFn,
        /// Folds one value in.
        aggregator: AggregatorFn,
    },
    /// The first value is the aggregate; later ones fold in with `reducer(aggregate, value)`.
    Reduce(ReducerFn),
    /// `count()`: the number of records (an `i64`). Needs no value, so time and session
    /// windows count null values too, as Kafka Streams' windowed `count()` does.
    Count,
}

impl Aggregation {
    /// The aggregate of a new key or window before its first value (none for `reduce`).
    pub fn initial(&self) -> Option<DynBox> {
        match self {
            Aggregation::Aggregate { initializer, .. } => Some(initializer()),
            Aggregation::Reduce(_) => None,
            Aggregation::Count => Some(Box::new(0i64)),
        }
    }

    /// Folds `value` into `aggregate` (or into [`initial`](Self::initial)).
    pub fn fold(&self, key: &Dyn, value: &Dyn, aggregate: Option<DynBox>) -> Dyn {
        match (self, aggregate.or_else(|| self.initial())) {
            (Aggregation::Aggregate { aggregator, .. }, Some(agg)) => aggregator(key, value, agg),
            (Aggregation::Reduce(reducer), Some(agg)) => reducer(agg, value),
            (Aggregation::Count, Some(n)) => {
                crate::dynamic::erase(crate::dynamic::downcast_box::<i64>(n) + 1)
            }
            (_, None) => value.clone(),
        }
    }

    /// Whether a null value counts (only `count()`: the other aggregations call a closure that
    /// takes the value).
    pub fn counts_null_values(&self) -> bool {
        matches!(self, Aggregation::Count)
    }
}

/// How updates of a re-grouped table fold into an aggregate (Kafka Streams' adder and
/// subtractor): the old value is retracted, then the new one added.
#[derive(Clone)]
pub enum TableAggregation {
    /// `count()`: +1 and -1 from 0 (an `i64`).
    Count,
    /// `reduce(adder, subtractor)`: the first value is the aggregate.
    Reduce {
        /// `(aggregate, value) -> aggregate`.
        adder: TableReducerFn,
        /// `(aggregate, old value) -> aggregate`.
        subtractor: TableReducerFn,
    },
    /// `aggregate(initializer, adder, subtractor)`.
    Aggregate {
        /// The aggregate of a key before its first value.
        initializer: InitializerFn,
        /// `(key, value, aggregate) -> aggregate`.
        adder: TableAggregatorFn,
        /// `(key, old value, aggregate) -> aggregate`.
        subtractor: TableAggregatorFn,
    },
}

/// What shape a store has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreKind {
    /// Latest value per key.
    KeyValue,
    /// A value per key and window start, kept for `retention_ms` of stream time after the
    /// window ends.
    Window {
        /// Retention.
        retention_ms: i64,
        /// Window length (`end - start`).
        size_ms: i64,
        /// Keep every record of a key and time (stream-stream join stores), not just the last.
        retain_duplicates: bool,
    },
    /// A value per key and session, kept for `retention_ms` after the session ends.
    Session {
        /// Retention.
        retention_ms: i64,
    },
    /// Every value of each key with the time it became valid, kept for
    /// `history_retention_ms` of stream time (Kafka Streams' versioned key-value store,
    /// KIP-889): reads can ask for the value as of a time.
    Versioned {
        /// How long old versions stay readable.
        history_retention_ms: i64,
    },
}

/// A state store declared by the topology.
#[derive(Debug, Clone)]
pub struct StoreSpec {
    /// Unique name; also the name of its changelog topic (`<name>-changelog`).
    pub name: String,
    /// Key-value, window or session.
    pub kind: StoreKind,
    /// Serde of the store's keys.
    pub key_serde: ErasedSerde,
    /// Serde of the store's values.
    pub value_serde: ErasedSerde,
    /// Record cache on: forward the latest value per key at commit, not every update.
    pub caching: bool,
    /// Changelog on.
    pub logging: bool,
    /// Implementation; `None` uses the config's `default.dsl.store`.
    pub store_type: Option<StoreType>,
    /// Values are stored as `timestamp (8 bytes, big-endian) | value` (Kafka Streams'
    /// timestamped stores); changelog records carry the timestamp as their record timestamp.
    pub timestamped: bool,
}

impl StoreSpec {
    /// The changelog topic, if logging is on.
    pub fn changelog_topic(&self) -> Option<TopicRef> {
        self.logging
            .then(|| TopicRef::Internal(format!("{}-changelog", self.name)))
    }
}

//! `SessionWindowedKStream`: a grouped stream over sessions.

use crate::dynamic::*;
use crate::kgrouped_stream::{aggregate_aggregation, count_aggregation, reduce_aggregation, KGroupedStream};
use crate::ktable::KTable;
use crate::materialized::Materialized;
use crate::serde::Serde;
use crate::time_windowed_kstream::{declare_emit_store, emit_store_name, window_retention, windowed_key_fn};
use crate::topology::{Aggregation, ProcessorSpec, StoreKind, TopologyError};
use crate::windows::{EmitStrategy, WindowDefinition, Windowed};
use std::sync::Arc;

/// A grouped stream over `SessionWindows` (Kafka Streams' `SessionWindowedKStream`). When a
/// record joins or bridges sessions they merge: the merged sessions are deleted downstream (a
/// null value for each old `Windowed` key) and the merged session is forwarded.
///
/// ```
/// use sluice_dsl::prelude::*;
/// use std::time::Duration;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream("clicks", Consumed::with(Serde::string(), Serde::string()))
///     .group_by_key()
///     .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_secs(300)))
///     .count(Materialized::as_("clicks-per-session"));
/// builder.build().unwrap();
/// ```
pub struct SessionWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: WindowDefinition,
    emit_on_close: bool,
}

impl<K: StoreData + Clone, V: StoreData> SessionWindowedKStream<K, V> {
    pub(crate) fn new(grouped: KGroupedStream<K, V>, windows: WindowDefinition) -> Self {
        if let Some(reason) = windows.invalid_reason() {
            grouped
                .stream
                .graph
                .borrow_mut()
                .error(TopologyError::InvalidWindows { reason });
        }
        SessionWindowedKStream {
            grouped,
            windows,
            emit_on_close: false,
        }
    }

    /// Chooses between an update per change (default) and one final result per session.
    pub fn emit_strategy(mut self, strategy: EmitStrategy) -> Self {
        self.emit_on_close = strategy.on_close;
        self
    }

    /// Counts records per key and session.
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
        let value_serde = materialized.value_serde.clone().unwrap_or_else(Serde::i64);
        let merger: MergerFn =
            Arc::new(|_, a, b| Box::new(downcast_box::<i64>(a) + downcast_box::<i64>(b)) as DynBox);
        self.table(materialized, value_serde, count_aggregation(), merger)
    }

    /// Combines the values of each key and session; merged sessions combine with `reducer` too.
    pub fn reduce<F>(&self, reducer: F, materialized: Materialized<K, V>) -> KTable<Windowed<K>, V>
    where
        F: Fn(V, &V) -> V + Send + Sync + 'static,
    {
        let reducer = Arc::new(reducer);
        let r = Arc::clone(&reducer);
        let merger: MergerFn =
            Arc::new(move |_, a, b| Box::new(r(downcast_box::<V>(a), &downcast_box::<V>(b))) as DynBox);
        let value_serde = self.grouped.reduce_value_serde(&materialized);
        self.table(
            materialized,
            value_serde,
            reduce_aggregation(move |a, v| reducer(a, v)),
            merger,
        )
    }

    /// Folds values into a per-session aggregate; `merger(key, a, b)` combines the aggregates of
    /// two sessions a record bridges.
    pub fn aggregate<VA: StoreData, I, A, M>(
        &self,
        initializer: I,
        aggregator: A,
        merger: M,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA>
    where
        I: Fn() -> VA + Send + Sync + 'static,
        A: Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
        M: Fn(&K, VA, VA) -> VA + Send + Sync + 'static,
    {
        let merger: MergerFn = Arc::new(move |k, a, b| {
            Box::new(merger(
                downcast_ref::<K>(k),
                downcast_box::<VA>(a),
                downcast_box::<VA>(b),
            )) as DynBox
        });
        let value_serde = materialized.value_serde.clone().unwrap_or_else(Serde::bincode);
        self.table(
            materialized,
            value_serde,
            aggregate_aggregation(initializer, aggregator),
            merger,
        )
    }

    fn table<VA: Data>(
        &self,
        materialized: Materialized<K, VA>,
        value_serde: Serde<VA>,
        aggregation: Aggregation,
        merger: MergerFn,
    ) -> KTable<Windowed<K>, VA> {
        let retention_ms = window_retention(&self.grouped, &materialized, &self.windows);
        let windows = self.windows;
        let emit_on_close = self.emit_on_close;
        // Kafka Streams' names: KSTREAM-REDUCE- for reduce, KSTREAM-AGGREGATE- otherwise.
        let prefix = if matches!(aggregation, Aggregation::Reduce(_)) {
            "KSTREAM-REDUCE-"
        } else {
            "KSTREAM-AGGREGATE-"
        };
        let added = self.grouped.add_stateful(
            prefix,
            &materialized,
            &value_serde,
            StoreKind::Session { retention_ms },
            |store| ProcessorSpec::SessionAggregate {
                emit_store: emit_on_close.then(|| emit_store_name(&store)),
                store,
                windows,
                aggregation,
                merger,
                windowed_key: windowed_key_fn::<K>(),
            },
        );
        if emit_on_close {
            declare_emit_store(&self.grouped, &added.store, &materialized);
        }
        let mut table = KTable::new(
            self.grouped.stream.graph.clone(),
            added.node,
            Some(Serde::session_windowed(added.key_serde)),
            Some(value_serde),
            Some(added.store),
        );
        table.window_grace = Some(windows.grace_ms());
        table
    }
}

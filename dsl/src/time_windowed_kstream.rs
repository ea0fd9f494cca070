//! `TimeWindowedKStream`: a grouped stream over time or sliding windows.

use crate::dynamic::*;
use crate::kgrouped_stream::{aggregate_aggregation, count_aggregation, reduce_aggregation, KGroupedStream};
use crate::ktable::KTable;
use crate::materialized::Materialized;
use crate::serde::Serde;
use crate::topology::{Aggregation, ProcessorSpec, StoreKind, StoreSpec, TopologyError};
use crate::windows::{millis, EmitStrategy, WindowDefinition, Windowed};
use std::sync::Arc;

/// A grouped stream over `TimeWindows` or `SlidingWindows` (Kafka Streams'
/// `TimeWindowedKStream`). Aggregations keep one value per key and window in a window store and
/// return a `KTable<Windowed<K>, _>`. A record whose windows have all closed (stream time past
/// window end plus grace) is dropped and counted in `sluice_dropped_records_total{reason="expired_window"}`.
///
/// ```
/// use sluice_dsl::prelude::*;
/// use std::time::Duration;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream("fin.transactions.raw", Consumed::with(Serde::string(), Serde::string()))
///     .group_by_key()
///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(300)))
///     .count(Materialized::as_("tx-velocity-store"))
///     .to_stream()
///     .filter(|_window, n| *n > 5)
///     .to("velocity-alerts", Produced::default());
/// builder.build().unwrap();
/// ```
pub struct TimeWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: WindowDefinition,
    /// `end - start` of every window (the time difference for sliding windows).
    size_ms: i64,
    emit_on_close: bool,
}

impl<K: StoreData + Clone, V: StoreData> TimeWindowedKStream<K, V> {
    pub(crate) fn new(grouped: KGroupedStream<K, V>, windows: WindowDefinition, size_ms: i64) -> Self {
        if let Some(reason) = windows.invalid_reason() {
            grouped
                .stream
                .graph
                .borrow_mut()
                .error(TopologyError::InvalidWindows { reason });
        }
        TimeWindowedKStream {
            grouped,
            windows,
            size_ms,
            emit_on_close: false,
        }
    }

    /// Chooses between an update per change (default) and one final result per window.
    pub fn emit_strategy(mut self, strategy: EmitStrategy) -> Self {
        self.emit_on_close = strategy.on_close;
        self
    }

    /// Counts records per key and window.
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
        let value_serde = materialized.value_serde.clone().unwrap_or_else(Serde::i64);
        self.table(materialized, value_serde, count_aggregation())
    }

    /// Combines the values of each key and window.
    pub fn reduce<F>(&self, reducer: F, materialized: Materialized<K, V>) -> KTable<Windowed<K>, V>
    where
        F: Fn(V, &V) -> V + Send + Sync + 'static,
    {
        let value_serde = self.grouped.reduce_value_serde(&materialized);
        self.table(materialized, value_serde, reduce_aggregation(reducer))
    }

    /// Folds the values of each key and window into an aggregate that starts as `initializer()`.
    pub fn aggregate<VA: StoreData, I, A>(
        &self,
        initializer: I,
        aggregator: A,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA>
    where
        I: Fn() -> VA + Send + Sync + 'static,
        A: Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
    {
        let value_serde = materialized.value_serde.clone().unwrap_or_else(Serde::bincode);
        self.table(
            materialized,
            value_serde,
            aggregate_aggregation(initializer, aggregator),
        )
    }

    fn table<VA: Data>(
        &self,
        materialized: Materialized<K, VA>,
        value_serde: Serde<VA>,
        aggregation: Aggregation,
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
            StoreKind::Window {
                retention_ms,
                size_ms: self.size_ms,
                retain_duplicates: false,
            },
            |store| ProcessorSpec::WindowAggregate {
                emit_store: emit_on_close.then(|| emit_store_name(&store)),
                store,
                windows,
                aggregation,
                windowed_key: windowed_key_fn::<K>(),
            },
        );
        if emit_on_close {
            declare_emit_store(&self.grouped, &added.store, &materialized);
        }
        let mut table = KTable::new(
            self.grouped.stream.graph.clone(),
            added.node,
            Some(Serde::time_windowed(added.key_serde, self.size_ms)),
            Some(value_serde),
            Some(added.store),
        );
        table.window_grace = Some(windows.grace_ms());
        table
    }
}

/// `(key, window) -> Windowed<K>`, typed.
pub(crate) fn windowed_key_fn<K: Data + Clone>() -> WindowedKeyFn {
    Arc::new(|k, w| erase(Windowed::new(downcast_ref::<K>(k).clone(), w)))
}

/// The retention of a windowed store: the `Materialized` one, which must cover the windows'
/// size plus grace, or exactly that minimum.
pub(crate) fn window_retention<K: Data, V: Data, VA: Data>(
    grouped: &KGroupedStream<K, V>,
    materialized: &Materialized<K, VA>,
    windows: &WindowDefinition,
) -> i64 {
    window_retention_in(&grouped.stream.graph, materialized, windows)
}

/// [`window_retention`] for a graph (mistakes are reported to it).
pub(crate) fn window_retention_in<K: Data, VA: Data>(
    graph: &crate::graph::GraphRef,
    materialized: &Materialized<K, VA>,
    windows: &WindowDefinition,
) -> i64 {
    let min = windows.min_retention_ms();
    match materialized.retention.map(millis) {
        Some(r) if r < min => {
            graph.borrow_mut().error(TopologyError::InvalidWindows {
                reason: format!("store retention {r} ms is shorter than window size plus grace ({min} ms)"),
            });
            min
        }
        Some(r) => r,
        None => min,
    }
}

/// The store recording how far `on_window_close` results were emitted.
pub(crate) fn emit_store_name(store: &str) -> String {
    format!("{store}-last-emitted")
}

/// Declares the emit bookkeeping store of a windowed aggregation (logged like its window store).
pub(crate) fn declare_emit_store<K: Data, V: Data, VA: Data>(
    grouped: &KGroupedStream<K, V>,
    store: &str,
    materialized: &Materialized<K, VA>,
) {
    grouped.stream.graph.borrow_mut().add_store(StoreSpec {
        name: emit_store_name(store),
        kind: StoreKind::KeyValue,
        key_serde: Serde::bytes().into(),
        value_serde: Serde::<i64>::i64().into(),
        caching: false,
        logging: materialized.logging,
        store_type: materialized.store_type,
        timestamped: false,
    });
}

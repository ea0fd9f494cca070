//! `KTable`: a changelog stream read as the latest value per key.

use crate::dynamic::*;
use crate::graph::GraphRef;
use crate::kstream::{filter_spec, KStream};
use crate::named::Named;
use crate::serde::Serde;
use crate::topology::{
    NodeId, NodeKind, ProcessorSpec, StoreKind, StoreSpec, TableView, TopologyError, ViewStep,
};
use crate::windows::{Suppressed, Windowed};
use std::sync::Arc;

/// The latest value per key (Kafka Streams' `KTable`): each update replaces the key's value and
/// a null value deletes it. Downstream operators see each change with its previous value.
///
/// ```
/// use sluice_dsl::prelude::*;
///
/// let builder = StreamsBuilder::new();
/// let limits = builder.table("card-limits", Consumed::with(Serde::string(), Serde::<i64>::i64()));
/// limits
///     .filter(|_card, limit| *limit > 10_000)
///     .to_stream()
///     .to("high-limit-cards", Produced::default());
/// builder.build().unwrap();
/// ```
pub struct KTable<K, V> {
    pub(crate) graph: GraphRef,
    pub(crate) node: NodeId,
    pub(crate) key_serde: Option<Serde<K>>,
    pub(crate) value_serde: Option<Serde<V>>,
    /// The store holding this table, if materialized.
    pub(crate) store: Option<String>,
    /// For tables of windowed aggregations: the windows' grace period (for `suppress`).
    pub(crate) window_grace: Option<i64>,
    /// How joins read this table's current value for a key; `None` for tables that cannot be
    /// looked up (suppressed tables).
    pub(crate) view: Option<TableView>,
}

impl<K, V> Clone for KTable<K, V> {
    fn clone(&self) -> Self {
        KTable {
            graph: self.graph.clone(),
            node: self.node,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            store: self.store.clone(),
            window_grace: self.window_grace,
            view: self.view.clone(),
        }
    }
}

impl<K: Data, V: Data> KTable<K, V> {
    pub(crate) fn new(
        graph: GraphRef,
        node: NodeId,
        key_serde: Option<Serde<K>>,
        value_serde: Option<Serde<V>>,
        store: Option<String>,
    ) -> Self {
        let view = store.clone().map(|store| TableView {
            store,
            steps: Vec::new(),
        });
        KTable {
            graph,
            node,
            key_serde,
            value_serde,
            store,
            window_grace: None,
            view,
        }
    }

    /// The name of the store holding this table, for interactive queries and the test driver.
    pub fn queryable_store_name(&self) -> Option<&str> {
        self.store.as_deref()
    }

    /// Renames the node that produced this table.
    pub fn named(self, name: impl Into<Named>) -> Self {
        self.graph.borrow_mut().rename(self.node, name.into().0);
        self
    }

    /// The stream of this table's changes: each update's new value; deletes are null values.
    pub fn to_stream(&self) -> KStream<K, V> {
        let node = self.graph.borrow_mut().add_processor(
            "KTABLE-TOSTREAM-",
            None,
            ProcessorSpec::ToStream,
            &[self.node],
        );
        KStream::new(
            self.graph.clone(),
            node,
            self.key_serde.clone(),
            self.value_serde.clone(),
            false,
        )
    }

    /// Keeps the keys whose value matches `predicate`; a key whose new value stops matching is
    /// deleted downstream.
    pub fn filter<F>(&self, predicate: F) -> KTable<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        self.table_filter(predicate, false)
    }

    /// Keeps the keys whose value does not match `predicate`.
    pub fn filter_not<F>(&self, predicate: F) -> KTable<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        self.table_filter(predicate, true)
    }

    fn table_filter<F>(&self, predicate: F, negate: bool) -> KTable<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        let ProcessorSpec::Filter { predicate, negate } = filter_spec(predicate, negate) else {
            unreachable!("filter_spec builds a Filter")
        };
        let view = self.view_with(ViewStep::Filter {
            predicate: Arc::clone(&predicate),
            negate,
        });
        let node = self.graph.borrow_mut().add_processor(
            "KTABLE-FILTER-",
            None,
            ProcessorSpec::TableFilter {
                predicate,
                negate,
                send_old_values: false,
            },
            &[self.node],
        );
        KTable {
            node,
            store: None,
            view,
            ..self.clone()
        }
    }

    /// Maps each value (deletes stay deletes).
    pub fn map_values<V2: Data, F>(&self, mapper: F) -> KTable<K, V2>
    where
        F: Fn(&V) -> V2 + Send + Sync + 'static,
    {
        let f: ValueMapperFn = Arc::new(move |_k, v| erase(mapper(downcast_ref::<V>(v))));
        let view = self.view_with(ViewStep::MapValues(Arc::clone(&f)));
        let node = self.graph.borrow_mut().add_processor(
            "KTABLE-MAPVALUES-",
            None,
            ProcessorSpec::TableMapValues(f),
            &[self.node],
        );
        KTable {
            window_grace: self.window_grace,
            view,
            ..KTable::new(self.graph.clone(), node, self.key_serde.clone(), None, None)
        }
    }

    /// As Kafka Streams' `enableSendingOldValues(true)`: this table's changes must carry their
    /// old values (left and outer table-table joins read them), so the filters between this
    /// table and its store keep them and a table source is materialized.
    pub(crate) fn enable_sending_old_values(&self) {
        let mut g = self.graph.borrow_mut();
        let mut node = self.node;
        loop {
            let parent = g.nodes[node].parents.first().copied();
            match &mut g.nodes[node].kind {
                NodeKind::Processor(ProcessorSpec::TableFilter { send_old_values, .. }) => {
                    *send_old_values = true
                }
                NodeKind::Processor(ProcessorSpec::TableMapValues(_)) => {}
                NodeKind::Processor(ProcessorSpec::TableSource {
                    store: Some(store), ..
                }) => {
                    let store = store.clone();
                    g.on_demand_stores.retain(|s| *s != store);
                    return;
                }
                _ => return,
            }
            match parent {
                Some(p) => node = p,
                None => return,
            }
        }
    }

    /// This table's view with one more step.
    fn view_with(&self, step: ViewStep) -> Option<TableView> {
        self.view.clone().map(|mut v| {
            v.steps.push(step);
            v
        })
    }
}

impl<K: StoreData + Clone, V: StoreData> KTable<Windowed<K>, V> {
    /// Holds this windowed table's updates and forwards one final value per window once stream
    /// time (as seen by this node) passes the window's end plus grace. The buffer is a logged
    /// store (`<name>-store` for a named suppression, else `KTABLE-SUPPRESS-STATE-STORE-<n>`),
    /// so it survives restarts.
    ///
    /// ```
    /// use sluice_dsl::prelude::*;
    /// use std::time::Duration;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("tx", Consumed::with(Serde::string(), Serde::string()))
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::of_size_and_grace(Duration::from_secs(60), Duration::from_secs(10)))
    ///     .count(Materialized::as_("per-minute"))
    ///     .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
    ///     .to_stream()
    ///     .to("final-counts", Produced::default());
    /// builder.build().unwrap();
    /// ```
    pub fn suppress(&self, suppressed: Suppressed) -> KTable<Windowed<K>, V> {
        let Some(grace_ms) = self.window_grace else {
            self.graph.borrow_mut().error(TopologyError::NotWindowed {
                operation: "suppress(until_window_closes)",
            });
            return self.clone();
        };
        let mut g = self.graph.borrow_mut();
        // Kafka Streams' names: `<name>-store` for a named suppression, else a store name of
        // its own index after the node's.
        let (name, store) = match suppressed.name.clone() {
            Some(name) => (name.clone(), format!("{name}-store")),
            None => (
                g.generate_name("KTABLE-SUPPRESS-"),
                g.generate_name("KTABLE-SUPPRESS-STATE-STORE-"),
            ),
        };
        let key_serde = self.key_serde.clone().unwrap_or_else(Serde::bincode);
        let value_serde = self.value_serde.clone().unwrap_or_else(Serde::bincode);
        g.add_store(StoreSpec {
            name: store.clone(),
            kind: StoreKind::KeyValue,
            key_serde: Serde::bytes().into(),
            value_serde: Serde::bytes().into(),
            caching: false,
            logging: true,
            store_type: None,
            timestamped: false,
        });
        let window_of: WindowOfFn = Arc::new(|k| downcast_ref::<Windowed<K>>(k).window);
        let node = g.add_processor(
            "KTABLE-SUPPRESS-",
            Some(name),
            ProcessorSpec::Suppress {
                store,
                key_serde: key_serde.clone().into(),
                value_serde: value_serde.clone().into(),
                window_of,
                grace_ms,
                max_records: suppressed.buffer.max_records,
            },
            &[self.node],
        );
        drop(g);
        KTable {
            window_grace: self.window_grace,
            // The buffer holds pending updates, not the table: a suppressed table has no view.
            view: None,
            ..KTable::new(self.graph.clone(), node, Some(key_serde), Some(value_serde), None)
        }
    }
}

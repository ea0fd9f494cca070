//! `GlobalKTable`: a table replicated in full to every instance.

use crate::dynamic::Data;
use crate::serde::Serde;
use std::marker::PhantomData;
use std::rc::Rc;

/// A table with every partition of its topic on every instance (Kafka Streams'
/// `GlobalKTable`): streams join it through a key mapper, without co-partitioning. Its topic is
/// its changelog; it is read in full before processing starts and kept up to date beside the
/// stream tasks.
///
/// ```
/// use sluice_dsl::prelude::*;
///
/// let builder = StreamsBuilder::new();
/// let merchants = builder.global_table("merchants", Consumed::with(Serde::string(), Serde::string()));
/// builder
///     .stream("payments", Consumed::with(Serde::string(), Serde::string()))
///     .join_global(&merchants, |_card, merchant_id| merchant_id.clone(), |payment, category| format!("{payment}:{category}"))
///     .to("payments-with-category", Produced::with(Serde::string(), Serde::string()));
/// builder.build().unwrap();
/// ```
pub struct GlobalKTable<K, V> {
    pub(crate) graph: crate::graph::GraphRef,
    pub(crate) store: String,
    pub(crate) key_serde: Serde<K>,
    pub(crate) _types: PhantomData<fn() -> V>,
}

impl<K: Data, V: Data> GlobalKTable<K, V> {
    /// The name of the store holding the table.
    pub fn queryable_store_name(&self) -> &str {
        &self.store
    }

    pub(crate) fn same_builder(&self, graph: &crate::graph::GraphRef) -> bool {
        Rc::ptr_eq(&self.graph, graph)
    }
}

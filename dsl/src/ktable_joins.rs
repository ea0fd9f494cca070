//! Table-table joins: inner, left and outer, as Kafka Streams computes them: each side's change
//! is joined with the other side's current value and forwarded; the result is materialized only
//! when a store is asked for (`*_with`).

use crate::dynamic::*;
use crate::kstream_joins::{joiner_inner, joiner_left, joiner_outer};
use crate::ktable::KTable;
use crate::materialized::Materialized;
use crate::serde::Serde;
use crate::topology::{JoinType, ProcessorSpec, StoreKind, TopologyError};
use std::rc::Rc;

impl<K: StoreData, V: StoreData> KTable<K, V> {
    /// Inner join with another table of the same key. A change on either side while the other
    /// side has a value forwards a result at the later of both sides' times: the joined value,
    /// or a deletion if this side's change is one. A change while the other side has no value
    /// forwards nothing. The result is not materialized (see [`join_with`](Self::join_with)).
    ///
    /// ```
    /// use sluice_dsl::prelude::*;
    /// let builder = StreamsBuilder::new();
    /// let limits = builder.table("limits", Consumed::with(Serde::string(), Serde::<i64>::i64()));
    /// let balances = builder.table("balances", Consumed::with(Serde::string(), Serde::<i64>::i64()));
    /// limits
    ///     .join(&balances, |limit, balance| limit - balance)
    ///     .to_stream()
    ///     .to("headroom", Produced::with(Serde::string(), Serde::<i64>::i64()));
    /// builder.build().unwrap();
    /// ```
    pub fn join<VO: Data, VR: StoreData, F>(&self, other: &KTable<K, VO>, joiner: F) -> KTable<K, VR>
    where
        F: Fn(&V, &VO) -> VR + Send + Sync + 'static,
    {
        self.table_join(other, joiner_inner(joiner), JoinType::Inner, None)
    }

    /// [`join`](Self::join), materialized in the store `materialized` describes (queryable by
    /// its name, and readable by a further join). With a cache, updates of one key between
    /// commits are merged and deletions of results never forwarded are dropped.
    pub fn join_with<VO: Data, VR: StoreData, F>(
        &self,
        other: &KTable<K, VO>,
        joiner: F,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        F: Fn(&V, &VO) -> VR + Send + Sync + 'static,
    {
        self.table_join(other, joiner_inner(joiner), JoinType::Inner, Some(materialized))
    }

    /// Left join: a change of this table forwards its value joined with the other side's
    /// (`None` if absent), or a deletion; a change of the other side forwards a result only
    /// while this table has a value.
    pub fn left_join<VO: Data, VR: StoreData, F>(&self, other: &KTable<K, VO>, joiner: F) -> KTable<K, VR>
    where
        F: Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        self.table_join(other, joiner_left(joiner), JoinType::Left, None)
    }

    /// [`left_join`](Self::left_join), materialized in the store `materialized` describes.
    pub fn left_join_with<VO: Data, VR: StoreData, F>(
        &self,
        other: &KTable<K, VO>,
        joiner: F,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        F: Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        self.table_join(other, joiner_left(joiner), JoinType::Left, Some(materialized))
    }

    /// Outer join: any change forwards the join of both sides' current values, or a deletion
    /// once both are gone.
    pub fn outer_join<VO: Data, VR: StoreData, F>(&self, other: &KTable<K, VO>, joiner: F) -> KTable<K, VR>
    where
        F: Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        self.table_join(other, joiner_outer(joiner), JoinType::Outer, None)
    }

    /// [`outer_join`](Self::outer_join), materialized in the store `materialized` describes.
    pub fn outer_join_with<VO: Data, VR: StoreData, F>(
        &self,
        other: &KTable<K, VO>,
        joiner: F,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        F: Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        self.table_join(other, joiner_outer(joiner), JoinType::Outer, Some(materialized))
    }

    /// Both sides join on their own changes, looking up the other side, and a merge node
    /// forwards both sides' results (materializing them when `materialized` is given). Node
    /// names and indexes are Kafka Streams': the store, then the merge, then each side.
    fn table_join<VO: Data, VR: StoreData>(
        &self,
        other: &KTable<K, VO>,
        joiner: JoinerFn,
        join_type: JoinType,
        materialized: Option<Materialized<K, VR>>,
    ) -> KTable<K, VR> {
        if !Rc::ptr_eq(&self.graph, &other.graph) {
            self.graph
                .borrow_mut()
                .error(TopologyError::ForeignBuilder { operation: "join" });
            return KTable::new(self.graph.clone(), self.node, None, None, None);
        }
        let (Some(this_view), Some(other_view)) = (self.view.clone(), other.view.clone()) else {
            self.graph
                .borrow_mut()
                .error(TopologyError::NotMaterialized { operation: "join" });
            return KTable::new(self.graph.clone(), self.node, None, None, None);
        };
        // Left and outer joins read the old values of their outer sides.
        if join_type != JoinType::Inner {
            self.enable_sending_old_values();
        }
        if join_type == JoinType::Outer {
            other.enable_sending_old_values();
        }
        let mut g = self.graph.borrow_mut();
        let result = materialized.map(|m| {
            let store = m
                .name
                .clone()
                .unwrap_or_else(|| g.generate_name("KTABLE-MERGE-STATE-STORE-"));
            let key_serde = m
                .key_serde
                .clone()
                .or_else(|| self.key_serde.clone())
                .unwrap_or_else(Serde::bincode);
            let value_serde = m.value_serde.clone().unwrap_or_else(Serde::bincode);
            g.add_store(m.store_spec(&store, StoreKind::KeyValue, &key_serde, &value_serde));
            (store, key_serde, value_serde)
        });
        let merge_name = g.generate_name("KTABLE-MERGE-");
        let this_node = g.add_processor(
            "KTABLE-JOINTHIS-",
            None,
            ProcessorSpec::TableTableJoin {
                other: other_view,
                this_is_left: true,
                join_type,
                joiner: joiner.clone(),
            },
            &[self.node],
        );
        let other_node = g.add_processor(
            "KTABLE-JOINOTHER-",
            None,
            ProcessorSpec::TableTableJoin {
                other: this_view,
                this_is_left: false,
                join_type,
                joiner,
            },
            &[other.node],
        );
        let merge_spec = match &result {
            Some((store, ..)) => ProcessorSpec::JoinResult { store: store.clone() },
            None => ProcessorSpec::PassThrough,
        };
        let node = g.add_processor("", Some(merge_name), merge_spec, &[this_node, other_node]);
        drop(g);
        match result {
            Some((store, key_serde, value_serde)) => KTable::new(
                self.graph.clone(),
                node,
                Some(key_serde),
                Some(value_serde),
                Some(store),
            ),
            // Not materialized: nothing can look the result up.
            None => KTable {
                view: None,
                ..KTable::new(self.graph.clone(), node, self.key_serde.clone(), None, None)
            },
        }
    }
}

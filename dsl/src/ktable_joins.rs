//! Table-table joins: inner, left and outer, with a materialized result.

use crate::dynamic::*;
use crate::kstream_joins::{joiner_inner, joiner_left, joiner_outer};
use crate::ktable::KTable;
use crate::materialized::Materialized;
use crate::serde::Serde;
use crate::topology::{JoinType, ProcessorSpec, StoreKind, TopologyError};
use std::rc::Rc;

impl<K: StoreData, V: StoreData> KTable<K, V> {
    /// Inner join with another table of the same key: the result has a value while both have
    /// one, updated on either side's change at the later of both sides' times; a side's delete
    /// deletes the result.
    ///
    /// ```
    /// use sluice_dsl::prelude::*;
    /// let builder = StreamsBuilder::new();
    /// let limits = builder.table("limits", Consumed::with(Serde::string(), Serde::<i64>::i64()));
    /// let balances = builder.table("balances", Consumed::with(Serde::string(), Serde::<i64>::i64()));
    /// limits
    ///     .join(&balances, |limit, balance| limit - balance)
    ///     .to_stream()
    ///     .to("headroom", Produced::default());
    /// builder.build().unwrap();
    /// ```
    pub fn join<VO: Data, VR: StoreData, F>(&self, other: &KTable<K, VO>, joiner: F) -> KTable<K, VR>
    where
        F: Fn(&V, &VO) -> VR + Send + Sync + 'static,
    {
        self.join_with(other, joiner, Materialized::default())
    }

    /// [`join`](Self::join) into the store `materialized` describes.
    pub fn join_with<VO: Data, VR: StoreData, F>(
        &self,
        other: &KTable<K, VO>,
        joiner: F,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        F: Fn(&V, &VO) -> VR + Send + Sync + 'static,
    {
        self.table_join(other, joiner_inner(joiner), JoinType::Inner, materialized)
    }

    /// Left join: the result has a value while this table has one (`None` for a missing other
    /// side).
    pub fn left_join<VO: Data, VR: StoreData, F>(&self, other: &KTable<K, VO>, joiner: F) -> KTable<K, VR>
    where
        F: Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        self.left_join_with(other, joiner, Materialized::default())
    }

    /// [`left_join`](Self::left_join) into the store `materialized` describes.
    pub fn left_join_with<VO: Data, VR: StoreData, F>(
        &self,
        other: &KTable<K, VO>,
        joiner: F,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        F: Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        self.table_join(other, joiner_left(joiner), JoinType::Left, materialized)
    }

    /// Outer join: the result has a value while either table has one.
    pub fn outer_join<VO: Data, VR: StoreData, F>(&self, other: &KTable<K, VO>, joiner: F) -> KTable<K, VR>
    where
        F: Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        self.outer_join_with(other, joiner, Materialized::default())
    }

    /// [`outer_join`](Self::outer_join) into the store `materialized` describes.
    pub fn outer_join_with<VO: Data, VR: StoreData, F>(
        &self,
        other: &KTable<K, VO>,
        joiner: F,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        F: Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        self.table_join(other, joiner_outer(joiner), JoinType::Outer, materialized)
    }

    /// Both sides join on their own changes, looking up the other side; the results update one
    /// materialized table, which forwards each change with its previous value (so a side's
    /// delete becomes a delete of a result that existed, and nothing otherwise).
    fn table_join<VO: Data, VR: StoreData>(
        &self,
        other: &KTable<K, VO>,
        joiner: JoinerFn,
        join_type: JoinType,
        materialized: Materialized<K, VR>,
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
        let mut g = self.graph.borrow_mut();
        let store = materialized
            .name
            .clone()
            .unwrap_or_else(|| g.generate_name("KTABLE-JOIN-STATE-STORE-"));
        let key_serde = materialized
            .key_serde
            .clone()
            .or_else(|| self.key_serde.clone())
            .unwrap_or_else(Serde::bincode);
        let value_serde = materialized.value_serde.clone().unwrap_or_else(Serde::bincode);
        g.add_store(materialized.store_spec(&store, StoreKind::KeyValue, &key_serde, &value_serde));
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
        let merge = g.add_processor(
            "KTABLE-MERGE-",
            None,
            ProcessorSpec::PassThrough,
            &[this_node, other_node],
        );
        let node = g.add_processor(
            "KTABLE-JOIN-MATERIALIZE-",
            None,
            ProcessorSpec::JoinResult { store: store.clone() },
            &[merge],
        );
        drop(g);
        KTable::new(
            self.graph.clone(),
            node,
            Some(key_serde),
            Some(value_serde),
            Some(store),
        )
    }
}

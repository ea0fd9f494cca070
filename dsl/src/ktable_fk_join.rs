//! Foreign-key table-table joins (Kafka Streams' KIP-213): each row of this table points, by a
//! key extracted from its value, at a row of another table keyed differently; the result, keyed
//! like this table, is recomputed when either row changes.

use crate::dynamic::*;
use crate::kstream_joins::{joiner_inner, joiner_left};
use crate::ktable::KTable;
use crate::materialized::Materialized;
use crate::serde::Serde;
use crate::topology::{
    foreign_key_serde, response_serde, subscription_serde, FkResponse, PartitionOf, ProcessorSpec, SinkSpec,
    SourceSpec, StoreKind, TopicRef, TopologyError,
};
use std::rc::Rc;
use std::sync::Arc;

impl<K: StoreData, V: StoreData> KTable<K, V> {
    /// Joins each row with the row of `other` whose key `extractor` takes from the row's
    /// value (Kafka Streams' foreign-key `join`): the result, keyed like this table, is
    /// `joiner(value, other value)` while both rows exist, and is recomputed when either
    /// changes; a row whose foreign key changes leaves its old result behind only once the new
    /// one is known. A foreign key that serializes to null (with `Serde::optional`) joins
    /// nothing. Both tables must be readable (materialized); the result is not materialized
    /// (see [`join_on_foreign_key_with`](Self::join_on_foreign_key_with)).
    ///
    /// ```
    /// use sluice_dsl::prelude::*;
    ///
    /// // Orders carry a customer id; each order is enriched with its customer's tier.
    /// let builder = StreamsBuilder::new();
    /// let orders = builder.table("orders", Consumed::with(Serde::string(), Serde::string()));
    /// let tiers = builder.table("customer-tiers", Consumed::with(Serde::string(), Serde::string()));
    /// orders
    ///     .join_on_foreign_key(&tiers, |order| order.split(':').next().unwrap().to_string(), |order, tier| {
    ///         format!("{order} ({tier})")
    ///     })
    ///     .to_stream()
    ///     .to("orders-with-tier", Produced::with(Serde::string(), Serde::string()));
    /// builder.build().unwrap();
    /// ```
    pub fn join_on_foreign_key<KO, VO, VR, X, J>(
        &self,
        other: &KTable<KO, VO>,
        extractor: X,
        joiner: J,
    ) -> KTable<K, VR>
    where
        KO: StoreData,
        VO: StoreData,
        VR: StoreData,
        X: Fn(&V) -> KO + Send + Sync + 'static,
        J: Fn(&V, &VO) -> VR + Send + Sync + 'static,
    {
        self.foreign_key_join(other, extractor, joiner_inner(joiner), false, None)
    }

    /// [`join_on_foreign_key`](Self::join_on_foreign_key), materialized in the store
    /// `materialized` describes.
    pub fn join_on_foreign_key_with<KO, VO, VR, X, J>(
        &self,
        other: &KTable<KO, VO>,
        extractor: X,
        joiner: J,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        KO: StoreData,
        VO: StoreData,
        VR: StoreData,
        X: Fn(&V) -> KO + Send + Sync + 'static,
        J: Fn(&V, &VO) -> VR + Send + Sync + 'static,
    {
        self.foreign_key_join(other, extractor, joiner_inner(joiner), false, Some(materialized))
    }

    /// Left foreign-key join: every row of this table has a result, `joiner(value, None)` while
    /// the row it points at does not exist (or it points nowhere).
    pub fn left_join_on_foreign_key<KO, VO, VR, X, J>(
        &self,
        other: &KTable<KO, VO>,
        extractor: X,
        joiner: J,
    ) -> KTable<K, VR>
    where
        KO: StoreData,
        VO: StoreData,
        VR: StoreData,
        X: Fn(&V) -> KO + Send + Sync + 'static,
        J: Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        self.foreign_key_join(other, extractor, joiner_left(joiner), true, None)
    }

    /// [`left_join_on_foreign_key`](Self::left_join_on_foreign_key), materialized.
    pub fn left_join_on_foreign_key_with<KO, VO, VR, X, J>(
        &self,
        other: &KTable<KO, VO>,
        extractor: X,
        joiner: J,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        KO: StoreData,
        VO: StoreData,
        VR: StoreData,
        X: Fn(&V) -> KO + Send + Sync + 'static,
        J: Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        self.foreign_key_join(other, extractor, joiner_left(joiner), true, Some(materialized))
    }

    /// Builds what Kafka Streams builds, with its names (each takes an index, in this order):
    /// the subscription topic and processor, its sink and source, the subscription store, the
    /// receiving, joining and foreign-join processors, the response topic, its sink and source,
    /// the resolver, the result node and (unless named) the result's store.
    fn foreign_key_join<KO, VO, VR, X>(
        &self,
        other: &KTable<KO, VO>,
        extractor: X,
        joiner: JoinerFn,
        left: bool,
        materialized: Option<Materialized<K, VR>>,
    ) -> KTable<K, VR>
    where
        KO: StoreData,
        VO: StoreData,
        VR: StoreData,
        X: Fn(&V) -> KO + Send + Sync + 'static,
    {
        let operation = if left {
            "left_join_on_foreign_key"
        } else {
            "join_on_foreign_key"
        };
        if !Rc::ptr_eq(&self.graph, &other.graph) {
            self.graph
                .borrow_mut()
                .error(TopologyError::ForeignBuilder { operation });
            return self.without_view();
        }
        // The right rows' updates reach the subscriptions; the left rows' old values say
        // which subscription to drop. Both tables are read back (materialized).
        other.enable_sending_old_values();
        self.enable_sending_old_values();
        let (Some(left_view), Some(right_view)) = (self.view.clone(), other.view.clone()) else {
            self.graph
                .borrow_mut()
                .error(TopologyError::NotMaterialized { operation });
            return self.without_view();
        };
        let key_serde = self.key_serde.clone().unwrap_or_else(Serde::bincode);
        let value_serde = self.value_serde.clone().unwrap_or_else(Serde::bincode);
        let fk_serde = other.key_serde.clone().unwrap_or_else(Serde::bincode);
        let other_value_serde = other.value_serde.clone().unwrap_or_else(Serde::bincode);
        let extractor: KeySelectorFn = Arc::new(move |_k, v| erase(extractor(downcast_ref::<V>(v))));
        let subscriptions = subscription_serde(key_serde.clone().into());
        let responses = response_serde(other_value_serde.into());
        let foreign_keys = foreign_key_serde(fk_serde.clone().into());

        let mut g = self.graph.borrow_mut();
        let subscription_topic = TopicRef::Internal(format!(
            "{}-topic",
            g.generate_name("KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-")
        ));
        let subscribe = g.add_processor(
            "KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-",
            None,
            ProcessorSpec::FkSubscribe {
                extractor,
                foreign_key_serde: fk_serde.clone().into(),
                value_serde: value_serde.clone().into(),
                left,
            },
            &[self.node],
        );
        let sink = g.generate_name("KTABLE-SINK-");
        g.add_sink(
            Some(sink),
            SinkSpec {
                topic: subscription_topic.clone(),
                key_serde: foreign_keys.clone().into(),
                value_serde: subscriptions.clone().into(),
                partitions: None,
                partition_of: None,
            },
            subscribe,
        );
        let source = g.generate_name("KTABLE-SOURCE-");
        let subscription_source = g.add_source(
            Some(source),
            SourceSpec {
                topics: vec![subscription_topic],
                key_serde: foreign_keys.into(),
                value_serde: subscriptions.into(),
                timestamp_extractor: None,
                offset_reset: None,
            },
        );
        let store = g.generate_name("KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-");
        g.add_store(
            Materialized::<Vec<u8>, Vec<u8>>::as_(store.clone())
                .with_caching_disabled()
                .store_spec(&store, StoreKind::KeyValue, &Serde::bytes(), &Serde::bytes()),
        );
        let receive = g.add_processor(
            "KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-",
            None,
            ProcessorSpec::FkReceive {
                store: store.clone(),
                foreign_key_serde: fk_serde.clone().into(),
                primary_key_serde: key_serde.clone().into(),
            },
            &[subscription_source],
        );
        let subscription_join = g.add_processor(
            "KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-",
            None,
            ProcessorSpec::FkSubscriptionJoin { table: right_view },
            &[receive],
        );
        let foreign_join = g.add_processor(
            "KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-",
            None,
            ProcessorSpec::FkForeignJoin {
                store,
                foreign_key_serde: fk_serde.into(),
                primary_key_serde: key_serde.clone().into(),
            },
            &[other.node],
        );
        let response_topic = TopicRef::Internal(format!(
            "{}-topic",
            g.generate_name("KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-")
        ));
        let sink = g.generate_name("KTABLE-SINK-");
        // Back to the partition of the left row that subscribed.
        let partition_of = PartitionOf(Arc::new(|v| Some(downcast_ref::<FkResponse>(v).partition)));
        g.add_sink_after(
            Some(sink),
            SinkSpec {
                topic: response_topic.clone(),
                key_serde: key_serde.clone().into(),
                value_serde: responses.clone().into(),
                partitions: None,
                partition_of: Some(partition_of),
            },
            &[subscription_join, foreign_join],
        );
        let source = g.generate_name("KTABLE-SOURCE-");
        let response_source = g.add_source(
            Some(source),
            SourceSpec {
                topics: vec![response_topic],
                key_serde: key_serde.clone().into(),
                value_serde: responses.into(),
                timestamp_extractor: None,
                offset_reset: None,
            },
        );
        let resolve = g.add_processor(
            "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-PROCESSOR-",
            None,
            ProcessorSpec::FkResolve {
                table: left_view,
                value_serde: value_serde.into(),
                joiner,
                left,
            },
            &[response_source],
        );
        let output = g.generate_name("KTABLE-FK-JOIN-OUTPUT-");
        // Kafka Streams names the result's store even when it keeps none; it keeps one when
        // asked (`*_with`) or when something reads it.
        let materialized = materialized.unwrap_or_default();
        let result_store = match &materialized.name {
            Some(name) => name.clone(),
            None => {
                let name = g.generate_name("KTABLE-FK-JOIN-OUTPUT-STATE-STORE-");
                g.on_demand_stores.push(name.clone());
                name
            }
        };
        let result_key_serde = materialized.key_serde.clone().unwrap_or(key_serde);
        let result_value_serde = materialized.value_serde.clone();
        g.add_store(materialized.store_spec(
            &result_store,
            StoreKind::KeyValue,
            &result_key_serde,
            &result_value_serde.clone().unwrap_or_else(Serde::bincode),
        ));
        let node = g.add_processor(
            "KTABLE-FK-JOIN-OUTPUT-",
            Some(output),
            ProcessorSpec::TableSource {
                store: Some(result_store.clone()),
                key_serde: result_key_serde.clone().into(),
            },
            &[resolve],
        );
        drop(g);
        KTable::new(
            self.graph.clone(),
            node,
            Some(result_key_serde),
            result_value_serde,
            Some(result_store),
        )
    }

    /// A table that cannot be read (after a mistake reported by `build()`).
    fn without_view<VR: Data>(&self) -> KTable<K, VR> {
        KTable::new(self.graph.clone(), self.node, None, None, None)
    }
}

//! Joins of a `KStream` with tables, global tables and other streams; explicit repartitioning.

use crate::dynamic::*;
use crate::global_ktable::GlobalKTable;
use crate::join_windows::JoinWindows;
use crate::kstream::KStream;
use crate::ktable::KTable;
use crate::repartition::add_repartition;
use crate::repartitioned::Repartitioned;
use crate::serde::{ErasedSerde, Serde};
use crate::stream_joined::StreamJoined;
use crate::topology::{JoinType, NodeId, ProcessorSpec, StoreKind, StoreSpec, TopologyError};
use std::rc::Rc;
use std::sync::Arc;

/// Typed joiners, erased: the engine calls them with the sides the join type guarantees.
pub(crate) fn joiner_inner<V: Data, VO: Data, VR: Data>(
    f: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
) -> JoinerFn {
    Arc::new(move |_k, l, r| {
        erase(f(
            downcast_ref::<V>(l.expect("an inner join has a left value")),
            downcast_ref::<VO>(r.expect("an inner join has a right value")),
        ))
    })
}

pub(crate) fn joiner_left<V: Data, VO: Data, VR: Data>(
    f: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
) -> JoinerFn {
    Arc::new(move |_k, l, r| {
        erase(f(
            downcast_ref::<V>(l.expect("a left join has a left value")),
            r.map(downcast_ref::<VO>),
        ))
    })
}

pub(crate) fn joiner_outer<V: Data, VO: Data, VR: Data>(
    f: impl Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
) -> JoinerFn {
    Arc::new(move |_k, l, r| erase(f(l.map(downcast_ref::<V>), r.map(downcast_ref::<VO>))))
}

impl<K: StoreData, V: StoreData> KStream<K, V> {
    /// Routes the stream through `<application.id>-<name>-repartition`, partitioned by the
    /// current key (Kafka Streams' `repartition()`).
    pub fn repartition(&self) -> KStream<K, V> {
        self.repartition_with(Repartitioned::default())
    }

    /// [`repartition`](Self::repartition) with a name, serdes and partition count.
    pub fn repartition_with(&self, repartitioned: Repartitioned<K, V>) -> KStream<K, V> {
        let base = repartitioned
            .name
            .clone()
            .unwrap_or_else(|| self.graph.borrow_mut().generate_name("KSTREAM-REPARTITION-"));
        let key_serde = repartitioned
            .key_serde
            .or_else(|| self.key_serde.clone())
            .unwrap_or_else(Serde::bincode);
        let value_serde = repartitioned
            .value_serde
            .or_else(|| self.value_serde.clone())
            .unwrap_or_else(Serde::bincode);
        let node = add_repartition(
            &self.graph,
            self.node,
            &base,
            key_serde.clone(),
            value_serde.clone(),
            repartitioned.partitions,
        );
        KStream::new(
            self.graph.clone(),
            node,
            Some(key_serde),
            Some(value_serde),
            false,
        )
    }

    /// This stream's node for a join: repartitioned first if its key changed, so that it is
    /// co-partitioned with the other side. The repartition topic is `<base>-repartition`,
    /// `base` defaulting to this stream's node name, as Kafka Streams names it.
    fn join_input(&self, base: Option<String>) -> NodeId {
        if !self.repartition_required {
            return self.node;
        }
        let base = base.unwrap_or_else(|| self.graph.borrow().nodes[self.node].name.clone());
        let key_serde = self.key_serde.clone().unwrap_or_else(Serde::bincode);
        let value_serde = self.value_serde.clone().unwrap_or_else(Serde::bincode);
        add_repartition(&self.graph, self.node, &base, key_serde, value_serde, None)
    }

    fn check_same_builder(&self, other: &crate::graph::GraphRef, operation: &'static str) -> bool {
        let same = Rc::ptr_eq(&self.graph, other);
        if !same {
            self.graph
                .borrow_mut()
                .error(TopologyError::ForeignBuilder { operation });
        }
        same
    }

    /// Joins each record with the table's current value for its key; records whose key is not
    /// in the table produce nothing. Output at the stream record's time; table updates produce
    /// nothing (Kafka Streams' KStream-KTable join).
    ///
    /// ```
    /// use sluice_dsl::prelude::*;
    /// let builder = StreamsBuilder::new();
    /// let profiles = builder.table("customer-profiles", Consumed::with(Serde::string(), Serde::string()));
    /// builder
    ///     .stream("transactions", Consumed::with(Serde::string(), Serde::<i64>::i64()))
    ///     .join_table(&profiles, |amount, country| format!("{amount} from {country}"))
    ///     .to("enriched", Produced::with(Serde::string(), Serde::string()));
    /// builder.build().unwrap();
    /// ```
    pub fn join_table<VT: Data, VR: Data, F>(&self, table: &KTable<K, VT>, joiner: F) -> KStream<K, VR>
    where
        F: Fn(&V, &VT) -> VR + Send + Sync + 'static,
    {
        self.stream_table_join(table, joiner_inner(joiner), false)
    }

    /// Like [`join_table`](Self::join_table), but records without a table value are joined
    /// with `None`.
    pub fn left_join_table<VT: Data, VR: Data, F>(&self, table: &KTable<K, VT>, joiner: F) -> KStream<K, VR>
    where
        F: Fn(&V, Option<&VT>) -> VR + Send + Sync + 'static,
    {
        self.stream_table_join(table, joiner_left(joiner), true)
    }

    fn stream_table_join<VT: Data, VR: Data>(
        &self,
        table: &KTable<K, VT>,
        joiner: JoinerFn,
        left: bool,
    ) -> KStream<K, VR> {
        if !self.check_same_builder(&table.graph, "join_table") {
            return KStream::new(self.graph.clone(), self.node, None, None, false);
        }
        let Some(view) = table.view.clone() else {
            self.graph.borrow_mut().error(TopologyError::NotMaterialized {
                operation: "join_table",
            });
            return KStream::new(self.graph.clone(), self.node, None, None, false);
        };
        let prefix = if left {
            "KSTREAM-LEFTJOIN-"
        } else {
            "KSTREAM-JOIN-"
        };
        // As Kafka Streams: repartitioned (if needed) before the join takes its index.
        let input = self.join_input(None);
        let node = self.graph.borrow_mut().add_processor(
            prefix,
            None,
            ProcessorSpec::StreamTableJoin {
                table: view,
                joiner,
                left,
            },
            &[input],
        );
        KStream::new(self.graph.clone(), node, self.key_serde.clone(), None, false)
    }

    /// Joins each record with a global table's value for `key_mapper(key, value)`; records
    /// without a match produce nothing. No co-partitioning is needed.
    pub fn join_global<GK: Data, GV: Data, VR: Data, M, F>(
        &self,
        global: &GlobalKTable<GK, GV>,
        key_mapper: M,
        joiner: F,
    ) -> KStream<K, VR>
    where
        M: Fn(&K, &V) -> GK + Send + Sync + 'static,
        F: Fn(&V, &GV) -> VR + Send + Sync + 'static,
    {
        self.global_join(global, key_mapper, joiner_inner(joiner), false)
    }

    /// Like [`join_global`](Self::join_global), but records without a match are joined with
    /// `None`.
    pub fn left_join_global<GK: Data, GV: Data, VR: Data, M, F>(
        &self,
        global: &GlobalKTable<GK, GV>,
        key_mapper: M,
        joiner: F,
    ) -> KStream<K, VR>
    where
        M: Fn(&K, &V) -> GK + Send + Sync + 'static,
        F: Fn(&V, Option<&GV>) -> VR + Send + Sync + 'static,
    {
        self.global_join(global, key_mapper, joiner_left(joiner), true)
    }

    fn global_join<GK: Data, GV: Data, VR: Data, M>(
        &self,
        global: &GlobalKTable<GK, GV>,
        key_mapper: M,
        joiner: JoinerFn,
        left: bool,
    ) -> KStream<K, VR>
    where
        M: Fn(&K, &V) -> GK + Send + Sync + 'static,
    {
        if !global.same_builder(&self.graph) {
            self.graph.borrow_mut().error(TopologyError::ForeignBuilder {
                operation: "join_global",
            });
            return KStream::new(self.graph.clone(), self.node, None, None, false);
        }
        let key_mapper: KeyValueToKeyFn =
            Arc::new(move |k, v| erase(key_mapper(downcast_ref::<K>(k), downcast_ref::<V>(v))));
        // Kafka Streams names inner global-table joins KSTREAM-LEFTJOIN- too.
        let node = self.graph.borrow_mut().add_processor(
            "KSTREAM-LEFTJOIN-",
            None,
            ProcessorSpec::GlobalTableJoin {
                store: global.store.clone(),
                key_mapper,
                global_key_serde: global.key_serde.clone().into(),
                joiner,
                left,
            },
            &[self.node],
        );
        KStream::new(
            self.graph.clone(),
            node,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }

    /// Windowed inner join: each pair of records with equal keys whose timestamps are within
    /// the join windows, at the later of their times.
    ///
    /// ```
    /// use sluice_dsl::prelude::*;
    /// use std::time::Duration;
    /// let builder = StreamsBuilder::new();
    /// let logins = builder.stream("logins", Consumed::with(Serde::string(), Serde::string()));
    /// builder
    ///     .stream("payments", Consumed::with(Serde::string(), Serde::<i64>::i64()))
    ///     .join(
    ///         &logins,
    ///         |amount, ip| format!("{amount} after login from {ip}"),
    ///         JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(60)),
    ///         StreamJoined::default(),
    ///     )
    ///     .to("payments-after-login", Produced::with(Serde::string(), Serde::string()));
    /// builder.build().unwrap();
    /// ```
    pub fn join<VO: StoreData, VR: Data, F>(
        &self,
        other: &KStream<K, VO>,
        joiner: F,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR>
    where
        F: Fn(&V, &VO) -> VR + Send + Sync + 'static,
    {
        self.stream_stream_join(other, joiner_inner(joiner), JoinType::Inner, windows, joined)
    }

    /// Windowed left join: also every left record without a partner, joined with `None` once
    /// its window closed (stream time past its time + window + grace), as since KIP-633.
    pub fn left_join<VO: StoreData, VR: Data, F>(
        &self,
        other: &KStream<K, VO>,
        joiner: F,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR>
    where
        F: Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        self.stream_stream_join(other, joiner_left(joiner), JoinType::Left, windows, joined)
    }

    /// Windowed outer join: also records of either side without a partner, once their window
    /// closed.
    pub fn outer_join<VO: StoreData, VR: Data, F>(
        &self,
        other: &KStream<K, VO>,
        joiner: F,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR>
    where
        F: Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        self.stream_stream_join(other, joiner_outer(joiner), JoinType::Outer, windows, joined)
    }

    fn stream_stream_join<VO: StoreData, VR: Data>(
        &self,
        other: &KStream<K, VO>,
        joiner: JoinerFn,
        join_type: JoinType,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR> {
        if !self.check_same_builder(&other.graph, "join") {
            return KStream::new(self.graph.clone(), self.node, None, None, false);
        }
        if let Some(reason) = windows.invalid_reason() {
            self.graph
                .borrow_mut()
                .error(TopologyError::InvalidWindows { reason });
        }
        // Kafka Streams' names and indexes: each side repartitioned (if needed) first; then
        // the two windowed nodes, this side's and the other side's join processors and the
        // merge. A join `name` names them `<name>-this-windowed`, `<name>-this-join` (or
        // `-outer-this-join`), ..., `<name>-merge`; the stores are named after the generated
        // processor names unless a store name is given.
        let name = joined.name.clone();
        let left_input = self.join_input(name.as_ref().map(|n| format!("{n}-left")));
        let right_input = other.join_input(name.as_ref().map(|n| format!("{n}-right")));
        let left_outer = join_type != JoinType::Inner;
        let right_outer = join_type == JoinType::Outer;
        let this_suffix = if right_outer {
            "-outer-this-join"
        } else {
            "-this-join"
        };
        let other_suffix = if left_outer {
            "-outer-other-join"
        } else {
            "-other-join"
        };
        let this_prefix = if right_outer {
            "KSTREAM-OUTERTHIS-"
        } else {
            "KSTREAM-JOINTHIS-"
        };
        let other_prefix = if left_outer {
            "KSTREAM-OUTEROTHER-"
        } else {
            "KSTREAM-JOINOTHER-"
        };
        let suffixed = |suffix: &str| name.as_ref().map(|n| format!("{n}{suffix}"));
        let mut g = self.graph.borrow_mut();
        let this_windowed = g.name_or_generate("KSTREAM-WINDOWED-", suffixed("-this-windowed"));
        let other_windowed = g.name_or_generate("KSTREAM-WINDOWED-", suffixed("-other-windowed"));
        let this_generated = g.generate_name(this_prefix);
        let other_generated = g.generate_name(other_prefix);
        let this_name = suffixed(this_suffix).unwrap_or_else(|| this_generated.clone());
        let other_name = suffixed(other_suffix).unwrap_or_else(|| other_generated.clone());
        let merge_name = g.name_or_generate("KSTREAM-MERGE-", suffixed("-merge"));
        let store_name = |suffix: &str, generated: &str| match &joined.store_name {
            Some(base) => format!("{base}{suffix}-store"),
            None => format!("{generated}-store"),
        };
        let this_store = store_name(this_suffix, &this_generated);
        let other_store = store_name(other_suffix, &other_generated);
        let outer_store = left_outer.then(|| match &joined.store_name {
            Some(base) if right_outer => format!("{base}-outer-shared-join-store"),
            Some(base) => format!("{base}-left-shared-join-store"),
            None => format!(
                "KSTREAM-OUTERSHARED-{}-store",
                &this_generated[this_prefix.len()..]
            ),
        });
        let key_serde: ErasedSerde = joined
            .key_serde
            .clone()
            .or_else(|| self.key_serde.clone())
            .unwrap_or_else(Serde::bincode)
            .into();
        let this_serde: ErasedSerde = joined
            .value_serde
            .clone()
            .or_else(|| self.value_serde.clone())
            .unwrap_or_else(Serde::bincode)
            .into();
        let other_serde: ErasedSerde = joined
            .other_value_serde
            .clone()
            .or_else(|| other.value_serde.clone())
            .unwrap_or_else(Serde::bincode)
            .into();
        let spec = windows.spec;
        // As Kafka Streams' join window stores: a record is kept until the newest record the
        // store received is `before + after + grace` later.
        let kind = StoreKind::Window {
            retention_ms: spec.before_ms + spec.after_ms + spec.grace_ms,
            size_ms: 0,
            retain_duplicates: true,
        };
        let window_store = |name: String, value_serde: ErasedSerde| StoreSpec {
            name,
            kind,
            key_serde: key_serde.clone(),
            value_serde,
            caching: false,
            logging: true,
            store_type: None,
            timestamped: false,
        };
        g.add_store(window_store(this_store.clone(), this_serde));
        g.add_store(window_store(other_store.clone(), other_serde));
        if let Some(outer) = &outer_store {
            g.add_store(StoreSpec {
                name: outer.clone(),
                kind: StoreKind::KeyValue,
                key_serde: Serde::bytes().into(),
                value_serde: Serde::bytes().into(),
                caching: false,
                logging: true,
                store_type: None,
                timestamped: false,
            });
        }
        let join_name = merge_name.clone();
        let mut side = |windowed: String, name: String, this_is_left: bool, input: NodeId| {
            let (this, other) = if this_is_left {
                (this_store.clone(), other_store.clone())
            } else {
                (other_store.clone(), this_store.clone())
            };
            let windowed = g.add_processor(
                "KSTREAM-WINDOWED-",
                Some(windowed),
                ProcessorSpec::JoinWindow {
                    store: this.clone(),
                    this_is_left,
                    join_name: join_name.clone(),
                },
                &[input],
            );
            g.add_processor(
                "",
                Some(name),
                ProcessorSpec::StreamStreamJoin {
                    this_store: this,
                    other_store: other,
                    outer_store: outer_store.clone(),
                    this_is_left,
                    join_type,
                    windows: spec,
                    joiner: Arc::clone(&joiner),
                    join_name: join_name.clone(),
                },
                &[windowed],
            )
        };
        let this_node = side(this_windowed, this_name, true, left_input);
        let other_node = side(other_windowed, other_name, false, right_input);
        let merge = g.add_processor(
            "KSTREAM-MERGE-",
            Some(merge_name),
            ProcessorSpec::PassThrough,
            &[this_node, other_node],
        );
        drop(g);
        KStream::new(self.graph.clone(), merge, self.key_serde.clone(), None, false)
    }
}

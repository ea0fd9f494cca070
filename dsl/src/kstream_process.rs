//! `KStream::process` and `process_values`: the Processor API inside a DSL topology.

use crate::dynamic::Data;
use crate::kstream::KStream;
use crate::processor::erased::{Typed, TypedFixedKey};
use crate::processor::{ErasedProcessor, FixedKeyProcessor, Processor, ProcessorData, ProcessorSupplierFn};
use crate::topology::ProcessorSpec;
use std::sync::Arc;

impl<K: ProcessorData, V: ProcessorData> KStream<K, V> {
    /// Runs a [`Processor`] on every record (Kafka Streams' `process`): `supplier` makes one
    /// instance per task; `stores` names the state stores it may use (added with
    /// [`StreamsBuilder::add_state_store`](crate::StreamsBuilder::add_state_store)). The processor
    /// may change keys, so a stateful operator after it repartitions first; the returned stream
    /// has no serdes (give them to `to()` or the next operator). Null values reach the
    /// processor as `None`.
    ///
    /// See the [`processor`](crate::processor) module for an example.
    pub fn process<KOut: Data, VOut: Data, P, S>(&self, supplier: S, stores: &[&str]) -> KStream<KOut, VOut>
    where
        P: Processor<K, V, KOut, VOut>,
        S: Fn() -> P + Send + Sync + 'static,
    {
        let supplier: ProcessorSupplierFn = Arc::new(move || {
            Box::new(Typed::<P, K, V, KOut, VOut>::new(supplier())) as Box<dyn ErasedProcessor>
        });
        let node = self.add_process("KSTREAM-PROCESSOR-", supplier, stores, false);
        KStream::new(self.graph.clone(), node, None, None, true)
    }

    /// Runs a [`FixedKeyProcessor`] on every record (Kafka Streams' `processValues`): like
    /// [`process`](Self::process), but keys stay as they are, so the stream keeps its key serde
    /// and needs no repartitioning.
    pub fn process_values<VOut: Data, P, S>(&self, supplier: S, stores: &[&str]) -> KStream<K, VOut>
    where
        P: FixedKeyProcessor<K, V, VOut>,
        S: Fn() -> P + Send + Sync + 'static,
    {
        let supplier: ProcessorSupplierFn = Arc::new(move || {
            Box::new(TypedFixedKey::<P, K, V, VOut>::new(supplier())) as Box<dyn ErasedProcessor>
        });
        let node = self.add_process("KSTREAM-PROCESSVALUES-", supplier, stores, true);
        KStream::new(
            self.graph.clone(),
            node,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }

    fn add_process(
        &self,
        prefix: &str,
        supplier: ProcessorSupplierFn,
        stores: &[&str],
        fixed_key: bool,
    ) -> usize {
        let spec = ProcessorSpec::Process {
            supplier,
            stores: stores.iter().map(|s| s.to_string()).collect(),
            fixed_key,
        };
        self.graph
            .borrow_mut()
            .add_processor(prefix, None, spec, &[self.node])
    }
}

//! What a processor sees of its task: forwarding, punctuation, stores and record metadata.
//!
//! The engine implements [`ContextOps`] over type-erased records; [`ProcessorContext`] and
//! [`FixedKeyProcessorContext`] are the typed views a processor uses.

use super::record::{FixedKeyRecord, Record, RecordMetadata};
use super::store::KeyValueStore;
use super::ProcessorError;
use crate::dynamic::{erase, Data, Dyn};
use crate::headers::Headers;
use std::marker::PhantomData;
use std::time::Duration;

/// The time a punctuation follows (Kafka Streams' `PunctuationType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PunctuationType {
    /// The task's stream time (the largest record timestamp it processed): fires as records
    /// move it on, never while no records come.
    StreamTime,
    /// The wall clock: fires while the task is idle too (in the test driver, as
    /// `advance_wall_clock_time` moves its clock).
    WallClockTime,
}

/// A scheduled punctuation (Kafka Streams' `Cancellable`): passed to
/// [`Processor::punctuate`](super::Processor::punctuate) and to `cancel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Schedule(pub u64);

/// The task's side of a processor, over type-erased keys and values. Implemented by the
/// engine; processors use the typed [`ProcessorContext`] instead.
pub trait ContextOps {
    /// Sends a record to every child, or to the child named `child`.
    ///
    /// # Panics
    /// If no child has that name (a programming error, as in Kafka Streams; the task reports
    /// it through the processing exception handler with the node's name).
    fn forward(
        &mut self,
        child: Option<&str>,
        key: Dyn,
        value: Option<Dyn>,
        timestamp: i64,
        headers: Headers,
    );
    /// Schedules a punctuation every `interval`.
    fn schedule(&mut self, interval: Duration, kind: PunctuationType) -> Schedule;
    /// Cancels a punctuation.
    fn cancel(&mut self, schedule: Schedule);
    /// The input record's topic, partition and offset; `None` during a punctuation.
    fn record_metadata(&self) -> Option<RecordMetadata>;
    /// The task's stream time (-1 before its first record).
    fn stream_time_ms(&self) -> i64;
    /// The wall clock (the test driver's mock clock under test).
    fn system_time_ms(&self) -> i64;
    /// The task: (sub-topology, partition).
    fn task_id(&self) -> (u32, i32);
    /// `application.id`.
    fn application_id(&self) -> &str;
    /// Checks that `store` is a key-value store connected to this processor whose key and
    /// value types are `types` (the `TypeId`s and names of K and V).
    fn check_store(
        &self,
        store: &str,
        key: (std::any::TypeId, &'static str),
        value: (std::any::TypeId, &'static str),
    ) -> Result<(), ProcessorError>;
    /// The value of `key` in `store` (pending writes of this commit included).
    fn kv_get(&mut self, store: &str, key: &Dyn) -> Result<Option<Dyn>, ProcessorError>;
    /// Writes (`Some`) or deletes (`None`) `key` in `store`; logged to its changelog at commit.
    fn kv_put(&mut self, store: &str, key: &Dyn, value: Option<&Dyn>) -> Result<(), ProcessorError>;
    /// The entries of `store` with keys from `from` to `to` inclusive (unbounded where `None`),
    /// in the byte order of their serialized keys.
    fn kv_range(
        &mut self,
        store: &str,
        from: Option<&Dyn>,
        to: Option<&Dyn>,
    ) -> Result<Vec<(Dyn, Dyn)>, ProcessorError>;
    /// An estimate of the number of entries in `store`.
    fn kv_approximate_num_entries(&mut self, store: &str) -> Result<u64, ProcessorError>;
}

/// What a [`Processor`](super::Processor) sees of its task (Kafka Streams' `api.ProcessorContext`),
/// typed with the records it forwards.
pub struct ProcessorContext<'a, KOut, VOut> {
    ops: &'a mut dyn ContextOps,
    _out: PhantomData<fn(KOut, VOut)>,
}

/// What a [`FixedKeyProcessor`](super::FixedKeyProcessor) sees of its task (Kafka Streams'
/// `FixedKeyProcessorContext`): it forwards [`FixedKeyRecord`]s.
pub struct FixedKeyProcessorContext<'a, K, VOut> {
    ops: &'a mut dyn ContextOps,
    _out: PhantomData<fn(K, VOut)>,
}

macro_rules! shared_context_methods {
    () => {
        /// Schedules [`punctuate`](super::Processor::punctuate) every `interval` of stream or
        /// wall-clock time, as Kafka Streams does: stream-time punctuations are aligned to
        /// multiples of `interval` and fire once stream time reaches them; wall-clock ones fire
        /// `interval` after scheduling, then every `interval`. After a gap only one
        /// punctuation fires, with the current time.
        pub fn schedule(&mut self, interval: Duration, kind: PunctuationType) -> Schedule {
            self.ops.schedule(interval, kind)
        }

        /// Cancels a punctuation.
        pub fn cancel(&mut self, schedule: Schedule) {
            self.ops.cancel(schedule)
        }

        /// The input record's topic, partition and offset; `None` during a punctuation.
        pub fn record_metadata(&self) -> Option<RecordMetadata> {
            self.ops.record_metadata()
        }

        /// The task's stream time in ms (-1 before its first record).
        pub fn current_stream_time_ms(&self) -> i64 {
            self.ops.stream_time_ms()
        }

        /// The wall clock in ms since the epoch (the test driver's mock clock under test).
        pub fn current_system_time_ms(&self) -> i64 {
            self.ops.system_time_ms()
        }

        /// The task: (sub-topology, partition).
        pub fn task_id(&self) -> (u32, i32) {
            self.ops.task_id()
        }

        /// `application.id`.
        pub fn application_id(&self) -> &str {
            self.ops.application_id()
        }

        /// The key-value store `name`, which must be connected to this processor (named in
        /// `process`/`process_values`) and hold `K` and `V`.
        pub fn key_value_store<SK: Data + Clone, SV: Data + Clone>(
            &mut self,
            name: &str,
        ) -> Result<KeyValueStore<'_, SK, SV>, ProcessorError> {
            self.ops.check_store(
                name,
                (std::any::TypeId::of::<SK>(), std::any::type_name::<SK>()),
                (std::any::TypeId::of::<SV>(), std::any::type_name::<SV>()),
            )?;
            Ok(KeyValueStore::new(&mut *self.ops, name))
        }
    };
}

impl<'a, KOut: Data, VOut: Data> ProcessorContext<'a, KOut, VOut> {
    /// The typed view of `ops`.
    pub fn new(ops: &'a mut dyn ContextOps) -> Self {
        ProcessorContext {
            ops,
            _out: PhantomData,
        }
    }

    /// Sends `record` to every child.
    pub fn forward(&mut self, record: Record<KOut, VOut>) {
        self.ops.forward(
            None,
            erase(record.key),
            record.value.map(erase),
            record.timestamp,
            record.headers,
        );
    }

    /// Sends `record` to the child named `child` only.
    ///
    /// # Panics
    /// If this processor has no child of that name.
    pub fn forward_to(&mut self, child: &str, record: Record<KOut, VOut>) {
        self.ops.forward(
            Some(child),
            erase(record.key),
            record.value.map(erase),
            record.timestamp,
            record.headers,
        );
    }

    shared_context_methods!();
}

impl<'a, K: Data, VOut: Data> FixedKeyProcessorContext<'a, K, VOut> {
    /// The typed view of `ops`.
    pub fn new(ops: &'a mut dyn ContextOps) -> Self {
        FixedKeyProcessorContext {
            ops,
            _out: PhantomData,
        }
    }

    /// Sends `record` to every child.
    pub fn forward(&mut self, record: FixedKeyRecord<K, VOut>) {
        let (key, value, timestamp, headers) = record.into_parts();
        self.ops
            .forward(None, erase(key), value.map(erase), timestamp, headers);
    }

    /// Sends `record` to the child named `child` only.
    ///
    /// # Panics
    /// If this processor has no child of that name.
    pub fn forward_to(&mut self, child: &str, record: FixedKeyRecord<K, VOut>) {
        let (key, value, timestamp, headers) = record.into_parts();
        self.ops
            .forward(Some(child), erase(key), value.map(erase), timestamp, headers);
    }

    shared_context_methods!();
}

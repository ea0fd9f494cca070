//! The Processor API (Kafka Streams' `api.Processor`): code that the DSL's operators cannot
//! express, run as a node of the topology with [`KStream::process`](crate::KStream::process) or
//! [`KStream::process_values`](crate::KStream::process_values).
//!
//! A processor sees one record at a time, forwards any number of records, reads and writes the
//! state stores connected to it (added with
//! [`StreamsBuilder::add_state_store`](crate::StreamsBuilder::add_state_store), logged to a
//! changelog and restored like the DSL's), and can schedule punctuations on stream time or the
//! wall clock.
//!
//! ```
//! use sluice_dsl::prelude::*;
//! use sluice_dsl::processor::*;
//! use std::time::Duration;
//!
//! /// Counts records per key and, every minute of stream time, forwards every count.
//! struct CountAndReport;
//!
//! impl Processor<String, String, String, i64> for CountAndReport {
//!     fn init(&mut self, ctx: &mut ProcessorContext<'_, String, i64>) -> Result<(), ProcessorError> {
//!         ctx.schedule(Duration::from_secs(60), PunctuationType::StreamTime);
//!         Ok(())
//!     }
//!
//!     fn process(
//!         &mut self,
//!         ctx: &mut ProcessorContext<'_, String, i64>,
//!         record: Record<String, String>,
//!     ) -> Result<(), ProcessorError> {
//!         let mut counts = ctx.key_value_store::<String, i64>("counts")?;
//!         let n = counts.get(&record.key)?.unwrap_or(0) + 1;
//!         counts.put(record.key, n)
//!     }
//!
//!     fn punctuate(
//!         &mut self,
//!         ctx: &mut ProcessorContext<'_, String, i64>,
//!         _schedule: Schedule,
//!         timestamp: i64,
//!     ) -> Result<(), ProcessorError> {
//!         for (key, n) in ctx.key_value_store::<String, i64>("counts")?.all()? {
//!             ctx.forward(Record::new(key, Some(n), timestamp));
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let builder = StreamsBuilder::new();
//! builder.add_state_store(Stores::key_value_store_builder(
//!     Stores::persistent_key_value_store("counts"),
//!     Serde::string(),
//!     Serde::<i64>::i64(),
//! ));
//! builder
//!     .stream("events", Consumed::with(Serde::string(), Serde::string()))
//!     .process(|| CountAndReport, &["counts"])
//!     .to("counts-report", Produced::with(Serde::string(), Serde::<i64>::i64()));
//! let topology = builder.build().unwrap();
//! assert!(topology.describe().to_string().contains("KSTREAM-PROCESSOR-0000000001 (stores: [counts])"));
//! ```

mod context;
pub(crate) mod erased;
mod record;
mod store;
mod topology_builder;

pub use context::{ContextOps, FixedKeyProcessorContext, ProcessorContext, PunctuationType, Schedule};
pub use erased::{ErasedProcessor, ProcessorSupplierFn};
pub use record::{FixedKeyRecord, Record, RecordMetadata};
pub use store::{KeyValueStore, KeyValueStoreSupplier, StoreBuilder, Stores};
pub use topology_builder::TopologyBuilder;

use crate::dynamic::Data;

/// A processor's failure. A [`Store`](ProcessorError::Store) error stops the task (the store
/// cannot be trusted); any other goes to the processing exception handler, with the node and
/// the input record's position, as a panic in the processor does.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessorError {
    /// A state store failed to read or write.
    #[error("state store {store}: {message}")]
    Store {
        /// The store.
        store: String,
        /// What failed.
        message: String,
    },
    /// The processor asked for a store it cannot use: not connected to it, not a key-value
    /// store, or of other key or value types.
    #[error("state store {store}: {message}")]
    StoreAccess {
        /// The store.
        store: String,
        /// Why.
        message: String,
    },
    /// The processor's own error.
    #[error(transparent)]
    User(Box<dyn std::error::Error + Send + Sync>),
}

impl ProcessorError {
    /// Wraps an error of the processor's own.
    pub fn user(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ProcessorError::User(error.into())
    }
}

/// A processor of records (Kafka Streams' `api.Processor<KIn, VIn, KOut, VOut>`). Each task gets
/// its own instance from the supplier given to [`KStream::process`](crate::KStream::process).
pub trait Processor<KIn, VIn, KOut, VOut>: Send + 'static {
    /// Called once the task's stores are restored, before its first record: the place to
    /// schedule punctuations. A processor is created and initialized again after an aborted
    /// transaction, so that it holds nothing the aborted records put in it.
    fn init(&mut self, ctx: &mut ProcessorContext<'_, KOut, VOut>) -> Result<(), ProcessorError> {
        let _ = ctx;
        Ok(())
    }

    /// Handles one record.
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, KOut, VOut>,
        record: Record<KIn, VIn>,
    ) -> Result<(), ProcessorError>;

    /// A punctuation scheduled with `ctx.schedule` is due; `timestamp` is the current stream or
    /// wall-clock time.
    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_, KOut, VOut>,
        schedule: Schedule,
        timestamp: i64,
    ) -> Result<(), ProcessorError> {
        let _ = (ctx, schedule, timestamp);
        Ok(())
    }

    /// Called when the task closes (cleanly: after its last commit).
    fn close(&mut self) {}
}

/// A processor that never changes keys (Kafka Streams' `api.FixedKeyProcessor`), for
/// [`KStream::process_values`](crate::KStream::process_values): the stream after it needs no
/// repartitioning.
pub trait FixedKeyProcessor<K, VIn, VOut>: Send + 'static {
    /// See [`Processor::init`].
    fn init(&mut self, ctx: &mut FixedKeyProcessorContext<'_, K, VOut>) -> Result<(), ProcessorError> {
        let _ = ctx;
        Ok(())
    }

    /// Handles one record.
    fn process(
        &mut self,
        ctx: &mut FixedKeyProcessorContext<'_, K, VOut>,
        record: FixedKeyRecord<K, VIn>,
    ) -> Result<(), ProcessorError>;

    /// See [`Processor::punctuate`].
    fn punctuate(
        &mut self,
        ctx: &mut FixedKeyProcessorContext<'_, K, VOut>,
        schedule: Schedule,
        timestamp: i64,
    ) -> Result<(), ProcessorError> {
        let _ = (ctx, schedule, timestamp);
        Ok(())
    }

    /// See [`Processor::close`].
    fn close(&mut self) {}
}

/// Bounds of the key and value types a processor reads (they are handed over owned, cloned
/// only when another branch of the topology shares the record).
pub trait ProcessorData: Data + Clone {}
impl<T: Data + Clone> ProcessorData for T {}

//! Sinks: serialize and hand records to the producer.

use super::{Processor, ProcessorContext};
use crate::config::MetricsLevel;
use crate::error::StreamsError;
use crate::handlers;
use crate::metrics::{DropReason, Histogram};
use crate::record::{OutputRecord, Record};
use sluice_dsl::serde::{ErasedSerde, SerdeError};
use sluice_dsl::topology::SinkSpec;
use std::sync::Arc;

pub(crate) struct Sink {
    topic: Arc<str>,
    key_serde: ErasedSerde,
    value_serde: ErasedSerde,
    /// Chooses the partition from the value (foreign-key join responses).
    partition_of: Option<sluice_dsl::topology::PartitionOf>,
    /// `sluice_record_e2e_latency_seconds` of this sink, created on the first record.
    e2e_latency: Option<Histogram>,
}

impl Sink {
    pub(crate) fn new(spec: &SinkSpec, app_id: &str) -> Self {
        Sink {
            topic: spec.topic.resolve(app_id).into(),
            key_serde: spec.key_serde.clone(),
            value_serde: spec.value_serde.clone(),
            partition_of: spec.partition_of.clone(),
            e2e_latency: None,
        }
    }

    fn failed(
        &self,
        ctx: &mut ProcessorContext<'_>,
        part: &'static str,
        source: SerdeError,
    ) -> Result<(), StreamsError> {
        let error = StreamsError::Serialization {
            task: ctx.task,
            node: ctx.node.to_string(),
            topic: self.topic.to_string(),
            part,
            position: ctx.position(),
            source: Box::new(source),
        };
        handlers::apply(
            ctx.config.production_exception_handler,
            error,
            DropReason::SerializationError,
            ctx.input,
            ctx.config,
            ctx.output,
            ctx.metrics,
        )
    }
}

impl Processor for Sink {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let partition = match (&self.partition_of, &record.value) {
            (Some(f), Some(v)) => (f.0)(v),
            _ => None,
        };
        // Encoded into the task's buffers, and the key and value given back to it: a source
        // decodes the next records into them (see `task::Recycler`).
        let key = match encode(&self.key_serde, &record.key, ctx.recycler) {
            Ok(k) => k,
            Err(e) => return self.failed(ctx, "key", e),
        };
        ctx.recycler
            .give_value(record.key, key.as_ref().map_or(0, Vec::len));
        let value = match record.value {
            None => None,
            Some(v) => match encode(&self.value_serde, &v, ctx.recycler) {
                Ok(bytes) => {
                    ctx.recycler.give_value(v, bytes.as_ref().map_or(0, Vec::len));
                    bytes
                }
                Err(e) => return self.failed(ctx, "value", e),
            },
        };
        if ctx.config.metrics_recording_level != MetricsLevel::Off {
            self.e2e_latency
                .get_or_insert_with(|| ctx.metrics.e2e_latency(ctx.node))
                .observe_ms(ctx.wall_clock_ms.saturating_sub(record.timestamp));
        }
        ctx.output.push(OutputRecord {
            topic: Arc::clone(&self.topic),
            partition,
            key,
            value,
            timestamp: record.timestamp,
            headers: record.headers,
        });
        Ok(())
    }
}

/// `value` encoded into one of the recycler's buffers; `None` is a null payload.
fn encode(
    serde: &ErasedSerde,
    value: &sluice_dsl::dynamic::Dyn,
    recycler: &mut crate::task::Recycler,
) -> Result<Option<Vec<u8>>, SerdeError> {
    let mut buffer = recycler.take_buffer();
    match serde.serialize_into(value, &mut buffer) {
        Ok(true) => Ok(Some(buffer)),
        Ok(false) => {
            recycler.give_buffer(buffer);
            Ok(None)
        }
        Err(e) => {
            recycler.give_buffer(buffer);
            Err(e)
        }
    }
}

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
        // The sink is the record's last user: a key or value nothing else shares (the usual
        // case) is encoded in place, so raw bytes and strings become the payload uncopied.
        let key = match self.key_serde.serialize_owned(record.key) {
            Ok(k) => k,
            Err(e) => return self.failed(ctx, "key", e),
        };
        let value = match record
            .value
            .map(|v| self.value_serde.serialize_owned(v))
            .transpose()
        {
            Ok(v) => v.flatten(),
            Err(e) => return self.failed(ctx, "value", e),
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

//! The Processor API's nodes: a user's processor (`KStream::process` / `process_values`) with
//! its connected stores and its punctuation schedules.
//!
//! Invariants: the user's instance is initialized (`init`) before it sees a record or a
//! punctuation, and again, as a new instance from the supplier, after an aborted transaction
//! (it may hold state the aborted records put in it); punctuations scheduled by an instance die
//! with it. A store failure stops the task; the processor's own errors and panics go to the
//! processing exception handler (records it forwarded before failing have gone downstream
//! already, as in Kafka Streams).

use super::{Processor, ProcessorContext};
use crate::error::StreamsError;
use crate::record::Record;
use sluice_dsl::dynamic::Dyn;
use sluice_dsl::headers::Headers;
use sluice_dsl::processor::{
    ContextOps, ErasedProcessor, ProcessorError, ProcessorSupplierFn, PunctuationType, RecordMetadata,
    Schedule,
};
use sluice_dsl::serde::ErasedSerde;
use std::any::TypeId;
use std::ops::Bound;
use std::time::Duration;

/// A store connected to the processor.
struct Connected {
    name: String,
    index: usize,
    key_serde: ErasedSerde,
    value_serde: ErasedSerde,
    /// Whether the store is key-value (the only kind the API hands out).
    key_value: bool,
}

/// One scheduled punctuation.
struct Punctuation {
    id: Schedule,
    kind: PunctuationType,
    interval_ms: i64,
    /// When it fires next (stream time or wall-clock ms).
    next: i64,
    cancelled: bool,
}

impl Punctuation {
    /// Kafka Streams' `PunctuationSchedule.next`: the first multiple of the interval after the
    /// one due that lies past `now`, so that a gap fires one punctuation, not one per interval.
    fn advance(&mut self, now: i64) {
        let missed = (now - self.next).max(0) / self.interval_ms;
        self.next += (missed + 1) * self.interval_ms;
    }
}

/// What the user's instance can reach besides the engine's context.
struct State {
    stores: Vec<Connected>,
    children: Vec<String>,
    punctuations: Vec<Punctuation>,
    next_id: u64,
    /// A store or store-data failure met inside the user's code: the task must stop, whatever
    /// the user's code did with the `ProcessorError` it got.
    failure: Option<StreamsError>,
}

pub(crate) struct Custom {
    supplier: ProcessorSupplierFn,
    instance: Box<dyn ErasedProcessor>,
    started: bool,
    state: State,
}

impl Custom {
    pub(crate) fn new(
        supplier: ProcessorSupplierFn,
        stores: Vec<(String, usize, ErasedSerde, ErasedSerde, bool)>,
        children: Vec<String>,
    ) -> Self {
        let instance = supplier();
        Custom {
            supplier,
            instance,
            started: false,
            state: State {
                stores: stores
                    .into_iter()
                    .map(|(name, index, key_serde, value_serde, key_value)| Connected {
                        name,
                        index,
                        key_serde,
                        value_serde,
                        key_value,
                    })
                    .collect(),
                children,
                punctuations: Vec::new(),
                next_id: 0,
                failure: None,
            },
        }
    }

    /// Runs one call of the user's code, then sorts out what failed.
    fn call(
        &mut self,
        ctx: &mut ProcessorContext<'_>,
        f: impl FnOnce(&mut dyn ErasedProcessor, &mut Ops<'_, '_, '_>) -> Result<(), ProcessorError>,
    ) -> Result<(), StreamsError> {
        let result = {
            let mut ops = Ops {
                ctx: &mut *ctx,
                state: &mut self.state,
            };
            f(self.instance.as_mut(), &mut ops)
        };
        if let Some(failure) = self.state.failure.take() {
            return Err(failure);
        }
        match result {
            Ok(()) => Ok(()),
            Err(e) => ctx.processing_failed(e.to_string()),
        }
    }

    fn ensure_started(&mut self, ctx: &mut ProcessorContext<'_>) -> Result<(), StreamsError> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        self.call(ctx, |p, ops| p.init(ops))
    }
}

impl Processor for Custom {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        self.ensure_started(ctx)?;
        let Record {
            key,
            value,
            timestamp,
            headers,
            ..
        } = record;
        self.call(ctx, |p, ops| p.process(ops, key, value, timestamp, headers))
    }

    fn start(&mut self, ctx: &mut ProcessorContext<'_>) -> Result<(), StreamsError> {
        self.ensure_started(ctx)
    }

    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_>,
        kind: PunctuationType,
        now: i64,
    ) -> Result<bool, StreamsError> {
        self.ensure_started(ctx)?;
        let mut due: Vec<(i64, Schedule)> = self
            .state
            .punctuations
            .iter()
            .filter(|p| p.kind == kind && !p.cancelled && p.next <= now)
            .map(|p| (p.next, p.id))
            .collect();
        due.sort_unstable();
        for &(_, id) in &due {
            if let Some(p) = self.state.punctuations.iter_mut().find(|p| p.id == id) {
                if p.cancelled {
                    continue;
                }
                p.advance(now);
            }
            self.call(ctx, |p, ops| p.punctuate(ops, id, now))?;
        }
        self.state.punctuations.retain(|p| !p.cancelled);
        Ok(!due.is_empty())
    }

    fn is_custom(&self) -> bool {
        true
    }

    fn abort(&mut self) {
        self.instance = (self.supplier)();
        self.started = false;
        self.state.punctuations.clear();
    }

    fn close(&mut self) {
        if self.started {
            self.instance.close();
        }
    }
}

/// An inclusive bound, or none.
fn bound(key: Option<&[u8]>) -> Bound<&[u8]> {
    key.map_or(Bound::Unbounded, Bound::Included)
}

/// [`ContextOps`] over the engine's context and the node's state.
struct Ops<'o, 'c, 'a> {
    ctx: &'o mut ProcessorContext<'a>,
    state: &'c mut State,
}

impl Ops<'_, '_, '_> {
    fn connected(&self, store: &str) -> Result<&Connected, ProcessorError> {
        self.state
            .stores
            .iter()
            .find(|s| s.name == store)
            .ok_or_else(|| ProcessorError::StoreAccess {
                store: store.to_string(),
                message: format!(
                    "not connected to processor {}: name it in process()/process_values()",
                    self.ctx.node
                ),
            })
    }

    fn serialize(
        serde: &ErasedSerde,
        store: &str,
        what: &str,
        value: &Dyn,
    ) -> Result<Vec<u8>, ProcessorError> {
        match serde.serialize(value) {
            Ok(Some(bytes)) => Ok(bytes),
            Ok(None) => Err(ProcessorError::StoreAccess {
                store: store.to_string(),
                message: format!("the {what} serializes to null"),
            }),
            Err(e) => Err(ProcessorError::StoreAccess {
                store: store.to_string(),
                message: format!("cannot serialize the {what}: {e}"),
            }),
        }
    }

    /// Records a failure that stops the task, and hands the user's code an error.
    fn fail(&mut self, store: &str, error: StreamsError) -> ProcessorError {
        let message = error.to_string();
        self.state.failure.get_or_insert(error);
        ProcessorError::Store {
            store: store.to_string(),
            message,
        }
    }

    fn store_error(&mut self, store: &str, source: sluice_state::StoreError) -> ProcessorError {
        let error = StreamsError::Store {
            task: self.ctx.task,
            source,
        };
        self.fail(store, error)
    }

    fn read(&mut self, store: &str, serde: &ErasedSerde, bytes: &[u8]) -> Result<Dyn, ProcessorError> {
        serde.deserialize(Some(bytes)).map_err(|source| {
            let error = self.ctx.store_data_error(store, source);
            self.fail(store, error)
        })
    }
}

impl ContextOps for Ops<'_, '_, '_> {
    fn forward(
        &mut self,
        child: Option<&str>,
        key: Dyn,
        value: Option<Dyn>,
        timestamp: i64,
        headers: Headers,
    ) {
        let record = Record::new(key, value, timestamp, headers);
        match child {
            None => self.ctx.forward(record),
            Some(name) => {
                let Some(i) = self.state.children.iter().position(|c| c == name) else {
                    panic!(
                        "processor {} has no child named {name:?} (its children: {:?})",
                        self.ctx.node, self.state.children
                    );
                };
                self.ctx.forward_to(i, record);
            }
        }
    }

    fn schedule(&mut self, interval: Duration, kind: PunctuationType) -> Schedule {
        let interval_ms = (interval.as_millis() as i64).max(1);
        let next = match kind {
            // Aligned to 0: fires as soon as stream time is known (Kafka Streams).
            PunctuationType::StreamTime => 0,
            PunctuationType::WallClockTime => self.ctx.wall_clock_ms + interval_ms,
        };
        let id = Schedule(self.state.next_id);
        self.state.next_id += 1;
        self.state.punctuations.push(Punctuation {
            id,
            kind,
            interval_ms,
            next,
            cancelled: false,
        });
        id
    }

    fn cancel(&mut self, schedule: Schedule) {
        if let Some(p) = self.state.punctuations.iter_mut().find(|p| p.id == schedule) {
            p.cancelled = true;
        }
    }

    fn record_metadata(&self) -> Option<RecordMetadata> {
        self.ctx.input.map(|r| RecordMetadata {
            topic: r.topic.to_string(),
            partition: r.partition,
            offset: r.offset,
        })
    }

    fn stream_time_ms(&self) -> i64 {
        self.ctx.stream_time
    }

    fn system_time_ms(&self) -> i64 {
        self.ctx.wall_clock_ms
    }

    fn task_id(&self) -> (u32, i32) {
        (self.ctx.task.sub_topology, self.ctx.task.partition)
    }

    fn application_id(&self) -> &str {
        &self.ctx.config.application_id
    }

    fn check_store(
        &self,
        store: &str,
        key: (TypeId, &'static str),
        value: (TypeId, &'static str),
    ) -> Result<(), ProcessorError> {
        let s = self.connected(store)?;
        let mismatch = |message: String| {
            Err(ProcessorError::StoreAccess {
                store: store.to_string(),
                message,
            })
        };
        if !s.key_value {
            return mismatch("not a key-value store".into());
        }
        if s.key_serde.value_type_id() != key.0 {
            return mismatch(format!(
                "holds keys of {}, not {}",
                s.key_serde.type_name(),
                key.1
            ));
        }
        if s.value_serde.value_type_id() != value.0 {
            return mismatch(format!(
                "holds values of {}, not {}",
                s.value_serde.type_name(),
                value.1
            ));
        }
        Ok(())
    }

    fn kv_get(&mut self, store: &str, key: &Dyn) -> Result<Option<Dyn>, ProcessorError> {
        let s = self.connected(store)?;
        let (index, value_serde) = (s.index, s.value_serde.clone());
        let key = Self::serialize(&s.key_serde, store, "key", key)?;
        let stored = self.ctx.stores.kv(index).read(&key, |v| v.map(<[u8]>::to_vec));
        match stored {
            Ok(Some(bytes)) => self.read(store, &value_serde, &bytes).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(self.store_error(store, e)),
        }
    }

    fn kv_put(&mut self, store: &str, key: &Dyn, value: Option<&Dyn>) -> Result<(), ProcessorError> {
        let s = self.connected(store)?;
        let index = s.index;
        let key = Self::serialize(&s.key_serde, store, "key", key)?;
        match value {
            Some(v) => {
                let value = Self::serialize(&s.value_serde, store, "value", v)?;
                self.ctx.stores.kv(index).put(&key, &value);
            }
            None => self.ctx.stores.kv(index).delete(&key),
        }
        Ok(())
    }

    fn kv_range(
        &mut self,
        store: &str,
        from: Option<&Dyn>,
        to: Option<&Dyn>,
    ) -> Result<Vec<(Dyn, Dyn)>, ProcessorError> {
        let s = self.connected(store)?;
        let (index, key_serde, value_serde) = (s.index, s.key_serde.clone(), s.value_serde.clone());
        let from = from
            .map(|k| Self::serialize(&key_serde, store, "key", k))
            .transpose()?;
        let to = to
            .map(|k| Self::serialize(&key_serde, store, "key", k))
            .transpose()?;
        let entries: Result<Vec<(Vec<u8>, Vec<u8>)>, _> = match self
            .ctx
            .stores
            .kv(index)
            .range(bound(from.as_deref()), bound(to.as_deref()))
        {
            Ok(iter) => iter.collect(),
            Err(e) => Err(e),
        };
        let entries = entries.map_err(|e| self.store_error(store, e))?;
        let mut out = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            out.push((
                self.read(store, &key_serde, &k)?,
                self.read(store, &value_serde, &v)?,
            ));
        }
        Ok(out)
    }

    fn kv_approximate_num_entries(&mut self, store: &str) -> Result<u64, ProcessorError> {
        let index = self.connected(store)?.index;
        Ok(self.ctx.stores.kv(index).approximate_num_entries())
    }
}

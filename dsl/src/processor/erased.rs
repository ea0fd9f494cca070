//! Typed processors behind one type-erased interface, which the engine runs.

use super::context::{ContextOps, FixedKeyProcessorContext, ProcessorContext, Schedule};
use super::record::{FixedKeyRecord, Record};
use super::{FixedKeyProcessor, Processor, ProcessorData, ProcessorError};
use crate::dynamic::{downcast_owned, Data, Dyn};
use crate::headers::Headers;
use std::marker::PhantomData;
use std::sync::Arc;

/// A processor over type-erased records (what the engine calls).
pub trait ErasedProcessor: Send {
    /// See [`Processor::init`].
    fn init(&mut self, ctx: &mut dyn ContextOps) -> Result<(), ProcessorError>;
    /// See [`Processor::process`].
    fn process(
        &mut self,
        ctx: &mut dyn ContextOps,
        key: Dyn,
        value: Option<Dyn>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<(), ProcessorError>;
    /// See [`Processor::punctuate`].
    fn punctuate(
        &mut self,
        ctx: &mut dyn ContextOps,
        schedule: Schedule,
        timestamp: i64,
    ) -> Result<(), ProcessorError>;
    /// See [`Processor::close`].
    fn close(&mut self);
}

/// Makes a task's processor instance.
pub type ProcessorSupplierFn = Arc<dyn Fn() -> Box<dyn ErasedProcessor> + Send + Sync>;

/// A [`Processor`] behind [`ErasedProcessor`].
pub(crate) struct Typed<P, KIn, VIn, KOut, VOut> {
    processor: P,
    _types: PhantomData<fn(KIn, VIn, KOut, VOut)>,
}

impl<P, KIn, VIn, KOut, VOut> Typed<P, KIn, VIn, KOut, VOut> {
    pub(crate) fn new(processor: P) -> Self {
        Typed {
            processor,
            _types: PhantomData,
        }
    }
}

impl<P, KIn, VIn, KOut, VOut> ErasedProcessor for Typed<P, KIn, VIn, KOut, VOut>
where
    P: Processor<KIn, VIn, KOut, VOut>,
    KIn: ProcessorData,
    VIn: ProcessorData,
    KOut: Data,
    VOut: Data,
{
    fn init(&mut self, ctx: &mut dyn ContextOps) -> Result<(), ProcessorError> {
        self.processor.init(&mut ProcessorContext::new(ctx))
    }

    fn process(
        &mut self,
        ctx: &mut dyn ContextOps,
        key: Dyn,
        value: Option<Dyn>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<(), ProcessorError> {
        let record = Record {
            key: downcast_owned::<KIn>(key),
            value: value.map(downcast_owned::<VIn>),
            timestamp,
            headers,
        };
        self.processor.process(&mut ProcessorContext::new(ctx), record)
    }

    fn punctuate(
        &mut self,
        ctx: &mut dyn ContextOps,
        schedule: Schedule,
        timestamp: i64,
    ) -> Result<(), ProcessorError> {
        self.processor
            .punctuate(&mut ProcessorContext::new(ctx), schedule, timestamp)
    }

    fn close(&mut self) {
        self.processor.close();
    }
}

/// A [`FixedKeyProcessor`] behind [`ErasedProcessor`].
pub(crate) struct TypedFixedKey<P, K, VIn, VOut> {
    processor: P,
    _types: PhantomData<fn(K, VIn, VOut)>,
}

impl<P, K, VIn, VOut> TypedFixedKey<P, K, VIn, VOut> {
    pub(crate) fn new(processor: P) -> Self {
        TypedFixedKey {
            processor,
            _types: PhantomData,
        }
    }
}

impl<P, K, VIn, VOut> ErasedProcessor for TypedFixedKey<P, K, VIn, VOut>
where
    P: FixedKeyProcessor<K, VIn, VOut>,
    K: ProcessorData,
    VIn: ProcessorData,
    VOut: Data,
{
    fn init(&mut self, ctx: &mut dyn ContextOps) -> Result<(), ProcessorError> {
        self.processor.init(&mut FixedKeyProcessorContext::new(ctx))
    }

    fn process(
        &mut self,
        ctx: &mut dyn ContextOps,
        key: Dyn,
        value: Option<Dyn>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<(), ProcessorError> {
        let record = FixedKeyRecord::new(
            downcast_owned::<K>(key),
            value.map(downcast_owned::<VIn>),
            timestamp,
            headers,
        );
        self.processor
            .process(&mut FixedKeyProcessorContext::new(ctx), record)
    }

    fn punctuate(
        &mut self,
        ctx: &mut dyn ContextOps,
        schedule: Schedule,
        timestamp: i64,
    ) -> Result<(), ProcessorError> {
        self.processor
            .punctuate(&mut FixedKeyProcessorContext::new(ctx), schedule, timestamp)
    }

    fn close(&mut self) {
        self.processor.close();
    }
}

//! The simulated producer: plain (at-least-once) or transactional with an epoch, failing as
//! the seeded faults say.

use super::log::DataRecord;
use super::{GroupMetadataSim, Shared};
use crate::client::{
    ClientError, ClientErrorKind, Delivery, GroupMetadata, OffsetAndMetadata, Producer, TopicPartition,
};
use crate::record::OutputRecord;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Transactional, `init_transactions` not called yet.
    Uninitialized,
    Ready,
    InTransaction,
    /// An error requires `abort_transaction`.
    Abortable,
    /// Another producer took the transactional id over: unusable.
    Fenced,
}

pub(crate) struct SimProducer {
    shared: Shared,
    transactional_id: Option<String>,
    /// The coordinator aborts a transaction open longer than this.
    transaction_timeout_ms: u64,
    epoch: i16,
    state: State,
    deliveries: Vec<Delivery>,
}

impl SimProducer {
    pub(crate) fn new(shared: Shared, transactional_id: Option<String>, transaction_timeout_ms: u64) -> Self {
        let state = if transactional_id.is_some() {
            State::Uninitialized
        } else {
            State::Ready
        };
        SimProducer {
            shared,
            transactional_id,
            transaction_timeout_ms,
            epoch: 0,
            state,
            deliveries: Vec::new(),
        }
    }

    fn error(&self, kind: ClientErrorKind, operation: &'static str, message: &str) -> ClientError {
        ClientError::new(kind, operation, message)
    }

    /// The transactional state must allow `operation`: fenced and abortable producers refuse.
    fn check(&self, operation: &'static str, wanted: State) -> Result<(), ClientError> {
        match self.state {
            s if s == wanted => Ok(()),
            State::Fenced => Err(self.error(ClientErrorKind::Fenced, operation, "the producer was fenced")),
            State::Abortable => Err(self.error(
                ClientErrorKind::Abortable,
                operation,
                "the transaction must be aborted",
            )),
            s => Err(self.error(
                ClientErrorKind::Fatal,
                operation,
                &format!("invalid transactional state {s:?}"),
            )),
        }
    }

    /// Seeded abortable error (transactional calls only).
    fn maybe_abortable(&mut self, operation: &'static str) -> Result<(), ClientError> {
        if self.transactional_id.is_some() && self.shared.roll_abortable() {
            self.state = State::Abortable;
            return Err(self.error(ClientErrorKind::Abortable, operation, "injected abortable error"));
        }
        Ok(())
    }

    /// Records a fenced error from the coordinator.
    fn track<T>(&mut self, r: Result<T, ClientError>) -> Result<T, ClientError> {
        if let Err(e) = &r {
            if e.kind == ClientErrorKind::Fenced {
                self.state = State::Fenced;
            }
        }
        r
    }
}

impl Producer for SimProducer {
    fn send(&mut self, record: &OutputRecord, tag: u64) -> Result<(), ClientError> {
        self.shared.crash_point("send: before");
        let txn = match self.transactional_id.clone() {
            Some(id) => {
                self.check("send record", State::InTransaction)?;
                self.maybe_abortable("send record")?;
                Some((id, self.epoch))
            }
            None => None,
        };
        let data = DataRecord {
            key: record.key.clone(),
            value: record.value.clone(),
            timestamp: record.timestamp,
            headers: record.headers.clone(),
            txn: None,
        };
        let landed = self.shared.with(|c| {
            c.append(
                &record.topic,
                record.partition,
                data,
                txn.as_ref().map(|(id, e)| (id.as_str(), *e)),
            )
        });
        let landed = self.track(landed)?;
        if tag != 0 {
            self.deliveries.push(Delivery {
                tag,
                result: Ok(landed),
            });
        }
        self.shared.crash_point("send: after");
        Ok(())
    }

    fn flush(&mut self, _timeout: Duration) -> Result<Vec<Delivery>, ClientError> {
        self.shared.crash_point("flush");
        Ok(std::mem::take(&mut self.deliveries))
    }

    fn init_transactions(&mut self, _timeout: Duration) -> Result<(), ClientError> {
        let id = self
            .transactional_id
            .clone()
            .ok_or_else(|| self.error(ClientErrorKind::Fatal, "init transactions", "not transactional"))?;
        let timeout = self.transaction_timeout_ms;
        self.epoch = self.shared.with(|c| c.init_producer(&id, timeout));
        self.state = State::Ready;
        Ok(())
    }

    fn begin_transaction(&mut self) -> Result<(), ClientError> {
        self.check("begin transaction", State::Ready)?;
        self.state = State::InTransaction;
        Ok(())
    }

    fn send_offsets_to_transaction(
        &mut self,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
        group: &GroupMetadata,
        _timeout: Duration,
    ) -> Result<(), ClientError> {
        self.shared.crash_point("send offsets: before");
        self.check("send offsets to transaction", State::InTransaction)?;
        self.maybe_abortable("send offsets to transaction")?;
        let meta = group.0.downcast_ref::<GroupMetadataSim>().ok_or_else(|| {
            self.error(
                ClientErrorKind::Fatal,
                "send offsets to transaction",
                "group metadata of another client",
            )
        })?;
        let id = self.transactional_id.clone().expect("checked: in a transaction");
        let epoch = self.epoch;
        let r = self
            .shared
            .with(|c| c.add_offsets(&id, epoch, &meta.group, meta.member, meta.generation, offsets));
        self.track(r)?;
        self.shared.crash_point("send offsets: after");
        Ok(())
    }

    fn commit_transaction(&mut self, _timeout: Duration) -> Result<(), ClientError> {
        self.shared.crash_point("commit transaction: before");
        self.check("commit transaction", State::InTransaction)?;
        self.maybe_abortable("commit transaction")?;
        let id = self.transactional_id.clone().expect("checked: in a transaction");
        let epoch = self.epoch;
        let r = self.shared.with(|c| c.end_transaction(&id, epoch, true));
        self.track(r)?;
        self.state = State::Ready;
        self.shared.crash_point("commit transaction: after");
        Ok(())
    }

    fn abort_transaction(&mut self, _timeout: Duration) -> Result<(), ClientError> {
        self.shared.crash_point("abort transaction");
        if self.state == State::Fenced {
            return Err(self.error(
                ClientErrorKind::Fenced,
                "abort transaction",
                "the producer was fenced",
            ));
        }
        let id = self
            .transactional_id
            .clone()
            .ok_or_else(|| self.error(ClientErrorKind::Fatal, "abort transaction", "not transactional"))?;
        let epoch = self.epoch;
        let r = self.shared.with(|c| c.end_transaction(&id, epoch, false));
        self.track(r)?;
        self.deliveries.clear();
        self.state = State::Ready;
        Ok(())
    }
}

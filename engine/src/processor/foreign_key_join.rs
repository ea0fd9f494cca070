//! Foreign-key table-table joins (Kafka Streams' KIP-213), in five processors:
//!
//! - left side: [`FkSubscribe`] turns each left-row update into subscriptions to the right row
//!   its foreign key names (and unsubscribes the row it named before);
//! - right side: [`FkReceive`] keeps subscriptions in a store keyed by (foreign key, left key),
//!   [`FkSubscriptionJoin`] answers each with the right row's current value, and
//!   [`FkForeignJoin`] sends every right-row update to the left rows subscribed to it;
//! - left side again: [`FkResolve`] joins a response with the left row's current value, but
//!   only if that value is still the one that subscribed (same digest): a response to an
//!   older value is stale and dropped, so a left row that changed its foreign key never shows
//!   a result of the old one after its new one.
//!
//! Invariant: every left row with a non-null foreign key has exactly one stored subscription,
//! to its current foreign key (the old one is removed before the new one is added, in order,
//! on the left row's partition).

use super::table_reader::TableReader;
use super::{Processor, ProcessorContext};
use crate::error::StreamsError;
use crate::metrics::DropReason;
use crate::record::Record;
use sha2::{Digest, Sha256};
use sluice_dsl::dynamic::{downcast_ref, erase, Dyn, JoinerFn, KeySelectorFn};
use sluice_dsl::serde::ErasedSerde;
use sluice_dsl::topology::{CombinedKey, FkInstruction, FkResponse, FkSubscription, ForeignKey, ValueHash};
use sluice_state::bounds::prefix_successor;
use std::ops::Bound;

/// The first 16 bytes of the SHA-256 of a left value's bytes.
fn digest(
    ctx: &ProcessorContext<'_>,
    serde: &ErasedSerde,
    value: &Dyn,
) -> Result<Option<ValueHash>, StreamsError> {
    let bytes = serde
        .serialize(value)
        .map_err(|e| processing_error(ctx, format!("cannot serialize the left value: {e}")))?;
    Ok(bytes.map(|b| {
        let full = Sha256::digest(&b);
        full[..16].try_into().expect("16 bytes")
    }))
}

fn processing_error(ctx: &ProcessorContext<'_>, message: String) -> StreamsError {
    StreamsError::Processing {
        task: ctx.task,
        node: ctx.node.to_string(),
        position: ctx.position(),
        message,
    }
}

/// Serialized, or `None` for a key that serializes to null.
fn key_bytes(
    ctx: &ProcessorContext<'_>,
    serde: &ErasedSerde,
    key: &Dyn,
) -> Result<Option<Vec<u8>>, StreamsError> {
    serde
        .serialize(key)
        .map_err(|e| processing_error(ctx, format!("cannot serialize a join key: {e}")))
}

/// The subscription store's key prefix of a foreign key: its length (4 bytes), then its bytes
/// (so that no foreign key's prefix is another's).
fn prefix(foreign_key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + foreign_key.len());
    out.extend_from_slice(&(foreign_key.len() as u32).to_be_bytes());
    out.extend_from_slice(foreign_key);
    out
}

/// A stored subscription: the time (8 bytes, the store's timestamp prefix), the instruction,
/// the digest and the left partition.
fn stored_subscription(timestamp: i64, s: &FkSubscription) -> Vec<u8> {
    let mut out = Vec::with_capacity(30);
    out.extend_from_slice(&timestamp.to_be_bytes());
    match s.hash {
        Some(h) => {
            out.push(1);
            out.extend_from_slice(&h);
        }
        None => out.push(0),
    }
    out.extend_from_slice(&s.partition.to_be_bytes());
    out
}

/// (digest, partition) of a stored subscription.
fn read_subscription(stored: &[u8]) -> Option<(Option<ValueHash>, i32)> {
    let rest = stored.get(8..)?;
    let (&flag, rest) = rest.split_first()?;
    let (hash, rest) = if flag == 1 {
        let (h, rest) = rest.split_at_checked(16)?;
        (Some(h.try_into().ok()?), rest)
    } else {
        (None, rest)
    };
    Some((hash, i32::from_be_bytes(rest.get(..4)?.try_into().ok()?)))
}

/// Left side: Kafka Streams' `SubscriptionSendProcessorSupplier`.
pub(crate) struct FkSubscribe {
    pub(crate) extractor: KeySelectorFn,
    pub(crate) foreign_key_serde: ErasedSerde,
    pub(crate) value_serde: ErasedSerde,
    pub(crate) left: bool,
}

impl FkSubscribe {
    /// The foreign key of `value` and its bytes (`None` if it serializes to null).
    fn foreign_key(
        &self,
        ctx: &ProcessorContext<'_>,
        key: &Dyn,
        value: Option<&Dyn>,
    ) -> Result<Option<(Dyn, Vec<u8>)>, StreamsError> {
        let Some(value) = value else { return Ok(None) };
        let fk = (self.extractor)(key, value);
        Ok(key_bytes(ctx, &self.foreign_key_serde, &fk)?.map(|b| (fk, b)))
    }
}

impl Processor for FkSubscribe {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let (new, old) = (record.value.as_ref(), record.old_value.as_ref());
        if self.left && new.is_none() && old.is_none() {
            return Ok(());
        }
        let hash = match new {
            Some(v) => digest(ctx, &self.value_serde, v)?,
            None => None,
        };
        let new_fk = self.foreign_key(ctx, &record.key, new)?;
        let old_fk = self.foreign_key(ctx, &record.key, old)?;
        let changed = new_fk.as_ref().map(|(_, b)| b) != old_fk.as_ref().map(|(_, b)| b);
        let partition = ctx.task.partition;
        let send = |ctx: &mut ProcessorContext<'_>, fk: Option<Dyn>, instruction| {
            let subscription = FkSubscription {
                hash,
                instruction,
                primary_key: record.key.clone(),
                partition,
            };
            ctx.forward(record.with_key_value(erase(ForeignKey(fk)), Some(erase(subscription))));
        };
        let old_fk = old_fk.map(|(fk, _)| fk);
        if self.left {
            if let (Some(old), true) = (old_fk, changed) {
                send(ctx, Some(old), FkInstruction::DeleteKeyNoPropagate);
            }
            send(
                ctx,
                new_fk.map(|(fk, _)| fk),
                FkInstruction::PropagateNullIfNoFkValAvailable,
            );
            return Ok(());
        }
        match (new, new_fk, old_fk) {
            // A row without a foreign key joins nothing: drop its old result.
            (Some(_), None, old) => {
                ctx.drop_record(DropReason::NullKey);
                if let Some(old) = old {
                    send(ctx, Some(old), FkInstruction::DeleteKeyAndPropagate);
                }
            }
            (Some(_), Some((fk, _)), Some(old)) if changed => {
                send(ctx, Some(old), FkInstruction::DeleteKeyNoPropagate);
                send(ctx, Some(fk), FkInstruction::PropagateNullIfNoFkValAvailable);
            }
            (Some(_), Some((fk, _)), _) => send(ctx, Some(fk), FkInstruction::PropagateOnlyIfFkValAvailable),
            (None, _, Some(old)) => send(ctx, Some(old), FkInstruction::DeleteKeyAndPropagate),
            (None, _, None) => {}
        }
        Ok(())
    }
}

/// Right side: Kafka Streams' `SubscriptionReceiveProcessorSupplier`.
pub(crate) struct FkReceive {
    pub(crate) store: usize,
    pub(crate) foreign_key_serde: ErasedSerde,
    pub(crate) primary_key_serde: ErasedSerde,
}

impl Processor for FkReceive {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let Some(value) = &record.value else {
            ctx.drop_record(DropReason::NullValue);
            return Ok(());
        };
        let subscription = downcast_ref::<FkSubscription>(value);
        let fk = downcast_ref::<ForeignKey>(&record.key).0.clone();
        let fk_bytes = match &fk {
            Some(k) => key_bytes(ctx, &self.foreign_key_serde, k)?,
            None => None,
        };
        match &fk_bytes {
            None if subscription.instruction != FkInstruction::PropagateNullIfNoFkValAvailable => {
                ctx.drop_record(DropReason::NullKey);
                return Ok(());
            }
            None => {}
            Some(fk_bytes) => {
                let Some(pk) = key_bytes(ctx, &self.primary_key_serde, &subscription.primary_key)? else {
                    ctx.drop_record(DropReason::NullKey);
                    return Ok(());
                };
                let mut key = prefix(fk_bytes);
                key.extend_from_slice(&pk);
                let store = ctx.stores.kv(self.store);
                if subscription.instruction.unsubscribes() {
                    store.delete(&key);
                } else {
                    store.put(&key, &stored_subscription(record.timestamp, subscription));
                }
            }
        }
        let combined = CombinedKey {
            foreign: fk_bytes.and(fk),
            primary: subscription.primary_key.clone(),
        };
        ctx.forward(record.with_key_value(erase(combined), record.value.clone()));
        Ok(())
    }
}

/// Right side: Kafka Streams' `SubscriptionJoinProcessorSupplier`.
pub(crate) struct FkSubscriptionJoin {
    pub(crate) table: TableReader,
}

impl Processor for FkSubscriptionJoin {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let Some(value) = &record.value else {
            return Ok(());
        };
        let subscription = downcast_ref::<FkSubscription>(value).clone();
        let key = downcast_ref::<CombinedKey>(&record.key).clone();
        let foreign = match &key.foreign {
            Some(fk) => self.table.lookup(ctx, fk)?,
            None => None,
        };
        let timestamp = foreign
            .as_ref()
            .map_or(record.timestamp, |(_, t)| record.timestamp.max(*t));
        let foreign_value = match subscription.instruction {
            FkInstruction::DeleteKeyNoPropagate => return Ok(()),
            FkInstruction::PropagateOnlyIfFkValAvailable if foreign.is_none() => return Ok(()),
            FkInstruction::DeleteKeyAndPropagate => None,
            FkInstruction::PropagateNullIfNoFkValAvailable | FkInstruction::PropagateOnlyIfFkValAvailable => {
                foreign.map(|(v, _)| v)
            }
        };
        let response = FkResponse {
            hash: subscription.hash,
            foreign_value,
            partition: subscription.partition,
        };
        let mut out = record.with_key_value(key.primary, Some(erase(response)));
        out.timestamp = timestamp;
        ctx.forward(out);
        Ok(())
    }
}

/// Right side: Kafka Streams' `ForeignTableJoinProcessorSupplier`.
pub(crate) struct FkForeignJoin {
    pub(crate) store: usize,
    pub(crate) foreign_key_serde: ErasedSerde,
    pub(crate) primary_key_serde: ErasedSerde,
}

impl Processor for FkForeignJoin {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let Some(fk) = key_bytes(ctx, &self.foreign_key_serde, &record.key)? else {
            ctx.drop_record(DropReason::NullKey);
            return Ok(());
        };
        let from = prefix(&fk);
        let to = prefix_successor(&from);
        let task = ctx.task;
        let subscribed: Vec<(Vec<u8>, Vec<u8>)> = ctx
            .stores
            .kv(self.store)
            .range(
                Bound::Included(&from[..]),
                to.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
            )
            .and_then(|it| it.collect())
            .map_err(|source| StreamsError::Store { task, source })?;
        for (key, stored) in subscribed {
            let (Some((hash, partition)), Some(pk)) = (read_subscription(&stored), key.get(from.len()..))
            else {
                return Err(processing_error(
                    ctx,
                    "unreadable subscription in the store".into(),
                ));
            };
            let primary = self
                .primary_key_serde
                .deserialize(Some(pk))
                .map_err(|e| processing_error(ctx, format!("unreadable left key in a subscription: {e}")))?;
            let response = FkResponse {
                hash,
                foreign_value: record.value.clone(),
                partition,
            };
            ctx.forward(record.with_key_value(primary, Some(erase(response))));
        }
        Ok(())
    }
}

/// Left side again: Kafka Streams' `ResponseJoinProcessorSupplier`.
pub(crate) struct FkResolve {
    pub(crate) table: TableReader,
    pub(crate) value_serde: ErasedSerde,
    pub(crate) joiner: JoinerFn,
    pub(crate) left: bool,
}

impl Processor for FkResolve {
    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        let Some(value) = &record.value else {
            return Ok(());
        };
        let response = downcast_ref::<FkResponse>(value).clone();
        let current = self.table.lookup(ctx, &record.key)?.map(|(v, _)| v);
        let current_hash = match &current {
            Some(v) => digest(ctx, &self.value_serde, v)?,
            None => None,
        };
        if current_hash != response.hash {
            // A response to a value the row no longer has (Kafka Streams drops and counts it).
            ctx.drop_record(DropReason::StaleResponse);
            return Ok(());
        }
        let result = match (&current, &response.foreign_value) {
            (None, _) => None,
            (Some(_), None) if !self.left => None,
            (Some(v), fv) => Some((self.joiner)(&record.key, Some(v), fv.as_ref())),
        };
        ctx.forward(record.with_key_value(record.key.clone(), result));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_bound_exactly_the_keys_of_one_foreign_key() {
        let a = prefix(b"a");
        let mut a_key = a.clone();
        a_key.extend_from_slice(b"left-1");
        let end = prefix_successor(&a).unwrap();
        assert!(a_key.as_slice() >= a.as_slice() && a_key < end);
        let mut ab = prefix(b"ab");
        ab.extend_from_slice(b"x");
        assert!(
            ab >= end || ab < a,
            "a longer foreign key is not under the shorter one's prefix"
        );
    }

    #[test]
    fn stored_subscriptions_round_trip() {
        let s = FkSubscription {
            hash: Some([3; 16]),
            instruction: FkInstruction::PropagateOnlyIfFkValAvailable,
            primary_key: erase(1_i64),
            partition: 7,
        };
        let stored = stored_subscription(42, &s);
        assert_eq!(&stored[..8], &42_i64.to_be_bytes());
        assert_eq!(read_subscription(&stored), Some((Some([3; 16]), 7)));
    }
}

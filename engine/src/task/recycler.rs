//! What a task reuses from one record to the next, so that a record that goes from a source
//! through stateless operators to a sink costs no heap allocation in Sluice.
//!
//! Without it each record took four: its decoded key and value (each a new `Arc`, and a new
//! `String` or `Vec` inside) and its output key and value bytes. Now:
//! - a sink encodes into buffers taken from here, and gives the record's key and value back
//!   once encoded;
//! - the task gives the buffers back once the producer took the record (it copies them);
//! - a source decodes into a value given back, of its serde's type, reusing its allocation and,
//!   for strings and raw bytes, its capacity.
//!
//! Invariants:
//! - A kept value is an `Arc` nothing else shares (no other strong or weak reference), so
//!   overwriting it cannot change what another record, a store or a cache sees.
//!   [`Recycler::give_value`] checks it; [`ErasedSerde::deserialize_reusing`] checks it again.
//! - What is kept is bounded: at most [`VALUES`] values, each one whose encoding was at most
//!   [`MAX_KEPT_BYTES`], and buffers of at most that capacity, [`BUFFER_BUDGET`] bytes of them
//!   in all. A task whose records are larger keeps nothing and allocates as before.
//! - A kept value is dropped when it is overwritten or pushed out, not when its record ended:
//!   a value type with a `Drop` of its own sees that drop a few records late.

use crate::buffer_pool::BufferPool;
use sluice_dsl::dynamic::Dyn;
use sluice_dsl::serde::{ErasedSerde, SerdeError};
use std::sync::Arc;

/// Values kept. A source takes one key and one value per record and a sink gives back as
/// many, so a few cover a fan-out to several sinks.
pub(crate) const VALUES: usize = 8;
/// The largest value (by its encoding) or buffer capacity kept.
pub(crate) const MAX_KEPT_BYTES: usize = 64 * 1024;
/// Capacity of the buffers kept, in all. The runtime sends each input record's outputs before
/// the next record, so a sink needs two buffers; a commit's flush sends many records at once,
/// and only as many as fit are kept.
pub(crate) const BUFFER_BUDGET: usize = 256 * 1024;

/// A task's reusable values and byte buffers (see the module docs).
pub(crate) struct Recycler {
    /// Oldest first.
    values: Vec<Dyn>,
    buffers: BufferPool,
}

impl Default for Recycler {
    fn default() -> Self {
        Recycler {
            values: Vec::new(),
            buffers: BufferPool::new(BUFFER_BUDGET, MAX_KEPT_BYTES),
        }
    }
}

impl Recycler {
    /// Decodes a possibly-null payload with `serde`, into a kept value of its type if there is
    /// one.
    pub(crate) fn decode(&mut self, serde: &ErasedSerde, bytes: Option<&[u8]>) -> Result<Dyn, SerdeError> {
        let wanted = serde.value_type_id();
        // The newest of the type: the most likely to have the capacity this record needs.
        match self.values.iter().rposition(|v| (**v).type_id() == wanted) {
            Some(i) => serde.deserialize_reusing(bytes, self.values.remove(i)),
            None => serde.deserialize(bytes),
        }
    }

    /// Keeps `value`, whose record ended after it was encoded in `encoded_len` bytes, if
    /// nothing else shares it and it is small enough (see the module docs).
    pub(crate) fn give_value(&mut self, mut value: Dyn, encoded_len: usize) {
        if encoded_len > MAX_KEPT_BYTES || Arc::get_mut(&mut value).is_none() {
            return;
        }
        if self.values.len() == VALUES {
            // The oldest goes: a type no source decodes must not hold the places forever.
            self.values.remove(0);
        }
        self.values.push(value);
    }

    /// An empty buffer, with capacity left from an earlier record if one was kept.
    pub(crate) fn take_buffer(&mut self) -> Vec<u8> {
        self.buffers.take()
    }

    /// Keeps `buffer` for a later record if it fits the budget.
    pub(crate) fn give_buffer(&mut self, buffer: Vec<u8>) {
        self.buffers.give(buffer);
    }

    /// How many values are kept (for tests).
    #[cfg(test)]
    pub(crate) fn kept_values(&self) -> usize {
        self.values.len()
    }

    /// The `TypeId`s of the kept values, oldest first (for tests).
    #[cfg(test)]
    fn kept_types(&self) -> Vec<std::any::TypeId> {
        self.values.iter().map(|v| (**v).type_id()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_dsl::dynamic::{downcast_ref, erase};
    use sluice_dsl::serde::Serde;
    use std::any::TypeId;

    #[test]
    fn a_given_value_is_decoded_into_in_place() {
        let mut r = Recycler::default();
        let strings: ErasedSerde = Serde::string().into();
        let first = r.decode(&strings, Some(b"card-1")).unwrap();
        let at = Arc::as_ptr(&first) as *const u8;
        r.give_value(first, 6);
        let second = r.decode(&strings, Some(b"card-2")).unwrap();
        assert_eq!(Arc::as_ptr(&second) as *const u8, at);
        assert_eq!(downcast_ref::<String>(&second), "card-2");
        assert_eq!(r.kept_values(), 0, "taken");
    }

    #[test]
    fn shared_and_large_values_are_not_kept() {
        let mut r = Recycler::default();
        let shared = erase(String::from("x"));
        let other = Arc::clone(&shared);
        r.give_value(shared, 1);
        r.give_value(erase(String::from("big")), MAX_KEPT_BYTES + 1);
        assert_eq!(r.kept_values(), 0);
        let strings: ErasedSerde = Serde::string().into();
        assert_eq!(
            downcast_ref::<String>(&r.decode(&strings, Some(b"y")).unwrap()),
            "y"
        );
        assert_eq!(downcast_ref::<String>(&other), "x");
    }

    #[test]
    fn the_oldest_value_makes_room_and_types_are_matched() {
        let mut r = Recycler::default();
        for i in 0..VALUES {
            r.give_value(erase(i as i64), 8);
        }
        r.give_value(erase(String::from("s")), 1);
        assert_eq!(r.kept_values(), VALUES);
        assert_eq!(r.kept_types().last(), Some(&TypeId::of::<String>()));
        let longs: ErasedSerde = Serde::<i64>::i64().into();
        let n = r.decode(&longs, Some(&9i64.to_be_bytes())).unwrap();
        assert_eq!(*downcast_ref::<i64>(&n), 9);
        assert_eq!(r.kept_values(), VALUES - 1);
        assert_eq!(
            r.kept_types().last(),
            Some(&TypeId::of::<String>()),
            "the string stays"
        );
    }
}

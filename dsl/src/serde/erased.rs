//! A serde with its type erased, as the engine holds it.

use super::{Serde, SerdeError};
use crate::dynamic::{downcast_ref, Dyn, DynBox};
use std::any::{Any, TypeId};
use std::fmt;
use std::sync::Arc;

/// A [`Serde`] whose type is known only to itself: sources, sinks and stores in a
/// [`Topology`](crate::Topology) hold these.
#[derive(Clone)]
pub struct ErasedSerde {
    inner: Arc<dyn ErasedCodec>,
}

trait ErasedCodec: Send + Sync {
    fn serialize(&self, value: &Dyn) -> Result<Option<Vec<u8>>, SerdeError>;
    fn serialize_any(&self, value: &(dyn Any + Send + Sync)) -> Result<Option<Vec<u8>>, SerdeError>;
    fn serialize_into(&self, value: &Dyn, out: &mut Vec<u8>) -> Result<bool, SerdeError>;
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Dyn, SerdeError>;
    fn deserialize_reusing(&self, bytes: Option<&[u8]>, old: Dyn) -> Result<Dyn, SerdeError>;
    fn deserialize_box(&self, bytes: Option<&[u8]>) -> Result<DynBox, SerdeError>;
    fn type_name(&self) -> &'static str;
    fn value_type_id(&self) -> TypeId;
    fn accepts_null(&self) -> bool;
}

impl<T: Send + Sync + 'static> ErasedCodec for Serde<T> {
    fn serialize(&self, value: &Dyn) -> Result<Option<Vec<u8>>, SerdeError> {
        Serde::serialize(self, downcast_ref::<T>(value))
    }
    fn serialize_any(&self, value: &(dyn Any + Send + Sync)) -> Result<Option<Vec<u8>>, SerdeError> {
        match value.downcast_ref::<T>() {
            Some(v) => Serde::serialize(self, v),
            None => Err(SerdeError::serialize::<T>("value of another type")),
        }
    }
    fn serialize_into(&self, value: &Dyn, out: &mut Vec<u8>) -> Result<bool, SerdeError> {
        Serde::serialize_into(self, downcast_ref::<T>(value), out)
    }
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Dyn, SerdeError> {
        self.deserialize_nullable(bytes).map(|v| Arc::new(v) as Dyn)
    }
    fn deserialize_reusing(&self, bytes: Option<&[u8]>, mut old: Dyn) -> Result<Dyn, SerdeError> {
        match Arc::get_mut(&mut old).and_then(|slot| slot.downcast_mut::<T>()) {
            Some(slot) => {
                self.deserialize_nullable_into(bytes, slot)?;
                Ok(old)
            }
            None => ErasedCodec::deserialize(self, bytes),
        }
    }
    fn deserialize_box(&self, bytes: Option<&[u8]>) -> Result<DynBox, SerdeError> {
        self.deserialize_nullable(bytes).map(|v| Box::new(v) as DynBox)
    }
    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
    fn value_type_id(&self) -> TypeId {
        TypeId::of::<T>()
    }
    fn accepts_null(&self) -> bool {
        Serde::accepts_null(self)
    }
}

impl<T: Send + Sync + 'static> From<Serde<T>> for ErasedSerde {
    fn from(serde: Serde<T>) -> Self {
        ErasedSerde {
            inner: Arc::new(serde),
        }
    }
}

impl ErasedSerde {
    /// Encodes a value; `None` is a null payload.
    pub fn serialize(&self, value: &Dyn) -> Result<Option<Vec<u8>>, SerdeError> {
        self.inner.serialize(value)
    }

    /// Encodes a value into `out` (cleared first), reusing its capacity; false means a null
    /// payload.
    pub fn serialize_into(&self, value: &Dyn, out: &mut Vec<u8>) -> Result<bool, SerdeError> {
        self.inner.serialize_into(value, out)
    }

    /// Encodes a value held in a box (an aggregate before it is shared).
    pub fn serialize_box(&self, value: &DynBox) -> Result<Option<Vec<u8>>, SerdeError> {
        self.inner.serialize_any(value.as_ref())
    }

    /// Decodes a possibly-null payload into a shared value.
    pub fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Dyn, SerdeError> {
        self.inner.deserialize(bytes)
    }

    /// Decodes a possibly-null payload into `old`'s allocation when `old` holds this serde's
    /// type and nothing else shares it (strings and raw bytes also reuse its capacity), else
    /// into a new one.
    pub fn deserialize_reusing(&self, bytes: Option<&[u8]>, old: Dyn) -> Result<Dyn, SerdeError> {
        self.inner.deserialize_reusing(bytes, old)
    }

    /// Decodes a possibly-null payload into an owned value.
    pub fn deserialize_box(&self, bytes: Option<&[u8]>) -> Result<DynBox, SerdeError> {
        self.inner.deserialize_box(bytes)
    }

    /// The Rust type this serde reads and writes.
    pub fn type_name(&self) -> &'static str {
        self.inner.type_name()
    }

    /// The `TypeId` of that type, to check a typed view against the topology.
    pub fn value_type_id(&self) -> TypeId {
        self.inner.value_type_id()
    }

    /// True if a null payload decodes to a value (e.g. `Serde::optional`).
    pub fn accepts_null(&self) -> bool {
        self.inner.accepts_null()
    }
}

impl fmt::Debug for ErasedSerde {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serde<{}>", self.type_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamic::{downcast_box, erase};

    #[test]
    fn decoding_reuses_an_unshared_value_of_the_same_type() {
        let s: ErasedSerde = Serde::string().into();
        let old = erase(String::with_capacity(32));
        let at = Arc::as_ptr(&old) as *const u8;
        let d = s.deserialize_reusing(Some(b"card-7"), old).unwrap();
        assert_eq!(Arc::as_ptr(&d) as *const u8, at, "the allocation is reused");
        assert_eq!(downcast_ref::<String>(&d), "card-7");
        let kept = Arc::clone(&d);
        let e = s.deserialize_reusing(Some(b"card-8"), d).unwrap();
        assert_eq!(
            downcast_ref::<String>(&kept),
            "card-7",
            "a shared value stays intact"
        );
        assert_eq!(downcast_ref::<String>(&e), "card-8");
        let f = s.deserialize_reusing(Some(b"x"), erase(5i64)).unwrap();
        assert_eq!(downcast_ref::<String>(&f), "x", "another type: a new value");
        assert!(s.deserialize_reusing(Some(&[0xff]), f).is_err());
        let mut out = vec![1, 2, 3];
        assert!(s.serialize_into(&e, &mut out).unwrap());
        assert_eq!(out, b"card-8");
    }

    #[test]
    fn erased_round_trip_keeps_null_rules() {
        let e: ErasedSerde = Serde::<i64>::i64().into();
        let bytes = e.serialize(&erase(5i64)).unwrap().unwrap();
        assert_eq!(downcast_box::<i64>(e.deserialize_box(Some(&bytes)).unwrap()), 5);
        assert!(matches!(
            e.deserialize(None),
            Err(SerdeError::UnexpectedNull { .. })
        ));
        let o: ErasedSerde = Serde::optional(Serde::<i64>::i64()).into();
        assert_eq!(o.serialize(&erase(None::<i64>)).unwrap(), None);
        assert_eq!(e.type_name(), "i64");
    }
}

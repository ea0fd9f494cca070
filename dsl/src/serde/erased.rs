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
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Dyn, SerdeError>;
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
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Dyn, SerdeError> {
        self.deserialize_nullable(bytes).map(|v| Arc::new(v) as Dyn)
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

    /// Encodes a value held in a box (an aggregate before it is shared).
    pub fn serialize_box(&self, value: &DynBox) -> Result<Option<Vec<u8>>, SerdeError> {
        self.inner.serialize_any(value.as_ref())
    }

    /// Decodes a possibly-null payload into a shared value.
    pub fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Dyn, SerdeError> {
        self.inner.deserialize(bytes)
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

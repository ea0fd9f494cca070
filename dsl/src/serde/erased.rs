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
    fn serialize_owned(&self, value: Dyn) -> Result<Option<Vec<u8>>, SerdeError>;
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
    fn serialize_owned(&self, value: Dyn) -> Result<Option<Vec<u8>>, SerdeError> {
        match value.downcast::<T>().map(Arc::try_unwrap) {
            Ok(Ok(owned)) => Serde::serialize_owned(self, owned),
            Ok(Err(shared)) => Serde::serialize(self, &shared),
            Err(other) => Serde::serialize(self, downcast_ref::<T>(&other)),
        }
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

    /// Encodes a value the caller gives up: when nothing else shares it, a raw-bytes or string
    /// value becomes the payload itself, without a copy (a sink's last use of a record).
    pub fn serialize_owned(&self, value: Dyn) -> Result<Option<Vec<u8>>, SerdeError> {
        self.inner.serialize_owned(value)
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
    fn owned_values_become_the_payload_and_shared_ones_are_copied() {
        let bytes: ErasedSerde = Serde::bytes().into();
        let value = vec![7u8; 64];
        let at = value.as_ptr();
        let payload = bytes.serialize_owned(erase(value)).unwrap().unwrap();
        assert_eq!(payload.as_ptr(), at, "a value nothing shares is not copied");
        let shared = erase(vec![1u8, 2]);
        let kept = Arc::clone(&shared);
        assert_eq!(bytes.serialize_owned(shared).unwrap(), Some(vec![1, 2]));
        assert_eq!(
            downcast_ref::<Vec<u8>>(&kept),
            &vec![1, 2],
            "a shared value stays intact"
        );
        let string: ErasedSerde = Serde::string().into();
        assert_eq!(
            string.serialize_owned(erase("card-7".to_string())).unwrap(),
            Some(b"card-7".to_vec())
        );
        // Types without an owned encoding borrow, and null rules hold.
        let o: ErasedSerde = Serde::optional(Serde::<i64>::i64()).into();
        assert_eq!(o.serialize_owned(erase(None::<i64>)).unwrap(), None);
        assert_eq!(
            o.serialize_owned(erase(Some(3i64))).unwrap(),
            Some(3i64.to_be_bytes().to_vec())
        );
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

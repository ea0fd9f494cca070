//! `Option<T>` over any serde: `None` is a null payload (a tombstone).

use super::{Codec, Serde, SerdeError};
use std::sync::Arc;

struct OptionalCodec<T> {
    inner: Arc<dyn Codec<T>>,
}

impl<T: 'static> Codec<Option<T>> for OptionalCodec<T> {
    fn serialize(&self, value: &Option<T>) -> Result<Vec<u8>, SerdeError> {
        match value {
            Some(v) => self.inner.serialize(v),
            // Unreachable through Serde::serialize, which asks is_null first.
            None => Ok(Vec::new()),
        }
    }
    fn serialize_into(&self, value: &Option<T>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        match value {
            Some(v) => self.inner.serialize_into(v, out),
            None => Ok(()),
        }
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<Option<T>, SerdeError> {
        self.inner.deserialize(bytes).map(Some)
    }
    fn deserialize_into(&self, bytes: &[u8], slot: &mut Option<T>) -> Result<(), SerdeError> {
        match slot {
            Some(v) => self.inner.deserialize_into(bytes, v),
            None => {
                *slot = Some(self.inner.deserialize(bytes)?);
                Ok(())
            }
        }
    }
    fn null_value(&self) -> Option<Option<T>> {
        Some(None)
    }
    fn is_null(&self, value: &Option<T>) -> bool {
        value.is_none()
    }
}

impl<T: 'static> Serde<Option<T>> {
    /// Nullable values: a null payload is `None` and `None` is written as null.
    ///
    /// ```
    /// use sluice_dsl::serde::Serde;
    /// let s = Serde::optional(Serde::string());
    /// assert_eq!(s.deserialize_nullable(None).unwrap(), None);
    /// assert_eq!(s.serialize(&None).unwrap(), None);
    /// assert_eq!(s.serialize(&Some("x".into())).unwrap(), Some(b"x".to_vec()));
    /// ```
    pub fn optional(inner: Serde<T>) -> Self {
        Serde::new(OptionalCodec {
            inner: Arc::clone(inner.codec()),
        })
    }
}

//! Serdes: how keys and values become bytes and back.
//!
//! A [`Serde<T>`] wraps one [`Codec<T>`] implementation. Sluice ships codecs for UTF-8 strings,
//! raw bytes, big-endian integers and floats (the encodings of Kafka's own serdes, so topics stay
//! readable by Java clients), JSON (`serde_json`) and bincode. Implement [`Codec`] for anything
//! else (Avro, Protobuf, a schema registry) and wrap it with [`Serde::new`].
//!
//! Kafka records may carry a null key or value. A null payload reaches user code only through
//! [`Serde::optional`] (values become `Option<T>`) or [`Serde::void`] (keys of unkeyed topics);
//! see the crate documentation for how nulls travel through a topology otherwise.

mod bincode_codec;
mod builtin;
mod erased;
mod json;
mod optional;

pub use erased::ErasedSerde;

use std::fmt;
use std::sync::Arc;

/// Why bytes could not become a value, or a value bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SerdeError {
    /// The bytes are not a valid encoding of the expected type.
    #[error("cannot deserialize {type_name}: {reason}")]
    Deserialize {
        /// The Rust type that was expected.
        type_name: &'static str,
        /// What was wrong with the bytes.
        reason: String,
    },
    /// The value could not be encoded.
    #[error("cannot serialize {type_name}: {reason}")]
    Serialize {
        /// The Rust type that was being written.
        type_name: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A null payload arrived where the serde cannot represent null.
    #[error(
        "null payload where {type_name} cannot represent null \
         (use Serde::optional for nullable values or Serde::void for unkeyed topics)"
    )]
    UnexpectedNull {
        /// The Rust type that was expected.
        type_name: &'static str,
    },
}

impl SerdeError {
    /// A deserialization failure for type `T`.
    pub fn deserialize<T>(reason: impl fmt::Display) -> Self {
        SerdeError::Deserialize {
            type_name: std::any::type_name::<T>(),
            reason: reason.to_string(),
        }
    }

    /// A serialization failure for type `T`.
    pub fn serialize<T>(reason: impl fmt::Display) -> Self {
        SerdeError::Serialize {
            type_name: std::any::type_name::<T>(),
            reason: reason.to_string(),
        }
    }
}

/// One encoding of `T` to bytes and back: the trait to implement for a custom format.
///
/// ```
/// use sluice_dsl::serde::{Codec, Serde, SerdeError};
///
/// /// Celsius readings as little-endian f32.
/// struct Celsius;
/// impl Codec<f32> for Celsius {
///     fn serialize(&self, value: &f32) -> Result<Vec<u8>, SerdeError> {
///         Ok(value.to_le_bytes().to_vec())
///     }
///     fn deserialize(&self, bytes: &[u8]) -> Result<f32, SerdeError> {
///         let raw: [u8; 4] = bytes.try_into().map_err(|_| SerdeError::deserialize::<f32>("need 4 bytes"))?;
///         Ok(f32::from_le_bytes(raw))
///     }
/// }
/// let serde = Serde::new(Celsius);
/// assert_eq!(serde.deserialize(&serde.serialize(&21.5).unwrap().unwrap()).unwrap(), 21.5);
/// ```
pub trait Codec<T>: Send + Sync + 'static {
    /// Encodes `value`.
    fn serialize(&self, value: &T) -> Result<Vec<u8>, SerdeError>;

    /// Encodes `value` into `out`, which arrives empty but may have capacity left from an
    /// earlier record: a sink reuses its buffers instead of allocating one per record. The
    /// default replaces `out` with what [`serialize`](Self::serialize) returns; an encoding
    /// that can write into a buffer (every built-in one) writes into it.
    fn serialize_into(&self, value: &T, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        *out = self.serialize(value)?;
        Ok(())
    }

    /// Decodes a non-null payload.
    fn deserialize(&self, bytes: &[u8]) -> Result<T, SerdeError>;

    /// Decodes a non-null payload into `slot`, which holds an earlier value of `T` that may
    /// be overwritten: a source reuses the values whose records ended instead of allocating
    /// new ones. The default replaces `slot` with what [`deserialize`](Self::deserialize)
    /// returns; strings and raw bytes reuse its capacity. After an error `slot` holds some
    /// valid value, which the caller discards.
    fn deserialize_into(&self, bytes: &[u8], slot: &mut T) -> Result<(), SerdeError> {
        *slot = self.deserialize(bytes)?;
        Ok(())
    }

    /// The value a null payload stands for, or `None` if `T` cannot represent null.
    fn null_value(&self) -> Option<T> {
        None
    }

    /// True if `value` is written as a null payload (a Kafka tombstone).
    fn is_null(&self, _value: &T) -> bool {
        false
    }
}

/// A serializer/deserializer pair for `T`, cheap to clone.
///
/// ```
/// use sluice_dsl::serde::Serde;
///
/// let s = Serde::string();
/// let bytes = s.serialize(&"card-42".to_string()).unwrap().unwrap();
/// assert_eq!(bytes, b"card-42");
/// assert!(Serde::<i64>::i64().deserialize(b"short").is_err());
/// ```
pub struct Serde<T> {
    codec: Arc<dyn Codec<T>>,
}

impl<T> Clone for Serde<T> {
    fn clone(&self) -> Self {
        Serde {
            codec: Arc::clone(&self.codec),
        }
    }
}

impl<T> fmt::Debug for Serde<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serde<{}>", std::any::type_name::<T>())
    }
}

impl<T: 'static> Serde<T> {
    /// Wraps a codec.
    pub fn new(codec: impl Codec<T>) -> Self {
        Serde {
            codec: Arc::new(codec),
        }
    }

    /// Encodes `value`; `None` means a null payload.
    pub fn serialize(&self, value: &T) -> Result<Option<Vec<u8>>, SerdeError> {
        if self.codec.is_null(value) {
            return Ok(None);
        }
        self.codec.serialize(value).map(Some)
    }

    /// Encodes `value` into `out` (see [`Codec::serialize_into`]); false means a null payload,
    /// with `out` left empty.
    pub fn serialize_into(&self, value: &T, out: &mut Vec<u8>) -> Result<bool, SerdeError> {
        out.clear();
        if self.codec.is_null(value) {
            return Ok(false);
        }
        self.codec.serialize_into(value, out).map(|()| true)
    }

    /// Decodes a non-null payload.
    pub fn deserialize(&self, bytes: &[u8]) -> Result<T, SerdeError> {
        self.codec.deserialize(bytes)
    }

    /// Decodes a possibly-null payload into `slot` (see [`Codec::deserialize_into`]).
    pub fn deserialize_nullable_into(&self, bytes: Option<&[u8]>, slot: &mut T) -> Result<(), SerdeError> {
        match bytes {
            Some(b) => self.codec.deserialize_into(b, slot),
            None => {
                *slot = self.deserialize_nullable(None)?;
                Ok(())
            }
        }
    }

    /// Decodes a possibly-null payload; a null that `T` cannot represent is an error.
    pub fn deserialize_nullable(&self, bytes: Option<&[u8]>) -> Result<T, SerdeError> {
        match bytes {
            Some(b) => self.codec.deserialize(b),
            None => self.codec.null_value().ok_or(SerdeError::UnexpectedNull {
                type_name: std::any::type_name::<T>(),
            }),
        }
    }

    /// True if a null payload decodes to a value of `T` (e.g. [`Serde::optional`]).
    pub fn accepts_null(&self) -> bool {
        self.codec.null_value().is_some()
    }

    pub(crate) fn codec(&self) -> &Arc<dyn Codec<T>> {
        &self.codec
    }
}

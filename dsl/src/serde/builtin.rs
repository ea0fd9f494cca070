//! Codecs with Kafka's own encodings: UTF-8 strings, raw bytes, big-endian numbers, void.

use super::{Codec, Serde, SerdeError};

struct StringCodec;

impl Codec<String> for StringCodec {
    fn serialize(&self, value: &String) -> Result<Vec<u8>, SerdeError> {
        Ok(value.as_bytes().to_vec())
    }
    fn serialize_into(&self, value: &String, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.extend_from_slice(value.as_bytes());
        Ok(())
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<String, SerdeError> {
        String::from_utf8(bytes.to_vec()).map_err(SerdeError::deserialize::<String>)
    }
    fn deserialize_into(&self, bytes: &[u8], slot: &mut String) -> Result<(), SerdeError> {
        let text = std::str::from_utf8(bytes).map_err(SerdeError::deserialize::<String>)?;
        slot.clear();
        slot.push_str(text);
        Ok(())
    }
}

impl Serde<String> {
    /// UTF-8 strings, as Kafka's `StringSerde`.
    pub fn string() -> Self {
        Serde::new(StringCodec)
    }
}

struct BytesCodec;

impl Codec<Vec<u8>> for BytesCodec {
    fn serialize(&self, value: &Vec<u8>) -> Result<Vec<u8>, SerdeError> {
        Ok(value.clone())
    }
    fn serialize_into(&self, value: &Vec<u8>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.extend_from_slice(value);
        Ok(())
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<Vec<u8>, SerdeError> {
        Ok(bytes.to_vec())
    }
    fn deserialize_into(&self, bytes: &[u8], slot: &mut Vec<u8>) -> Result<(), SerdeError> {
        slot.clear();
        slot.extend_from_slice(bytes);
        Ok(())
    }
}

impl Serde<Vec<u8>> {
    /// Raw bytes, unchanged.
    pub fn bytes() -> Self {
        Serde::new(BytesCodec)
    }
}

/// Fixed-width big-endian numbers, as Kafka's `LongSerde`, `IntegerSerde`, `DoubleSerde`...
macro_rules! be_number_codec {
    ($codec:ident, $ty:ty, $ctor:ident, $doc:literal) => {
        struct $codec;

        impl Codec<$ty> for $codec {
            fn serialize(&self, value: &$ty) -> Result<Vec<u8>, SerdeError> {
                Ok(value.to_be_bytes().to_vec())
            }
            fn serialize_into(&self, value: &$ty, out: &mut Vec<u8>) -> Result<(), SerdeError> {
                out.extend_from_slice(&value.to_be_bytes());
                Ok(())
            }
            fn deserialize(&self, bytes: &[u8]) -> Result<$ty, SerdeError> {
                let raw = bytes.try_into().map_err(|_| {
                    SerdeError::deserialize::<$ty>(format_args!(
                        "expected {} bytes, got {}",
                        std::mem::size_of::<$ty>(),
                        bytes.len()
                    ))
                })?;
                Ok(<$ty>::from_be_bytes(raw))
            }
        }

        impl Serde<$ty> {
            #[doc = $doc]
            pub fn $ctor() -> Self {
                Serde::new($codec)
            }
        }
    };
}

be_number_codec!(
    I64Codec,
    i64,
    i64,
    "Big-endian 8-byte integers, as Kafka's `LongSerde`."
);
be_number_codec!(
    I32Codec,
    i32,
    i32,
    "Big-endian 4-byte integers, as Kafka's `IntegerSerde`."
);
be_number_codec!(
    I16Codec,
    i16,
    i16,
    "Big-endian 2-byte integers, as Kafka's `ShortSerde`."
);
be_number_codec!(
    F64Codec,
    f64,
    f64,
    "Big-endian IEEE-754 doubles, as Kafka's `DoubleSerde`."
);
be_number_codec!(
    F32Codec,
    f32,
    f32,
    "Big-endian IEEE-754 floats, as Kafka's `FloatSerde`."
);
be_number_codec!(U64Codec, u64, u64, "Big-endian 8-byte unsigned integers.");

struct VoidCodec;

impl Codec<()> for VoidCodec {
    fn serialize(&self, _value: &()) -> Result<Vec<u8>, SerdeError> {
        Ok(Vec::new())
    }
    fn serialize_into(&self, _value: &(), _out: &mut Vec<u8>) -> Result<(), SerdeError> {
        Ok(())
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<(), SerdeError> {
        Err(SerdeError::deserialize::<()>(format_args!(
            "Serde::void expects null, got {} bytes",
            bytes.len()
        )))
    }
    fn null_value(&self) -> Option<()> {
        Some(())
    }
    fn is_null(&self, _value: &()) -> bool {
        true
    }
}

impl Serde<()> {
    /// Always null, as Kafka's `VoidSerde`: the key serde of unkeyed topics.
    pub fn void() -> Self {
        Serde::new(VoidCodec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_use_kafka_big_endian_layout() {
        let s = Serde::<i64>::i64();
        assert_eq!(s.serialize(&1).unwrap().unwrap(), vec![0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(s.deserialize(&[0, 0, 0, 0, 0, 0, 1, 0]).unwrap(), 256);
        let err = s.deserialize(&[1, 2, 3]).unwrap_err().to_string();
        assert!(err.contains("expected 8 bytes, got 3"), "{err}");
        assert_eq!(
            Serde::<f64>::f64().deserialize(&2.5f64.to_be_bytes()).unwrap(),
            2.5
        );
        assert_eq!(Serde::<i32>::i32().serialize(&-1).unwrap().unwrap(), vec![255; 4]);
    }

    #[test]
    fn string_rejects_invalid_utf8() {
        let s = Serde::string();
        assert_eq!(s.deserialize(b"abc").unwrap(), "abc");
        assert!(s.deserialize(&[0xff, 0xfe]).is_err());
        assert!(s.deserialize_nullable(None).is_err());
    }

    #[test]
    fn into_forms_reuse_the_buffers_and_match_the_plain_ones() {
        let s = Serde::string();
        let mut out = Vec::with_capacity(64);
        let at = out.as_ptr();
        assert!(s.serialize_into(&"card-42".to_string(), &mut out).unwrap());
        assert_eq!((out.as_slice(), out.as_ptr()), (&b"card-42"[..], at));
        let mut slot = String::with_capacity(64);
        let at = slot.as_ptr();
        s.deserialize_nullable_into(Some(b"card-7"), &mut slot).unwrap();
        assert_eq!((slot.as_str(), slot.as_ptr()), ("card-7", at));
        assert!(s.deserialize_nullable_into(Some(&[0xff]), &mut slot).is_err());
        assert!(s.deserialize_nullable_into(None, &mut slot).is_err());
        let b = Serde::bytes();
        let mut slot = vec![9u8; 32];
        b.deserialize_nullable_into(Some(&[1, 2]), &mut slot).unwrap();
        assert_eq!(slot, vec![1, 2]);
        let n = Serde::<i64>::i64();
        assert!(n.serialize_into(&256, &mut out).unwrap(), "out is cleared first");
        assert_eq!(out, n.serialize(&256).unwrap().unwrap());
        let mut slot = 0i64;
        n.deserialize_nullable_into(Some(&out), &mut slot).unwrap();
        assert_eq!(slot, 256);
        assert!(!Serde::void().serialize_into(&(), &mut out).unwrap());
        assert!(out.is_empty(), "a null payload leaves nothing");
    }

    #[test]
    fn void_is_null_both_ways() {
        let s = Serde::void();
        assert_eq!(s.serialize(&()).unwrap(), None);
        s.deserialize_nullable(None).unwrap();
        assert!(s.deserialize(b"x").is_err());
    }
}

//! Codecs with Kafka's own encodings: UTF-8 strings, raw bytes, big-endian numbers, void.

use super::{Codec, Serde, SerdeError};

struct StringCodec;

impl Codec<String> for StringCodec {
    fn serialize(&self, value: &String) -> Result<Vec<u8>, SerdeError> {
        Ok(value.as_bytes().to_vec())
    }
    fn serialize_owned(&self, value: String) -> Result<Vec<u8>, SerdeError> {
        Ok(value.into_bytes())
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<String, SerdeError> {
        String::from_utf8(bytes.to_vec()).map_err(SerdeError::deserialize::<String>)
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
    fn serialize_owned(&self, value: Vec<u8>) -> Result<Vec<u8>, SerdeError> {
        Ok(value)
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<Vec<u8>, SerdeError> {
        Ok(bytes.to_vec())
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
    fn void_is_null_both_ways() {
        let s = Serde::void();
        assert_eq!(s.serialize(&()).unwrap(), None);
        s.deserialize_nullable(None).unwrap();
        assert!(s.deserialize(b"x").is_err());
    }
}

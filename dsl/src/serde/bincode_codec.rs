//! bincode through serde: compact, the default for internal stores and repartition topics.

use super::{Codec, Serde, SerdeError};
use serde::{de::DeserializeOwned, Serialize};
use std::marker::PhantomData;

struct BincodeCodec<T>(PhantomData<fn() -> T>);

impl<T: Serialize + DeserializeOwned + 'static> Codec<T> for BincodeCodec<T> {
    fn serialize(&self, value: &T) -> Result<Vec<u8>, SerdeError> {
        bincode::serialize(value).map_err(SerdeError::serialize::<T>)
    }
    fn serialize_into(&self, value: &T, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        bincode::serialize_into(out, value).map_err(SerdeError::serialize::<T>)
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<T, SerdeError> {
        bincode::deserialize(bytes).map_err(SerdeError::deserialize::<T>)
    }
}

impl<T: Serialize + DeserializeOwned + 'static> Serde<T> {
    /// bincode 1 (little-endian, fixed-width integers).
    pub fn bincode() -> Self {
        Serde::new(BincodeCodec(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_tuples_and_rejects_truncation() {
        let s = Serde::<(String, u32)>::bincode();
        let bytes = s.serialize(&("a".into(), 7)).unwrap().unwrap();
        assert_eq!(s.deserialize(&bytes).unwrap(), ("a".to_string(), 7));
        assert!(s.deserialize(&bytes[..bytes.len() - 1]).is_err());
    }
}

//! JSON through `serde_json`.

use super::{Codec, Serde, SerdeError};
use serde::{de::DeserializeOwned, Serialize};
use std::marker::PhantomData;

struct JsonCodec<T>(PhantomData<fn() -> T>);

impl<T: Serialize + DeserializeOwned + 'static> Codec<T> for JsonCodec<T> {
    fn serialize(&self, value: &T) -> Result<Vec<u8>, SerdeError> {
        serde_json::to_vec(value).map_err(SerdeError::serialize::<T>)
    }
    fn serialize_into(&self, value: &T, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        serde_json::to_writer(out, value).map_err(SerdeError::serialize::<T>)
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<T, SerdeError> {
        serde_json::from_slice(bytes).map_err(SerdeError::deserialize::<T>)
    }
}

impl<T: Serialize + DeserializeOwned + 'static> Serde<T> {
    /// JSON via `serde_json`.
    pub fn json() -> Self {
        Serde::new(JsonCodec(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Txn {
        amount: u64,
        country: String,
    }

    #[test]
    fn round_trips_and_reports_bad_input() {
        let s = Serde::<Txn>::json();
        let t = Txn {
            amount: 12,
            country: "NL".into(),
        };
        let bytes = s.serialize(&t).unwrap().unwrap();
        assert_eq!(bytes, br#"{"amount":12,"country":"NL"}"#);
        assert_eq!(s.deserialize(&bytes).unwrap(), t);
        let err = s.deserialize(br#"{"amount":"x"}"#).unwrap_err().to_string();
        assert!(err.contains("Txn"), "{err}");
    }
}

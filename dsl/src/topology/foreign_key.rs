//! What a foreign-key table join (Kafka Streams' KIP-213) sends through its two internal
//! topics: subscriptions (left rows registering with the right row they point at) and
//! responses (the right row's value, sent back to the left row's partition). Sluice's own
//! layouts: only Sluice reads these topics.

use crate::dynamic::Dyn;
use crate::serde::{Codec, ErasedSerde, Serde, SerdeError};

/// What the subscription asks the right side to do (Kafka Streams' `SubscriptionWrapper.Instruction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FkInstruction {
    /// Unsubscribe; send nothing back (the left row now points elsewhere).
    DeleteKeyNoPropagate,
    /// Unsubscribe and send back a deletion (the left row is gone, or lost its foreign key).
    DeleteKeyAndPropagate,
    /// Subscribe and send back the right value, or a null one if there is none (left joins, and
    /// a left row that moved to another right row: its old result must be replaced).
    PropagateNullIfNoFkValAvailable,
    /// Subscribe and send back the right value only if there is one.
    PropagateOnlyIfFkValAvailable,
}

impl FkInstruction {
    fn to_byte(self) -> u8 {
        match self {
            FkInstruction::DeleteKeyNoPropagate => 0,
            FkInstruction::DeleteKeyAndPropagate => 1,
            FkInstruction::PropagateNullIfNoFkValAvailable => 2,
            FkInstruction::PropagateOnlyIfFkValAvailable => 3,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0 => FkInstruction::DeleteKeyNoPropagate,
            1 => FkInstruction::DeleteKeyAndPropagate,
            2 => FkInstruction::PropagateNullIfNoFkValAvailable,
            3 => FkInstruction::PropagateOnlyIfFkValAvailable,
            _ => return None,
        })
    }

    /// True for the instructions that remove the subscription.
    pub fn unsubscribes(self) -> bool {
        matches!(
            self,
            FkInstruction::DeleteKeyNoPropagate | FkInstruction::DeleteKeyAndPropagate
        )
    }
}

/// The digest of a left value, by which a response is matched with the left row's current
/// value (a response to an older value is dropped).
pub type ValueHash = [u8; 16];

/// A subscription: keyed by the foreign key ([`ForeignKey`]).
#[derive(Clone)]
pub struct FkSubscription {
    /// Digest of the left row's new value (`None` when it was deleted).
    pub hash: Option<ValueHash>,
    /// What to do.
    pub instruction: FkInstruction,
    /// The left row's key.
    pub primary_key: Dyn,
    /// The left row's partition: where the response must go.
    pub partition: i32,
}

/// A response: keyed by the left row's key.
#[derive(Clone)]
pub struct FkResponse {
    /// The digest the subscription carried.
    pub hash: Option<ValueHash>,
    /// The right row's value (`None`: no row).
    pub foreign_value: Option<Dyn>,
    /// The left row's partition.
    pub partition: i32,
}

/// A foreign key that may be null (a left join sends subscriptions of rows without one).
#[derive(Clone)]
pub struct ForeignKey(pub Option<Dyn>);

/// The subscription store's key and the records between its two processors: the foreign key,
/// then the left row's key.
#[derive(Clone)]
pub struct CombinedKey {
    /// The foreign key (`None` for a left join's row without one).
    pub foreign: Option<Dyn>,
    /// The left row's key.
    pub primary: Dyn,
}

fn hash_bytes(out: &mut Vec<u8>, hash: &Option<ValueHash>) {
    match hash {
        Some(h) => {
            out.push(1);
            out.extend_from_slice(h);
        }
        None => out.push(0),
    }
}

fn read_hash(bytes: &[u8]) -> Option<(Option<ValueHash>, &[u8])> {
    let (&flag, rest) = bytes.split_first()?;
    if flag == 0 {
        return Some((None, rest));
    }
    let (h, rest) = rest.split_at_checked(16)?;
    Some((Some(h.try_into().ok()?), rest))
}

fn truncated<T>() -> SerdeError {
    SerdeError::deserialize::<T>("truncated or unknown layout")
}

fn required(serde: &ErasedSerde, value: &Dyn, what: &str) -> Result<Vec<u8>, SerdeError> {
    serde
        .serialize(value)?
        .ok_or_else(|| SerdeError::serialize::<FkSubscription>(format!("the {what} serialized to null")))
}

/// Bytes: hash (flag, 16 bytes), instruction, partition (4 bytes, big-endian), then the left
/// row's key.
struct SubscriptionCodec {
    primary_key: ErasedSerde,
}

impl Codec<FkSubscription> for SubscriptionCodec {
    fn serialize(&self, s: &FkSubscription) -> Result<Vec<u8>, SerdeError> {
        let mut out = Vec::with_capacity(32);
        hash_bytes(&mut out, &s.hash);
        out.push(s.instruction.to_byte());
        out.extend_from_slice(&s.partition.to_be_bytes());
        out.extend_from_slice(&required(&self.primary_key, &s.primary_key, "primary key")?);
        Ok(out)
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<FkSubscription, SerdeError> {
        let (hash, rest) = read_hash(bytes).ok_or_else(truncated::<FkSubscription>)?;
        let (&instruction, rest) = rest.split_first().ok_or_else(truncated::<FkSubscription>)?;
        let instruction = FkInstruction::from_byte(instruction).ok_or_else(truncated::<FkSubscription>)?;
        let (partition, key) = rest.split_at_checked(4).ok_or_else(truncated::<FkSubscription>)?;
        Ok(FkSubscription {
            hash,
            instruction,
            partition: i32::from_be_bytes(partition.try_into().expect("4 bytes")),
            primary_key: self.primary_key.deserialize(Some(key))?,
        })
    }
}

/// Bytes: hash (flag, 16 bytes), partition (4 bytes), a flag for the value, then the value.
struct ResponseCodec {
    foreign_value: ErasedSerde,
}

impl Codec<FkResponse> for ResponseCodec {
    fn serialize(&self, r: &FkResponse) -> Result<Vec<u8>, SerdeError> {
        let mut out = Vec::with_capacity(32);
        hash_bytes(&mut out, &r.hash);
        out.extend_from_slice(&r.partition.to_be_bytes());
        match &r.foreign_value {
            Some(v) => match self.foreign_value.serialize(v)? {
                Some(bytes) => {
                    out.push(1);
                    out.extend_from_slice(&bytes);
                }
                None => out.push(0),
            },
            None => out.push(0),
        }
        Ok(out)
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<FkResponse, SerdeError> {
        let (hash, rest) = read_hash(bytes).ok_or_else(truncated::<FkResponse>)?;
        let (partition, rest) = rest.split_at_checked(4).ok_or_else(truncated::<FkResponse>)?;
        let (&has_value, value) = rest.split_first().ok_or_else(truncated::<FkResponse>)?;
        Ok(FkResponse {
            hash,
            partition: i32::from_be_bytes(partition.try_into().expect("4 bytes")),
            foreign_value: (has_value == 1)
                .then(|| self.foreign_value.deserialize(Some(value)))
                .transpose()?,
        })
    }
}

/// A foreign key: null is a null payload (the record then has no partition of its own).
struct ForeignKeyCodec {
    inner: ErasedSerde,
}

impl Codec<ForeignKey> for ForeignKeyCodec {
    fn serialize(&self, k: &ForeignKey) -> Result<Vec<u8>, SerdeError> {
        match &k.0 {
            Some(k) => required(&self.inner, k, "foreign key"),
            None => Err(SerdeError::serialize::<ForeignKey>(
                "a null key is written as a null payload",
            )),
        }
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<ForeignKey, SerdeError> {
        self.inner.deserialize(Some(bytes)).map(|k| ForeignKey(Some(k)))
    }

    fn null_value(&self) -> Option<ForeignKey> {
        Some(ForeignKey(None))
    }

    fn is_null(&self, k: &ForeignKey) -> bool {
        k.0.is_none()
    }
}

/// The serde of subscriptions whose left keys use `primary_key`.
pub fn subscription_serde(primary_key: ErasedSerde) -> Serde<FkSubscription> {
    Serde::new(SubscriptionCodec { primary_key })
}

/// The serde of responses whose right values use `foreign_value`.
pub fn response_serde(foreign_value: ErasedSerde) -> Serde<FkResponse> {
    Serde::new(ResponseCodec { foreign_value })
}

/// The serde of possibly-null foreign keys written with `inner`.
pub fn foreign_key_serde(inner: ErasedSerde) -> Serde<ForeignKey> {
    Serde::new(ForeignKeyCodec { inner })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamic::{downcast_ref, erase};

    #[test]
    fn subscriptions_responses_and_keys_round_trip() {
        let s = subscription_serde(Serde::string().into());
        let sub = FkSubscription {
            hash: Some([7; 16]),
            instruction: FkInstruction::PropagateOnlyIfFkValAvailable,
            primary_key: erase("left-1".to_string()),
            partition: 3,
        };
        let back = s.deserialize(&s.serialize(&sub).unwrap().unwrap()).unwrap();
        assert_eq!(back.hash, Some([7; 16]));
        assert_eq!(back.instruction, FkInstruction::PropagateOnlyIfFkValAvailable);
        assert_eq!(back.partition, 3);
        assert_eq!(downcast_ref::<String>(&back.primary_key), "left-1");

        let r = response_serde(Serde::string().into());
        for value in [Some("right"), None] {
            let resp = FkResponse {
                hash: None,
                foreign_value: value.map(|v| erase(v.to_string())),
                partition: -1,
            };
            let back = r.deserialize(&r.serialize(&resp).unwrap().unwrap()).unwrap();
            assert_eq!(
                back.foreign_value
                    .map(|v| downcast_ref::<String>(&v).clone())
                    .as_deref(),
                value
            );
            assert_eq!((back.hash, back.partition), (None, -1));
        }

        let k = foreign_key_serde(Serde::string().into());
        assert_eq!(
            k.serialize(&ForeignKey(None)).unwrap(),
            None,
            "null key, null payload"
        );
        let some = k
            .serialize(&ForeignKey(Some(erase("fk".to_string()))))
            .unwrap()
            .unwrap();
        assert_eq!(some, b"fk");
        assert!(s.deserialize(&[1, 0]).is_err(), "truncated");
    }
}

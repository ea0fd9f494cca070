//! A table update in transit through a repartition topic: `KTable::group_by` sends each update
//! of the source table to the new key as a `TableChange`, so that the aggregation behind the
//! topic can retract the old value and add the new one (Kafka Streams' `Change<V>` with its
//! `ChangedSerializer`).

use crate::dynamic::Dyn;
use crate::serde::{Codec, ErasedSerde, Serde, SerdeError};

/// The new and the old value of one update (`None`: absent), erased like every value between
/// processors.
#[derive(Clone)]
pub struct TableChange {
    /// The value to add.
    pub new: Option<Dyn>,
    /// The value to retract.
    pub old: Option<Dyn>,
}

/// Bytes: a flag byte (bit 0: a new value, bit 1: an old value), the new value's length
/// (4 bytes, big-endian) and bytes, then the old value's bytes. Sluice's own layout: only
/// Sluice reads these topics.
struct ChangeCodec {
    inner: ErasedSerde,
}

const HAS_NEW: u8 = 1;
const HAS_OLD: u8 = 2;

impl Codec<TableChange> for ChangeCodec {
    fn serialize(&self, change: &TableChange) -> Result<Vec<u8>, SerdeError> {
        let encode = |v: &Option<Dyn>| -> Result<Option<Vec<u8>>, SerdeError> {
            Ok(match v {
                Some(v) => self.inner.serialize(v)?,
                None => None,
            })
        };
        let (new, old) = (encode(&change.new)?, encode(&change.old)?);
        let new_len = new.as_ref().map_or(0, Vec::len);
        let mut out = Vec::with_capacity(5 + new_len + old.as_ref().map_or(0, Vec::len));
        out.push(if new.is_some() { HAS_NEW } else { 0 } | if old.is_some() { HAS_OLD } else { 0 });
        let len =
            u32::try_from(new_len).map_err(|_| SerdeError::serialize::<TableChange>("a value over 4 GiB"))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(new.as_deref().unwrap_or_default());
        out.extend_from_slice(old.as_deref().unwrap_or_default());
        Ok(out)
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<TableChange, SerdeError> {
        let bad = || SerdeError::deserialize::<TableChange>("truncated table change");
        let (&flags, rest) = bytes.split_first().ok_or_else(bad)?;
        let (len, rest) = rest.split_at_checked(4).ok_or_else(bad)?;
        let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
        let (new, old) = rest.split_at_checked(len).ok_or_else(bad)?;
        let decode = |present: bool, b: &[u8]| present.then(|| self.inner.deserialize(Some(b))).transpose();
        Ok(TableChange {
            new: decode(flags & HAS_NEW != 0, new)?,
            old: decode(flags & HAS_OLD != 0, old)?,
        })
    }
}

/// The serde of the changes of values read and written with `values`.
pub fn change_serde(values: ErasedSerde) -> Serde<TableChange> {
    Serde::new(ChangeCodec { inner: values })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamic::{downcast_ref, erase};

    #[test]
    fn round_trips_every_shape() {
        let serde = change_serde(Serde::string().into());
        for (new, old) in [
            (Some("n"), Some("old")),
            (Some(""), None),
            (None, Some("o")),
            (None, None),
        ] {
            let change = TableChange {
                new: new.map(|s| erase(s.to_string())),
                old: old.map(|s| erase(s.to_string())),
            };
            let bytes = serde.serialize(&change).unwrap().unwrap();
            let back = serde.deserialize(&bytes).unwrap();
            let text = |v: &Option<Dyn>| v.as_ref().map(|d| downcast_ref::<String>(d).clone());
            assert_eq!(text(&back.new).as_deref(), new);
            assert_eq!(text(&back.old).as_deref(), old);
        }
        assert!(
            serde.deserialize(&[HAS_NEW, 0, 0, 0, 9, b'x']).is_err(),
            "truncated"
        );
    }
}

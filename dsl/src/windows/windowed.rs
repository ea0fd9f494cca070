//! `Window` and `Windowed<K>`: the keys of windowed tables, and their serdes.

use crate::serde::{Codec, Serde, SerdeError};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// A time window. For time and sliding windows `end` is `start + size`; time windows exclude
/// their end, sliding windows include it; session windows span first to last record,
/// inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Window {
    /// Start (ms since the epoch).
    pub start: i64,
    /// End (ms since the epoch).
    pub end: i64,
}

impl Window {
    /// A window.
    pub fn new(start: i64, end: i64) -> Self {
        Window { start, end }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {}]", self.start, self.end)
    }
}

/// A key together with its window: the key type of windowed tables.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Windowed<K> {
    /// The record key.
    pub key: K,
    /// The window.
    pub window: Window,
}

impl<K> Windowed<K> {
    /// A windowed key.
    pub fn new(key: K, window: Window) -> Self {
        Windowed { key, window }
    }
}

impl<K: fmt::Display> fmt::Display for Windowed<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.key, self.window)
    }
}

struct TimeWindowedCodec<K> {
    inner: Arc<dyn Codec<K>>,
    size_ms: i64,
}

impl<K: 'static> Codec<Windowed<K>> for TimeWindowedCodec<K> {
    fn serialize(&self, value: &Windowed<K>) -> Result<Vec<u8>, SerdeError> {
        let mut out = self.inner.serialize(&value.key)?;
        out.extend_from_slice(&value.window.start.to_be_bytes());
        Ok(out)
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<Windowed<K>, SerdeError> {
        let split = bytes
            .len()
            .checked_sub(8)
            .ok_or_else(|| SerdeError::deserialize::<Windowed<K>>("shorter than a window start"))?;
        let start = i64::from_be_bytes(bytes[split..].try_into().expect("8 bytes"));
        Ok(Windowed::new(
            self.inner.deserialize(&bytes[..split])?,
            Window::new(start, start.saturating_add(self.size_ms)),
        ))
    }
}

struct SessionWindowedCodec<K> {
    inner: Arc<dyn Codec<K>>,
}

impl<K: 'static> Codec<Windowed<K>> for SessionWindowedCodec<K> {
    fn serialize(&self, value: &Windowed<K>) -> Result<Vec<u8>, SerdeError> {
        let mut out = self.inner.serialize(&value.key)?;
        out.extend_from_slice(&value.window.end.to_be_bytes());
        out.extend_from_slice(&value.window.start.to_be_bytes());
        Ok(out)
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<Windowed<K>, SerdeError> {
        let split = bytes
            .len()
            .checked_sub(16)
            .ok_or_else(|| SerdeError::deserialize::<Windowed<K>>("shorter than a session window"))?;
        let end = i64::from_be_bytes(bytes[split..split + 8].try_into().expect("8 bytes"));
        let start = i64::from_be_bytes(bytes[split + 8..].try_into().expect("8 bytes"));
        Ok(Windowed::new(
            self.inner.deserialize(&bytes[..split])?,
            Window::new(start, end),
        ))
    }
}

impl<K: 'static> Serde<Windowed<K>> {
    /// Keys of time (and sliding) windows as Kafka's `TimeWindowedSerde` writes them: the key,
    /// then the window start (8 bytes, big-endian); the end is `start + size_ms`.
    pub fn time_windowed(inner: Serde<K>, size_ms: i64) -> Self {
        Serde::new(TimeWindowedCodec {
            inner: Arc::clone(inner.codec()),
            size_ms,
        })
    }

    /// Keys of session windows as Kafka's `SessionWindowedSerde` writes them: the key, then the
    /// end and the start (8 bytes each, big-endian).
    pub fn session_windowed(inner: Serde<K>) -> Self {
        Serde::new(SessionWindowedCodec {
            inner: Arc::clone(inner.codec()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windowed_serdes_use_kafka_layouts() {
        let s = Serde::time_windowed(Serde::string(), 300);
        let w = Windowed::new("k".to_string(), Window::new(600, 900));
        let bytes = s.serialize(&w).unwrap().unwrap();
        assert_eq!(bytes, [&b"k"[..], &600i64.to_be_bytes()].concat());
        assert_eq!(s.deserialize(&bytes).unwrap(), w);
        assert!(s.deserialize(b"k").is_err());

        let s = Serde::session_windowed(Serde::string());
        let w = Windowed::new("k".to_string(), Window::new(10, 20));
        let bytes = s.serialize(&w).unwrap().unwrap();
        assert_eq!(
            bytes,
            [&b"k"[..], &20i64.to_be_bytes(), &10i64.to_be_bytes()].concat()
        );
        assert_eq!(s.deserialize(&bytes).unwrap(), w);
    }
}

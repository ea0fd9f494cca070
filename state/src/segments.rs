//! Time segments: keys of window and session stores start with a segment id, so that retention
//! drops whole segments with one range delete (Kafka Streams' segmented stores, in one column
//! family).

/// Kafka Streams' segment interval: half the retention, at least one minute.
pub fn segment_interval(retention_ms: i64) -> i64 {
    (retention_ms / 2).max(60_000)
}

/// The segment holding time `t` (clamped at 0: store times are never negative).
pub(crate) fn segment_of(t: i64, interval: i64) -> u64 {
    (t.max(0) / interval) as u64
}

/// The first time of segment `s`.
pub(crate) fn segment_start(s: u64, interval: i64) -> i64 {
    i64::try_from(s).map_or(i64::MAX, |s| s.saturating_mul(interval))
}

/// Big-endian `u64`: ordered like the number.
pub(crate) fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// Reads a big-endian `u64` at `at`.
pub(crate) fn read_be(bytes: &[u8], at: usize) -> Option<u64> {
    bytes
        .get(at..at + 8)
        .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
}

/// The key prefix of segment `s`.
pub(crate) fn segment_prefix(s: u64) -> [u8; 8] {
    be(s)
}

//! Kafka's default partitioner for keyed records: murmur2 of the key, made positive, modulo
//! the partition count (what Java clients and librdkafka's `murmur2_random` compute).

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`).
pub(crate) fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() == 3 {
        h ^= (rest[2] as u32) << 16;
    }
    if rest.len() >= 2 {
        h ^= (rest[1] as u32) << 8;
    }
    if !rest.is_empty() {
        h ^= rest[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of `key` among `partitions`, as Kafka's default partitioner puts keyed
/// records (records without a key go to partition 0: the simulation's producers always key
/// their records; interactive queries only ask for keys).
pub(crate) fn partition_for(key: Option<&[u8]>, partitions: i32) -> i32 {
    match key {
        Some(k) => (murmur2(k) & 0x7fff_ffff) % partitions.max(1),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_kafkas_reference_vectors() {
        // Kafka's UtilsTest.testMurmur2.
        for (input, expected) in [
            (&b"21"[..], -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            (b"abc", 479_470_107),
        ] {
            assert_eq!(murmur2(input), expected, "{}", String::from_utf8_lossy(input));
        }
        assert!((0..4).contains(&partition_for(Some(b"acct-1"), 4)));
    }
}

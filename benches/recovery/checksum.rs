//! The reference state (every key's final value) and the restored one, checksummed in the same
//! order-independent way, so that millions of keys compare without holding them twice.

use crate::load::{key, value};
use sha2::{Digest, Sha256};
use std::path::Path;

/// One key-value pair's contribution: the first 8 bytes of SHA-256(key | 0 | value).
fn entry(key: &[u8], value: &[u8]) -> u64 {
    let mut h = Sha256::new();
    h.update(key);
    h.update([0]);
    h.update(value);
    u64::from_be_bytes(h.finalize()[..8].try_into().expect("8 bytes"))
}

/// Every key's current version.
pub struct Reference {
    versions: Vec<u32>,
    bytes: usize,
}

impl Reference {
    pub fn new(keys: u64, bytes: usize) -> Reference {
        Reference {
            versions: vec![0; keys as usize],
            bytes,
        }
    }

    pub fn update(&mut self, k: u64, version: u32) {
        self.versions[k as usize] = version;
    }

    /// (entries, wrapping sum of their contributions).
    pub fn checksum(&self) -> (u64, u64) {
        let sum = self.versions.iter().enumerate().fold(0u64, |acc, (k, &v)| {
            acc.wrapping_add(entry(key(k as u64).as_bytes(), &value(k as u64, v, self.bytes)))
        });
        (self.versions.len() as u64, sum)
    }
}

/// The checksum of the `kv` store of task 0_0 in the closed instance state under `state_dir`.
/// Table stores are timestamped: the value follows an 8-byte timestamp.
pub fn of_task(state_dir: &Path, app: &str) -> (u64, u64) {
    let dir = state_dir.join(app).join("0_0");
    let db = sluice::state::TaskDb::open(&dir, &["kv"], &sluice::state::RocksDbResources::unbounded())
        .expect("the restored database");
    let backend = db.backend("kv").expect("the kv store");
    let (mut n, mut sum) = (0u64, 0u64);
    for e in backend
        .range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded)
        .expect("a scan")
    {
        let (k, v) = e.expect("an entry");
        n += 1;
        sum = sum.wrapping_add(entry(&k, &v[8..]));
    }
    (n, sum)
}

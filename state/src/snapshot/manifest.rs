//! The manifest of one snapshot: what a restore needs to trust it.
//!
//! A manifest is immutable and written create-only, after every file it names was uploaded; a
//! snapshot without one does not exist. Its `checksum` covers every other field, so a manifest
//! altered or truncated in the store is detected before any file is downloaded.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest format this version writes and reads.
pub const FORMAT: u32 = 1;

/// One store of the snapshot: where its changelog is and the last offset the snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreOffset {
    /// The store.
    pub store: String,
    /// Its changelog topic.
    pub changelog_topic: String,
    /// The changelog partition (the task's).
    pub partition: i32,
    /// The last changelog offset the snapshot's state reflects; restoration replays from the
    /// next one. `None`: the store had applied no changelog record.
    pub offset: Option<i64>,
}

/// One file of the snapshot's database directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The file's name in the database directory.
    pub name: String,
    /// Where it is, relative to the store's prefix.
    pub object: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256 of the contents, lowercase hex.
    pub sha256: String,
}

/// One snapshot of one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: u32,
    /// The task (`<sub-topology>_<partition>`).
    pub task: String,
    /// Increases by one per snapshot of the task.
    pub sequence: u64,
    /// The database incarnation the files come from (a new one whenever a database is created
    /// or restored, so that two owners never upload different files under one name).
    pub incarnation: String,
    /// Wall-clock time the snapshot was published (ms since the epoch).
    pub created_ms: i64,
    /// Each store's changelog position.
    pub stores: Vec<StoreOffset>,
    /// Every file of the database directory.
    pub files: Vec<FileEntry>,
    /// SHA-256 (hex) of this manifest serialized with an empty checksum.
    pub checksum: String,
}

impl Manifest {
    /// Serialized, with its checksum filled in.
    pub fn seal(mut self) -> (Manifest, Vec<u8>) {
        self.checksum = String::new();
        self.checksum = hex(&Sha256::digest(
            serde_json::to_vec(&self).expect("manifests serialize"),
        ));
        let bytes = serde_json::to_vec_pretty(&self).expect("manifests serialize");
        (self, bytes)
    }

    /// Parses and checks a manifest; the reason it cannot be trusted otherwise.
    pub fn open(bytes: &[u8]) -> Result<Manifest, String> {
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| format!("unreadable: {e}"))?;
        if manifest.format != FORMAT {
            return Err(format!(
                "format {} (this version reads {FORMAT})",
                manifest.format
            ));
        }
        let mut unsealed = manifest.clone();
        unsealed.checksum = String::new();
        let expected = hex(&Sha256::digest(
            serde_json::to_vec(&unsealed).expect("manifests serialize"),
        ));
        if expected != manifest.checksum {
            return Err("checksum mismatch".into());
        }
        Ok(manifest)
    }

    /// Total bytes of the files.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT,
            task: "0_1".into(),
            sequence: 3,
            incarnation: "abc".into(),
            created_ms: 1,
            stores: vec![StoreOffset {
                store: "counts".into(),
                changelog_topic: "app-counts-changelog".into(),
                partition: 1,
                offset: Some(41),
            }],
            files: vec![FileEntry {
                name: "000007.sst".into(),
                object: "0_1/files/abc/000007.sst".into(),
                size: 10,
                sha256: "00".into(),
            }],
            checksum: String::new(),
        }
    }

    #[test]
    fn sealed_manifests_open_and_any_change_is_detected() {
        let (sealed, bytes) = manifest().seal();
        assert_eq!(Manifest::open(&bytes).unwrap(), sealed);
        let tampered = String::from_utf8(bytes.clone()).unwrap().replace("41", "42");
        assert_eq!(
            Manifest::open(tampered.as_bytes()).unwrap_err(),
            "checksum mismatch"
        );
        assert!(Manifest::open(&bytes[..bytes.len() / 2])
            .unwrap_err()
            .starts_with("unreadable"));
    }
}

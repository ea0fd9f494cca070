//! Snapshots of task databases in object storage (S3, local files, memory; HDFS behind the
//! `hdfs` feature), so that a task moving to an instance with an empty disk restores from the
//! newest snapshot and replays only the changelog's tail.
//!
//! The changelog stays the source of truth: a snapshot is a shortcut through it, never a
//! replacement. Layout under the store's prefix, per task:
//!
//! ```text
//! <task>/manifests/<sequence, 20 digits>.json   immutable, written create-only, last
//! <task>/files/<incarnation>/<name>.sst         immutable SST files, shared between snapshots
//! <task>/meta/<sequence>/<name>                 the other database files of one snapshot
//! ```
//!
//! Invariants:
//! - A snapshot exists once its manifest does, and the manifest is written after every file it
//!   names: a snapshot that failed midway leaves files that no manifest names (collected after
//!   the grace period), never a manifest a restore would trust.
//! - SST files are named by the database incarnation that wrote them (a new incarnation
//!   whenever a database is created or restored), so two owners of one task never upload
//!   different contents under one name; within an incarnation RocksDB never reuses a name.
//! - A new snapshot uploads only the SST files its predecessor of the same incarnation lacks
//!   (checked to still be there), and the small files every time.
//! - Restore verifies the manifest's checksum, that its offsets are not beyond the changelog's
//!   end, and each file's size and SHA-256, falling back to older snapshots, then to a full
//!   changelog replay (`None`).

mod error;
mod location;
mod manifest;
mod store;

pub use error::SnapshotError;
pub use location::parse_location;
pub(crate) use manifest::hex;
pub use manifest::{FileEntry, Manifest, StoreOffset, FORMAT};
pub use store::{GcReport, Published, RestoreProgress, Restored, SnapshotStore};

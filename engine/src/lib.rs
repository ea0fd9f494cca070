//! Sluice's runtime: turns a [`Topology`](sluice_dsl::Topology) into tasks over state stores,
//! and runs them — in-process with the [`TopologyTestDriver`], or against Kafka.

mod buffer_pool;
pub mod client;
pub mod clock;
mod config;
mod error;
mod global;
mod handlers;
mod http;
mod instance;
pub mod metrics;
mod processor;
pub mod query;
mod record;
mod restore;
pub mod runtime;
pub mod sim;
mod snapshots;
mod state_provider;
mod task;
mod task_id;
pub mod test_driver;

pub use config::{ConfigError, ErrorHandler, MetricsLevel, ProcessingGuarantee, StreamsConfig};
pub use error::{RecordPosition, StreamsError};
pub use handlers::dlq_headers;
pub use metrics::{DropReason, Metrics};
pub use record::{Headers, OutputRecord, RawRecord};
pub use runtime::{Streams, StreamsState, UncaughtAction};
pub use task_id::TaskId;
pub use test_driver::{
    KeyValueStoreView, RestoredStore, SessionStoreView, TestInputTopic, TestOutputTopic, TestRecord,
    TopologyTestDriver, VersionedStoreView, WindowStoreView,
};

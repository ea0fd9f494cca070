//! The Kafka runtime: stream threads in a consumer group running a topology's tasks.

mod global_thread;
mod lag;
mod partition_group;
pub(crate) mod query_registry;
mod restore_reader;
pub(crate) mod state;
mod state_directory;
pub(crate) mod stream_thread;
mod streams;
pub(crate) mod task_manager;
pub(crate) mod topics;

pub use state::StreamsState;
pub use streams::{Streams, UncaughtAction};
pub use task_manager::BrokenCommit;

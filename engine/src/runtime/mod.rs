//! The Kafka runtime: stream threads in a consumer group running a topology's tasks.

mod global_thread;
mod partition_group;
mod restore_reader;
mod state;
mod stream_thread;
mod streams;
mod task_manager;
mod topics;

pub use state::StreamsState;
pub use streams::{Streams, UncaughtAction};

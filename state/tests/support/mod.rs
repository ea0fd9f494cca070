//! Test support shared by the state crate's integration tests.

#![allow(dead_code)]

pub mod moto;
pub mod task_db;

/// The runtime the snapshot tests drive the store with.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

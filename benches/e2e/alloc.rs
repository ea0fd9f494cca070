//! Heap allocations counted by the bench's own processes (Sluice and the passthrough), so that
//! the table can show allocations per record: the system allocator instrumented by the
//! `stats_alloc` crate. Counting costs a few atomic adds per allocation, paid by every engine
//! of this binary alike; the peers run in processes of their own and are not counted.

use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Rust heap allocations (and reallocations, which may move) so far in this process, every
/// thread; librdkafka's and RocksDB's C/C++ allocations use malloc directly and are not counted.
pub fn allocations() -> u64 {
    let stats = ALLOCATOR.stats();
    (stats.allocations + stats.reallocations) as u64
}

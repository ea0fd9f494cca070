//! Heap allocations counted by the bench's own processes (Sluice and the passthrough), so that
//! the table can show allocations per record.
//!
//! The count must not cost what it measures. The `stats_alloc` crate (used before) does two sequentially
//! consistent atomic adds per allocation and two per free, on counters every thread shares: in
//! the same run it cost the stateless scenario 12-15% of its CPU per record, and Sluice more
//! than the passthrough since it allocates more. Here each thread counts in a slot of its own
//! with a plain load and store (one writer per slot, so no locked instruction), frees are not
//! counted, and a reader sums the slots.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Threads beyond this many share the last slot, with atomic adds.
const SLOTS: usize = 64;

/// A counter on a cache line of its own, so that threads do not contend for lines.
#[repr(align(128))]
struct Slot(AtomicU64);

static COUNTS: [Slot; SLOTS] = [const { Slot(AtomicU64::new(0)) }; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's slot; `usize::MAX` until its first allocation. A `const` initializer and no
    /// destructor: reading it never allocates.
    static MY_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

struct Counting;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn count() {
    // During thread teardown the slot may be gone; such allocations go uncounted.
    let _ = MY_SLOT.try_with(|slot| {
        let mut i = slot.get();
        if i == usize::MAX {
            i = NEXT_SLOT.fetch_add(1, Ordering::Relaxed).min(SLOTS - 1);
            slot.set(i);
        }
        let counter = &COUNTS[i].0;
        if i == SLOTS - 1 {
            counter.fetch_add(1, Ordering::Relaxed);
        } else {
            // The only writer of this slot: no read-modify-write needed.
            counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
    });
}

// The package's one `unsafe` (see Cargo.toml). SAFETY: every call is forwarded to the system
// allocator unchanged; counting touches no allocation.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A reallocation may move: counted as an allocation, as before.
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Rust heap allocations (and reallocations, which may move) so far in this process, every
/// thread; librdkafka's and RocksDB's C/C++ allocations use malloc directly and are not counted.
pub fn allocations() -> u64 {
    COUNTS.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
}

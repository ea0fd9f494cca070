//! Byte buffers kept for reuse, within a budget: where a record's bytes go once the record is
//! done, so that the next record's bytes need no allocation.
//!
//! Two pools use it: the consumer's (a record's key and value copied out of librdkafka) and
//! each task's (a sink's encoded key and value; see `task::Recycler`).
//!
//! Invariant: the pool never holds more than `budget` bytes of capacity, nor a buffer of more
//! than `max_each`: a burst of huge records is freed, not kept.

/// Empty byte buffers with capacity, at most `budget` bytes of it in all.
#[derive(Debug)]
pub(crate) struct BufferPool {
    buffers: Vec<Vec<u8>>,
    /// Capacity of the buffers held.
    kept: usize,
    budget: usize,
    max_each: usize,
}

impl BufferPool {
    /// A pool of at most `budget` bytes of capacity, of buffers of at most `max_each`.
    pub(crate) fn new(budget: usize, max_each: usize) -> Self {
        BufferPool {
            buffers: Vec::new(),
            kept: 0,
            budget,
            max_each,
        }
    }

    /// An empty buffer, with capacity from an earlier record if the pool had one.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        match self.buffers.pop() {
            Some(b) => {
                self.kept -= b.capacity();
                b
            }
            None => Vec::new(),
        }
    }

    /// A copy of `bytes` in a buffer from the pool.
    pub(crate) fn copy_of(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut b = self.take();
        b.extend_from_slice(bytes);
        b
    }

    /// Keeps `buffer` (cleared) for a later record, if it fits the budget.
    pub(crate) fn give(&mut self, mut buffer: Vec<u8>) {
        let capacity = buffer.capacity();
        if capacity == 0 || capacity > self.max_each || self.kept + capacity > self.budget {
            return;
        }
        buffer.clear();
        self.kept += capacity;
        self.buffers.push(buffer);
    }

    /// Capacity held, in bytes.
    #[cfg(test)]
    pub(crate) fn kept_bytes(&self) -> usize {
        self.kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_cleared_with_their_capacity() {
        let mut pool = BufferPool::new(1024, 256);
        let b = pool.copy_of(b"card-42");
        let at = b.as_ptr();
        pool.give(b);
        let b = pool.take();
        assert!(b.is_empty());
        assert_eq!(b.as_ptr(), at);
        assert_eq!(pool.kept_bytes(), 0, "taken out");
        assert_eq!(pool.copy_of(b"xy"), b"xy");
    }

    #[test]
    fn the_budget_and_the_size_limit_hold() {
        let mut pool = BufferPool::new(100, 40);
        pool.give(Vec::with_capacity(41));
        assert_eq!(pool.kept_bytes(), 0, "larger than one buffer may be");
        pool.give(Vec::new());
        assert_eq!(pool.kept_bytes(), 0, "no capacity, nothing to keep");
        for _ in 0..5 {
            pool.give(Vec::with_capacity(30));
        }
        assert!(pool.kept_bytes() <= 100);
        assert_eq!(pool.buffers.len(), 3);
    }
}

//! `TestOutputTopic`: reads typed records the topology wrote.

use super::{DriverState, TestRecord};
use crate::record::OutputRecord;
use sluice_dsl::serde::Serde;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::rc::Rc;

/// Reads what the topology wrote to one topic, in order. Reading consumes: two handles on one
/// topic share its records. Methods panic on a record the serdes cannot read, as an assertion
/// would.
pub struct TestOutputTopic<K, V> {
    state: Rc<RefCell<DriverState>>,
    topic: String,
    key_serde: Serde<K>,
    value_serde: Serde<V>,
}

impl<K: 'static, V: 'static> TestOutputTopic<K, V> {
    pub(crate) fn new(
        state: Rc<RefCell<DriverState>>,
        topic: &str,
        key_serde: Serde<K>,
        value_serde: Serde<V>,
    ) -> Self {
        TestOutputTopic {
            state,
            topic: topic.to_string(),
            key_serde,
            value_serde,
        }
    }

    fn decode(&self, r: OutputRecord) -> TestRecord<K, V> {
        let key = self
            .key_serde
            .deserialize_nullable(r.key.as_deref())
            .unwrap_or_else(|e| panic!("output topic {}: cannot read key: {e}", self.topic));
        let value = match r.value.as_deref() {
            None if !self.value_serde.accepts_null() => None,
            bytes => Some(
                self.value_serde
                    .deserialize_nullable(bytes)
                    .unwrap_or_else(|e| panic!("output topic {}: cannot read value: {e}", self.topic)),
            ),
        };
        TestRecord {
            key,
            value,
            timestamp: r.timestamp,
            headers: r.headers,
        }
    }

    /// The next record, or `None` if all were read.
    pub fn read_record(&self) -> Option<TestRecord<K, V>> {
        let r = self.state.borrow_mut().take_unread(&self.topic)?;
        Some(self.decode(r))
    }

    /// The next key and value.
    ///
    /// # Panics
    /// If there is none, or its value is null (use [`read_record`](Self::read_record)).
    pub fn read_key_value(&self) -> (K, V) {
        let r = self
            .read_record()
            .unwrap_or_else(|| panic!("output topic {} has no unread record", self.topic));
        let value = r.value.unwrap_or_else(|| {
            panic!(
                "output topic {}: the record is a tombstone: use read_record",
                self.topic
            )
        });
        (r.key, value)
    }

    /// The next value (see [`read_key_value`](Self::read_key_value) for panics).
    pub fn read_value(&self) -> V {
        self.read_key_value().1
    }

    /// Every unread record.
    pub fn read_records_to_list(&self) -> Vec<TestRecord<K, V>> {
        std::iter::from_fn(|| self.read_record()).collect()
    }

    /// Every unread key and value (panics on tombstones).
    pub fn read_key_values_to_list(&self) -> Vec<(K, V)> {
        let mut out = Vec::new();
        while !self.is_empty() {
            out.push(self.read_key_value());
        }
        out
    }

    /// Every unread value (panics on tombstones).
    pub fn read_values_to_list(&self) -> Vec<V> {
        self.read_key_values_to_list()
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    }

    /// The latest value per key of the unread records; tombstones remove keys.
    pub fn read_key_values_to_map(&self) -> HashMap<K, V>
    where
        K: Eq + Hash,
    {
        let mut map = HashMap::new();
        for r in self.read_records_to_list() {
            match r.value {
                Some(v) => map.insert(r.key, v),
                None => map.remove(&r.key),
            };
        }
        map
    }

    /// Number of unread records.
    pub fn queue_size(&self) -> usize {
        self.state.borrow().unread_len(&self.topic)
    }

    /// True if every record was read.
    pub fn is_empty(&self) -> bool {
        self.queue_size() == 0
    }
}

//! Kafka record headers: what a record carries besides key, value and timestamp.

use std::sync::Arc;

/// One header: a name and a possibly-null value.
pub type Header = (String, Option<Vec<u8>>);

/// Kafka record headers, shared between the copies of a record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Option<Arc<Vec<Header>>>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Headers(None)
    }

    /// Headers from pairs.
    pub fn from_pairs(pairs: Vec<Header>) -> Self {
        if pairs.is_empty() {
            Headers(None)
        } else {
            Headers(Some(Arc::new(pairs)))
        }
    }

    /// The pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&[u8]>)> {
        self.0
            .iter()
            .flat_map(|v| v.iter())
            .map(|(k, v)| (k.as_str(), v.as_deref()))
    }

    /// The last value of header `key`.
    pub fn last(&self, key: &str) -> Option<Option<&[u8]>> {
        self.iter().filter(|(k, _)| *k == key).map(|(_, v)| v).last()
    }

    /// A copy with `extra` appended.
    pub fn with(&self, extra: impl IntoIterator<Item = Header>) -> Headers {
        let mut pairs: Vec<Header> = self.0.as_deref().cloned().unwrap_or_default();
        pairs.extend(extra);
        Headers::from_pairs(pairs)
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

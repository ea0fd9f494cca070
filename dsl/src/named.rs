//! `Named`: a user-chosen name for a processor node.

/// The longest name Kafka accepts for a topic-derived name.
pub(crate) const MAX_NAME_LEN: usize = 249;

/// A name for a processor node (Kafka Streams' `Named`), shown by `Topology::describe()` and
/// used to derive internal topic names. Legal names are 1–249 characters of
/// `[a-zA-Z0-9._-]`; an illegal one fails `StreamsBuilder::build`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named(pub(crate) String);

impl Named {
    /// A name, as Kafka Streams' `Named.as(name)`.
    pub fn as_(name: impl Into<String>) -> Self {
        Named(name.into())
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Named {
    fn from(s: &str) -> Self {
        Named(s.to_string())
    }
}

impl From<String> for Named {
    fn from(s: String) -> Self {
        Named(s)
    }
}

/// Why `name` is not a legal node, store or topic-derived name, if it is not.
pub(crate) fn invalid_name_reason(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Some(format!("longer than {MAX_NAME_LEN} characters"));
    }
    if name == "." || name == ".." {
        return Some("'.' and '..' are reserved".into());
    }
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .map(|c| format!("illegal character {c:?}: use [a-zA-Z0-9._-]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules_follow_kafka() {
        assert_eq!(invalid_name_reason("fraud-app.v1_x"), None);
        assert!(invalid_name_reason("").is_some());
        assert!(invalid_name_reason("a b").unwrap().contains("' '"));
        assert!(invalid_name_reason(&"x".repeat(250)).is_some());
        assert!(invalid_name_reason("..").is_some());
    }
}

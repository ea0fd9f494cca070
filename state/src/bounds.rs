//! Helpers for byte-key ranges.

use std::ops::Bound;

/// True if no key can satisfy `from .. to` (BTreeMap panics on such ranges).
pub(crate) fn is_empty_range(from: Bound<&[u8]>, to: Bound<&[u8]>) -> bool {
    match (from, to) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b))
        | (Bound::Excluded(a), Bound::Excluded(b)) => a >= b,
        _ => false,
    }
}

/// The smallest key greater than every key starting with `prefix`, or `None` if there is none
/// (the prefix is empty or all `0xff`).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// True if `key` is inside `from .. to`.
pub(crate) fn contains(from: Bound<&[u8]>, to: Bound<&[u8]>, key: &[u8]) -> bool {
    let lower = match from {
        Bound::Included(a) => key >= a,
        Bound::Excluded(a) => key > a,
        Bound::Unbounded => true,
    };
    let upper = match to {
        Bound::Included(b) => key <= b,
        Bound::Excluded(b) => key < b,
        Bound::Unbounded => true,
    };
    lower && upper
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successor_skips_ff_bytes() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xff, 0xff]), None);
        assert_eq!(prefix_successor(b""), None);
    }

    #[test]
    fn empty_ranges() {
        assert!(is_empty_range(Bound::Included(b"b"), Bound::Included(b"a")));
        assert!(is_empty_range(Bound::Excluded(b"a"), Bound::Excluded(b"a")));
        assert!(!is_empty_range(Bound::Included(b"a"), Bound::Included(b"a")));
        assert!(!is_empty_range(Bound::Unbounded, Bound::Excluded(b"a")));
    }
}

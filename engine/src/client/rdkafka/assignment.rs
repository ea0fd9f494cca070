//! Kafka's consumer protocol `Assignment` (what a group member's `MemberAssignment` bytes
//! hold under the classic protocol): a version, then per topic its partitions, then user
//! data. Versions 0 to 3 share this layout.

use crate::client::TopicPartition;

/// The partitions of an assignment; `None` if the bytes are not one.
pub(crate) fn partitions(bytes: &[u8]) -> Option<Vec<TopicPartition>> {
    let mut r = Reader(bytes);
    let _version = r.i16()?;
    let topics = r.i32()?;
    let mut out = Vec::new();
    for _ in 0..topics.max(0) {
        let len = usize::try_from(r.i16()?).ok()?;
        let topic = std::str::from_utf8(r.take(len)?).ok()?.to_string();
        for _ in 0..r.i32()?.max(0) {
            out.push(TopicPartition::new(topic.as_str(), r.i32()?));
        }
    }
    Some(out)
}

/// Big-endian reads off the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(version: i16, topics: &[(&str, &[i32])]) -> Vec<u8> {
        let mut b = version.to_be_bytes().to_vec();
        b.extend((topics.len() as i32).to_be_bytes());
        for (t, ps) in topics {
            b.extend((t.len() as i16).to_be_bytes());
            b.extend(t.as_bytes());
            b.extend((ps.len() as i32).to_be_bytes());
            for p in *ps {
                b.extend(p.to_be_bytes());
            }
        }
        b.extend((-1i32).to_be_bytes()); // no user data
        b
    }

    #[test]
    fn reads_every_topic_partition() {
        let bytes = encode(3, &[("in", &[0, 2]), ("other", &[1])]);
        assert_eq!(
            partitions(&bytes).unwrap(),
            vec![
                TopicPartition::new("in", 0),
                TopicPartition::new("in", 2),
                TopicPartition::new("other", 1)
            ]
        );
        assert_eq!(partitions(&encode(0, &[])).unwrap(), vec![]);
    }

    #[test]
    fn truncated_bytes_are_not_an_assignment() {
        let bytes = encode(1, &[("in", &[0, 2])]);
        assert_eq!(partitions(&bytes[..bytes.len() - 9]), None);
        assert_eq!(partitions(&[0]), None);
    }
}

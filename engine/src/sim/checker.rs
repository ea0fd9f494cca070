//! Reads what an application committed and compares it with what its input implies: every
//! effect of every input record exactly once. Lost effects (an input not reflected) and
//! duplicated ones (an input reflected twice) are reported separately.

use super::scenario::{Input, Scenario, WINDOW_MS};
use crate::client::sim::SimRecord;
use std::collections::BTreeMap;

/// Violations found, as readable lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Effects missing from the committed output or state.
    pub lost: Vec<String>,
    /// Effects present more than once.
    pub duplicated: Vec<String>,
    /// Anything else wrong (order, values that match no input).
    pub other: Vec<String>,
}

impl Verdict {
    /// True if nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.lost.is_empty() && self.duplicated.is_empty() && self.other.is_empty()
    }
}

fn text(bytes: &Option<Vec<u8>>) -> String {
    bytes
        .as_deref()
        .map_or_else(|| "null".to_string(), |b| String::from_utf8_lossy(b).into_owned())
}

/// Per output key, the values in the order a reader sees them (a key lives in one partition).
fn values_by_key(outputs: &[SimRecord]) -> BTreeMap<String, Vec<String>> {
    let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in outputs {
        by_key.entry(text(&r.key)).or_default().push(text(&r.value));
    }
    by_key
}

/// Checks running counts: key -> number of inputs. Every count 1..=n once, in order.
fn check_counts(expected: &BTreeMap<String, i64>, outputs: &[SimRecord], v: &mut Verdict) {
    let by_key = values_by_key(outputs);
    for (key, &n) in expected {
        let seen: Vec<i64> = by_key
            .get(key)
            .map(|vs| vs.iter().filter_map(|s| s.parse().ok()).collect())
            .unwrap_or_default();
        let mut times: BTreeMap<i64, usize> = BTreeMap::new();
        for &c in &seen {
            *times.entry(c).or_default() += 1;
        }
        for c in 1..=n {
            match times.get(&c).copied().unwrap_or(0) {
                0 => v.lost.push(format!("{key}: count {c} of {n} never committed")),
                1 => {}
                m => v.duplicated.push(format!("{key}: count {c} committed {m} times")),
            }
        }
        for (&c, _) in times.range(n + 1..) {
            v.duplicated.push(format!(
                "{key}: count {c} beyond its {n} inputs (an input counted twice)"
            ));
        }
        if seen.windows(2).any(|w| w[0] >= w[1]) && times.values().all(|&m| m == 1) {
            v.other.push(format!("{key}: counts out of order: {seen:?}"));
        }
    }
    for key in by_key.keys().filter(|k| !expected.contains_key(*k)) {
        v.other.push(format!("output key {key} matches no input"));
    }
}

/// Compares `scenario`'s committed output (and, for counts, the store's changelog) with the
/// stream of inputs.
pub(crate) fn check(
    scenario: Scenario,
    stream: &[Input],
    outputs: &[SimRecord],
    changelog: &[SimRecord],
) -> Verdict {
    let mut v = Verdict::default();
    match scenario {
        Scenario::Count => {
            let mut expected: BTreeMap<String, i64> = BTreeMap::new();
            for i in stream {
                *expected.entry(i.key.clone()).or_default() += 1;
            }
            check_counts(&expected, outputs, &mut v);
            // The store's final state, as its changelog restores it.
            let mut last: BTreeMap<String, i64> = BTreeMap::new();
            for r in changelog {
                let n = r
                    .value
                    .as_deref()
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map_or(0, i64::from_be_bytes);
                last.insert(text(&r.key), n);
            }
            for (key, &n) in &expected {
                match last.get(key).copied().unwrap_or(0) {
                    got if got < n => v.lost.push(format!("{key}: changelog ends at {got}, {n} inputs")),
                    got if got > n => v
                        .duplicated
                        .push(format!("{key}: changelog ends at {got}, {n} inputs")),
                    _ => {}
                }
            }
        }
        Scenario::WindowedCount => {
            let mut expected: BTreeMap<String, i64> = BTreeMap::new();
            for i in stream {
                let start = i.timestamp - i.timestamp.rem_euclid(WINDOW_MS);
                *expected.entry(format!("{}@{start}", i.key)).or_default() += 1;
            }
            check_counts(&expected, outputs, &mut v);
        }
        Scenario::StreamTableJoin => {
            let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for r in outputs {
                let value = text(&r.value);
                let payment = value.split('|').next().unwrap_or_default().to_string();
                seen.entry(payment)
                    .or_default()
                    .push(format!("{}:{value}", text(&r.key)));
            }
            for i in stream {
                let want = format!("{}:{}|profile-{}", i.key, i.value, &i.key[1..]);
                match seen.remove(&i.value) {
                    None => v.lost.push(format!("payment {} never joined", i.value)),
                    Some(got) if got.len() > 1 => {
                        v.duplicated
                            .push(format!("payment {} joined {} times", i.value, got.len()))
                    }
                    Some(got) if got[0] != want => {
                        v.other.push(format!("payment {}: {} != {want}", i.value, got[0]))
                    }
                    Some(_) => {}
                }
            }
            for payment in seen.keys() {
                v.other.push(format!("output {payment} matches no payment"));
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(key: &str, value: &str, offset: i64) -> SimRecord {
        SimRecord {
            partition: 0,
            offset,
            key: Some(key.as_bytes().to_vec()),
            value: Some(value.as_bytes().to_vec()),
            timestamp: 0,
        }
    }

    fn input(key: &str) -> Input {
        Input {
            topic: "input",
            key: key.into(),
            value: "v".into(),
            timestamp: 0,
        }
    }

    fn changelog(key: &str, n: i64) -> SimRecord {
        SimRecord {
            partition: 0,
            offset: 0,
            key: Some(key.as_bytes().to_vec()),
            value: Some(n.to_be_bytes().to_vec()),
            timestamp: 0,
        }
    }

    #[test]
    fn counts_report_lost_and_duplicated_effects() {
        let stream = vec![input("a"), input("a"), input("b")];
        let good = [out("a", "1", 0), out("a", "2", 1), out("b", "1", 2)];
        let cl = [changelog("a", 2), changelog("b", 1)];
        assert!(check(Scenario::Count, &stream, &good, &cl).is_clean());

        let lost = [out("a", "1", 0), out("b", "1", 2)];
        let v = check(
            Scenario::Count,
            &stream,
            &lost,
            &[changelog("a", 1), changelog("b", 1)],
        );
        assert_eq!(v.lost.len(), 2, "{v:?}");
        assert!(v.duplicated.is_empty());

        let twice = [
            out("a", "1", 0),
            out("a", "2", 1),
            out("a", "3", 2),
            out("b", "1", 3),
            out("b", "1", 4),
        ];
        let v = check(
            Scenario::Count,
            &stream,
            &twice,
            &[changelog("a", 3), changelog("b", 1)],
        );
        assert!(v.lost.is_empty(), "{v:?}");
        assert_eq!(v.duplicated.len(), 3, "{v:?}");
    }

    #[test]
    fn joins_report_each_payment() {
        let stream = vec![Input {
            topic: "input",
            key: "k1".into(),
            value: "p0".into(),
            timestamp: 0,
        }];
        let good = [out("k1", "p0|profile-1", 0)];
        assert!(check(Scenario::StreamTableJoin, &stream, &good, &[]).is_clean());
        let v = check(Scenario::StreamTableJoin, &stream, &[], &[]);
        assert_eq!(v.lost.len(), 1);
        let v = check(
            Scenario::StreamTableJoin,
            &stream,
            &[good[0].clone(), good[0].clone()],
            &[],
        );
        assert_eq!(v.duplicated.len(), 1);
    }
}

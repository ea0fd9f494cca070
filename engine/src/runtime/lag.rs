//! `sluice_consumer_lag{thread, topic, partition}`: a stream thread's view of how far its
//! consumer is behind each assigned input partition.

use crate::client::TopicPartition;
use crate::metrics::{names, Gauge, Metrics};
use std::collections::BTreeMap;

/// The lag gauges of one stream thread's assigned partitions.
///
/// Invariant: a series exists exactly for the partitions of the newest report, so that a
/// partition moved to another thread or instance stops being reported here (its new owner
/// reports it).
pub(crate) struct LagGauges {
    metrics: Metrics,
    thread: String,
    gauges: BTreeMap<TopicPartition, Gauge>,
}

impl LagGauges {
    pub(crate) fn new(metrics: Metrics, thread: usize) -> Self {
        LagGauges {
            metrics,
            thread: thread.to_string(),
            gauges: BTreeMap::new(),
        }
    }

    /// Sets the lag of every partition in `lag` and drops the series of the others.
    pub(crate) fn update(&mut self, lag: &[(TopicPartition, i64)]) {
        let current: BTreeMap<&TopicPartition, i64> = lag.iter().map(|(tp, n)| (tp, *n)).collect();
        let gone: Vec<TopicPartition> = self
            .gauges
            .keys()
            .filter(|tp| !current.contains_key(tp))
            .cloned()
            .collect();
        for tp in gone {
            self.gauges.remove(&tp);
            let partition = tp.partition.to_string();
            self.metrics.remove(
                names::CONSUMER_LAG,
                &[
                    ("thread", &self.thread),
                    ("topic", &tp.topic),
                    ("partition", &partition),
                ],
            );
        }
        for (tp, n) in current {
            let gauge = self.gauges.entry(tp.clone()).or_insert_with(|| {
                let partition = tp.partition.to_string();
                self.metrics.gauge(
                    names::CONSUMER_LAG,
                    "Records between the consumer's position and the end of an assigned input partition",
                    &[
                        ("thread", &self.thread),
                        ("topic", &tp.topic),
                        ("partition", &partition),
                    ],
                )
            });
            gauge.set(n.max(0) as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_assigned_partitions_and_forgets_revoked_ones() {
        let metrics = Metrics::new();
        let mut lag = LagGauges::new(metrics.clone(), 0);
        let (a, b) = (TopicPartition::new("in", 0), TopicPartition::new("in", 1));
        lag.update(&[(a.clone(), 5), (b.clone(), 7)]);
        assert_eq!(metrics.total(names::CONSUMER_LAG, &[]), 12);
        assert_eq!(metrics.total(names::CONSUMER_LAG, &[("partition", "1")]), 7);
        lag.update(&[(a, 0)]);
        assert_eq!(metrics.total(names::CONSUMER_LAG, &[]), 0);
        let page = metrics.render_prometheus();
        assert!(
            page.contains("sluice_consumer_lag{thread=\"0\",topic=\"in\",partition=\"0\"} 0"),
            "{page}"
        );
        assert!(
            !page.contains("partition=\"1\""),
            "partition 1 was revoked: {page}"
        );
    }
}

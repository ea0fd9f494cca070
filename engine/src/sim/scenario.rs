//! The applications a simulation runs: topologies whose correct output is computable from the
//! input alone, and the input each seed generates.

use crate::client::sim::Rng;
use sluice_dsl::prelude::*;
use std::time::Duration;

/// Which application to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scenario {
    /// Running count per key: every count 1..=n of every key must appear exactly once.
    Count,
    /// Count per key and 1-second tumbling window: every count of every window exactly once.
    WindowedCount,
    /// Payments joined with a profiles table: every payment exactly once, with its profile.
    StreamTableJoin,
}

impl Scenario {
    /// Every scenario.
    pub const ALL: [Scenario; 3] = [
        Scenario::Count,
        Scenario::WindowedCount,
        Scenario::StreamTableJoin,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Count => "count",
            Scenario::WindowedCount => "windowed-count",
            Scenario::StreamTableJoin => "stream-table-join",
        }
    }

    /// The scenario called `name`.
    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Topic names.
pub(crate) const INPUT: &str = "input";
pub(crate) const PROFILES: &str = "profiles";
pub(crate) const OUTPUT: &str = "output";
/// The store of the count scenario (its changelog is checked too).
pub(crate) const COUNT_STORE: &str = "counts";
/// Tumbling window size of the windowed scenario.
pub(crate) const WINDOW_MS: i64 = 1_000;

/// One input record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Input {
    pub(crate) topic: &'static str,
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) timestamp: i64,
}

/// The topology of `scenario`.
pub(crate) fn topology(scenario: Scenario) -> Topology {
    let builder = StreamsBuilder::new();
    let input = builder.stream(INPUT, Consumed::with(Serde::string(), Serde::string()));
    match scenario {
        Scenario::Count => {
            input
                .group_by_key()
                .count(Materialized::as_(COUNT_STORE).with_value_serde(Serde::i64()))
                .to_stream()
                .map_values(|n| n.to_string())
                .to(OUTPUT, Produced::with(Serde::string(), Serde::string()));
        }
        Scenario::WindowedCount => {
            input
                .group_by_key()
                .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_millis(
                    WINDOW_MS as u64,
                )))
                .count(Materialized::as_("window-counts"))
                .to_stream()
                .map(|w, n| (format!("{}@{}", w.key, w.window.start), n.to_string()))
                .to(OUTPUT, Produced::with(Serde::string(), Serde::string()));
        }
        Scenario::StreamTableJoin => {
            let profiles = builder.table(PROFILES, Consumed::with(Serde::string(), Serde::string()));
            input
                .join_table(&profiles, |payment, profile| format!("{payment}|{profile}"))
                .to(OUTPUT, Produced::with(Serde::string(), Serde::string()));
        }
    }
    builder.build().expect("the simulation's topologies are valid")
}

/// Records loaded before the application starts (the profiles table), and the stream
/// produced while it runs: `records` records over `keys` keys, timestamps increasing.
pub(crate) fn inputs(
    scenario: Scenario,
    keys: usize,
    records: usize,
    rng: &mut Rng,
) -> (Vec<Input>, Vec<Input>) {
    let start = 1_700_000_000_000i64;
    let preload = match scenario {
        Scenario::StreamTableJoin => (0..keys)
            .map(|k| Input {
                topic: PROFILES,
                key: format!("k{k}"),
                value: format!("profile-{k}"),
                timestamp: start - 1,
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut time = start;
    let stream = (0..records)
        .map(|i| {
            time += rng.below(60) as i64;
            Input {
                topic: INPUT,
                key: format!("k{}", rng.below(keys as u64)),
                value: format!("p{i}"),
                timestamp: time,
            }
        })
        .collect();
    (preload, stream)
}

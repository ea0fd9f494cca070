//! Scaling (`--scaling`): records/s of a scenario with one stream thread, with two stream
//! threads in one process, and with two instances (processes) of one stream thread each, on
//! the same input, under one consumer group.
//!
//! As in the throughput runs, the input is preloaded; the engines start together, on a broker
//! with Kafka's default initial rebalance delay (3 s), so that the group's first assignment
//! spreads the partitions over every member instead of a second member's join interrupting
//! the first one's work. The harness checks that the group is stable with every member
//! assigned, then measures from 5% of the input to all of it, by the group's committed offsets
//! (the commit is what makes a record done). CPU time is that of every engine process over
//! the same window, read from /proc.

use crate::spec::{Guarantee, Kind, Layout, PARTITIONS};
use crate::{sys, verified, verify, ChildProc, Harness};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;
use std::time::{Duration, Instant};

/// How many stream threads in how many processes.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Setup {
    pub threads: usize,
    pub instances: usize,
}

impl Setup {
    /// The three setups the issue asks for, the baseline first.
    pub const ALL: [Setup; 3] = [
        Setup {
            threads: 1,
            instances: 1,
        },
        Setup {
            threads: 2,
            instances: 1,
        },
        Setup {
            threads: 1,
            instances: 2,
        },
    ];

    fn label(self) -> String {
        match (self.threads, self.instances) {
            (t, 1) => format!("1 instance, {t} stream thread{}", if t > 1 { "s" } else { "" }),
            (1, i) => format!("{i} instances, 1 stream thread each"),
            (t, i) => format!("{i} instances, {t} stream threads each"),
        }
    }
}

/// One measured cell.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub scenario: String,
    pub guarantee: Guarantee,
    pub setup: Setup,
    pub records_per_second: f64,
    pub cpu_microseconds_per_record: f64,
    /// Records/s over the one-thread, one-instance cell of the same scenario and guarantee.
    pub speedup: f64,
    /// Records in the measured window (from about 5% of the input to its end).
    pub measured_records: u64,
}

/// The committed offsets of `group` on `topic`, summed over its partitions.
struct Progress {
    consumer: BaseConsumer,
    partitions: TopicPartitionList,
}

impl Progress {
    fn new(bootstrap: &str, group: &str, topic: &str) -> Progress {
        // Querying committed offsets needs the group id; the consumer never joins the group.
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("a consumer");
        let mut partitions = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            partitions.add_partition(topic, p);
        }
        Progress { consumer, partitions }
    }

    fn committed(&self) -> u64 {
        let tpl = self
            .consumer
            .committed_offsets(self.partitions.clone(), Duration::from_secs(10))
            .expect("the group's committed offsets");
        tpl.elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => o.max(0) as u64,
                _ => 0,
            })
            .sum()
    }

    /// Waits until the group is stable with `members` members, each assigned partitions.
    fn wait_stable(&self, group: &str, members: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            // Until the group exists, its coordinator may answer with a retriable error.
            let list = self
                .consumer
                .fetch_group_list(Some(group), Duration::from_secs(10));
            let stable = list.as_ref().is_ok_and(|list| {
                list.groups().iter().any(|g| {
                    g.state() == "Stable"
                        && g.members().len() == members
                        && g.members()
                            .iter()
                            .all(|m| m.assignment().is_some_and(|a| !a.is_empty()))
                })
            });
            if stable {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "group {group} not stable with {members} members within 2 minutes (last: {:?})",
                list.map(|l| l
                    .groups()
                    .iter()
                    .map(|g| (g.state().to_string(), g.members().len()))
                    .collect::<Vec<_>>())
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn cpu_of(children: &[ChildProc]) -> f64 {
    children.iter().map(|c| sys::cpu_seconds_of(c.child.id())).sum()
}

impl Harness {
    /// One scaling cell: `n` records of `size` bytes through `kind` under `setup`.
    /// A smoke run (not `full`) only checks the output: its group may form in two steps (no
    /// initial rebalance delay on its broker).
    fn scaled(
        &mut self,
        kind: Kind,
        guarantee: Guarantee,
        size: usize,
        n: u64,
        setup: Setup,
        full: bool,
    ) -> (f64, f64, u64) {
        let mut spec = self.spec(kind, guarantee, size, 0);
        spec.threads = setup.threads;
        let layout = Layout::ending_now(n);
        self.preload(&spec, &layout, size);
        // Every instance has its own state directory, as on separate machines.
        let mut children: Vec<ChildProc> = (0..setup.instances)
            .map(|i| {
                let mut instance = spec.clone();
                instance.state_dir = format!("{}-{i}", spec.state_dir);
                self.spawn(&instance)
            })
            .collect();
        let progress = Progress::new(&self.bootstrap, &spec.app, &spec.input);
        progress.wait_stable(&spec.app, setup.threads * setup.instances);
        let at_stable = progress.committed();
        assert!(
            !full || at_stable * 4 <= n,
            "{done} of {n} records were done before the group had all its members: too few left \
             to measure (raise --records)",
            done = at_stable
        );
        let deadline = Instant::now() + Duration::from_secs(1800);
        let wait_until = |target: u64| loop {
            let done = progress.committed();
            if done >= target {
                return done;
            }
            assert!(
                Instant::now() < deadline,
                "{} not done within 30 minutes",
                kind.label()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let done_before = wait_until(n.div_ceil(20));
        let (start, start_cpu) = (Instant::now(), cpu_of(&children));
        wait_until(n);
        let (seconds, cpu) = (start.elapsed().as_secs_f64(), cpu_of(&children) - start_cpu);
        for c in &mut children {
            c.stop();
        }
        for c in children {
            c.result(Duration::from_secs(300));
        }
        verified(
            &spec,
            &verify::Input { layout, size },
            &format!("{} {} {}", kind.label(), guarantee.label(), setup.label()),
        );
        let measured = n - done_before.min(n);
        (measured as f64 / seconds, 1e6 * cpu / measured as f64, measured)
    }
}

/// The scaling runs of `kinds` under both guarantees: medians of `runs` per cell.
pub fn run(h: &mut Harness, kinds: &[Kind], size: usize, n: u64, runs: usize, full: bool) -> Vec<Cell> {
    println!(
        "scaling: {n} records of {size} B per run, {PARTITIONS} partitions, median of {runs} run(s) per cell"
    );
    let mut cells = Vec::new();
    for &kind in kinds {
        for guarantee in [Guarantee::AtLeastOnce, Guarantee::ExactlyOnce] {
            let mut baseline = f64::NAN;
            for setup in Setup::ALL {
                let mut all: Vec<(f64, f64, u64)> = (0..runs)
                    .map(|_| h.scaled(kind, guarantee, size, n, setup, full))
                    .collect();
                all.sort_by(|a, b| a.0.total_cmp(&b.0));
                let spread = format!("{:.0}-{:.0}", all[0].0, all[all.len() - 1].0);
                let (rps, cpu, measured) = all[all.len() / 2];
                if setup.threads * setup.instances == 1 {
                    baseline = rps;
                }
                let cell = Cell {
                    scenario: kind.label().into(),
                    guarantee,
                    setup,
                    records_per_second: rps,
                    cpu_microseconds_per_record: cpu,
                    speedup: rps / baseline,
                    measured_records: measured,
                };
                if measured == 0 {
                    // Only in smoke runs (a full run asserts that a quarter is left at least).
                    println!(
                        "  {:<27}{:>4}  {:<36} not measured: the input was done before the group had \
                         all its members",
                        cell.scenario,
                        guarantee.label(),
                        setup.label()
                    );
                } else {
                    println!(
                        "  {:<27}{:>4}  {:<36}{:>9.0} records/s ({spread}), {:.2} us CPU per record, {:.2}x one thread",
                        cell.scenario,
                        guarantee.label(),
                        setup.label(),
                        rps,
                        cpu,
                        cell.speedup
                    );
                }
                cells.push(cell);
            }
        }
    }
    cells
}

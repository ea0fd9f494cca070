//! Seeded simulations: application instances running the real runtime (stream threads, task
//! manager, stores, commit protocol) against the simulated cluster, while a seeded schedule
//! crashes processes (also in the middle of a commit), fences producers, kicks members out of
//! the group, aborts transactions, restarts and closes instances. Afterwards a checker reads the
//! committed output and changelogs and reports lost and duplicated effects.
//!
//! Everything — which thread steps, when time moves, which fault strikes — follows from the
//! seed, so a failing seed replays the same run.
//!
//! ```no_run
//! use sluice_engine::sim::{Scenario, SimulationConfig};
//! let report = SimulationConfig::new(42, Scenario::WindowedCount).run();
//! assert!(report.passed(), "{report}");
//! ```

pub mod backlog;
mod checker;
mod instance;
mod scenario;
#[cfg(test)]
mod trickle;
#[cfg(test)]
mod unreadable_offsets;

pub use crate::runtime::BrokenCommit;
pub use checker::Verdict;
pub use scenario::Scenario;

use crate::client::sim::{Faults, Rng, SimCluster, SimCrash, SimStats};
use crate::client::TopicPartition;
use crate::config::{ProcessingGuarantee, StreamsConfig};
use instance::SimInstance;
use scenario::Input;
use sluice_dsl::Topology;
use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// Steps of the faulty phase after the last input record was produced.
const TAIL_STEPS: usize = 300;
/// Steps the fault-free phase may take to let every instance catch up.
const QUIESCE_STEPS: usize = 60_000;

/// What to simulate. [`SimulationConfig::new`] derives the shape of the run (instances,
/// threads, partitions, keys, records, store type, fault rates) from the seed.
#[derive(Debug, Clone)]
pub struct SimulationConfig {
    /// Drives everything.
    pub seed: u64,
    /// The application.
    pub scenario: Scenario,
    /// `exactly_once_v2` (default) or `at_least_once` (then only losses are violations).
    pub guarantee: ProcessingGuarantee,
    /// A deliberately broken commit, to show the checker catches it.
    pub broken: Option<BrokenCommit>,
    /// Inject faults (default true); without, the run shows the fault-free path.
    pub faults: bool,
    /// Snapshot task databases to a shared store (local files), and give restarted
    /// instances an empty state directory half of the time, so that they restore from
    /// snapshots (RocksDB stores, default false).
    pub snapshots: bool,
}

impl SimulationConfig {
    /// An exactly-once run of `scenario` shaped by `seed`, with faults.
    pub fn new(seed: u64, scenario: Scenario) -> Self {
        SimulationConfig {
            seed,
            scenario,
            guarantee: ProcessingGuarantee::ExactlyOnceV2,
            broken: None,
            faults: true,
            snapshots: false,
        }
    }

    /// Runs the simulation.
    pub fn run(&self) -> SimulationReport {
        Simulation::new(self).run()
    }
}

/// The shape of a run, derived from its seed.
#[derive(Debug, Clone)]
struct Shape {
    instances: usize,
    threads: usize,
    partitions: i32,
    keys: usize,
    records: usize,
    rocksdb: bool,
    /// `rocksdb.row.cache.bytes` of RocksDB stores: 0 (off), 4 KiB (the simulation's reads
    /// evict from it) or 64 KiB (it holds every key) (drawn from the separate stream, after
    /// `max_idle_ms`).
    row_cache_bytes: usize,
    /// `buffered.records.per.partition`: small bounds exercise the soft and hard bounds
    /// (pause and resume) under faults.
    buffered: usize,
    /// `max.task.idle.ms`: above 0 a join task waits for its empty table partition, and
    /// pauses its full stream partition meanwhile (drawn from a separate stream of the seed,
    /// so that adding it changed no older seed's run).
    max_idle_ms: u64,
    faults: Faults,
    /// Per-step probabilities of the schedule's actions.
    crash_instance: f64,
    close_instance: f64,
    restart: f64,
    fence: f64,
    kick: f64,
}

impl Shape {
    fn of(rng: &mut Rng, seed: u64, with_faults: bool) -> Shape {
        let on = if with_faults { 1.0 } else { 0.0 };
        let mut side = Rng::new(seed ^ 0x1d1e_7a5c);
        Shape {
            max_idle_ms: [0, 10, 200][side.below(3) as usize],
            row_cache_bytes: [0, 4 << 10, 64 << 10][side.below(3) as usize],
            instances: 1 + rng.below(3) as usize,
            threads: 1 + rng.below(2) as usize,
            partitions: 2 + rng.below(3) as i32,
            keys: 3 + rng.below(6) as usize,
            records: 100 + rng.below(201) as usize,
            rocksdb: rng.below(4) == 0,
            faults: Faults {
                crash: on * [0.0, 0.0005, 0.002][rng.below(3) as usize],
                abortable: on * [0.0, 0.002, 0.01][rng.below(3) as usize],
                // From the side stream: the seeds' other choices stay as they were.
                offset_reads: on * [0.0, 0.0, 0.05][side.below(3) as usize],
            },
            crash_instance: on * 0.004,
            close_instance: on * 0.002,
            restart: 0.05,
            fence: on * 0.003,
            kick: on * 0.003,
            buffered: [2, 7, 1000][rng.below(3) as usize],
        }
    }
}

/// The outcome of one simulation.
#[derive(Debug, Clone)]
pub struct SimulationReport {
    /// The seed.
    pub seed: u64,
    /// The application.
    pub scenario: Scenario,
    /// The guarantee it ran with.
    pub guarantee: ProcessingGuarantee,
    /// The broken commit it ran with, if any.
    pub broken: Option<BrokenCommit>,
    /// The run's shape, readable.
    pub shape: String,
    /// What the checker found.
    pub verdict: Verdict,
    /// Problems outside the checker's: threads that failed, a run that did not finish.
    pub failures: Vec<String>,
    /// The cluster's counters.
    pub stats: SimStats,
    /// Rebalances completed.
    pub rebalances: u64,
    /// Whole instances crashed by the schedule or at a crash point.
    pub instance_crashes: u64,
    /// Instances closed cleanly mid-run.
    pub closes: u64,
    /// Steps taken.
    pub steps: usize,
    /// The run snapshotted task databases (see `SimulationConfig::snapshots`).
    pub snapshots: bool,
    /// With snapshots: snapshots published, and tasks restored from one.
    pub snapshots_taken: u64,
    /// See `snapshots_taken`.
    pub snapshot_restores: u64,
}

impl SimulationReport {
    /// True if the guarantee held: nothing lost and, under exactly-once, nothing duplicated
    /// and nothing else wrong; and the run finished.
    pub fn passed(&self) -> bool {
        let v = &self.verdict;
        let guarantee_held = match self.guarantee {
            ProcessingGuarantee::ExactlyOnceV2 => v.is_clean(),
            _ => v.lost.is_empty(),
        };
        guarantee_held && self.failures.is_empty()
    }

    /// How to run this seed again.
    pub fn replay_command(&self) -> String {
        let mut cmd = format!(
            "SLUICE_SIM_SEED={} SLUICE_SIM_SCENARIO={}",
            self.seed,
            self.scenario.name()
        );
        if self.guarantee != ProcessingGuarantee::ExactlyOnceV2 {
            cmd.push_str(" SLUICE_SIM_GUARANTEE=at_least_once");
        }
        if self.snapshots {
            cmd.push_str(" SLUICE_SIM_SNAPSHOTS=1");
        }
        cmd + " cargo test --test eos_simulation"
    }
}

fn first(lines: &[String], n: usize) -> String {
    let mut s = lines.iter().take(n).cloned().collect::<Vec<_>>().join("; ");
    if lines.len() > n {
        s.push_str(&format!("; ... {} in all", lines.len()));
    }
    s
}

impl fmt::Display for SimulationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {} {} ({}{}): {}; {} steps, {} commits, {} aborts, {} fenced, {} timeouts, {} crash points hit, \
             {} instance crashes, {} closes, {} rebalances, {} abortable errors, {} failed offset reads",
            self.seed,
            self.scenario.name(),
            self.shape,
            self.broken.map(|b| format!(", broken: {b:?}")).unwrap_or_default(),
            if self.passed() { "passed" } else { "FAILED" },
            self.steps,
            self.stats.commits,
            self.stats.aborts,
            self.stats.fenced,
            self.stats.timeouts,
            self.stats.crashes,
            self.instance_crashes,
            self.closes,
            self.rebalances,
            self.stats.abortable_errors,
            self.stats.failed_offset_reads,
        )?;
        let v = &self.verdict;
        if !v.lost.is_empty() {
            write!(f, "\n  lost ({}): {}", v.lost.len(), first(&v.lost, 5))?;
        }
        if !v.duplicated.is_empty() {
            write!(
                f,
                "\n  duplicated ({}): {}",
                v.duplicated.len(),
                first(&v.duplicated, 5)
            )?;
        }
        if !v.other.is_empty() {
            write!(f, "\n  other ({}): {}", v.other.len(), first(&v.other, 5))?;
        }
        if !self.failures.is_empty() {
            write!(f, "\n  failures: {}", first(&self.failures, 5))?;
        }
        if !self.passed() {
            write!(f, "\n  replay: {}", self.replay_command())?;
        }
        Ok(())
    }
}

/// One instance position: its state directory survives crashes and restarts (unless the
/// run gives restarted instances fresh disks).
struct Slot {
    dir: tempfile::TempDir,
    live: Option<SimInstance>,
    incarnation: u64,
}

enum Outcome {
    Ok,
    Crashed,
    Failed(String),
}

struct Simulation<'c> {
    config: &'c SimulationConfig,
    rng: Rng,
    shape: Shape,
    cluster: SimCluster,
    topology: Arc<Topology>,
    streams_config: Arc<StreamsConfig>,
    slots: Vec<Slot>,
    /// With snapshots: the store every instance shares, and the chance that a restarted
    /// instance gets an empty state directory (drawn from a stream of its own, so that runs
    /// without snapshots are unchanged).
    snapshot_dir: Option<tempfile::TempDir>,
    fresh_disks: Option<Rng>,
    /// The metrics of every instance started (they outlive crashes).
    all_metrics: Vec<crate::metrics::Metrics>,
    stream: Vec<Input>,
    produced: usize,
    source_topics: Vec<String>,
    failures: Vec<String>,
    instance_crashes: u64,
    closes: u64,
    steps: usize,
}

impl<'c> Simulation<'c> {
    fn new(config: &'c SimulationConfig) -> Self {
        let mut rng = Rng::new(config.seed);
        let shape = Shape::of(&mut rng, config.seed, config.faults);
        let cluster = SimCluster::new(rng.next_u64(), shape.faults);
        let (preload, stream) = scenario::inputs(config.scenario, shape.keys, shape.records, &mut rng);
        for topic in [scenario::INPUT, scenario::PROFILES, scenario::OUTPUT] {
            cluster.create_topic(topic, shape.partitions);
        }
        for i in &preload {
            cluster.produce(i.topic, i.key.as_bytes(), i.value.as_bytes(), i.timestamp);
        }
        let guarantee = match config.guarantee {
            ProcessingGuarantee::ExactlyOnceV2 => "exactly_once_v2",
            _ => "at_least_once",
        };
        let snapshot_dir = config
            .snapshots
            .then(|| tempfile::tempdir().expect("a temporary snapshot directory"));
        let mut streams_config = StreamsConfig::new(format!("sim-{}", config.seed), "simulated")
            .with("processing.guarantee", guarantee)
            .and_then(|c| c.with("statestore.cache.max.bytes", "0"))
            .and_then(|c| c.with("commit.interval.ms", "100"))
            .and_then(|c| c.with("buffered.records.per.partition", &shape.buffered.to_string()))
            .and_then(|c| c.with("max.task.idle.ms", &shape.max_idle_ms.to_string()))
            .and_then(|c| c.with("rocksdb.row.cache.bytes", &shape.row_cache_bytes.to_string()))
            .and_then(|c| {
                c.with(
                    "default.dsl.store",
                    if shape.rocksdb || config.snapshots {
                        "rocksdb"
                    } else {
                        "in_memory"
                    },
                )
            })
            .expect("valid simulation config");
        if let Some(dir) = &snapshot_dir {
            for (key, value) in [
                ("state.snapshot.store", format!("file://{}", dir.path().display())),
                ("state.snapshot.interval.ms", "150".to_string()),
                ("state.snapshot.gc.grace.ms", "0".to_string()),
                ("__state.snapshot.inline__", "true".to_string()),
            ] {
                streams_config.set(key, &value).expect("valid snapshot config");
            }
        }
        let slots = (0..shape.instances)
            .map(|_| Slot {
                dir: tempfile::tempdir().expect("a temporary state directory"),
                live: None,
                incarnation: 0,
            })
            .collect();
        Simulation {
            config,
            rng,
            shape,
            cluster,
            topology: Arc::new(scenario::topology(config.scenario)),
            streams_config: Arc::new(streams_config),
            slots,
            fresh_disks: config.snapshots.then(|| Rng::new(config.seed ^ 0x5a17_d15c)),
            snapshot_dir,
            all_metrics: Vec::new(),
            stream,
            produced: 0,
            source_topics: Vec::new(),
            failures: Vec::new(),
            instance_crashes: 0,
            closes: 0,
            steps: 0,
        }
    }

    /// Runs `f`, turning a simulated crash into `Outcome::Crashed`; other panics are bugs and
    /// propagate.
    fn guarded(f: impl FnOnce() -> Result<(), String>) -> Outcome {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(Ok(())) => Outcome::Ok,
            Ok(Err(e)) => Outcome::Failed(e),
            Err(payload) if payload.is::<SimCrash>() => Outcome::Crashed,
            Err(payload) => resume_unwind(payload),
        }
    }

    fn start(&mut self, slot: usize) {
        let restarted = self.slots[slot].incarnation > 0;
        if let Some(rng) = &mut self.fresh_disks {
            if restarted && rng.chance(0.5) {
                self.slots[slot].dir = tempfile::tempdir().expect("a temporary state directory");
            }
        }
        let s = &mut self.slots[slot];
        s.incarnation += 1;
        let process = (slot as u64) << 32 | s.incarnation;
        let dir = s.dir.path().to_path_buf();
        let app = instance::App {
            cluster: self.cluster.clone(),
            topology: Arc::clone(&self.topology),
            config: Arc::clone(&self.streams_config),
            threads: self.shape.threads,
            broken: self.config.broken,
        };
        let mut started = None;
        let outcome = Self::guarded(|| {
            let i = SimInstance::start(&app, process, &format!("i{slot}"), &dir)
                .map_err(|e| format!("instance {slot} did not start: {e}"))?;
            started = Some(i);
            Ok(())
        });
        match outcome {
            Outcome::Ok => {
                let i = started.expect("started");
                self.source_topics = i.source_topics.clone();
                self.all_metrics.push(i.metrics.clone());
                self.slots[slot].live = Some(i);
            }
            Outcome::Crashed => self.instance_crashes += 1,
            Outcome::Failed(e) => self.failures.push(e),
        }
    }

    fn live(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&s| self.slots[s].live.is_some())
            .collect()
    }

    fn dead(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&s| self.slots[s].live.is_none())
            .collect()
    }

    fn pick(&mut self, from: &[usize]) -> Option<usize> {
        (!from.is_empty()).then(|| from[self.rng.below(from.len() as u64) as usize])
    }

    /// Steps one thread of one live instance.
    fn step_thread(&mut self, slot: usize, thread: usize) {
        let Some(inst) = self.slots[slot].live.as_mut() else {
            return;
        };
        let t = thread % inst.threads.len();
        let outcome = Self::guarded(|| inst.threads[t].step().map_err(|e| e.to_string()));
        match outcome {
            Outcome::Ok => {}
            Outcome::Crashed => {
                // The whole process dies: its threads and stores go, uncommitted work is lost.
                self.slots[slot].live = None;
                self.instance_crashes += 1;
            }
            Outcome::Failed(e) => {
                self.failures
                    .push(format!("instance {slot} thread {t} failed: {e}"));
                self.slots[slot].live = None;
            }
        }
    }

    fn close(&mut self, slot: usize) {
        if let Some(inst) = self.slots[slot].live.take() {
            match Self::guarded(|| inst.close().map_err(|e| e.to_string())) {
                Outcome::Ok => self.closes += 1,
                Outcome::Crashed => self.instance_crashes += 1,
                Outcome::Failed(e) => self.failures.push(format!("instance {slot} did not close: {e}")),
            }
        }
    }

    fn produce(&mut self, n: usize) {
        for i in &self.stream[self.produced..(self.produced + n).min(self.stream.len())] {
            self.cluster
                .produce(i.topic, i.key.as_bytes(), i.value.as_bytes(), i.timestamp);
        }
        self.produced = (self.produced + n).min(self.stream.len());
    }

    /// One step of the faulty phase: the schedule picks an action.
    fn faulty_step(&mut self) {
        let live = self.live();
        let dead = self.dead();
        let roll = |rng: &mut Rng, p: f64| rng.chance(p);
        if !dead.is_empty() && roll(&mut self.rng, self.shape.restart) {
            let s = self.pick(&dead).expect("some dead");
            self.start(s);
        } else if live.len() > 1 && roll(&mut self.rng, self.shape.close_instance) {
            let s = self.pick(&live).expect("some live");
            self.close(s);
        } else if !live.is_empty() && roll(&mut self.rng, self.shape.crash_instance) {
            let s = self.pick(&live).expect("some live");
            self.slots[s].live = None;
            self.instance_crashes += 1;
        } else if roll(&mut self.rng, self.shape.fence) {
            let pick = self.rng.next_u64();
            self.cluster.fence(pick);
        } else if roll(&mut self.rng, self.shape.kick) {
            let pick = self.rng.next_u64();
            self.cluster.kick(&self.streams_config.application_id, pick);
        } else if self.produced < self.stream.len() && self.rng.chance(0.2) {
            let n = 1 + self.rng.below(8) as usize;
            self.produce(n);
        } else if let Some(s) = self.pick(&live) {
            let t = self.rng.below(4) as usize;
            self.step_thread(s, t);
        }
        let dt = self.rng.below(20);
        self.cluster.advance(dt);
        self.steps += 1;
    }

    /// True once every input is consumed and committed and no transaction is open.
    fn caught_up(&self) -> bool {
        if self.produced < self.stream.len() || self.source_topics.is_empty() {
            return false;
        }
        let committed = self.cluster.committed(&self.streams_config.application_id);
        let all_committed = self.source_topics.iter().all(|t| {
            self.cluster
                .stable_end_offsets(t)
                .iter()
                .enumerate()
                .all(|(p, &end)| {
                    committed
                        .get(&TopicPartition::new(t.as_str(), p as i32))
                        .copied()
                        .unwrap_or(0)
                        >= end
                })
        });
        all_committed && self.cluster.open_transactions() == 0
    }

    fn run(mut self) -> SimulationReport {
        for s in 0..self.slots.len() {
            self.start(s);
        }
        // Faulty phase: until the input is produced, and a while after.
        let mut tail = 0;
        while tail < TAIL_STEPS {
            self.faulty_step();
            if self.produced == self.stream.len() {
                tail += 1;
            }
        }
        // Quiet phase: no faults; every instance back; step until everything is committed.
        self.cluster.set_faults(Faults::none());
        for s in self.dead() {
            self.start(s);
        }
        // A broken commit may never get every offset committed: do not wait as long for it.
        let quiesce = if self.config.broken.is_some() {
            QUIESCE_STEPS / 20
        } else {
            QUIESCE_STEPS
        };
        let mut finished = false;
        for i in 0..quiesce {
            for s in self.dead() {
                self.start(s);
            }
            let live = self.live();
            if live.is_empty() {
                break;
            }
            let s = live[i % live.len()];
            self.step_thread(s, i / live.len());
            self.cluster.advance(5);
            self.steps += 1;
            if i % 20 == 0 && self.caught_up() {
                finished = true;
                break;
            }
        }
        if !finished {
            self.failures.push(format!(
                "not caught up after {quiesce} fault-free steps (input offsets never all committed)"
            ));
        }
        for s in 0..self.slots.len() {
            self.close(s);
        }
        let outputs = self.cluster.read_committed(scenario::OUTPUT);
        let changelog = self.cluster.read_committed(&format!(
            "{}-{}-changelog",
            self.streams_config.application_id,
            scenario::COUNT_STORE
        ));
        let verdict = checker::check(self.config.scenario, &self.stream, &outputs, &changelog);
        let sh = &self.shape;
        let total = |name| self.all_metrics.iter().map(|m| m.total(name, &[])).sum::<u64>();
        let (snapshots_taken, snapshot_restores) = (
            total(crate::metrics::names::SNAPSHOTS_TAKEN),
            total(crate::metrics::names::SNAPSHOT_RESTORES),
        );
        let snapshots = match &self.snapshot_dir {
            Some(_) => format!(", snapshots ({snapshots_taken} taken, {snapshot_restores} restores)"),
            None => String::new(),
        };
        SimulationReport {
            snapshots: self.config.snapshots,
            snapshots_taken,
            snapshot_restores,
            seed: self.config.seed,
            scenario: self.config.scenario,
            guarantee: self.config.guarantee,
            broken: self.config.broken,
            shape: format!(
                "{} instances x {} threads, {} partitions, {} keys, {} records, {} stores, buffer {}, max idle {} ms, crash {} abortable {} offset reads {}{snapshots}",
                sh.instances,
                sh.threads,
                sh.partitions,
                sh.keys,
                sh.records,
                match (sh.rocksdb || self.config.snapshots, sh.row_cache_bytes) {
                    (false, _) => "in-memory".to_string(),
                    (true, 0) => "RocksDB".to_string(),
                    (true, bytes) => format!("RocksDB ({bytes} B read caches)"),
                },
                sh.buffered,
                sh.max_idle_ms,
                sh.faults.crash,
                sh.faults.abortable,
                sh.faults.offset_reads
            ),
            verdict,
            failures: self.failures,
            stats: self.cluster.stats(),
            rebalances: self.cluster.rebalances(),
            instance_crashes: self.instance_crashes,
            closes: self.closes,
            steps: self.steps,
        }
    }
}

//! A backlog through the runtime (on the simulated cluster): a windowed count started on a
//! topic filled beforehand, so that one commit spans far more event time than the store's
//! retention. Every window the input defines must reach the committed output with its exact
//! count, for commit intervals from every batch to "never until close", with and without the
//! record cache, under both guarantees and both store types.

use sluice::engine::sim::backlog::{BacklogConfig, WindowSpec};
use sluice::engine::ProcessingGuarantee;

fn run(config: BacklogConfig) {
    let report = config.run();
    println!("{report}");
    assert!(report.passed(), "{report}");
    assert!(report.windows_expected > 0);
}

/// The reported shape: 60 s windows, 10 s grace, ~100 ms per record with 3 s of disorder, so
/// the backlog spans about 30x the retention (70 s).
#[test]
fn tumbling_backlog_keeps_every_window_at_every_commit_interval() {
    for (i, commit_interval_ms) in [0, 200, 60_000, 3_600_000].into_iter().enumerate() {
        let mut c = BacklogConfig::new(100 + i as u64);
        c.records = 20_000;
        c.commit_interval_ms = commit_interval_ms;
        run(c);
    }
}

#[test]
fn backlog_without_cache_and_at_least_once() {
    let mut c = BacklogConfig::new(7);
    c.cache_max_bytes = 0;
    c.commit_interval_ms = 60_000;
    run(c);
    let mut c = BacklogConfig::new(8);
    c.guarantee = ProcessingGuarantee::AtLeastOnce;
    c.commit_interval_ms = 60_000;
    run(c);
}

#[test]
fn hopping_backlog_on_rocksdb_with_two_threads() {
    let mut c = BacklogConfig::new(9);
    c.windows = WindowSpec {
        size_ms: 30_000,
        advance_ms: 10_000,
        grace_ms: 5_000,
    };
    c.rocksdb = true;
    c.threads = 2;
    c.commit_interval_ms = 600_000;
    run(c);
}

/// Few keys and much disorder: many records arrive after their window closed, and must be
/// counted as drops exactly as the reference says, no more.
#[test]
fn late_records_in_a_backlog_are_counted_not_lost() {
    let mut c = BacklogConfig::new(10);
    c.keys = 3;
    c.disorder_ms = 20_000;
    c.windows.grace_ms = 2_000;
    c.commit_interval_ms = 3_600_000;
    let report = c.run();
    println!("{report}");
    assert!(report.passed(), "{report}");
    assert!(report.late_expected > 0, "the input should hold late records");
}

/// Emit-on-close through a backlog: commits far apart in event time, many windows open at once
/// (1,000 keys, hopping windows advancing every second, so more than the 4,096 windows the
/// close queue holds), RocksDB and in-memory: every window closed by the end of the input comes
/// out once, with its exact count.
#[test]
fn emit_on_close_backlog_emits_each_closed_window_once() {
    for (seed, commit_interval_ms, rocksdb) in [(11, 200, false), (12, 3_600_000, true)] {
        let mut c = BacklogConfig::new(seed);
        c.records = 5_000;
        c.keys = 1_000;
        c.windows = WindowSpec {
            size_ms: 30_000,
            advance_ms: 1_000,
            grace_ms: 5_000,
        };
        c.emit_on_close = true;
        c.commit_interval_ms = commit_interval_ms;
        c.rocksdb = rocksdb;
        let report = c.run();
        println!("{report}");
        assert!(report.passed(), "{report}");
        assert!(report.windows_output > 4_096, "{report}");
    }
}

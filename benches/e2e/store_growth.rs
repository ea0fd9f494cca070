//! Store growth (`--store-keys 10000,100000,1000000,10000000`): what a record costs the windowed
//! count (c) as its window store grows.
//!
//! A run per store size K: K + `measured` (500,000 in full runs) records over K keys, all
//! inside one 5-minute window. The first K records fill the store with K entries (not
//! measured); the next `measured` update those entries, cycling through the keys: each finds
//! its count in the record cache while K entries fit in it, and in RocksDB once they do not.
//! The cost per record should stay flat as K grows; the bench prints each size's CPU per record
//! over the smallest size's, and the peak RSS, which the record cache and RocksDB's block cache
//! bound whatever K is.

use crate::spec::{Guarantee, Kind, Layout};
use crate::{verified, verify, Harness};
use serde::Serialize;
use std::time::Duration;

/// One store size.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub keys: u64,
    pub records_per_second: f64,
    pub cpu_microseconds_per_record: f64,
    /// CPU per record over that of the smallest store of the run.
    pub cost_over_smallest: f64,
    pub peak_rss_mib: f64,
}

/// The runs, smallest store first (at-least-once, 100-byte records), `measured` records each
/// once the store is full.
pub fn run(h: &mut Harness, sizes: &[u64], measured: u64) -> Vec<Cell> {
    let mut sizes = sizes.to_vec();
    sizes.sort_unstable();
    println!(
        "store growth: (c) windowed count, at-least-once, 100 B records; per size K: K records to \
         fill the store, then {measured} measured"
    );
    let mut cells: Vec<Cell> = Vec::new();
    for keys in sizes {
        let n = keys + measured;
        let mut spec = h.spec(Kind::WindowedCount, Guarantee::AtLeastOnce, 100, n);
        spec.measure_from = keys;
        let layout = Layout::one_window(n, keys);
        h.preload(&spec, &layout, 100);
        let result = h.spawn(&spec).result(Duration::from_secs(3600));
        verified(
            &spec,
            &verify::Input { layout, size: 100 },
            &format!("{keys} keys"),
        );
        let cpu = 1e6 * result.cpu_seconds / result.records.max(1) as f64;
        let smallest = cells.first().map_or(cpu, |c| c.cpu_microseconds_per_record);
        let cell = Cell {
            keys,
            records_per_second: result.records as f64 / result.seconds,
            cpu_microseconds_per_record: cpu,
            cost_over_smallest: cpu / smallest,
            peak_rss_mib: result.peak_rss_bytes as f64 / (1 << 20) as f64,
        };
        println!(
            "  {:>9} keys: {:>8.0} records/s, {:.2} us CPU per record ({:.2}x the smallest store's; \
             goal: flat), peak RSS {:.0} MiB",
            keys, cell.records_per_second, cpu, cell.cost_over_smallest, cell.peak_rss_mib
        );
        cells.push(cell);
    }
    cells
}

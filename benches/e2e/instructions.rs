//! Instructions per record (`--instructions`): each chosen scenario's throughput run, once per
//! guarantee, under callgrind (valgrind), which counts the instructions the engine's process
//! executes from start to exit, every thread included.
//!
//! Why: on a shared machine the CPU time of one run swings by a third from one minute to the
//! next, more than most changes to the hot path move it; an instruction count repeats within a
//! few percent (a run's batches and commits still depend on its timing, which valgrind
//! slows about fifty times). So a change, or a setting (`--streams`), is measured by two of
//! these runs, one without and one with it. Instructions are not time: cache misses and
//! lock waits do not show, which the timed runs of the main table still judge.

use crate::spec::{Guarantee, Kind};
use crate::Harness;
use serde::Serialize;
use std::path::Path;
use std::process::Command;

/// One scenario's counts.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub scenario: String,
    pub guarantee: String,
    pub records: u64,
    /// Instructions of the engine's whole process per input record.
    pub instructions_per_record: f64,
    /// Those of its processing thread alone (Sluice's stream thread, the passthrough's loop):
    /// steadier than the process's, whose librdkafka threads poll as the run's timing has it.
    pub thread_instructions_per_record: Option<f64>,
    /// Over the passthrough's, same guarantee, same run (if it ran).
    pub over_passthrough: Option<f64>,
}

/// The runs of `kinds` (100-byte records, `records` each), passthrough first if chosen.
pub fn run(h: &mut Harness, kinds: &[Kind], records: u64) -> Vec<Cell> {
    let version = Command::new("valgrind").arg("--version").output();
    if !version.is_ok_and(|o| o.status.success()) {
        panic!("--instructions runs the engines under valgrind: install it (apt-get install valgrind)");
    }
    let dir = h.out_dir.join("callgrind");
    std::fs::create_dir_all(&dir).expect("callgrind dir");
    println!(
        "instructions per record (callgrind): {records} records of 100 B per run, the engine's \
         whole process (start to exit, every thread) over its input records"
    );
    let wrap = std::mem::take(&mut h.wrap);
    let mut cells: Vec<Cell> = Vec::new();
    for guarantee in [Guarantee::AtLeastOnce, Guarantee::ExactlyOnce] {
        let mut passthrough = None;
        for &kind in kinds {
            let out = dir.join(format!(
                "{}-{}.out",
                format!("{kind:?}").to_lowercase(),
                guarantee.label().to_lowercase()
            ));
            h.wrap = vec![
                "valgrind".into(),
                "--tool=callgrind".into(),
                format!("--callgrind-out-file={}", out.display()),
            ];
            h.throughput(kind, guarantee, 100, records);
            let per_record = total_instructions(&out) as f64 / records as f64;
            let thread =
                inclusive_instructions(&out, processing_loop(kind)).map(|n| n as f64 / records as f64);
            if kind == Kind::Passthrough {
                passthrough = Some(per_record);
            }
            let cell = Cell {
                scenario: kind.label().to_string(),
                guarantee: guarantee.label().to_string(),
                records,
                instructions_per_record: per_record,
                thread_instructions_per_record: thread,
                over_passthrough: passthrough
                    .filter(|_| kind != Kind::Passthrough)
                    .map(|p| per_record / p),
            };
            println!(
                "  {:<28} {:<4} {:>9.0} instructions/record{}; processing thread {}   ({})",
                cell.scenario,
                cell.guarantee,
                per_record,
                cell.over_passthrough
                    .map_or(String::new(), |r| format!(", {r:.2}x the passthrough's")),
                thread.map_or("?".to_string(), |t| format!("{t:.0}")),
                out.display()
            );
            cells.push(cell);
        }
    }
    h.wrap = wrap;
    println!(
        "(per function: callgrind_annotate --inclusive=yes FILE; the same run twice agrees within \
         a few percent, the processing thread's count more closely than the process's)"
    );
    cells
}

/// The function that runs `kind`'s processing loop: the passthrough's runs in the child's
/// main thread, Sluice's in its stream thread.
fn processing_loop(kind: Kind) -> &'static str {
    match kind {
        Kind::Passthrough => "e2e::child::run",
        _ => "sluice_engine::runtime::stream_thread::run",
    }
}

/// Instructions executed inside `function` and what it called, from `callgrind_annotate`
/// (valgrind's), if it is there and names the function.
fn inclusive_instructions(path: &Path, function: &str) -> Option<u64> {
    let out = Command::new("callgrind_annotate")
        .args(["--inclusive=yes", "--auto=no", "--threshold=100"])
        .arg(path)
        .output()
        .ok()?;
    // The function's own line ends with its object in brackets; lines without are parts of
    // it inlined from other files.
    let needle = format!(":{function} [");
    String::from_utf8_lossy(&out.stdout).lines().find_map(|line| {
        line.contains(&needle)
            .then(|| line.split_whitespace().next()?.replace(',', "").parse().ok())
            .flatten()
    })
}

/// The `totals:` line of a callgrind output file: instructions executed (its only event).
fn total_instructions(path: &Path) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .find_map(|l| l.strip_prefix("totals:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no totals line in {}", path.display()))
}

//! The results: a table on stdout, JSON and an SVG chart under target/sluice-bench/.

use crate::spec::{Guarantee, Kind, COMMIT_INTERVAL_MS};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

/// One scenario under one guarantee at one record size.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub kind: Kind,
    pub scenario: String,
    pub guarantee: Guarantee,
    pub size: usize,
    /// The median of the cell's throughput runs.
    pub records_per_second: f64,
    /// The slowest and the fastest of those runs.
    pub records_per_second_min: f64,
    pub records_per_second_max: f64,
    pub megabytes_per_second: f64,
    /// Throughput over (a) under the same guarantee and size, measured in the same run.
    pub ratio_to_passthrough: f64,
    /// Throughput under exactly-once over at-least-once (EOS rows only).
    pub eos_over_alo: Option<f64>,
    pub cpu_microseconds_per_record: f64,
    /// Rust heap allocations per input record (Sluice and the passthrough; not the peers).
    pub allocations_per_record: Option<f64>,
    /// Records written (outputs and changelog records) per input record: Sluice's from its
    /// `sluice_records_sent_total`, the passthrough's 1 by construction; not the peers'.
    pub sent_per_record: Option<f64>,
    pub peak_rss_mib: f64,
    /// Offered load of the latency run (records/s).
    pub offered_load: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_p999_ms: f64,
    pub latency_samples: usize,
    /// The engine kept up with the offered load.
    pub sustained: bool,
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub mode: String,
    pub broker: String,
    pub records: Vec<(usize, u64)>,
    pub latency_seconds: u64,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    /// [`goals`] of `rows`.
    pub goals: Vec<String>,
}

fn fmt_ms(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{v:.0}")
    }
}

/// The cell's slowest and fastest runs, in percent below and above its median: "-12/+3".
fn spread(r: &Row) -> String {
    if r.records_per_second > 0.0 {
        let pct = |x: f64| 100.0 * (x - r.records_per_second).abs() / r.records_per_second;
        format!(
            "-{:.0}/+{:.0}",
            pct(r.records_per_second_min),
            pct(r.records_per_second_max)
        )
    } else {
        "-".into()
    }
}

pub fn table(report: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<27}{:>4}{:>6}{:>11}{:>9}{:>8}{:>8}{:>8}{:>9}{:>11}{:>9}{:>8}{:>7}{:>7}{:>8}",
        "scenario",
        "",
        "size",
        "records/s",
        "spread %",
        "MB/s",
        "vs (a)",
        "EOS/ALO",
        "us/rec",
        "allocs/rec",
        "sent/rec",
        "RSS MiB",
        "p50",
        "p99",
        "p99.9"
    );
    for r in &report.rows {
        let _ = writeln!(
            s,
            "{:<27}{:>4}{:>6}{:>11.0}{:>9}{:>8.1}{:>8.2}{:>8}{:>9.1}{:>11}{:>9}{:>8.0}{:>7}{:>7}{:>8}{}",
            r.scenario,
            r.guarantee.label(),
            r.size,
            r.records_per_second,
            spread(r),
            r.megabytes_per_second,
            r.ratio_to_passthrough,
            r.eos_over_alo.map_or("".into(), |x| format!("{x:.2}")),
            r.cpu_microseconds_per_record,
            r.allocations_per_record.map_or("-".into(), |a| format!("{a:.1}")),
            r.sent_per_record.map_or("-".into(), |a| format!("{a:.2}")),
            r.peak_rss_mib,
            fmt_ms(r.latency_p50_ms),
            fmt_ms(r.latency_p99_ms),
            fmt_ms(r.latency_p999_ms),
            if r.sustained {
                ""
            } else {
                "  (behind the offered load)"
            },
        );
    }
    s
}

/// The issue's throughput goal of a Sluice scenario: the least fraction of the passthrough's
/// records/s, same guarantee and size.
fn throughput_goal(kind: Kind) -> Option<f64> {
    match kind {
        Kind::Stateless => Some(0.9),
        Kind::WindowedCount | Kind::Join => Some(0.7),
        Kind::Sliding => Some(0.4),
        _ => None,
    }
}

/// Exactly-once's least share of at-least-once's records/s.
const EOS_GOAL: f64 = 0.9;
/// At-least-once p99 latency: at most this many times the passthrough's.
const ALO_P99_GOAL: f64 = 2.0;

/// How the goal lines (here and against Kafka Streams) say whether a goal held.
pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

/// Every goal of the table's Sluice rows next to what the run measured, met or missed: records/s
/// against the passthrough, exactly-once against at-least-once, p99 latency against the
/// passthrough's (at-least-once: within 2x; exactly-once: within the commit interval plus its
/// p99). The goals against Kafka Streams are printed where both ran (see `main`).
pub fn goals(report: &Report) -> Vec<String> {
    let passthrough = |g: Guarantee, size: usize| {
        report
            .rows
            .iter()
            .find(|r| (r.kind, r.guarantee, r.size) == (Kind::Passthrough, g, size))
    };
    let mut lines = Vec::new();
    for r in &report.rows {
        let Some(goal) = throughput_goal(r.kind) else {
            continue;
        };
        let cell = format!("{} {} {} B", r.kind.label(), r.guarantee.label(), r.size);
        if !r.ratio_to_passthrough.is_nan() {
            // Context, not the goal: an aggregation writes an output and a changelog record
            // per update, where the passthrough writes one record per record.
            let written = r
                .sent_per_record
                .filter(|&x| x > 1.05)
                .map_or(String::new(), |x| {
                    format!(
                        " (it writes {x:.2} records per input: {:.2}x (a)'s records written/s)",
                        x * r.ratio_to_passthrough
                    )
                });
            lines.push(format!(
                "{cell}: records/s {:.2} of (a)'s (goal >= {goal:.1}): {}{written}",
                r.ratio_to_passthrough,
                verdict(r.ratio_to_passthrough >= goal)
            ));
        }
        if let Some(x) = r.eos_over_alo {
            lines.push(format!(
                "{cell}: records/s {x:.2} of at-least-once's (goal >= {EOS_GOAL:.1}): {}",
                verdict(x >= EOS_GOAL)
            ));
        }
        let Some(a) = passthrough(r.guarantee, r.size) else {
            continue;
        };
        if !a.sustained || a.latency_p99_ms.is_nan() {
            lines.push(format!(
                "{cell}: p99 latency not judged: the passthrough fell behind the offered load"
            ));
            continue;
        }
        if r.latency_samples == 0 {
            lines.push(format!("{cell}: p99 latency: no output was timed: MISSED"));
            continue;
        }
        let (bound, rule) = match r.guarantee {
            Guarantee::AtLeastOnce => (
                ALO_P99_GOAL * a.latency_p99_ms,
                format!("2x (a)'s {:.0} ms", a.latency_p99_ms),
            ),
            Guarantee::ExactlyOnce => (
                COMMIT_INTERVAL_MS as f64 + a.latency_p99_ms,
                format!("the commit interval + (a)'s {:.0} ms", a.latency_p99_ms),
            ),
        };
        let behind = if r.sustained {
            ""
        } else {
            ", behind the offered load"
        };
        lines.push(format!(
            "{cell}: p99 latency {:.0} ms (goal <= {rule} = {bound:.0} ms){behind}: {}",
            r.latency_p99_ms,
            verdict(r.sustained && r.latency_p99_ms <= bound)
        ));
    }
    lines
}

/// Horizontal bars: one group per label, one bar per series.
fn bars(
    svg: &mut String,
    y0: f64,
    title: &str,
    unit: &str,
    groups: &[(String, Vec<(String, f64)>)],
    log: bool,
) -> f64 {
    const LEFT: f64 = 250.0;
    const WIDTH: f64 = 560.0;
    const BAR: f64 = 12.0;
    let colors = ["#3b6ea5", "#e0863a", "#5aa05a", "#b04a4a"];
    let max = groups
        .iter()
        .flat_map(|(_, s)| s.iter().map(|(_, v)| *v))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1.0);
    let scale = |v: f64| {
        if !v.is_finite() || v <= 0.0 {
            0.0
        } else if log {
            WIDTH * (1.0 + v).ln() / (1.0 + max).ln()
        } else {
            WIDTH * v / max
        }
    };
    let _ = writeln!(
        svg,
        r#"<text x="10" y="{}" font-size="15" font-weight="bold">{title}</text>"#,
        y0 + 16.0
    );
    let mut y = y0 + 30.0;
    let series: Vec<String> = groups
        .first()
        .map(|(_, s)| s.iter().map(|(n, _)| n.clone()).collect())
        .unwrap_or_default();
    for (i, name) in series.iter().enumerate() {
        let x = LEFT + i as f64 * 150.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}" font-size="11">{name}</text>"#,
            y - 9.0,
            colors[i % colors.len()],
            x + 14.0,
            y
        );
    }
    y += 10.0;
    for (label, values) in groups {
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" font-size="12" text-anchor="end">{label}</text>"#,
            LEFT - 8.0,
            y + BAR * values.len() as f64 / 2.0 + 4.0
        );
        for (i, (_, v)) in values.iter().enumerate() {
            let w = scale(*v);
            let _ = writeln!(
                svg,
                r#"<rect x="{LEFT}" y="{y}" width="{w:.1}" height="{}" fill="{}"/>"#,
                BAR - 2.0,
                colors[i % colors.len()]
            );
            let text = if v.is_finite() {
                format!("{v:.0} {unit}")
            } else {
                "-".into()
            };
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{}" font-size="10">{text}</text>"#,
                LEFT + w + 4.0,
                y + BAR - 3.0
            );
            y += BAR;
        }
        y += 8.0;
    }
    y + 10.0
}

pub fn svg(report: &Report) -> String {
    let mut body = String::new();
    let mut y = 10.0;
    let mut sizes: Vec<usize> = report.rows.iter().map(|r| r.size).collect();
    sizes.dedup();
    for size in sizes {
        let rows: Vec<&crate::report::Row> = report.rows.iter().filter(|r| r.size == size).collect();
        let mut labels: Vec<String> = Vec::new();
        for r in &rows {
            if !labels.contains(&r.scenario) {
                labels.push(r.scenario.clone());
            }
        }
        let group =
            |f: &dyn Fn(&Row) -> f64, series: &[(Guarantee, &str)]| -> Vec<(String, Vec<(String, f64)>)> {
                labels
                    .iter()
                    .map(|l| {
                        let values = series
                            .iter()
                            .map(|(g, name)| {
                                let v = rows
                                    .iter()
                                    .find(|r| &r.scenario == l && r.guarantee == *g)
                                    .map_or(f64::NAN, |r| f(r));
                                (name.to_string(), v)
                            })
                            .collect();
                        (l.clone(), values)
                    })
                    .collect()
            };
        let both = [
            (Guarantee::AtLeastOnce, "at-least-once"),
            (Guarantee::ExactlyOnce, "exactly-once v2"),
        ];
        y = bars(
            &mut body,
            y,
            &format!("Throughput, {size}-byte records (records/s)"),
            "rec/s",
            &group(&|r| r.records_per_second, &both),
            false,
        );
        let p = |r: &Row| r.latency_p99_ms;
        let lat: Vec<(String, Vec<(String, f64)>)> = group(&|r| r.latency_p50_ms, &both)
            .into_iter()
            .zip(group(&p, &both))
            .map(|((label, p50), (_, p99))| {
                let mut v: Vec<(String, f64)> =
                    p50.into_iter().map(|(n, x)| (format!("p50 {n}"), x)).collect();
                v.extend(p99.into_iter().map(|(n, x)| (format!("p99 {n}"), x)));
                (label, v)
            })
            .collect();
        y = bars(
            &mut body,
            y,
            &format!("End-to-end latency, {size}-byte records (ms, log scale)"),
            "ms",
            &lat,
            true,
        );
    }
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="980" height="{:.0}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>
{body}</svg>
"#,
        y + 10.0
    )
}

/// Writes `e2e.json` and `e2e.svg` into `dir`.
pub fn write(report: &Report, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("e2e.json"),
        serde_json::to_string_pretty(report).expect("json"),
    )?;
    std::fs::write(dir.join("e2e.svg"), svg(report))?;
    Ok(())
}

//! Comparing two outcomes, shrinking a differing input, and printing both sides.

use super::catalogue::{StoreKind, StoreSpec};
use super::generator::Event;
use super::oracle::{OutRecord, Outcome};
use std::collections::BTreeSet;
use std::fmt::Write;

/// The first difference between Kafka Streams' and Sluice's outcome of one input, if any.
/// Topology descriptions are compared separately ([`describe_difference`]).
pub fn difference(kafka: &Outcome, sluice: &Outcome) -> Option<String> {
    if kafka.error.is_some() != sluice.error.is_some() {
        return Some(format!(
            "processing failed on one side only: Kafka Streams {:?}, Sluice {:?}",
            kafka.error, sluice.error
        ));
    }
    for (topic, theirs) in &kafka.outputs {
        let ours = sluice.outputs.get(topic).map(Vec::as_slice).unwrap_or_default();
        if theirs.as_slice() != ours {
            return Some(format!("output topic {topic} differs"));
        }
    }
    for (store, theirs) in &kafka.stores {
        let mut theirs = theirs.clone();
        let mut ours = sluice.stores.get(store).cloned().unwrap_or_default();
        theirs.sort();
        ours.sort();
        if theirs != ours {
            return Some(format!("final contents of store {store} differ"));
        }
    }
    None
}

/// Drops the windows of window and session stores that stream time `stream_time` has expired
/// (see [`StoreSpec::retention_ms`](super::catalogue::StoreSpec)): keeps a window whose start
/// (a session whose end) is later than `stream_time - retention`.
pub fn keep_retained(outcome: &mut Outcome, stores: &[StoreSpec], stream_time: i64) {
    for spec in stores.iter().filter(|s| s.kind != StoreKind::KeyValue) {
        if let Some(entries) = outcome.stores.get_mut(spec.name) {
            entries.retain(|(key, _)| {
                let time = key.rsplit('@').next().and_then(|w| w.rsplit('-').next());
                let time: i64 = time
                    .and_then(|t| t.parse().ok())
                    .expect("key@start or key@start-end");
                time > stream_time - spec.retention_ms
            });
        }
    }
}

/// A description as a set of lines per sub-topology: the same nodes, names, topics, stores and
/// edges, whatever order each side prints them in.
fn canonical(describe: &str) -> BTreeSet<(String, String)> {
    let mut set = BTreeSet::new();
    let mut block = String::new();
    let mut node = String::new();
    for line in describe.lines() {
        let t = line.trim();
        if t.is_empty() || t == "Topologies:" {
            continue;
        }
        if t.starts_with("Sub-topology:") || t.starts_with("Global store:") {
            block = t.to_string();
            node.clear();
            set.insert((block.clone(), String::new()));
        } else if t.starts_with("-->") || t.starts_with("<--") {
            let (arrow, names) = t.split_at(3);
            let mut names: Vec<&str> = names.split(',').map(str::trim).collect();
            names.sort();
            set.insert((block.clone(), format!("{node} {arrow} {}", names.join(", "))));
        } else {
            node = t.to_string();
            set.insert((block.clone(), node.clone()));
        }
    }
    set
}

/// How Sluice's `describe()` differs from Kafka Streams' `TopologyDescription`, if it does.
pub fn describe_difference(kafka: &str, sluice: &str) -> Option<String> {
    let (theirs, ours) = (canonical(kafka), canonical(sluice));
    if theirs == ours {
        return None;
    }
    let mut out = String::from("topology descriptions differ\n");
    for (block, line) in theirs.difference(&ours) {
        let _ = writeln!(out, "  only in Kafka Streams: [{block}] {line}");
    }
    for (block, line) in ours.difference(&theirs) {
        let _ = writeln!(out, "  only in Sluice:        [{block}] {line}");
    }
    let _ = write!(out, "--- Kafka Streams ---\n{kafka}--- Sluice ---\n{sluice}");
    Some(out)
}

/// The fewest events (greedily: chunks, then single events) for which `differs` still holds.
pub fn shrink(events: &[Event], mut differs: impl FnMut(&[Event]) -> bool) -> Vec<Event> {
    let mut current = events.to_vec();
    let mut chunk = current.len().div_ceil(2).max(1);
    let mut tries = 0;
    loop {
        let mut i = 0;
        let mut removed_any = false;
        while i < current.len() && tries < 2_000 {
            let end = (i + chunk).min(current.len());
            let candidate: Vec<Event> = current[..i].iter().chain(&current[end..]).cloned().collect();
            tries += 1;
            if !candidate.is_empty() && differs(&candidate) {
                current = candidate;
                removed_any = true;
            } else {
                i += chunk;
            }
        }
        if chunk == 1 && !removed_any || tries >= 2_000 {
            return current;
        }
        if !removed_any {
            chunk = chunk.div_ceil(2);
        }
    }
}

/// Bytes as text when they are printable, as a long when they are 8 bytes, else as hex.
pub fn show(bytes: &Option<Vec<u8>>) -> String {
    match bytes {
        None => "null".into(),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) if s.chars().all(|c| !c.is_control()) => format!("{s:?}"),
            _ if b.len() == 8 => format!("L{}", long(b)),
            // A windowed key: the key, then the start (or a session's end and start).
            _ if b.len() > 16 && printable(&b[..b.len() - 16]) => {
                let k = &b[..b.len() - 16];
                let end = long(&b[b.len() - 16..b.len() - 8]);
                format!(
                    "{:?}@{}-{end}",
                    String::from_utf8_lossy(k),
                    long(&b[b.len() - 8..])
                )
            }
            _ if b.len() > 8 && printable(&b[..b.len() - 8]) => {
                let k = &b[..b.len() - 8];
                format!("{:?}@{}", String::from_utf8_lossy(k), long(&b[b.len() - 8..]))
            }
            _ => format!("0x{}", super::generator::hex_opt::encode(b)),
        },
    }
}

fn long(b: &[u8]) -> i64 {
    i64::from_be_bytes(b.try_into().expect("8 bytes"))
}

fn printable(b: &[u8]) -> bool {
    std::str::from_utf8(b).is_ok_and(|s| s.chars().all(|c| c.is_ascii_alphanumeric()))
}

pub fn show_events(events: &[Event]) -> String {
    let mut out = String::new();
    for e in events {
        match e {
            Event::Record {
                topic,
                key,
                value,
                ts,
            } => {
                let _ = writeln!(out, "  {topic:<4} {:>6} -> {:<8} @ {ts}", show(key), show(value));
            }
            Event::WallClock { wall_ms } => {
                let _ = writeln!(out, "  (wall clock +{wall_ms} ms)");
            }
        }
    }
    out
}

fn show_record(r: &OutRecord) -> String {
    let mut s = format!("{} -> {} @ {}", show(&r.key), show(&r.value), r.ts);
    if !r.headers.is_empty() {
        let _ = write!(s, " {:?}", r.headers);
    }
    s
}

/// Both outcomes side by side: every output topic and store.
pub fn side_by_side(kafka: &Outcome, sluice: &Outcome) -> String {
    let mut out = String::new();
    let mut columns = |title: &str, left: Vec<String>, right: Vec<String>| {
        let _ = writeln!(out, "  {title}");
        let _ = writeln!(out, "    {:<44} | Sluice", "Kafka Streams");
        for i in 0..left.len().max(right.len()) {
            let l = left.get(i).map_or("", String::as_str);
            let r = right.get(i).map_or("", String::as_str);
            let mark = if l == r { ' ' } else { '*' };
            let _ = writeln!(out, "  {mark} {l:<44} | {r}");
        }
    };
    for (topic, theirs) in &kafka.outputs {
        let ours = sluice.outputs.get(topic).cloned().unwrap_or_default();
        columns(
            &format!("topic {topic}"),
            theirs.iter().map(show_record).collect(),
            ours.iter().map(show_record).collect(),
        );
    }
    for (store, theirs) in &kafka.stores {
        let entry = |(k, v): &(String, Option<String>)| format!("{k} = {}", v.as_deref().unwrap_or("null"));
        let mut theirs: Vec<String> = theirs.iter().map(entry).collect();
        let mut ours: Vec<String> = sluice
            .stores
            .get(store)
            .into_iter()
            .flatten()
            .map(entry)
            .collect();
        theirs.sort();
        ours.sort();
        columns(&format!("store {store}"), theirs, ours);
    }
    if kafka.error.is_some() || sluice.error.is_some() {
        let _ = writeln!(
            out,
            "  error: Kafka Streams {:?}\n         Sluice {:?}",
            kafka.error, sluice.error
        );
    }
    out
}

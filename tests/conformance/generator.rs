//! A seeded generator of inputs for one case: several input topics interleaved, keys from a
//! small or a large key space (and some null keys), timestamps mostly advancing but also out of
//! order and late past any grace period, duplicates, tombstones and null values, corrupt longs,
//! and wall-clock advances. Both drivers receive exactly these events, serialized once.

use super::catalogue::Inputs;
use serde::Serialize;

/// One input record, or an advance of the drivers' wall-clock time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Event {
    Record {
        topic: String,
        #[serde(with = "hex_opt")]
        key: Option<Vec<u8>>,
        #[serde(with = "hex_opt")]
        value: Option<Vec<u8>>,
        ts: i64,
    },
    WallClock {
        wall_ms: i64,
    },
}

/// splitmix64: small, seedable, and the same on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5eed_c0f0_ccaa_1234)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The events of `seed` for a case reading `inputs`.
pub fn generate(inputs: &Inputs, seed: u64) -> Vec<Event> {
    let mut rng = Rng::new(seed);
    let topics: Vec<(&str, TopicKind)> = inputs
        .streams
        .iter()
        .map(|t| (*t, TopicKind::Stream))
        .chain(inputs.tables.iter().map(|t| (*t, TopicKind::Table)))
        .chain(inputs.globals.iter().map(|t| (*t, TopicKind::Global)))
        .chain(inputs.longs.iter().map(|t| (*t, TopicKind::Long)))
        .collect();
    // Small key spaces make joins and aggregates meet; large ones make many windows and keys.
    let keys = if rng.chance(50) { 3 } else { 30 };
    let records = 5 + rng.below(56) as usize;
    // Mostly-forward steps of up to `step` ms; the windows are 4-10 s wide.
    let step = [500, 2_000, 4_000][rng.below(3) as usize];
    let mut now: i64 = rng.below(5_000) as i64;
    let mut events = Vec::with_capacity(records + 8);
    let mut last: Option<Event> = None;
    while events.len() < records {
        if rng.chance(4) {
            events.push(Event::WallClock {
                wall_ms: 1 + rng.below(30_000) as i64,
            });
            continue;
        }
        if let Some(prev) = last.as_ref().filter(|_| rng.chance(5)) {
            events.push(prev.clone()); // a duplicate, as a producer retry without idempotence
            continue;
        }
        now += rng.below(step) as i64;
        let ts = if rng.chance(12) {
            (now - rng.below(8_000) as i64).max(0) // out of order, usually within grace
        } else if rng.chance(4) {
            (now - 10_000 - rng.below(20_000) as i64).max(0) // late: past any grace
        } else {
            now
        };
        let (topic, kind) = topics[rng.below(topics.len() as u64) as usize];
        let key = if inputs.null_keys && rng.chance(4) {
            None
        } else if kind == TopicKind::Global {
            // Global tables are looked up by a letter of the stream's values.
            Some(vec![b'a' + rng.below(5) as u8])
        } else {
            Some(format!("k{}", rng.below(keys)).into_bytes())
        };
        let value = match kind {
            TopicKind::Stream if inputs.null_values && rng.chance(5) => None,
            TopicKind::Table | TopicKind::Global if rng.chance(15) => None,
            TopicKind::Stream | TopicKind::Table | TopicKind::Global => Some(letter_digit(&mut rng)),
            TopicKind::Long if rng.chance(10) => Some((0..3).map(|_| rng.below(256) as u8).collect()),
            TopicKind::Long => Some((rng.below(25) as i64 - 5).to_be_bytes().to_vec()),
        };
        let event = Event::Record {
            topic: topic.to_string(),
            key,
            value,
            ts,
        };
        last = Some(event.clone());
        events.push(event);
    }
    events
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TopicKind {
    Stream,
    Table,
    Global,
    Long,
}

fn letter_digit(rng: &mut Rng) -> Vec<u8> {
    vec![b'a' + rng.below(4) as u8, b'0' + rng.below(10) as u8]
}

/// Every distinct non-null key of `events`, as text (the keys whose sessions are listed).
pub fn keys(events: &[Event]) -> Vec<String> {
    let mut keys: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Record { key: Some(k), .. } => Some(String::from_utf8_lossy(k).into_owned()),
            _ => None,
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Bytes as lowercase hex in JSON, `null` for `None`.
pub mod hex_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => s.serialize_str(&encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| decode(&t).map_err(serde::de::Error::custom))
            .transpose()
    }

    pub fn encode(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn decode(text: &str) -> Result<Vec<u8>, String> {
        if !text.len().is_multiple_of(2) {
            return Err(format!("odd-length hex {text:?}"));
        }
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|e| format!("{text:?}: {e}")))
            .collect()
    }
}

//! The broker's configuration files: `server.properties` and a log4j2 configuration.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;

/// `server.properties` for a single node acting as broker and controller (KRaft, static quorum).
pub(crate) fn server_properties(
    broker_port: u16,
    controller_port: u16,
    data_dir: &Path,
    overrides: &[(&str, &str)],
) -> String {
    let defaults: Vec<(&str, String)> = vec![
        ("process.roles", "broker,controller".into()),
        ("node.id", "1".into()),
        // A static single-voter quorum: no `--standalone` dynamic quorum needed at format time.
        (
            "controller.quorum.voters",
            format!("1@127.0.0.1:{controller_port}"),
        ),
        (
            "listeners",
            format!("PLAINTEXT://127.0.0.1:{broker_port},CONTROLLER://127.0.0.1:{controller_port}"),
        ),
        (
            "advertised.listeners",
            format!("PLAINTEXT://127.0.0.1:{broker_port}"),
        ),
        ("controller.listener.names", "CONTROLLER".into()),
        ("inter.broker.listener.name", "PLAINTEXT".into()),
        (
            "listener.security.protocol.map",
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT".into(),
        ),
        ("log.dirs", data_dir.display().to_string()),
        // One node: every internal topic must live with replication factor 1 and min ISR 1.
        ("num.partitions", "1".into()),
        ("default.replication.factor", "1".into()),
        ("min.insync.replicas", "1".into()),
        ("offsets.topic.replication.factor", "1".into()),
        ("offsets.topic.num.partitions", "4".into()),
        ("transaction.state.log.replication.factor", "1".into()),
        ("transaction.state.log.min.isr", "1".into()),
        ("transaction.state.log.num.partitions", "4".into()),
        ("share.coordinator.state.topic.replication.factor", "1".into()),
        ("share.coordinator.state.topic.min.isr", "1".into()),
        ("share.coordinator.state.topic.num.partitions", "1".into()),
        ("auto.create.topics.enable", "false".into()),
        ("group.initial.rebalance.delay.ms", "0".into()),
        // Tests of group membership use short session timeouts (and so short
        // `max.poll.interval.ms`, which librdkafka keeps at or above them); default 6 s.
        ("group.min.session.timeout.ms", "1000".into()),
        // Abort transactions whose producer died within about a second of their timeout.
        (
            "transaction.abort.timed.out.transaction.cleanup.interval.ms",
            "1000".into(),
        ),
        // Compacted changelogs need the cleaner; one thread with a small buffer is plenty.
        ("log.cleaner.enable", "true".into()),
        ("log.cleaner.threads", "1".into()),
        ("log.cleaner.dedupe.buffer.size", "33554432".into()),
        ("log.cleaner.backoff.ms", "1000".into()),
        // Small machines: fewer threads than the defaults (3 network, 8 I/O).
        ("num.network.threads", "2".into()),
        ("num.io.threads", "4".into()),
        // Faster unfencing after (re)start: the broker heartbeats every 2 s by default.
        ("broker.heartbeat.interval.ms", "500".into()),
        // After a kill -9 the restarted controller keeps the dead incarnation's session alive
        // for this long and refuses the new registration until then (default 9 s).
        ("broker.session.timeout.ms", "3000".into()),
    ];
    let mut out = String::from("# Written by sluice-testkit.\n");
    for (key, value) in defaults {
        if !overrides.iter().any(|(k, _)| *k == key) {
            out.push_str(&format!("{key}={value}\n"));
        }
    }
    if !overrides.is_empty() {
        out.push_str("# Overrides\n");
        for (key, value) in overrides {
            out.push_str(&format!("{key}={value}\n"));
        }
    }
    out
}

/// log4j2 configuration: WARN and above to stderr (which goes to `broker.log`), plus the
/// one-line "Kafka Server started" notice and the transaction and group coordinators' INFO
/// lines (producer ids, transactions aborted on timeout, members joining and leaving): what an
/// exactly-once failure after a broker restart needs to be read.
pub(crate) const LOG4J2_PROPERTIES: &str = "\
status = warn
shutdownHook = disable
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
logger.transactions.name = kafka.coordinator.transaction
logger.transactions.level = INFO
logger.groups.name = org.apache.kafka.coordinator.group
logger.groups.level = INFO
";

/// A random Kafka cluster id: 16 random bytes, URL-safe base64 without padding, never starting
/// with `-` (the storage tool would read it as an option).
pub(crate) fn random_cluster_id() -> String {
    loop {
        let mut bytes = [0u8; 16];
        for chunk in bytes.chunks_mut(8) {
            chunk.copy_from_slice(&random_u64().to_le_bytes());
        }
        let id = base64_url_no_pad(&bytes);
        if !id.starts_with('-') && bytes != [0u8; 16] {
            return id;
        }
    }
}

/// Randomness from std alone: `RandomState` is seeded randomly per process, and each call mixes
/// in a fresh state plus the time.
pub(crate) fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    h.finish()
}

fn base64_url_no_pad(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_known_values() {
        assert_eq!(base64_url_no_pad(b"f"), "Zg");
        assert_eq!(base64_url_no_pad(b"fo"), "Zm8");
        assert_eq!(base64_url_no_pad(b"foo"), "Zm9v");
        assert_eq!(base64_url_no_pad(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn cluster_ids_are_22_chars_and_differ() {
        let a = random_cluster_id();
        let b = random_cluster_id();
        assert_eq!(a.len(), 22);
        assert_ne!(a, b);
    }

    #[test]
    fn overrides_replace_defaults() {
        let props = server_properties(1, 2, Path::new("/d"), &[("num.partitions", "3")]);
        let has = |line: &str| props.lines().any(|l| l == line);
        assert!(has("num.partitions=3"));
        assert!(!has("num.partitions=1"));
        assert!(has("listeners=PLAINTEXT://127.0.0.1:1,CONTROLLER://127.0.0.1:2"));
    }
}

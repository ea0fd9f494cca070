//! The peers, run as children like Sluice's: Quix Streams (benches/peers/quix_windowed_count.py,
//! found or installed from PyPI) and Kafka Streams (benches/peers/kafka-streams, built with
//! Maven from Maven Central).

use crate::spec::{Guarantee, Spec, COMMIT_INTERVAL_MS};
use std::path::Path;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The peer's script.
pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/peers/quix_windowed_count.py")
}

/// True if `quixstreams` imports, installing it (benches/peers/requirements.txt) if not.
pub fn available() -> Result<(), String> {
    let imports = || {
        Command::new("python3")
            .args(["-c", "import quixstreams"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if imports() {
        return Ok(());
    }
    println!("installing the Python peer (pip install -r benches/peers/requirements.txt)");
    let requirements = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/peers/requirements.txt");
    let installed = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "-r"])
        .arg(&requirements)
        .status()
        .is_ok_and(|s| s.success());
    if installed && imports() {
        Ok(())
    } else {
        Err(
            "quixstreams could not be installed (python3 -m pip install -r benches/peers/requirements.txt)"
                .into(),
        )
    }
}

/// The command running the peer on `spec`.
pub fn command(spec: &Spec) -> Command {
    let mut c = Command::new("python3");
    c.arg(script())
        .args(["--bootstrap", &spec.bootstrap])
        .args(["--input", &spec.input])
        .args(["--output", &spec.output])
        .args(["--group", &spec.app])
        .args([
            "--guarantee",
            match spec.guarantee {
                Guarantee::AtLeastOnce => "at-least-once",
                Guarantee::ExactlyOnce => "exactly-once",
            },
        ])
        .args(["--expect", &spec.expect.to_string()])
        .args(["--state-dir", &spec.state_dir]);
    c
}

/// Builds the Kafka Streams peer into `out` (only when its sources changed); its class path.
pub fn kafka_streams_classpath(out: &Path) -> Result<String, String> {
    let module = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/peers/kafka-streams");
    crate::support::maven::build_module(&module, out, "peer.out")
}

/// Kafka Streams' record cache: Sluice's default `statestore.cache.max.bytes`, the same as
/// Kafka Streams' own.
const CACHE_BYTES: u64 = 10 * 1024 * 1024;

/// The command running the Kafka Streams peer on `spec` (a Kafka Streams kind).
pub fn kafka_streams_command(spec: &Spec, classpath: &str) -> Command {
    let scenario = spec
        .kind
        .kafka_streams_scenario()
        .expect("a Kafka Streams peer kind");
    let mut c = Command::new("java");
    c.args(["-cp", classpath, "dev.sluice.bench.KafkaStreamsPeer"])
        .args(["--kind", scenario])
        .args(["--guarantee", spec.guarantee.config_value()])
        .args(["--bootstrap", &spec.bootstrap])
        .args(["--app", &spec.app])
        .args(["--input", &spec.input])
        .args(["--output", &spec.output])
        .args(["--profiles", spec.profiles.as_deref().unwrap_or("")])
        .args(["--expect", &spec.expect.to_string()])
        .args(["--state-dir", &spec.state_dir])
        .args(["--commit-interval-ms", &COMMIT_INTERVAL_MS.to_string()])
        .args(["--cache-bytes", &CACHE_BYTES.to_string()]);
    c
}

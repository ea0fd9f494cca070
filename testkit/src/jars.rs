//! Locating the broker's jars: `SLUICE_KAFKA_LIB`, or `scripts/kafka/fetch.sh` once per process.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The directory holding the Kafka broker's jars (`kafka_2.13-*.jar` and its dependencies).
///
/// Uses `SLUICE_KAFKA_LIB` when it names a populated directory; otherwise runs
/// `scripts/kafka/fetch.sh` (which resolves the jars with Maven the first time, then only prints
/// their directory). The answer, success or failure, is computed once per process.
pub fn kafka_lib_dir() -> io::Result<PathBuf> {
    static LIB: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    LIB.get_or_init(resolve).clone().map_err(io::Error::other)
}

fn resolve() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("SLUICE_KAFKA_LIB").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        if has_kafka_jar(&dir) {
            return Ok(dir);
        }
        // Not populated yet: fetch.sh honours SLUICE_KAFKA_LIB and fills it.
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit/ has a parent directory");
    let script = repo.join("scripts/kafka/fetch.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .map_err(|e| format!("could not run {}: {e} (is bash installed?)", script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}); the Kafka broker's jars could not be resolved.\n\
             Run it by hand to see why, or set SLUICE_KAFKA_LIB to a directory of Kafka 4.x jars.\n\
             --- stdout ---\n{stdout}--- stderr ---\n{stderr}",
            script.display(),
            out.status
        ));
    }
    let dir = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| PathBuf::from(l.trim()));
    match dir {
        Some(dir) if has_kafka_jar(&dir) => Ok(dir),
        _ => Err(format!(
            "{} succeeded but its last line does not name a directory holding kafka_2.13-*.jar\n\
             --- stdout ---\n{stdout}--- stderr ---\n{stderr}",
            script.display()
        )),
    }
}

fn has_kafka_jar(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries.flatten().any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("kafka_2.13-") && name.ends_with(".jar")
            })
        })
        .unwrap_or(false)
}

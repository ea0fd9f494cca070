//! Building the Java modules of the tests and benchmarks (Kafka Streams as the conformance
//! oracle and as a benchmark peer) with Maven, only when their sources changed.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the Maven module in `module` (its `pom.xml` takes the output directory as the
/// property `out_property`) into `out`: classes in `out/classes`, runtime jars in `out/lib`.
/// Skipped when `out` holds a build of the same sources. Returns the `java -cp` class path.
pub fn build_module(module: &Path, out: &Path, out_property: &str) -> Result<String, String> {
    let stamp = out.join(".sources-hash");
    let hash = sources_hash(module);
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(hash.as_str()) {
        let status = Command::new("mvn")
            .args(["-q", "-B", "-f"])
            .arg(module.join("pom.xml"))
            .arg("package")
            .arg(format!("-D{out_property}={}", out.display()))
            .status()
            .map_err(|e| format!("running mvn (scripts/test.sh installs Maven when missing): {e}"))?;
        if !status.success() {
            return Err(format!("mvn package of {} failed: {status}", module.display()));
        }
        std::fs::write(&stamp, &hash).map_err(|e| format!("writing {}: {e}", stamp.display()))?;
    }
    Ok(format!(
        "{}:{}/*",
        out.join("classes").display(),
        out.join("lib").display()
    ))
}

/// A hash of every file under `dir` (but `target/`): names and contents.
fn sources_hash(dir: &Path) -> String {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    walk(&path, files);
                }
            } else {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in files {
        f.hash(&mut h);
        std::fs::read(&f).unwrap_or_default().hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

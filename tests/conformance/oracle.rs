//! Kafka Streams' side: builds the Java module (`java/`) with Maven into the build directory on
//! first use, then keeps JVMs that answer one case per request (see `Oracle.java`).

use super::generator::{hex_opt, Event};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

#[path = "../support/maven.rs"]
mod maven;

/// What one driver made of one case.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Outcome {
    /// `Topology::describe()` / `TopologyDescription.toString()`.
    pub describe: String,
    /// Every record written to each output topic, in order.
    #[serde(default)]
    pub outputs: BTreeMap<String, Vec<OutRecord>>,
    /// The final entries of each compared store, as (key, value) text.
    #[serde(default)]
    pub stores: BTreeMap<String, Vec<(String, Option<String>)>>,
    /// The failure that stopped processing, if any (the texts differ; only presence counts).
    pub error: Option<String>,
    /// Set by the oracle when it could not run the request at all.
    #[serde(default)]
    pub fatal: Option<String>,
}

/// One output record.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct OutRecord {
    #[serde(with = "hex_opt")]
    pub key: Option<Vec<u8>>,
    #[serde(with = "hex_opt")]
    pub value: Option<Vec<u8>>,
    pub ts: i64,
    pub headers: Vec<(String, Option<String>)>,
}

/// The request line sent to the oracle.
#[derive(Serialize)]
pub struct Request<'a> {
    pub topology: &'a str,
    pub cache: bool,
    pub continue_on_bad_input: bool,
    pub events: &'a [Event],
    pub outputs: &'a [&'a str],
    pub stores: Vec<StoreRequest<'a>>,
    pub keys: Vec<String>,
}

#[derive(Serialize)]
pub struct StoreRequest<'a> {
    pub name: &'a str,
    pub kind: &'a str,
}

struct Jvm {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Drop for Jvm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Idle JVMs, shared by the test threads (one per thread at most).
static POOL: Mutex<Vec<Jvm>> = Mutex::new(Vec::new());

/// Runs `request` on Kafka Streams' TopologyTestDriver.
pub fn run(request: &Request<'_>) -> Outcome {
    let mut jvm = POOL.lock().unwrap().pop().unwrap_or_else(spawn);
    let line = serde_json::to_string(request).expect("requests serialize");
    writeln!(jvm.stdin, "{line}").expect("write to the Kafka Streams oracle");
    jvm.stdin.flush().expect("flush to the Kafka Streams oracle");
    let mut answer = String::new();
    let n = jvm
        .stdout
        .read_line(&mut answer)
        .expect("read from the Kafka Streams oracle");
    assert!(n > 0, "the Kafka Streams oracle exited (its stderr is above)");
    let outcome: Outcome = serde_json::from_str(&answer)
        .unwrap_or_else(|e| panic!("bad answer from the Kafka Streams oracle ({e}): {answer}"));
    if let Some(fatal) = &outcome.fatal {
        panic!(
            "the Kafka Streams oracle could not run case {}: {fatal}",
            request.topology
        );
    }
    POOL.lock().unwrap().push(jvm);
    outcome
}

fn spawn() -> Jvm {
    let classpath = built();
    let mut child = Command::new("java")
        .args([
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Xss8m",
            "-cp",
            &classpath,
        ])
        .arg("dev.sluice.conformance.Oracle")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start java (scripts/test.sh installs a JDK when missing)");
    Jvm {
        stdin: child.stdin.take().unwrap(),
        stdout: BufReader::new(child.stdout.take().unwrap()),
        child,
    }
}

/// The Java module's sources.
fn module_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/java")
}

/// Builds the oracle once per process, and only when its sources changed since the last build;
/// its class path.
fn built() -> String {
    static CLASSPATH: OnceLock<String> = OnceLock::new();
    CLASSPATH
        .get_or_init(|| {
            let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance-java");
            maven::build_module(&module_dir(), &out, "conformance.out")
                .unwrap_or_else(|e| panic!("building the Kafka Streams oracle: {e}"))
        })
        .clone()
}

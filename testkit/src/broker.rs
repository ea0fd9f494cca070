//! [`KafkaBroker`]: one real Kafka broker JVM, its directory, ports and lifecycle.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::config;
use crate::jars::kafka_lib_dir;
use crate::protocol::{self, Metadata};
use crate::watchdog::Watchdog;

/// The broker's `node.id`.
const NODE_ID: i32 = 1;
/// How long [`KafkaBroker::stop`] waits for a clean shutdown before it kills the JVM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one readiness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A real Apache Kafka broker (single node, KRaft, broker and controller in one JVM) listening on
/// `127.0.0.1`, with its own temporary directory.
///
/// Dropping it kills the JVM and removes the directory (kept, and its path printed, when dropped
/// during a panic). A broker in a `static` is covered by a watchdog process instead: its JVM dies
/// as soon as the test process exits.
pub struct KafkaBroker {
    bootstrap: String,
    broker_port: u16,
    dir: PathBuf,
    log_path: PathBuf,
    pid_path: PathBuf,
    java_args: Vec<String>,
    state: Mutex<State>,
}

struct State {
    jvm: Option<Child>,
    watchdog: Option<Watchdog>,
}

impl KafkaBroker {
    /// Starts a broker with a fresh log directory in a new temporary directory, on free
    /// `127.0.0.1` ports (broker and controller), and waits until it is ready: it answers a
    /// `Metadata` request listing itself as a live (unfenced) broker with a known controller.
    ///
    /// The first call in a process may take a while: it resolves the broker's jars with
    /// `scripts/kafka/fetch.sh` (Maven) unless they are cached or `SLUICE_KAFKA_LIB` is set.
    pub fn start() -> io::Result<KafkaBroker> {
        KafkaBroker::start_with(&[])
    }

    /// Like [`KafkaBroker::start`], with `server.properties` entries added or replacing the
    /// defaults (for example `("log.segment.bytes", "1048576")`).
    pub fn start_with(overrides: &[(&str, &str)]) -> io::Result<KafkaBroker> {
        let lib = kafka_lib_dir()?;
        let dir = fresh_temp_dir()?;
        match KafkaBroker::create(&lib, dir.clone(), overrides) {
            Ok(broker) => Ok(broker),
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    fn create(lib: &Path, dir: PathBuf, overrides: &[(&str, &str)]) -> io::Result<KafkaBroker> {
        let (broker_port, controller_port) = free_ports()?;
        let data_dir = dir.join("data");
        let props_path = dir.join("server.properties");
        let log4j_path = dir.join("log4j2.properties");
        let log_path = dir.join("broker.log");
        fs::write(
            &props_path,
            config::server_properties(broker_port, controller_port, &data_dir, overrides),
        )?;
        fs::write(&log4j_path, config::LOG4J2_PROPERTIES)?;

        let classpath = format!("{}/*", lib.display());
        format_storage(&classpath, &props_path, &log4j_path, &log_path)?;

        let java_args = vec![
            "-Xms256m".into(),
            "-Xmx768m".into(),
            "-XX:+UseG1GC".into(),
            "-XX:MaxGCPauseMillis=20".into(),
            "-XX:+ExplicitGCInvokesConcurrent".into(),
            "-XX:-UsePerfData".into(),
            format!("-XX:ErrorFile={}/hs_err_pid%p.log", dir.display()),
            "-Djava.awt.headless=true".into(),
            format!("-Dlog4j2.configurationFile={}", log4j_path.display()),
            "-cp".into(),
            classpath,
            "kafka.Kafka".into(),
            props_path.display().to_string(),
        ];
        let pid_path = dir.join("broker.pid");
        let watchdog = Watchdog::spawn(&pid_path, &dir)?;
        let broker = KafkaBroker {
            bootstrap: format!("127.0.0.1:{broker_port}"),
            broker_port,
            dir,
            log_path,
            pid_path,
            java_args,
            state: Mutex::new(State {
                jvm: None,
                watchdog: Some(watchdog),
            }),
        };
        broker.launch()?;
        Ok(broker)
    }

    /// The bootstrap address for clients: `"127.0.0.1:PORT"`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The broker's (PLAINTEXT) port.
    pub fn port(&self) -> u16 {
        self.broker_port
    }

    /// The broker's stdout/stderr log (WARN and above, startup notices, the coordinators' INFO
    /// lines), appended to across restarts: quote its tail in failure messages (see
    /// [`KafkaBroker::log_tail`]).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The broker's log directory (`log.dirs`): one directory per topic-partition (see
    /// [`crate::log_segments`]).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The broker's temporary directory (`server.properties`, `data/`, `broker.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last `lines` lines of [`KafkaBroker::log_path`].
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log_path, lines)
    }

    /// Whether the JVM is running (it may not be ready yet, or be shutting down).
    pub fn is_running(&self) -> bool {
        let mut state = self.lock();
        match state.jvm.as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => true,
            Some(_) => {
                state.jvm = None;
                let _ = fs::remove_file(&self.pid_path);
                false
            }
            None => false,
        }
    }

    /// Asks the broker for its cluster metadata (brokers, cluster id, controller).
    pub fn metadata(&self) -> io::Result<Metadata> {
        protocol::metadata(&self.bootstrap, PROBE_TIMEOUT)
    }

    /// Kills the JVM with SIGKILL (a crash: no controlled shutdown, no flush) and waits until it
    /// is gone and its port is closed. Does nothing if it is not running.
    pub fn kill(&self) {
        let mut state = self.lock();
        if let Some(mut jvm) = state.jvm.take() {
            let _ = jvm.kill();
            let _ = jvm.wait();
            let _ = fs::remove_file(&self.pid_path);
        }
        drop(state);
        self.wait_port_closed(Duration::from_secs(10));
    }

    /// Shuts the broker down cleanly (SIGTERM, then waits for the JVM to exit; after 30 s it is
    /// killed). Does nothing if it is not running.
    pub fn stop(&self) {
        let mut state = self.lock();
        if let Some(mut jvm) = state.jvm.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(jvm.id().to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + STOP_TIMEOUT;
            loop {
                match jvm.try_wait() {
                    Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                    Ok(None) => {
                        if let Ok(mut log) = log_file_append(&self.log_path) {
                            let _ = writeln!(log, "sluice-testkit: clean stop timed out, killing the JVM");
                        }
                        let _ = jvm.kill();
                        let _ = jvm.wait();
                        break;
                    }
                    _ => break,
                }
            }
            let _ = fs::remove_file(&self.pid_path);
        }
        drop(state);
        self.wait_port_closed(Duration::from_secs(10));
    }

    /// Starts the broker again on the same directory (its data survives) and the same ports,
    /// and waits until it is ready. Meant for after [`KafkaBroker::kill`] or
    /// [`KafkaBroker::stop`]; a broker still running is stopped cleanly first.
    pub fn restart(&self) -> io::Result<()> {
        if self.is_running() {
            self.stop();
        }
        self.launch()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Spawns the JVM and waits for readiness; on failure the JVM is killed.
    fn launch(&self) -> io::Result<()> {
        let mut log = log_file_append(&self.log_path)?;
        writeln!(log, "sluice-testkit: starting broker on {}", self.bootstrap)?;
        let started = Instant::now();
        let jvm = Command::new(java())
            .args(&self.java_args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("could not start `{}`: {e}", java())))?;
        fs::write(&self.pid_path, jvm.id().to_string())?;
        self.lock().jvm = Some(jvm);

        match self.wait_ready(start_timeout()) {
            Ok(()) => {
                let _ = writeln!(
                    log_file_append(&self.log_path)?,
                    "sluice-testkit: broker ready after {:.1} s",
                    started.elapsed().as_secs_f64()
                );
                Ok(())
            }
            Err(e) => {
                self.kill();
                Err(io::Error::new(
                    e.kind(),
                    format!(
                        "Kafka broker on {} did not become ready: {e}\n--- last lines of {} ---\n{}",
                        self.bootstrap,
                        self.log_path.display(),
                        self.log_tail(40)
                    ),
                ))
            }
        }
    }

    fn wait_ready(&self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let mut state = self.lock();
                let Some(jvm) = state.jvm.as_mut() else {
                    return Err(io::Error::other("the broker was killed while starting"));
                };
                if let Some(status) = jvm.try_wait()? {
                    state.jvm = None;
                    let _ = fs::remove_file(&self.pid_path);
                    return Err(io::Error::other(format!("the JVM exited with {status}")));
                }
            }
            let last = match protocol::metadata(&self.bootstrap, PROBE_TIMEOUT) {
                Ok(md) => {
                    let me = md
                        .brokers
                        .iter()
                        .any(|b| b.node_id == NODE_ID && b.port == i32::from(self.broker_port));
                    if me && md.controller_id >= 0 {
                        return Ok(());
                    }
                    format!("metadata not ready yet: {md:?}")
                }
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("not ready after {} s (last probe: {last})", timeout.as_secs()),
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_port_closed(&self, timeout: Duration) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.broker_port));
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline
            && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for KafkaBroker {
    fn drop(&mut self) {
        let state = self
            .state
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(mut jvm) = state.jvm.take() {
            let _ = jvm.kill();
            let _ = jvm.wait();
        }
        let _ = fs::remove_file(&self.pid_path);
        if let Some(watchdog) = state.watchdog.take() {
            watchdog.disarm();
        }
        if std::thread::panicking() {
            eprintln!(
                "sluice-testkit: keeping the Kafka broker's directory {} (log: broker.log)",
                self.dir.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl std::fmt::Debug for KafkaBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaBroker")
            .field("bootstrap", &self.bootstrap)
            .field("dir", &self.dir)
            .finish()
    }
}

/// Formats the log directory (once, at creation; restarts reuse it).
fn format_storage(classpath: &str, props: &Path, log4j: &Path, log_path: &Path) -> io::Result<()> {
    let cluster_id = config::random_cluster_id();
    let out = Command::new(java())
        .arg("-Xmx256m")
        .arg("-XX:-UsePerfData")
        .arg(format!("-Dlog4j2.configurationFile={}", log4j.display()))
        .arg("-cp")
        .arg(classpath)
        .args([
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            &cluster_id,
            "--config",
        ])
        .arg(props)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("could not run `{}` (Java 17+ needed): {e}", java()),
            )
        })?;
    let mut log = log_file_append(log_path)?;
    writeln!(
        log,
        "sluice-testkit: kafka-storage format --cluster-id {cluster_id} ({})",
        out.status
    )?;
    log.write_all(&out.stdout)?;
    log.write_all(&out.stderr)?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "formatting the Kafka log directory failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

fn java() -> String {
    match std::env::var_os("JAVA_HOME") {
        Some(home) if Path::new(&home).join("bin/java").is_file() => {
            Path::new(&home).join("bin/java").display().to_string()
        }
        _ => "java".to_string(),
    }
}

fn start_timeout() -> Duration {
    let secs = std::env::var("SLUICE_KAFKA_START_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse().ok());
    Duration::from_secs(secs.unwrap_or(60))
}

fn log_file_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(could not read {}: {e})", path.display()),
    }
}

/// Two distinct free ports on 127.0.0.1 (held together while choosing, then released).
fn free_ports() -> io::Result<(u16, u16)> {
    let a = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let b = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

/// A new, empty directory under the system temp dir.
fn fresh_temp_dir() -> io::Result<PathBuf> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "sluice-kafka-{}-{n}-{:08x}",
            std::process::id(),
            config::random_u64() as u32
        );
        let dir = std::env::temp_dir().join(name);
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

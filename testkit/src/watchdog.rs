//! A watchdog process that kills the broker's JVM when the process that started it exits.
//!
//! Statics are never dropped and a killed or aborted test process runs no destructors, so the
//! JVM cannot rely on `Drop`. The watchdog is `sh` blocked reading a pipe whose only writer is
//! this process: when this process exits in any way, the kernel closes the pipe, `read` returns,
//! and the watchdog `kill -9`s the pid in the broker's pid file and removes the broker's
//! directory. It uses no CPU while waiting and cannot be fooled by pid reuse of the parent.

use std::io;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use std::os::unix::process::CommandExt;

const SCRIPT: &str = r#"read _ignored || true
if [ -f "$1" ]; then kill -9 "$(cat "$1")" 2>/dev/null; fi
rm -rf "$2"
"#;

/// The watchdog of one broker; kill it (without closing the pipe) to keep the directory.
pub(crate) struct Watchdog {
    child: Child,
}

impl Watchdog {
    /// Starts a watchdog for the JVM whose pid is (or will be) in `pid_file`, removing `dir`.
    pub(crate) fn spawn(pid_file: &Path, dir: &Path) -> io::Result<Watchdog> {
        let child = Command::new("sh")
            .arg("-c")
            .arg(SCRIPT)
            .arg("sluice-kafka-watchdog")
            .arg(pid_file)
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C aimed at the test must not kill it before the JVM.
            .process_group(0)
            .spawn()?;
        Ok(Watchdog { child })
    }

    /// Stops the watchdog without letting it act (the caller cleans up itself).
    pub(crate) fn disarm(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

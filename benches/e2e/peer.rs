//! The Python peer (benches/peers/quix_windowed_count.py): found or installed, and run as a
//! child like Sluice's.

use crate::spec::{Guarantee, Spec};
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

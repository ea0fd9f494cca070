//! Test support for Sluice: a real Apache Kafka 4.x broker (single node, KRaft, combined
//! broker + controller) that tests and benchmarks start, crash, restart and stop.
//!
//! ```no_run
//! let broker = sluice_testkit::KafkaBroker::start()?;
//! // point a client at broker.bootstrap() ...
//! broker.kill(); // kill -9
//! broker.restart()?; // same log dir, same ports
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The broker's jars are resolved once by `scripts/kafka/fetch.sh` (Maven Central, cached under
//! `target/kafka/<version>/lib`; set `SLUICE_KAFKA_LIB` to use another directory). It needs Java
//! 17 or newer (`JAVA_HOME` or `java` on `PATH`; `fetch.sh` installs one with apt-get if missing).
//!
//! Environment:
//! - `SLUICE_KAFKA_LIB`: a directory of Kafka jars to use instead of running `fetch.sh`.
//! - `SLUICE_KAFKA_START_TIMEOUT`: seconds to wait for the broker to be ready (default 60).
//!
//! The JVM never outlives the test process: a small watchdog process kills it (and removes the
//! broker's temporary directory) as soon as the process that started it exits, however it exits.
//! When a `KafkaBroker` is dropped during a panic its directory (and `broker.log`) is kept and its
//! path printed.

#![deny(missing_docs)]

mod broker;
mod config;
mod jars;
pub mod log_segments;
pub mod protocol;
mod watchdog;

pub use broker::KafkaBroker;
pub use jars::kafka_lib_dir;

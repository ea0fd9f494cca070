//! # Sluice
//!
//! An embedded stream-processing engine for Rust services: the Kafka Streams model
//! (KStream/KTable, joins, windows, state stores, exactly-once) as a library that a service
//! links in. Instances of one application share work through an ordinary Kafka consumer group.
//!
//! ```
//! use sluice::prelude::*;
//!
//! // Count card transactions per account and flag busy accounts.
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream("transactions", Consumed::with(Serde::string(), Serde::<i64>::i64()))
//!     .group_by_key()
//!     .count(Materialized::as_("tx-count"))
//!     .to_stream()
//!     .filter(|_account, n| *n > 2)
//!     .to("busy-accounts", Produced::default());
//!
//! // Unit-test it without a broker.
//! let driver = TopologyTestDriver::new(builder.build().unwrap());
//! let tx = driver.create_input_topic("transactions", Serde::string(), Serde::<i64>::i64());
//! let busy = driver.create_output_topic("busy-accounts", Serde::string(), Serde::<i64>::i64());
//! for amount in [10, 20, 30, 40] {
//!     tx.pipe_input("acct-7".to_string(), amount);
//! }
//! assert_eq!(busy.read_values_to_list(), vec![3, 4]);
//! ```
//!
//! The crates behind the facade: [`dsl`] (topology building, pure), [`state`] (byte stores),
//! [`engine`] (tasks, runtime, test driver).
#![forbid(unsafe_code)]

pub use sluice_dsl as dsl;
pub use sluice_engine as engine;
pub use sluice_state as state;

pub use sluice_dsl::serde;

/// Everything an application usually needs: `use sluice::prelude::*;`
pub mod prelude {
    pub use sluice_dsl::prelude::*;
    pub use sluice_engine::{
        ErrorHandler, Headers, Metrics, ProcessingGuarantee, StreamsConfig, StreamsError, TestInputTopic,
        TestOutputTopic, TestRecord, TopologyTestDriver,
    };
}

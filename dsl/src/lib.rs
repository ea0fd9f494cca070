//! Sluice's topology DSL: [`StreamsBuilder`], [`KStream`], [`KTable`], serdes and the
//! [`Topology`] they compile to.
//!
//! This crate is pure: it builds a graph of named nodes, splits it into sub-topologies at
//! repartition topics, declares state stores with their changelog topics, and does no I/O.
//! `sluice-engine` runs the result. Names follow Kafka Streams in snake_case.
//!
//! ```
//! use sluice_dsl::prelude::*;
//!
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream("transactions", Consumed::with(Serde::string(), Serde::<i64>::i64()))
//!     .group_by_key()
//!     .count(Materialized::as_("tx-count"))
//!     .to_stream()
//!     .filter(|_account, n| *n > 5)
//!     .to("busy-accounts", Produced::default());
//! let topology = builder.build().unwrap();
//! assert!(topology.describe().to_string().contains("Processor: KSTREAM-AGGREGATE-"));
//! ```

pub mod branched;
pub mod builder;
pub mod cogrouped_kstream;
pub mod consumed;
pub mod dynamic;
pub mod global_ktable;
mod graph;
pub mod grouped;
pub mod headers;
pub mod join_windows;
pub mod kgrouped_stream;
pub mod kgrouped_table;
pub mod kstream;
mod kstream_joins;
mod kstream_process;
pub mod ktable;
mod ktable_fk_join;
mod ktable_joins;
pub mod materialized;
pub mod named;
pub mod processor;
pub mod produced;
mod repartition;
pub mod repartitioned;
pub mod serde;
pub mod session_windowed_kstream;
pub mod stream_joined;
pub mod time_windowed_kstream;
pub mod topology;
pub mod windows;

pub use branched::{Branched, BranchedKStream};
pub use builder::StreamsBuilder;
pub use cogrouped_kstream::{CogroupWindows, CogroupedKStream, TimeWindowedCogroupedKStream};
pub use consumed::{AutoOffsetReset, Consumed};
pub use global_ktable::GlobalKTable;
pub use grouped::Grouped;
pub use join_windows::JoinWindows;
pub use kgrouped_stream::{KGroupedStream, WindowedBy};
pub use kgrouped_table::KGroupedTable;
pub use kstream::KStream;
pub use ktable::KTable;
pub use materialized::{Materialized, StoreType};
pub use named::Named;
pub use produced::Produced;
pub use repartitioned::Repartitioned;
pub use session_windowed_kstream::SessionWindowedKStream;
pub use stream_joined::StreamJoined;
pub use time_windowed_kstream::TimeWindowedKStream;
pub use topology::{Topology, TopologyError};

/// Everything a topology definition usually needs: `use sluice_dsl::prelude::*;`
pub mod prelude {
    pub use crate::serde::{Codec, Serde, SerdeError};
    pub use crate::windows::{
        BufferConfig, EmitStrategy, SessionWindows, SlidingWindows, Suppressed, TimeWindows, Window, Windowed,
    };
    pub use crate::{
        AutoOffsetReset, Branched, CogroupedKStream, Consumed, GlobalKTable, Grouped, JoinWindows,
        KGroupedStream, KGroupedTable, KStream, KTable, Materialized, Named, Produced, Repartitioned,
        SessionWindowedKStream, StoreType, StreamJoined, StreamsBuilder, TimeWindowedKStream, Topology,
        TopologyError,
    };
}

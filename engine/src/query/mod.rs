//! Interactive queries: typed, read-only views of a running instance's state stores
//! (Kafka Streams' `KafkaStreams#store`), reading the committed state of the local tasks.

mod codec;
mod key_value;
mod metadata;
mod session;
mod target;
mod window;

pub(crate) use codec::{value_bytes, StoreCodec};
pub(crate) use key_value::bound_ref;
pub use key_value::{ReadOnlyKeyValueStore, MAX_RANGE_ENTRIES};
pub use metadata::KeyQueryMetadata;
pub(crate) use metadata::{KeyLocator, SERVER_SEPARATOR};
pub use session::ReadOnlySessionStore;
pub(crate) use target::QueryTarget;
pub use window::ReadOnlyWindowStore;

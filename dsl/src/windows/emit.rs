//! When windowed results are emitted: on every update (through the record cache), or once per
//! window when it closes.

/// What a windowed aggregation forwards (Kafka Streams' `EmitStrategy`, KIP-825).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EmitStrategy {
    pub(crate) on_close: bool,
}

impl EmitStrategy {
    /// Every update, coalesced by the record cache (the default).
    pub fn on_window_update() -> Self {
        EmitStrategy { on_close: false }
    }

    /// One final result per window, once stream time passes its end plus grace.
    pub fn on_window_close() -> Self {
        EmitStrategy { on_close: true }
    }
}

/// How much a suppression buffer may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferConfig {
    pub(crate) max_records: Option<u64>,
}

impl BufferConfig {
    /// No bound (memory and store grow with the number of open windows).
    pub fn unbounded() -> Self {
        BufferConfig { max_records: None }
    }

    /// At most `n` buffered windows; past that the application stops with an error rather than
    /// emit early (Kafka Streams' `shutDownWhenFull`).
    pub fn max_records(n: u64) -> Self {
        BufferConfig { max_records: Some(n) }
    }
}

/// `KTable::suppress` (Kafka Streams' `Suppressed`): hold a windowed table's updates and emit
/// one final result per window when it closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    pub(crate) buffer: BufferConfig,
    pub(crate) name: Option<String>,
}

impl Suppressed {
    /// Emit each window's final result once stream time passes its end plus grace.
    pub fn until_window_closes(buffer: BufferConfig) -> Self {
        Suppressed { buffer, name: None }
    }

    /// Names the suppression node (and its buffer store, `<name>-store`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

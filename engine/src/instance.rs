//! What every task of one application instance shares.

use crate::config::StreamsConfig;
use crate::error::StreamsError;
use crate::global::GlobalStores;
use crate::metrics::Metrics;
use crate::processor::CacheBudget;
use crate::state_provider::StateProvider;
use sluice_dsl::Topology;
use std::path::PathBuf;
use std::sync::Arc;

/// The topology, configuration, metrics, record-cache budget, state location and global stores
/// of an application instance (a `Streams` or a test driver).
#[derive(Clone)]
pub(crate) struct Instance {
    pub(crate) topology: Arc<Topology>,
    pub(crate) config: Arc<StreamsConfig>,
    pub(crate) metrics: Metrics,
    pub(crate) budget: CacheBudget,
    pub(crate) state: StateProvider,
    pub(crate) globals: GlobalStores,
}

impl Instance {
    /// An instance keeping state under `state_root` (`state.dir/<application.id>` normally).
    pub(crate) fn new(
        topology: Arc<Topology>,
        config: Arc<StreamsConfig>,
        state_root: PathBuf,
    ) -> Result<Self, StreamsError> {
        let state = StateProvider::new(&config, state_root);
        let globals = GlobalStores::open(&topology, &state)?;
        Ok(Instance {
            budget: CacheBudget::new(config.statestore_cache_max_bytes),
            metrics: Metrics::new(),
            topology,
            config,
            state,
            globals,
        })
    }
}

//! What every task of one application instance shares.

use crate::config::StreamsConfig;
use crate::error::StreamsError;
use crate::global::GlobalStores;
use crate::metrics::Metrics;
use crate::processor::CacheBudget;
use crate::snapshots::Snapshots;
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
    /// `state.snapshot.store`'s snapshotter, if configured.
    pub(crate) snapshots: Option<Arc<Snapshots>>,
    /// The stream threads' task managers, for interactive queries.
    pub(crate) queries: Arc<crate::runtime::query_registry::QueryRegistry>,
}

impl Instance {
    /// An instance keeping state under `state_root` (`state.dir/<application.id>` normally).
    pub(crate) fn new(
        topology: Arc<Topology>,
        config: Arc<StreamsConfig>,
        state_root: PathBuf,
    ) -> Result<Self, StreamsError> {
        let state = StateProvider::new(&config, state_root.clone());
        let globals = GlobalStores::open(&topology, &state)?;
        let metrics = Metrics::new();
        let snapshots =
            Snapshots::new(&config, &metrics, &state_root).map_err(|e| StreamsError::StateDirectory {
                path: state_root.clone(),
                reason: e.to_string(),
            })?;
        Ok(Instance {
            budget: CacheBudget::new(config.statestore_cache_max_bytes),
            metrics,
            snapshots,
            queries: Arc::default(),
            topology,
            config,
            state,
            globals,
        })
    }
}

//! An application instance in the simulation: the runtime's own stream threads, stepped by
//! the simulation instead of running on OS threads.

use crate::client::sim::SimCluster;
use crate::config::StreamsConfig;
use crate::error::StreamsError;
use crate::instance::Instance;
use crate::runtime::state::{StateBoard, StreamsState};
use crate::runtime::stream_thread::{StreamThread, ThreadSpec};
use crate::runtime::task_manager::BrokenCommit;
use crate::runtime::topics;
use sluice_dsl::Topology;
use std::path::Path;
use std::sync::Arc;

/// What every instance of the simulated application shares.
pub(crate) struct App {
    pub(crate) cluster: SimCluster,
    pub(crate) topology: Arc<Topology>,
    pub(crate) config: Arc<StreamsConfig>,
    pub(crate) threads: usize,
    pub(crate) broken: Option<BrokenCommit>,
}

pub(crate) struct SimInstance {
    pub(crate) threads: Vec<StreamThread>,
    /// The topics its consumers read (resolved), for the simulation's progress check.
    pub(crate) source_topics: Vec<String>,
    /// The instance's metrics.
    pub(crate) metrics: crate::metrics::Metrics,
}

impl SimInstance {
    /// Starts an instance as `Streams::start` does: topics checked and created, threads
    /// created and subscribed. `name` makes its transactional ids; a restart with the same
    /// name fences the previous incarnation's producers.
    pub(crate) fn start(
        app: &App,
        process: u64,
        name: &str,
        state_root: &Path,
    ) -> Result<SimInstance, StreamsError> {
        let App {
            cluster,
            topology,
            config,
            threads,
            broken,
        } = app;
        let (threads, broken) = (*threads, *broken);
        let client = cluster.client(process, config);
        let instance = Instance::new(Arc::clone(topology), Arc::clone(config), state_root.to_path_buf())?;
        let admin = client
            .admin()
            .map_err(|e| StreamsError::client("creating an admin client", e))?;
        let plan = topics::prepare(topology, config, &*admin)?;
        let source_topics: Vec<String> = plan.source_partitions.keys().cloned().collect();
        let board = Arc::new(StateBoard::new());
        board.transition(StreamsState::Rebalancing);
        let mut started = Vec::new();
        for index in 0..threads {
            board.add_thread(index);
            started.push(StreamThread::new(ThreadSpec {
                index,
                instance: instance.clone(),
                client: Arc::clone(&client),
                board: Arc::clone(&board),
                client_prefix: format!("{}-{name}", config.application_id),
                topics: source_topics.clone(),
                broken,
            })?);
        }
        Ok(SimInstance {
            threads: started,
            source_topics,
            metrics: instance.metrics.clone(),
        })
    }

    /// Closes every thread cleanly (commit, close tasks, leave the group).
    pub(crate) fn close(self) -> Result<(), StreamsError> {
        let mut result = Ok(());
        for t in self.threads {
            result = result.and(t.shutdown(true));
        }
        result
    }
}

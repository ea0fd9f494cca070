//! A stream thread: one group consumer, one producer (transactional under exactly-once) and one
//! restore consumer, and the tasks of the partitions assigned to it. Each step: poll (rebalances
//! happen in there), buffer, one bounded step of restoring new tasks, process the tasks that
//! are ready, commit when due. `run` steps until
//! shutdown; the simulation steps threads itself, in a seeded order.

use super::lag::LagGauges;
use super::state::{StateBoard, ThreadState};
use super::task_manager::{client_kind, BrokenCommit, TaskManager, POLL_MAX};
use crate::client::{
    ClientErrorKind, Consumer, ConsumerOps, ConsumerRole, KafkaClient, Producer, RebalanceListener,
    TopicPartition,
};
use crate::config::ProcessingGuarantee;
use crate::error::StreamsError;
use crate::instance::Instance;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Records processed per task per step, so that polling (and heartbeats, rebalances) keeps up.
const PROCESS_BATCH: usize = 1000;
/// How long `init_transactions` may take.
const INIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Hands rebalance callbacks to the thread's task manager. The thread never holds the manager
/// while polling, so the callbacks (which run inside poll) can take it.
struct Listener {
    manager: Arc<Mutex<TaskManager>>,
}

impl RebalanceListener for Listener {
    fn on_revoked(&self, consumer: &dyn ConsumerOps, partitions: &[TopicPartition]) {
        self.manager
            .lock()
            .expect("task manager lock poisoned")
            .on_revoked(consumer, partitions);
    }

    fn on_assigned(&self, consumer: &dyn ConsumerOps, partitions: &[TopicPartition]) {
        self.manager
            .lock()
            .expect("task manager lock poisoned")
            .on_assigned(consumer, partitions);
    }

    fn on_lost(&self, _consumer: &dyn ConsumerOps, partitions: &[TopicPartition]) {
        self.manager
            .lock()
            .expect("task manager lock poisoned")
            .on_lost(partitions);
    }
}

/// What a thread needs to run.
pub(crate) struct ThreadSpec {
    pub(crate) index: usize,
    pub(crate) instance: Instance,
    pub(crate) client: Arc<dyn KafkaClient>,
    pub(crate) board: Arc<StateBoard>,
    /// `<application.id>-<instance id>`: prefix of client ids and transactional ids.
    pub(crate) client_prefix: String,
    /// Resolved topics the group consumer subscribes to.
    pub(crate) topics: Vec<String>,
    /// A deliberately broken commit (simulation only).
    pub(crate) broken: Option<BrokenCommit>,
}

/// A stream thread's clients and tasks.
pub(crate) struct StreamThread {
    name: String,
    index: usize,
    client: Arc<dyn KafkaClient>,
    board: Arc<StateBoard>,
    exactly_once: bool,
    consumer: Box<dyn Consumer>,
    restore: Box<dyn Consumer>,
    manager: Arc<Mutex<TaskManager>>,
    /// Whether the last step processed anything: then more may be ready and the next poll must
    /// not wait. Records held back by `max.task.idle.ms` do not count, so idling does not spin.
    busy: bool,
    /// Whether the last step moved a restore on: then the next poll must not wait either (but
    /// a full buffer is no reason to skip polling, unlike `busy`).
    restoring: bool,
    /// At-least-once with `statestore.cache.flush.when.idle`: a step that processed nothing,
    /// or everything that was fetched, with nothing more on the broker as far as the consumer
    /// knows (`Consumer::behind`), flushes the record caches (`TaskManager::flush_when_idle`).
    flush_when_idle: bool,
    /// `sluice_consumer_lag` of the partitions assigned to this thread; `None` with
    /// `metrics.recording.level=OFF` (the statistics behind it may be on for the idle flush).
    lag: Option<LagGauges>,
}

impl StreamThread {
    /// Creates the thread's clients and joins the group.
    pub(crate) fn new(spec: ThreadSpec) -> Result<StreamThread, StreamsError> {
        let ThreadSpec {
            index,
            instance,
            client,
            board,
            client_prefix,
            topics,
            broken,
        } = spec;
        let name = format!("{client_prefix}-StreamThread-{index}");
        board.set_thread(index, ThreadState::Starting);
        let exactly_once = instance.config.processing_guarantee == ProcessingGuarantee::ExactlyOnceV2;
        let flush_when_idle = instance.config.flushes_when_idle();
        let mut consumer = client
            .consumer(ConsumerRole::Main {
                // Other instances find this one's `application.server` in the group's
                // membership, after the separator.
                client_id: match &instance.config.application_server {
                    Some(server) => format!("{name}-consumer{}{server}", crate::query::SERVER_SEPARATOR),
                    None => format!("{name}-consumer"),
                },
            })
            .map_err(|e| StreamsError::client("creating the consumer", e))?;
        let restore = client
            .consumer(ConsumerRole::Restore {
                client_id: format!("{name}-restore-consumer"),
            })
            .map_err(|e| StreamsError::client("creating the restore consumer", e))?;
        let producer = Self::create_producer(&*client, &name, &client_prefix, index, exactly_once)?;
        let lag = (instance.config.metrics_recording_level != crate::config::MetricsLevel::Off)
            .then(|| LagGauges::new(instance.metrics.clone(), index));
        let queries = Arc::clone(&instance.queries);
        let manager = Arc::new(Mutex::new(TaskManager::new(
            instance,
            index,
            Arc::clone(&board),
            producer,
            client.clock(),
            broken,
        )));
        queries.register(index, &manager);
        consumer
            .subscribe(
                &topics,
                Arc::new(Listener {
                    manager: Arc::clone(&manager),
                }),
            )
            .map_err(|e| StreamsError::client("subscribing", e))?;
        tracing::info!(thread = %name, ?topics, "stream thread started");
        Ok(StreamThread {
            name,
            index,
            client,
            board,
            exactly_once,
            consumer,
            restore,
            manager,
            busy: false,
            restoring: false,
            flush_when_idle,
            lag,
        })
    }

    /// The thread's producer: under exactly-once transactional, with `transactional.id =
    /// <application.id>-<instance>-<thread>`, registered (fencing older producers with it).
    fn create_producer(
        client: &dyn KafkaClient,
        name: &str,
        client_prefix: &str,
        index: usize,
        exactly_once: bool,
    ) -> Result<Box<dyn Producer>, StreamsError> {
        let transactional_id = exactly_once.then(|| format!("{client_prefix}-{index}"));
        let mut producer = client
            .producer(&format!("{name}-producer"), transactional_id)
            .map_err(|e| StreamsError::client("creating the producer", e))?;
        if exactly_once {
            producer
                .init_transactions(INIT_TIMEOUT)
                .map_err(|e| StreamsError::client("registering the transactional producer", e))?;
        }
        Ok(producer)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TaskManager> {
        self.manager.lock().expect("task manager lock poisoned")
    }

    /// One iteration of the thread's loop.
    pub(crate) fn step(&mut self) -> Result<(), StreamsError> {
        match self.try_step() {
            Ok(()) => Ok(()),
            Err(e) => self.recover(e),
        }
    }

    fn try_step(&mut self) -> Result<(), StreamsError> {
        // Before polling: a task created now rewinds its partitions, so that nothing fetched
        // before the rewind is buffered.
        self.manager
            .lock()
            .expect("task manager lock poisoned")
            .retry_blocked(&mut *self.consumer)?;
        {
            let mut m = self.manager.lock().expect("task manager lock poisoned");
            m.resume_assigned(&mut *self.consumer)?;
            m.apply_offset_resets(&mut *self.consumer)?;
            m.check_backlogs(&mut *self.consumer);
        }
        let wait = if self.busy || self.restoring {
            Duration::ZERO
        } else {
            Duration::from_millis(100)
        };
        // Backpressure (see `TaskManager::full_partitions`): with a full buffer, process
        // instead of polling while processing makes progress; otherwise pause the full
        // partitions before polling.
        let (full, restoring_full) = {
            let m = self.lock();
            (m.full_partitions(), m.restoring_full_partitions())
        };
        if !restoring_full.is_empty() {
            self.consumer
                .pause(&restoring_full)
                .map_err(|e| StreamsError::client("pausing partitions", e))?;
            self.lock().mark_paused(&restoring_full);
        }
        let records = if !full.is_empty() && self.busy {
            Vec::new()
        } else {
            if !full.is_empty() {
                self.consumer
                    .pause(&full)
                    .map_err(|e| StreamsError::client("pausing partitions", e))?;
                self.lock().mark_paused(&full);
            }
            self.consumer
                .poll(wait, POLL_MAX)
                .map_err(|e| StreamsError::client("polling", e))?
        };
        let (fenced, rewind) = {
            let mut m = self.lock();
            if let Some(e) = m.take_fatal() {
                return Err(e);
            }
            (m.take_producer_fenced(), m.take_needs_rewind())
        };
        if fenced {
            self.lose_tasks()?;
            return Ok(());
        }
        if rewind {
            // The records just polled may lie past the rewind point: drop them.
            let mut m = self.manager.lock().expect("task manager lock poisoned");
            return m.abort_and_rewind(&mut *self.consumer);
        }
        let mut m = self.manager.lock().expect("task manager lock poisoned");
        // Fewer than a full poll: the consumer had nothing more fetched (see `caught_up`).
        let drained_consumer = records.len() < POLL_MAX;
        m.add_records(records);
        // Restoration is stepped: a bounded amount per loop, so that polling (heartbeats,
        // `max.poll.interval.ms`) and the tasks that are ready go on while others restore.
        self.restoring = m.restore_step(&mut *self.restore)?;
        if m.has_tasks() {
            m.report_running();
        }
        let processed = m.process(PROCESS_BATCH)?;
        // The processed records' buffers go back to the consumer for the next poll.
        self.consumer.recycle(m.spent());
        self.busy = processed > 0;
        // Caught up: this step processed nothing, or everything fetched, and the broker holds
        // nothing more of the running tasks' partitions as far as the consumer knows. A thread
        // under a steady load finds records at every step and would otherwise hold its results
        // until the commit; a backlog whose fetches come in smaller than a poll would flush at
        // every step, and its caches would not coalesce it.
        let idle = processed == 0 || (drained_consumer && m.buffered_records() == 0);
        if idle && self.flush_when_idle && !self.consumer.behind(&m.running_partitions()) {
            m.flush_when_idle()?;
        }
        let resume = m.take_resumable();
        if !resume.is_empty() {
            self.consumer
                .resume(&resume)
                .map_err(|e| StreamsError::client("resuming partitions", e))?;
        }
        let committed = m.commit_due();
        if committed {
            m.commit(&*self.consumer)?;
        }
        drop(m);
        // At every commit, and whenever the client learned newer ends (an idle thread too).
        if let Some(gauges) = &mut self.lag {
            if let Some(lag) = self.consumer.lag(committed) {
                gauges.update(&lag);
            }
        }
        Ok(())
    }

    /// Under exactly-once, client errors are part of the protocol: an abortable one aborts the
    /// transaction and rewinds; a fenced one means the tasks are lost. Anything else stops the
    /// thread.
    fn recover(&mut self, e: StreamsError) -> Result<(), StreamsError> {
        if !self.exactly_once {
            return Err(e);
        }
        match client_kind(&e) {
            Some(ClientErrorKind::Abortable | ClientErrorKind::Retriable) => {
                tracing::warn!(thread = %self.name, error = %e, "aborting the transaction");
                let mut m = self.manager.lock().expect("task manager lock poisoned");
                match m.abort_and_rewind(&mut *self.consumer) {
                    Ok(()) => Ok(()),
                    Err(abort) if client_kind(&abort) == Some(ClientErrorKind::Fenced) => {
                        drop(m);
                        self.lose_tasks()
                    }
                    Err(abort) => Err(abort),
                }
            }
            Some(ClientErrorKind::Fenced) => {
                tracing::warn!(thread = %self.name, error = %e, "fenced: the tasks moved on");
                self.lose_tasks()
            }
            _ => Err(e),
        }
    }

    /// Closes every task without committing, replaces the producer and rejoins the group
    /// (Kafka Streams' `TaskMigratedException` handling).
    fn lose_tasks(&mut self) -> Result<(), StreamsError> {
        let mut m = self.manager.lock().expect("task manager lock poisoned");
        m.close_all_dirty();
        let client_prefix = self
            .name
            .strip_suffix(&format!("-StreamThread-{}", self.index))
            .expect("thread names end with their index")
            .to_string();
        let producer = match Self::create_producer(
            &*self.client,
            &self.name,
            &client_prefix,
            self.index,
            true,
        ) {
            Ok(producer) => producer,
            // Right after a broker restart the transaction coordinator may not answer yet:
            // the next step tries again (the tasks are closed; the consumer's records are
            // dropped meanwhile and fetched again from the committed offsets after the rejoin).
            Err(e) if client_kind(&e) == Some(ClientErrorKind::Retriable) => {
                tracing::warn!(thread = %self.name, error = %e, "creating a new producer failed; retrying at the next step");
                m.mark_producer_fenced();
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        m.replace_producer(producer);
        drop(m);
        self.busy = false;
        self.restoring = false;
        self.consumer
            .rejoin()
            .map_err(|e| StreamsError::client("rejoining the group", e))
    }

    /// Commits what was processed, closes the tasks and leaves the group. After an error
    /// (`clean` false) nothing is committed: a record that failed half-way may have left
    /// effects whose input offset is not consumed.
    pub(crate) fn shutdown(mut self, clean: bool) -> Result<(), StreamsError> {
        self.board.set_thread(self.index, ThreadState::PendingShutdown);
        let closed = if clean {
            self.lock().close(&*self.consumer)
        } else {
            self.lock().close_all_dirty();
            Ok(())
        };
        let left = self
            .consumer
            .close()
            .map_err(|e| StreamsError::client("leaving the group", e));
        self.board.set_thread(self.index, ThreadState::Dead);
        tracing::info!(thread = %self.name, "stream thread stopped");
        closed.and(left)
    }
}

/// Runs a stream thread until shutdown or a fatal error.
pub(crate) fn run(spec: ThreadSpec, shutdown: &AtomicBool) -> Result<(), StreamsError> {
    let mut thread = StreamThread::new(spec)?;
    while !shutdown.load(Ordering::Relaxed) {
        if let Err(e) = thread.step() {
            if let Err(close) = thread.shutdown(false) {
                tracing::warn!(error = %close, "closing after a failure failed");
            }
            return Err(e);
        }
    }
    thread.shutdown(true)
}

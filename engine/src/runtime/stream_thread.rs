//! A stream thread: one group consumer, one producer and one restore consumer, and the tasks of
//! the partitions assigned to it. Its loop: poll (rebalances happen in there), buffer, restore
//! new tasks, process, commit when due.

use super::state::{StateBoard, ThreadState};
use super::task_manager::TaskManager;
use crate::client::{Consumer, ConsumerOps, ConsumerRole, KafkaClient, RebalanceListener, TopicPartition};
use crate::error::StreamsError;
use crate::instance::Instance;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Records processed per task per loop iteration, so that polling (and heartbeats, rebalances)
/// keeps up.
const PROCESS_BATCH: usize = 1000;
/// Records fetched per poll.
const POLL_MAX: usize = 2000;

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
}

/// What a thread needs to run.
pub(crate) struct ThreadSpec {
    pub(crate) index: usize,
    pub(crate) instance: Instance,
    pub(crate) client: Arc<dyn KafkaClient>,
    pub(crate) board: Arc<StateBoard>,
    pub(crate) shutdown: Arc<AtomicBool>,
    /// `<application.id>-<instance id>`: prefix of client ids.
    pub(crate) client_prefix: String,
    /// Resolved topics the group consumer subscribes to.
    pub(crate) topics: Vec<String>,
}

/// Runs a stream thread until shutdown or a fatal error.
pub(crate) fn run(spec: ThreadSpec) -> Result<(), StreamsError> {
    let ThreadSpec {
        index,
        instance,
        client,
        board,
        shutdown,
        client_prefix,
        topics,
    } = spec;
    let name = format!("{client_prefix}-StreamThread-{index}");
    board.set_thread(index, ThreadState::Starting);
    let mut consumer = client
        .consumer(ConsumerRole::Main {
            client_id: format!("{name}-consumer"),
        })
        .map_err(|e| StreamsError::client("creating the consumer", e))?;
    let mut restore = client
        .consumer(ConsumerRole::Restore {
            client_id: format!("{name}-restore-consumer"),
        })
        .map_err(|e| StreamsError::client("creating the restore consumer", e))?;
    let producer = client
        .producer(&format!("{name}-producer"), None)
        .map_err(|e| StreamsError::client("creating the producer", e))?;
    let manager = Arc::new(Mutex::new(TaskManager::new(
        instance,
        index,
        Arc::clone(&board),
        producer,
    )));
    consumer
        .subscribe(
            &topics,
            Arc::new(Listener {
                manager: Arc::clone(&manager),
            }),
        )
        .map_err(|e| StreamsError::client("subscribing", e))?;
    tracing::info!(thread = %name, ?topics, "stream thread started");

    let result = run_loop(&mut *consumer, &mut *restore, &manager, &shutdown);
    board.set_thread(index, ThreadState::PendingShutdown);
    // Commit what was processed and close the tasks, then leave the group.
    let closed = manager
        .lock()
        .expect("task manager lock poisoned")
        .close(consumer.as_ref() as &dyn ConsumerOps);
    let left = consumer
        .close()
        .map_err(|e| StreamsError::client("leaving the group", e));
    board.set_thread(index, ThreadState::Dead);
    tracing::info!(thread = %name, ok = result.is_ok(), "stream thread stopped");
    result.and(closed).and(left)
}

fn run_loop(
    consumer: &mut dyn Consumer,
    restore: &mut dyn Consumer,
    manager: &Mutex<TaskManager>,
    shutdown: &AtomicBool,
) -> Result<(), StreamsError> {
    // Whether the last pass processed anything: then more may be ready and the poll must not
    // wait. Records held back by `max.task.idle.ms` do not count, so idling does not spin.
    let mut busy = false;
    while !shutdown.load(Ordering::Relaxed) {
        let wait = if busy {
            Duration::ZERO
        } else {
            Duration::from_millis(100)
        };
        let records = consumer
            .poll(wait, POLL_MAX)
            .map_err(|e| StreamsError::client("polling", e))?;
        let mut m = manager.lock().expect("task manager lock poisoned");
        if let Some(e) = m.take_fatal() {
            return Err(e);
        }
        let pause = m.add_records(records);
        if !pause.is_empty() {
            consumer
                .pause(&pause)
                .map_err(|e| StreamsError::client("pausing partitions", e))?;
        }
        if m.restoring() {
            m.restore(restore)?;
        }
        if m.has_tasks() {
            m.report_running();
        }
        let (processed, resume) = m.process(PROCESS_BATCH)?;
        busy = processed > 0;
        if !resume.is_empty() {
            consumer
                .resume(&resume)
                .map_err(|e| StreamsError::client("resuming partitions", e))?;
        }
        if m.commit_due() {
            m.commit(&*consumer)?;
        }
    }
    Ok(())
}

//! The global thread: reads every partition of the global tables' topics into their stores —
//! in full before any stream thread starts, then as they change.

use crate::client::{Consumer, ConsumerRole, KafkaClient, TopicPartition};
use crate::error::StreamsError;
use crate::instance::Instance;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub(crate) struct GlobalThread {
    handle: Option<JoinHandle<()>>,
}

impl GlobalThread {
    /// Bootstraps the global stores (blocking) and starts following their topics. `None` if the
    /// topology has no global tables.
    pub(crate) fn start(
        instance: &Instance,
        client: &dyn KafkaClient,
        shutdown: Arc<AtomicBool>,
    ) -> Result<Option<GlobalThread>, StreamsError> {
        let topics = instance.globals.topics();
        if topics.is_empty() {
            return Ok(None);
        }
        let admin = client
            .admin()
            .map_err(|e| StreamsError::client("creating an admin client", e))?;
        let mut consumer = client
            .consumer(ConsumerRole::Global {
                client_id: format!("{}-global-consumer", instance.config.application_id),
            })
            .map_err(|e| StreamsError::client("creating the global consumer", e))?;
        let mut partitions = Vec::new();
        for t in &topics {
            let n = admin
                .partitions(t)
                .map_err(|e| StreamsError::client(format!("reading topic {t}"), e))?
                .unwrap_or(0);
            partitions.extend((0..n).map(|p| TopicPartition::new(t.as_str(), p)));
        }
        let from_start: Vec<(TopicPartition, i64)> = partitions.iter().map(|tp| (tp.clone(), 0)).collect();
        consumer
            .assign(&from_start)
            .map_err(|e| StreamsError::client("assigning global topics", e))?;
        let mut ends = BTreeMap::new();
        for tp in &partitions {
            let end = consumer
                .end_offset(tp)
                .map_err(|e| StreamsError::client(format!("reading the end of {tp}"), e))?;
            ends.insert(tp.clone(), end);
        }
        // Bootstrap: read every partition up to its end offset at start.
        let mut positions: BTreeMap<TopicPartition, i64> =
            partitions.iter().map(|tp| (tp.clone(), 0)).collect();
        let mut loaded = 0u64;
        while positions.iter().any(|(tp, p)| *p < ends[tp]) {
            let records = consumer
                .poll(Duration::from_millis(200), 1000)
                .map_err(|e| StreamsError::client("reading global topics", e))?;
            for r in records {
                positions.insert(TopicPartition::new(r.topic.clone(), r.partition), r.offset + 1);
                instance.globals.apply(&r, &instance.config, &instance.metrics)?;
                loaded += 1;
            }
            for tp in &partitions {
                if let Ok(Some(p)) = consumer.position(tp) {
                    let e = positions.get_mut(tp).expect("known partition");
                    *e = (*e).max(p);
                }
            }
            if shutdown.load(Ordering::Relaxed) {
                return Ok(None);
            }
        }
        tracing::info!(records = loaded, "global stores loaded");
        let instance = instance.clone();
        let handle = std::thread::Builder::new()
            .name(format!("{}-GlobalStreamThread", instance.config.application_id))
            .spawn(move || follow(consumer, instance, shutdown))
            .map_err(|e| StreamsError::Topics {
                reason: format!("cannot start the global thread: {e}"),
            })?;
        Ok(Some(GlobalThread { handle: Some(handle) }))
    }

    /// Waits for the thread to stop (after the shutdown flag is set).
    pub(crate) fn join(mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn follow(mut consumer: Box<dyn Consumer>, instance: Instance, shutdown: Arc<AtomicBool>) {
    while !shutdown.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(100), 1000) {
            Ok(records) => {
                for r in records {
                    if let Err(e) = instance.globals.apply(&r, &instance.config, &instance.metrics) {
                        tracing::error!(error = %e, "global table update failed; the global thread stops");
                        return;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading global topics failed; retrying"),
        }
    }
}

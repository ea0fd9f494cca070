//! `Streams`: a running application instance (Kafka Streams' `KafkaStreams`).

use super::global_thread::GlobalThread;
use super::state::{StateBoard, StreamsState, ThreadState};
use super::state_directory::StateDirectory;
use super::stream_thread::{self, ThreadSpec};
use super::topics;
use crate::client::rdkafka::RdKafkaClient;
use crate::client::KafkaClient;
use crate::config::StreamsConfig;
use crate::error::StreamsError;
use crate::http::{Endpoints, HttpServer};
use crate::instance::Instance;
use crate::metrics::Metrics;
use crate::query::{
    KeyLocator, KeyQueryMetadata, QueryTarget, ReadOnlyKeyValueStore, ReadOnlySessionStore,
    ReadOnlyWindowStore, StoreCodec,
};
use sluice_dsl::dynamic::Data;
use sluice_dsl::topology::StoreKind;
use sluice_dsl::Topology;
use sluice_state::{SessionSchema, WindowSchema};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What to do when a stream thread fails (Kafka Streams' `StreamsUncaughtExceptionHandler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UncaughtAction {
    /// Start a new thread in its place (its tasks move to it after a rebalance).
    ReplaceThread,
    /// Stop this instance (state `Error`).
    ShutdownClient,
}

type ErrorHandlerFn = Box<dyn Fn(&StreamsError) -> UncaughtAction + Send + Sync>;

struct Inner {
    /// Locked from creation until the instance closes: keeps a second instance out.
    directory: Mutex<Option<StateDirectory>>,
    instance: Instance,
    client: Arc<dyn KafkaClient>,
    board: Arc<StateBoard>,
    shutdown: Arc<AtomicBool>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    global: Mutex<Option<GlobalThread>>,
    handler: Mutex<ErrorHandlerFn>,
    client_prefix: String,
    topics: Mutex<Vec<String>>,
    errors: Mutex<Vec<String>>,
    /// The HTTP endpoint, from start until close (`http.server.listen`).
    http: Mutex<Option<HttpServer>>,
    /// Finds which instance holds a key (interactive queries).
    locator: Arc<KeyLocator>,
}

/// A Sluice application instance: stream threads in the application's consumer group running
/// the topology's tasks (Kafka Streams' `KafkaStreams`).
///
/// ```no_run
/// use sluice_dsl::prelude::*;
/// use sluice_engine::{Streams, StreamsConfig, StreamsState};
/// use std::time::Duration;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream("payments", Consumed::with(Serde::string(), Serde::<i64>::i64()))
///     .filter(|_, amount| *amount > 1_000)
///     .to("large-payments", Produced::default());
/// let streams = Streams::new(builder.build()?, StreamsConfig::new("payments-app", "localhost:9092"))?;
/// streams.start()?;
/// streams.wait_for_state(StreamsState::Running, Duration::from_secs(30));
/// // ... until shutdown:
/// streams.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Streams {
    inner: Arc<Inner>,
}

impl Streams {
    /// An instance of `topology` talking to the cluster in `config.bootstrap_servers`.
    pub fn new(topology: Topology, config: StreamsConfig) -> Result<Self, StreamsError> {
        let config = Arc::new(config);
        let client = Arc::new(RdKafkaClient::new(Arc::clone(&config)));
        Self::with_client(topology, config, client)
    }

    /// An instance using `client` to reach Kafka (another implementation of the client seam,
    /// such as a simulated cluster).
    pub fn with_client(
        topology: Topology,
        config: Arc<StreamsConfig>,
        client: Arc<dyn KafkaClient>,
    ) -> Result<Self, StreamsError> {
        config.validate()?;
        let root = config.state_dir.join(&config.application_id);
        let directory = StateDirectory::lock(&root)?;
        let instance = Instance::new(Arc::new(topology), Arc::clone(&config), root)?;
        let board = Arc::new(StateBoard::new());
        board.attach_metrics(instance.metrics.clone());
        let client_prefix = format!("{}-{}", config.application_id, directory.process_id_str());
        let locator = Arc::new(KeyLocator::new(
            Arc::clone(&instance.topology),
            Arc::clone(&config),
            Arc::clone(&client),
            client_prefix.clone(),
        ));
        Ok(Streams {
            inner: Arc::new(Inner {
                client_prefix,
                locator,
                directory: Mutex::new(Some(directory)),
                instance,
                client,
                board,
                shutdown: Arc::new(AtomicBool::new(false)),
                threads: Mutex::new(Vec::new()),
                global: Mutex::new(None),
                handler: Mutex::new(Box::new(|_| UncaughtAction::ShutdownClient)),
                topics: Mutex::new(Vec::new()),
                errors: Mutex::new(Vec::new()),
                http: Mutex::new(None),
            }),
        })
    }

    /// Creates internal topics, loads global tables, and starts the stream threads.
    pub fn start(&self) -> Result<(), StreamsError> {
        let inner = &self.inner;
        if !inner.board.transition(StreamsState::Rebalancing) {
            return Err(StreamsError::InvalidState {
                operation: "start",
                state: inner.board.state().to_string(),
            });
        }
        let started = (|| -> Result<(), StreamsError> {
            // First, so that a taken port fails the start before anything joins the group.
            if let Some(listen) = inner.instance.config.http_server_listen {
                let endpoints = Endpoints {
                    metrics: inner.instance.metrics.clone(),
                    board: Arc::clone(&inner.board),
                    topology: Arc::clone(&inner.instance.topology),
                    queries: Arc::clone(&inner.instance.queries),
                    locator: Some(Arc::clone(&inner.locator)),
                };
                *inner.http.lock().expect("http lock poisoned") = Some(HttpServer::start(listen, endpoints)?);
            }
            let admin = inner
                .client
                .admin()
                .map_err(|e| StreamsError::client("creating an admin client", e))?;
            let plan = topics::prepare(&inner.instance.topology, &inner.instance.config, &*admin)?;
            *inner.topics.lock().expect("topics lock poisoned") =
                plan.source_partitions.keys().cloned().collect();
            let global = GlobalThread::start(&inner.instance, &*inner.client, Arc::clone(&inner.shutdown))?;
            *inner.global.lock().expect("global lock poisoned") = global;
            for i in 0..inner.instance.config.num_stream_threads {
                Inner::spawn_thread(inner, i);
            }
            Ok(())
        })();
        if let Err(e) = &started {
            inner.board.transition(StreamsState::PendingError);
            inner.board.transition(StreamsState::Error);
            inner
                .errors
                .lock()
                .expect("errors lock poisoned")
                .push(e.to_string());
        }
        started
    }

    /// Commits, closes every task and leaves the group; waits for the threads to stop.
    pub fn close(&self) -> Result<(), StreamsError> {
        if self.close_timeout(Duration::from_secs(300)) {
            Ok(())
        } else {
            Err(StreamsError::InvalidState {
                operation: "close within 300 s",
                state: self.state().to_string(),
            })
        }
    }

    /// [`close`](Self::close), giving up waiting after `timeout`; true if it stopped.
    pub fn close_timeout(&self, timeout: Duration) -> bool {
        let inner = &self.inner;
        if inner.board.state() == StreamsState::NotRunning {
            return true;
        }
        inner.board.transition(StreamsState::PendingShutdown);
        inner.shutdown.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + timeout;
        loop {
            let handles: Vec<JoinHandle<()>> =
                std::mem::take(&mut *inner.threads.lock().expect("threads lock poisoned"));
            if handles.is_empty() {
                break;
            }
            for h in handles {
                while !h.is_finished() {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                let _ = h.join();
            }
        }
        if let Some(g) = inner.global.lock().expect("global lock poisoned").take() {
            g.join();
        }
        // Let snapshots in flight finish (within the time left): a half-uploaded snapshot is
        // harmless, a finished one saves the next owner a replay.
        if let Some(snapshots) = &inner.instance.snapshots {
            if !snapshots.wait_idle(deadline.saturating_duration_since(Instant::now())) {
                tracing::warn!("closing with a snapshot upload still running; it is abandoned");
            }
        }
        inner.board.transition(StreamsState::NotRunning);
        // Stops accepting; requests being answered finish first.
        inner.http.lock().expect("http lock poisoned").take();
        // Every thread is gone: another instance may use the state directory now.
        inner.directory.lock().expect("directory lock poisoned").take();
        true
    }

    /// The instance's state.
    pub fn state(&self) -> StreamsState {
        self.inner.board.state()
    }

    /// Waits until the instance is in `state` (true) or `timeout` passes (false).
    pub fn wait_for_state(&self, state: StreamsState, timeout: Duration) -> bool {
        self.inner.board.wait_for(timeout, |s| s == state)
    }

    /// Calls `listener(old, new)` on every state change (from the thread that caused it).
    pub fn set_state_listener(&self, listener: impl Fn(StreamsState, StreamsState) + Send + Sync + 'static) {
        self.inner.board.set_listener(Box::new(listener));
    }

    /// Decides what happens when a stream thread fails (default: shut down the instance).
    pub fn set_uncaught_exception_handler(
        &self,
        handler: impl Fn(&StreamsError) -> UncaughtAction + Send + Sync + 'static,
    ) {
        *self.inner.handler.lock().expect("handler lock poisoned") = Box::new(handler);
    }

    /// A read-only view of the key-value store `name` (a table or an aggregation's store)
    /// over this instance's active tasks, typed by the store's serdes (Kafka Streams'
    /// `store(StoreQueryParameters.fromNameAndType(name, keyValueStore()))`). Fails if there is
    /// no such store, it is not a key-value store, or its serdes are not of `K` and `V`.
    pub fn key_value_store<K: Data + Clone, V: 'static>(
        &self,
        name: &str,
    ) -> Result<ReadOnlyKeyValueStore<K, V>, StreamsError> {
        let target = self.query_target::<K, V>(name)?;
        match target.codec.kind {
            StoreKind::KeyValue => Ok(ReadOnlyKeyValueStore::new(target)),
            _ => Err(not_a(name, "key-value")),
        }
    }

    /// A read-only view of the window store `name` (a windowed aggregation's) over this
    /// instance's active tasks (Kafka Streams' `windowStore()` query type). Fails as
    /// [`Streams::key_value_store`] does.
    pub fn window_store<K: Data + Clone, V: 'static>(
        &self,
        name: &str,
    ) -> Result<ReadOnlyWindowStore<K, V>, StreamsError> {
        let target = self.query_target::<K, V>(name)?;
        match target.codec.kind {
            StoreKind::Window {
                retention_ms,
                size_ms,
                ..
            } => Ok(ReadOnlyWindowStore::new(
                target,
                WindowSchema::new(retention_ms, size_ms),
                size_ms,
            )),
            _ => Err(not_a(name, "window")),
        }
    }

    /// A read-only view of the session store `name` (a session aggregation's) over this
    /// instance's active tasks (Kafka Streams' `sessionStore()` query type). Fails as
    /// [`Streams::key_value_store`] does.
    pub fn session_store<K: Data + Clone, V: 'static>(
        &self,
        name: &str,
    ) -> Result<ReadOnlySessionStore<K, V>, StreamsError> {
        let target = self.query_target::<K, V>(name)?;
        match target.codec.kind {
            StoreKind::Session { retention_ms } => Ok(ReadOnlySessionStore::new(
                target,
                SessionSchema::new(retention_ms),
            )),
            _ => Err(not_a(name, "session")),
        }
    }

    /// Which instance holds `key` of `store` (Kafka Streams' `queryMetadataForKey`): the
    /// key's partition under Kafka's default partitioner, and the `application.server` of the
    /// group member assigned it, from the group coordinator. Fails with `StoreUnavailable`
    /// while no member holds that partition (a rebalance).
    pub fn query_metadata_for_key<K: Data + Clone>(
        &self,
        store: &str,
        key: &K,
    ) -> Result<KeyQueryMetadata, StreamsError> {
        let spec = self
            .inner
            .instance
            .topology
            .store(store)
            .ok_or_else(|| StreamsError::StoreAccess {
                store: store.to_string(),
                reason: "no such store".into(),
            })?;
        if spec.key_serde.value_type_id() != std::any::TypeId::of::<K>() {
            return Err(StreamsError::StoreAccess {
                store: store.to_string(),
                reason: format!(
                    "keyed by {}, not {}",
                    spec.key_serde.type_name(),
                    std::any::type_name::<K>()
                ),
            });
        }
        let bytes = spec
            .key_serde
            .serialize(&sluice_dsl::dynamic::erase(key.clone()))
            .map_err(|e| StreamsError::StoreAccess {
                store: store.to_string(),
                reason: format!("cannot serialize the key: {e}"),
            })?
            .unwrap_or_default();
        self.inner.locator.locate(store, &bytes)
    }

    fn query_target<K: Data + Clone, V: 'static>(
        &self,
        name: &str,
    ) -> Result<QueryTarget<K, V>, StreamsError> {
        Ok(QueryTarget::new(
            StoreCodec::new(&self.inner.instance.topology, name)?,
            Arc::clone(&self.inner.instance.queries),
            Arc::clone(&self.inner.board),
        ))
    }

    /// Where the HTTP endpoint listens (`http.server.listen`, with the port the system chose
    /// if it said 0), from `start` until `close`; `None` without an endpoint.
    pub fn http_address(&self) -> Option<std::net::SocketAddr> {
        self.inner
            .http
            .lock()
            .expect("http lock poisoned")
            .as_ref()
            .map(|s| s.address())
    }

    /// The instance's metrics.
    pub fn metrics(&self) -> Metrics {
        self.inner.instance.metrics.clone()
    }

    /// Errors that stopped threads so far, as text.
    pub fn errors(&self) -> Vec<String> {
        self.inner.errors.lock().expect("errors lock poisoned").clone()
    }
}

/// The error for a store queried as a kind it is not.
fn not_a(name: &str, kind: &str) -> StreamsError {
    StreamsError::StoreAccess {
        store: name.to_string(),
        reason: format!("not a {kind} store"),
    }
}

impl Inner {
    fn spawn_thread(inner: &Arc<Inner>, index: usize) {
        inner.board.add_thread(index);
        let me = Arc::clone(inner);
        let spec = ThreadSpec {
            index,
            instance: inner.instance.clone(),
            client: Arc::clone(&inner.client),
            board: Arc::clone(&inner.board),
            client_prefix: inner.client_prefix.clone(),
            topics: inner.topics.lock().expect("topics lock poisoned").clone(),
            broken: None,
        };
        let handle = std::thread::Builder::new()
            .name(format!("{}-StreamThread-{index}", inner.client_prefix))
            .spawn(move || {
                if let Err(e) = stream_thread::run(spec, &me.shutdown) {
                    me.thread_failed(index, e);
                }
            })
            .expect("spawning a stream thread");
        inner.threads.lock().expect("threads lock poisoned").push(handle);
    }

    fn thread_failed(self: &Arc<Inner>, index: usize, error: StreamsError) {
        tracing::error!(thread = index, %error, "stream thread failed");
        self.errors
            .lock()
            .expect("errors lock poisoned")
            .push(error.to_string());
        self.board.set_thread(index, ThreadState::PendingShutdown);
        self.board.set_thread(index, ThreadState::Dead);
        if self.shutdown.load(Ordering::Relaxed) {
            return;
        }
        let action = (self.handler.lock().expect("handler lock poisoned"))(&error);
        match action {
            UncaughtAction::ReplaceThread => {
                tracing::info!(thread = index, "replacing the failed stream thread");
                Inner::spawn_thread(self, index);
            }
            _ => {
                self.board.transition(StreamsState::PendingError);
                self.shutdown.store(true, Ordering::Relaxed);
                let me = Arc::clone(self);
                // Another thread joins the others: this one is one of them.
                std::thread::spawn(move || {
                    loop {
                        let handles: Vec<JoinHandle<()>> =
                            std::mem::take(&mut *me.threads.lock().expect("threads lock poisoned"));
                        if handles.is_empty() {
                            break;
                        }
                        for h in handles {
                            let _ = h.join();
                        }
                    }
                    if let Some(g) = me.global.lock().expect("global lock poisoned").take() {
                        g.join();
                    }
                    me.board.transition(StreamsState::Error);
                });
            }
        }
    }
}

impl Drop for Streams {
    fn drop(&mut self) {
        if !self.state().is_terminal() && self.state() != StreamsState::Created {
            self.close_timeout(Duration::from_secs(60));
        }
    }
}

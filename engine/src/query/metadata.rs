//! Which instance holds a key: the key's partition (Kafka's default partitioner over the
//! store's source topic), and the group member assigned that partition, as the group
//! coordinator reports it. Members carry their `application.server` in their consumer's
//! `client.id` (`...-consumer@host:port`): Kafka's own membership, nothing of Sluice's own.

use crate::client::partitioner::partition_for;
use crate::client::{Admin, KafkaClient, TopicPartition};
use crate::config::StreamsConfig;
use crate::error::StreamsError;
use sluice_dsl::Topology;
use std::sync::{Arc, Mutex};

/// Where a key of a store lives (Kafka Streams' `KeyQueryMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyQueryMetadata {
    /// The `application.server` of the instance whose active task holds the key (`None` if
    /// that instance set none).
    pub active_host: Option<String>,
    /// The key's partition: its task is `<sub-topology>_<partition>`.
    pub partition: i32,
    /// Whether that task is one of this instance's.
    pub local: bool,
}

/// Finds keys' instances for [`crate::Streams::query_metadata_for_key`] and the HTTP routes.
pub(crate) struct KeyLocator {
    topology: Arc<Topology>,
    config: Arc<StreamsConfig>,
    client: Arc<dyn KafkaClient>,
    /// Client ids of this instance's consumers start with it.
    own_prefix: String,
    /// Created on the first lookup, then reused.
    admin: Mutex<Option<Box<dyn Admin>>>,
}

/// The separator between a consumer's client id and its instance's `application.server`.
pub(crate) const SERVER_SEPARATOR: char = '@';

impl KeyLocator {
    pub(crate) fn new(
        topology: Arc<Topology>,
        config: Arc<StreamsConfig>,
        client: Arc<dyn KafkaClient>,
        own_prefix: String,
    ) -> Self {
        KeyLocator {
            topology,
            config,
            client,
            own_prefix,
            admin: Mutex::new(None),
        }
    }

    /// Where the key with serialized bytes `key` of `store` lives.
    pub(crate) fn locate(&self, store: &str, key: &[u8]) -> Result<KeyQueryMetadata, StreamsError> {
        let unavailable = |reason: String| StreamsError::StoreUnavailable {
            store: store.to_string(),
            reason,
        };
        let sub = self
            .topology
            .sub_topologies()
            .iter()
            .find(|s| s.stores.iter().any(|n| n == store))
            .ok_or_else(|| StreamsError::StoreAccess {
                store: store.to_string(),
                reason: "no task holds it (a global store is on every instance)".into(),
            })?;
        let topic = sub
            .source_topics
            .first()
            .expect("a sub-topology reads at least one topic")
            .resolve(&self.config.application_id);
        let mut admin = self.admin.lock().expect("admin lock poisoned");
        if admin.is_none() {
            *admin = Some(
                self.client
                    .admin()
                    .map_err(|e| StreamsError::client("creating an admin client", e))?,
            );
        }
        let admin = admin.as_ref().expect("just created");
        let partitions = admin
            .partitions(&topic)
            .map_err(|e| StreamsError::client("reading partitions", e))?
            .ok_or_else(|| unavailable(format!("topic {topic} does not exist")))?;
        let partition = partition_for(Some(key), partitions);
        let wanted = TopicPartition::new(topic.as_str(), partition);
        let members = admin
            .group_members(&self.config.application_id)
            .map_err(|e| StreamsError::client("describing the group", e))?;
        let owner = members
            .iter()
            .find(|m| m.partitions.contains(&wanted))
            .ok_or_else(|| unavailable(format!("no instance is assigned {wanted} now (a rebalance?)")))?;
        Ok(KeyQueryMetadata {
            active_host: owner
                .client_id
                .split_once(SERVER_SEPARATOR)
                .map(|(_, host)| host.to_string()),
            partition,
            local: owner.client_id.starts_with(&self.own_prefix),
        })
    }
}

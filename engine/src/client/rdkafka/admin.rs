//! Topic administration over rdkafka's `AdminClient`.

use super::classify;
use crate::client::{Admin, ClientError, ClientErrorKind, GroupMember, NewTopic};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic as RdNewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct RdAdmin {
    client: AdminClient<DefaultClientContext>,
}

impl RdAdmin {
    pub(crate) fn create(config: ClientConfig) -> Result<Self, ClientError> {
        let client = config.create().map_err(|e| classify("create admin client", e))?;
        Ok(RdAdmin { client })
    }
}

impl Admin for RdAdmin {
    fn create_topics(&self, topics: &[NewTopic]) -> Result<(), ClientError> {
        if topics.is_empty() {
            return Ok(());
        }
        let new: Vec<RdNewTopic<'_>> = topics
            .iter()
            .map(|t| {
                let mut n = RdNewTopic::new(
                    &t.name,
                    t.partitions,
                    TopicReplication::Fixed(t.replication_factor),
                );
                for (k, v) in &t.configs {
                    n = n.set(k, v);
                }
                n
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
        let results = futures_executor::block_on(self.client.create_topics(&new, &options))
            .map_err(|e| classify("create topics", e))?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(ClientError::new(
                        ClientErrorKind::Fatal,
                        "create topics",
                        format!("topic {topic}: {code}"),
                    ))
                }
            }
        }
        Ok(())
    }

    fn partitions(&self, topic: &str) -> Result<Option<i32>, ClientError> {
        // Metadata for all topics: asking for one topic by name lets brokers with automatic
        // topic creation create it.
        let metadata = self
            .client
            .inner()
            .fetch_metadata(None, TIMEOUT)
            .map_err(|e| classify("read topic metadata", e))?;
        Ok(metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .filter(|t| t.error().is_none() && !t.partitions().is_empty())
            .map(|t| t.partitions().len() as i32))
    }

    fn group_members(&self, group: &str) -> Result<Vec<GroupMember>, ClientError> {
        let groups = self
            .client
            .inner()
            .fetch_group_list(Some(group), TIMEOUT)
            .map_err(|e| classify("describe group", e))?;
        let Some(g) = groups.groups().iter().find(|g| g.name() == group) else {
            return Ok(Vec::new());
        };
        Ok(g.members()
            .iter()
            .map(|m| GroupMember {
                client_id: m.client_id().to_string(),
                partitions: m
                    .assignment()
                    .and_then(super::assignment::partitions)
                    .unwrap_or_default(),
            })
            .collect())
    }
}

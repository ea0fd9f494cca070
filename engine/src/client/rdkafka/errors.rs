//! Classifying librdkafka errors into what the runtime does next.

use crate::client::{ClientError, ClientErrorKind};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Maps a librdkafka error of `operation` to a [`ClientError`].
pub(crate) fn classify(operation: &'static str, e: KafkaError) -> ClientError {
    let kind = match &e {
        KafkaError::Transaction(rd) => {
            if matches!(
                rd.code(),
                RDKafkaErrorCode::ProducerFenced
                    | RDKafkaErrorCode::InvalidProducerEpoch
                    | RDKafkaErrorCode::InvalidProducerIdMapping
                    | RDKafkaErrorCode::Fenced
            ) {
                ClientErrorKind::Fenced
            } else if rd.is_fatal() {
                ClientErrorKind::Fatal
            } else if rd.txn_requires_abort() {
                ClientErrorKind::Abortable
            } else if rd.is_retriable() {
                ClientErrorKind::Retriable
            } else {
                ClientErrorKind::Abortable
            }
        }
        other => match other.rdkafka_error_code() {
            Some(
                RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::FencedInstanceId
                | RDKafkaErrorCode::Fenced,
            ) => ClientErrorKind::Fenced,
            Some(
                RDKafkaErrorCode::UnknownMemberId
                | RDKafkaErrorCode::IllegalGeneration
                | RDKafkaErrorCode::RebalanceInProgress,
            ) => ClientErrorKind::Abortable,
            Some(
                RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::BrokerNotAvailable
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::NotLeaderForPartition
                | RDKafkaErrorCode::NetworkException
                | RDKafkaErrorCode::CoordinatorLoadInProgress
                | RDKafkaErrorCode::CoordinatorNotAvailable
                | RDKafkaErrorCode::NotCoordinator
                | RDKafkaErrorCode::QueueFull
                | RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::MessageTimedOut,
            ) => ClientErrorKind::Retriable,
            _ => ClientErrorKind::Fatal,
        },
    };
    ClientError::new(kind, operation, e.to_string())
}

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
                // librdkafka's own "coordinator not known yet" (a commit right after a
                // coordinator moved or the broker restarted): it finds one on its own.
                | RDKafkaErrorCode::WaitingForCoordinator
                | RDKafkaErrorCode::QueueFull
                | RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::MessageTimedOut,
            ) => ClientErrorKind::Retriable,
            _ => ClientErrorKind::Fatal,
        },
    };
    ClientError::new(kind, operation, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_waiting_for_the_coordinator_is_retried() {
        let e = classify(
            "commit",
            KafkaError::ConsumerCommit(RDKafkaErrorCode::WaitingForCoordinator),
        );
        assert_eq!(e.kind, ClientErrorKind::Retriable);
    }

    #[test]
    fn an_unknown_error_is_fatal_and_fencing_is_fencing() {
        let fatal = classify(
            "poll",
            KafkaError::MessageConsumption(RDKafkaErrorCode::InvalidMessage),
        );
        assert_eq!(fatal.kind, ClientErrorKind::Fatal);
        let fenced = classify(
            "produce",
            KafkaError::MessageProduction(RDKafkaErrorCode::ProducerFenced),
        );
        assert_eq!(fenced.kind, ClientErrorKind::Fenced);
    }
}

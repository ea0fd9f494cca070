//! Classifying librdkafka errors into what the runtime does next.

use crate::client::{ClientError, ClientErrorKind};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Maps a librdkafka error of `operation` to a [`ClientError`].
pub(crate) fn classify(operation: &'static str, e: KafkaError) -> ClientError {
    let kind = match &e {
        KafkaError::Transaction(rd) => transaction_kind(
            rd.code(),
            rd.is_fatal(),
            rd.txn_requires_abort(),
            rd.is_retriable(),
        ),
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

/// What a failed transactional call (librdkafka's `rd_kafka_error_t`: its code and flags)
/// means for the tasks.
///
/// A fenced producer, and a member the group no longer knows at the generation it sent with
/// its offsets (`send_offsets_to_transaction` failing with `UNKNOWN_MEMBER_ID`,
/// `ILLEGAL_GENERATION` or `FENCED_INSTANCE_ID`), have lost their tasks: another member may
/// own the partitions and be committing them already. librdkafka flags the latter as
/// abortable only, but aborting and rewinding would keep processing partitions the thread no
/// longer owns, from offsets their new owner moves; Kafka Streams turns them into
/// `TaskMigratedException`, and so do we (close the tasks dirty, rejoin).
fn transaction_kind(
    code: RDKafkaErrorCode,
    fatal: bool,
    requires_abort: bool,
    retriable: bool,
) -> ClientErrorKind {
    if matches!(
        code,
        RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch
            | RDKafkaErrorCode::InvalidProducerIdMapping
            | RDKafkaErrorCode::Fenced
            | RDKafkaErrorCode::UnknownMemberId
            | RDKafkaErrorCode::IllegalGeneration
            | RDKafkaErrorCode::FencedInstanceId
    ) {
        ClientErrorKind::Fenced
    } else if fatal {
        ClientErrorKind::Fatal
    } else if requires_abort {
        ClientErrorKind::Abortable
    } else if retriable {
        ClientErrorKind::Retriable
    } else {
        ClientErrorKind::Abortable
    }
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

    #[test]
    fn a_member_the_group_no_longer_knows_has_lost_its_tasks() {
        // How librdkafka reports a TxnOffsetCommit the group coordinator refused: abortable.
        for code in [
            RDKafkaErrorCode::UnknownMemberId,
            RDKafkaErrorCode::IllegalGeneration,
            RDKafkaErrorCode::FencedInstanceId,
        ] {
            assert_eq!(
                transaction_kind(code, false, true, false),
                ClientErrorKind::Fenced,
                "{code:?}"
            );
        }
        assert_eq!(
            transaction_kind(RDKafkaErrorCode::InvalidProducerEpoch, true, false, false),
            ClientErrorKind::Fenced
        );
        assert_eq!(
            transaction_kind(RDKafkaErrorCode::MessageTimedOut, false, true, false),
            ClientErrorKind::Abortable
        );
        assert_eq!(
            transaction_kind(RDKafkaErrorCode::OperationTimedOut, false, false, true),
            ClientErrorKind::Retriable
        );
        // Outside a transaction (an at-least-once offset commit), an unknown member only
        // means the records are processed again.
        let commit = classify(
            "commit",
            KafkaError::ConsumerCommit(RDKafkaErrorCode::UnknownMemberId),
        );
        assert_eq!(commit.kind, ClientErrorKind::Abortable);
    }
}

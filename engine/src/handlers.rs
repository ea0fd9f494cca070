//! Applying the configured exception handlers: fail, log and continue, or dead-letter.

use crate::config::{ErrorHandler, StreamsConfig};
use crate::error::StreamsError;
use crate::metrics::{DropReason, TaskMetrics};
use crate::record::{OutputRecord, RawRecord};

/// Header names of dead-letter records (KIP-1034). Values are UTF-8 strings.
pub mod dlq_headers {
    /// The kind of failure (`deserialization_error`, `processing_error`, ...).
    pub const EXCEPTION: &str = "__streams.errors.exception";
    /// The error message.
    pub const MESSAGE: &str = "__streams.errors.message";
    /// Topic of the failed input record.
    pub const TOPIC: &str = "__streams.errors.topic";
    /// Partition of the failed input record (decimal).
    pub const PARTITION: &str = "__streams.errors.partition";
    /// Offset of the failed input record (decimal).
    pub const OFFSET: &str = "__streams.errors.offset";
}

/// The input record, unchanged, with headers saying what failed and where.
pub(crate) fn dead_letter_record(
    topic: &str,
    raw: &RawRecord,
    reason: DropReason,
    error: &StreamsError,
) -> OutputRecord {
    let text = |s: String| Some(s.into_bytes());
    OutputRecord {
        topic: topic.into(),
        partition: None,
        key: raw.key.clone(),
        value: raw.value.clone(),
        timestamp: raw.timestamp,
        headers: raw.headers.with([
            (
                dlq_headers::EXCEPTION.to_string(),
                text(reason.as_str().to_string()),
            ),
            (dlq_headers::MESSAGE.to_string(), text(error.to_string())),
            (dlq_headers::TOPIC.to_string(), text(raw.topic.to_string())),
            (
                dlq_headers::PARTITION.to_string(),
                text(raw.partition.to_string()),
            ),
            (dlq_headers::OFFSET.to_string(), text(raw.offset.to_string())),
        ]),
    }
}

/// Applies `handler` to a failed record: returns the error to stop, or records the skip (and
/// the dead-letter record) and returns `Ok` to continue. Nothing is skipped uncounted.
pub(crate) fn apply(
    handler: ErrorHandler,
    error: StreamsError,
    reason: DropReason,
    input: Option<&RawRecord>,
    config: &StreamsConfig,
    output: &mut Vec<OutputRecord>,
    metrics: &mut TaskMetrics,
) -> Result<(), StreamsError> {
    match handler {
        ErrorHandler::LogAndContinue => {
            tracing::warn!(%error, "skipping record (handler: log_and_continue)");
            metrics.dropped(reason);
            Ok(())
        }
        ErrorHandler::DeadLetterQueue => match (input, &config.errors_dead_letter_queue_topic_name) {
            (Some(raw), Some(dlq)) => {
                tracing::warn!(%error, dead_letter_topic = %dlq, "record sent to the dead-letter topic");
                output.push(dead_letter_record(dlq, raw, reason, &error));
                metrics.dead_lettered(reason);
                Ok(())
            }
            _ => {
                // A failure during a commit-time flush has no input record to dead-letter.
                tracing::error!(%error, "skipping record: no input record to dead-letter");
                metrics.dropped(reason);
                Ok(())
            }
        },
        _ => {
            tracing::error!(%error, "record failed (handler: log_and_fail)");
            Err(error)
        }
    }
}

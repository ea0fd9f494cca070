//! Aggregation over session windows.
//!
//! A record at `t` joins every session of its key that ends at or after `t - gap` and starts at or
//! before `t + gap`; those sessions merge into one spanning all of them and `t`. The merged-away
//! sessions are deleted downstream (null value, old value kept) and the merged session is
//! forwarded with its end as timestamp, as in Kafka Streams. A record whose merged session would
//! end before stream time minus grace is late: dropped and counted (`expired_window`).

use super::emit_progress::EmitProgress;
use super::table::TableEmitter;
use super::{Processor, ProcessorContext};
use crate::error::StreamsError;
use crate::metrics::DropReason;
use crate::record::Record;
use crate::task::UNKNOWN_TIME;
use sluice_dsl::dynamic::{DynBox, MergerFn, WindowedKeyFn};
use sluice_dsl::topology::Aggregation;
use sluice_dsl::windows::{Window, WindowDefinition};
use sluice_state::SessionSchema;

pub(crate) struct SessionAggregate {
    emitter: TableEmitter,
    schema: SessionSchema,
    gap_ms: i64,
    grace_ms: i64,
    aggregation: Aggregation,
    merger: MergerFn,
    windowed_key: WindowedKeyFn,
    emit_final: Option<EmitProgress>,
    /// With `on_window_close`: no stored session that ends after the last emission's cut-off
    /// ends before this (`i64::MIN`: not known, scan). Lowered by every session written,
    /// raised only by a scan; deletes leave it low, which costs at most an early scan. Without
    /// it every record that moved stream time on scanned whole segments of the store: in the
    /// healthcare example, 62% of the stream thread's samples at 1,000 readings/s.
    next_close_end: i64,
    observed: i64,
    expired_below: u64,
}

impl SessionAggregate {
    pub(crate) fn new(
        emitter: TableEmitter,
        retention_ms: i64,
        windows: WindowDefinition,
        aggregation: Aggregation,
        merger: MergerFn,
        windowed_key: WindowedKeyFn,
        emit_final: Option<EmitProgress>,
    ) -> Self {
        let WindowDefinition::Session { gap_ms, grace_ms } = windows else {
            unreachable!("session aggregates get session windows")
        };
        SessionAggregate {
            emitter: if emit_final.is_some() {
                emitter.without_cache()
            } else {
                emitter
            },
            schema: SessionSchema::new(retention_ms),
            gap_ms,
            grace_ms,
            aggregation,
            merger,
            windowed_key,
            emit_final,
            next_close_end: i64::MIN,
            observed: UNKNOWN_TIME,
            expired_below: 0,
        }
    }

    /// With `on_window_close`: forwards the sessions that closed (end + gap + grace passed)
    /// since the last emission.
    fn emit_closed(&mut self, ctx: &mut ProcessorContext<'_>) -> Result<(), StreamsError> {
        let Some(progress) = &mut self.emit_final else {
            return Ok(());
        };
        let cutoff_end = self.observed - self.grace_ms - self.gap_ms - 1;
        let last = progress.get(ctx)?;
        if last.is_some_and(|l| cutoff_end <= l) || cutoff_end < 0 {
            return Ok(());
        }
        if cutoff_end < self.next_close_end {
            // No session ends at or before the cut-off: nothing closed. The progress stays,
            // so a later scan starts where the last one ended and misses nothing.
            return Ok(());
        }
        let task = ctx.task;
        let (mut closed, next_close_end) = self
            .schema
            .find_by_end(
                ctx.stores.kv(self.emitter.store),
                last.map_or(0, |l| l + 1),
                cutoff_end,
            )
            .map_err(|source| StreamsError::Store { task, source })?;
        closed.sort_by(|a, b| (a.1.end, &a.0).cmp(&(b.1.end, &b.0)));
        let records = closed
            .iter()
            .map(|(key_bytes, session)| {
                self.emitter.final_record(
                    ctx,
                    &self.windowed_key,
                    key_bytes,
                    Window::new(session.start, session.end),
                    &session.value,
                    session.end,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        for record in records {
            ctx.forward(record);
        }
        // Only once every closed session is forwarded: if building the records fails half way
        // (a panic in a store serde, caught and skipped), nothing was forwarded, the bound stays
        // below the cut-off and the next record scans from the last saved one again.
        self.next_close_end = next_close_end;
        if let Some(progress) = &mut self.emit_final {
            progress.set(ctx, cutoff_end);
        }
        Ok(())
    }
}

impl Processor for SessionAggregate {
    fn init(&mut self, stream_time: i64) {
        self.observed = self.observed.max(stream_time);
    }

    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        // As Kafka Streams: `count()` counts null values too; the other aggregations' closures
        // cannot see one.
        let value = match &record.value {
            Some(v) => v,
            None if self.aggregation.counts_null_values() => &super::null_placeholder(),
            None => {
                ctx.drop_record(DropReason::NullValue);
                return Ok(());
            }
        };
        let Some(key_bytes) = self.emitter.key_bytes(ctx, &record.key)? else {
            ctx.drop_record(DropReason::NullKey);
            return Ok(());
        };
        let t = record.timestamp;
        self.observed = self.observed.max(t);
        // As Kafka Streams: a session closes `gap + grace` after its end (the gap too: a later
        // record within the gap could still extend it).
        let close = self.observed - self.grace_ms - self.gap_ms;
        let task = ctx.task;
        let overlapping = self
            .schema
            .find_sessions(
                ctx.stores.kv(self.emitter.store),
                &key_bytes,
                t - self.gap_ms,
                t + self.gap_ms,
                self.observed,
            )
            .map_err(|source| StreamsError::Store { task, source })?;
        let start = overlapping.iter().map(|s| s.start).fold(t, i64::min);
        let end = overlapping.iter().map(|s| s.end).fold(t, i64::max);
        if end < close {
            ctx.drop_record(DropReason::ExpiredWindow);
            return Ok(());
        }
        // Kafka Streams' order: the initial aggregate, the merged sessions, then the record.
        let mut aggregate: Option<DynBox> = self.aggregation.initial();
        for session in &overlapping {
            let merged = self.emitter.deserialize_box(ctx, &session.value)?;
            aggregate = Some(match aggregate {
                None => merged,
                Some(a) => (self.merger)(&record.key, a, merged),
            });
        }
        let new = self.aggregation.fold(&record.key, value, aggregate);
        // As Kafka Streams: unless the record starts a new session on its own, every merged
        // session (even one equal to the result) is deleted downstream before the result is put.
        let merged_away = if (start, end) == (t, t) {
            Vec::new()
        } else {
            overlapping
        };
        for session in merged_away {
            let store_key = self.schema.store_key(&key_bytes, session.start, session.end);
            if self.emit_final.is_some() {
                ctx.stores.kv(self.emitter.store).delete(&store_key);
            } else {
                let windowed = (self.windowed_key)(&record.key, Window::new(session.start, session.end));
                self.emitter.write(
                    ctx,
                    &store_key,
                    &windowed,
                    Some(session.value),
                    None,
                    session.end,
                    &record.headers,
                )?;
            }
        }
        let store_key = self.schema.store_key(&key_bytes, start, end);
        let bytes = self.emitter.value_bytes(ctx, &new)?;
        self.next_close_end = self.next_close_end.min(end);
        if self.emit_final.is_some() {
            ctx.stores.kv(self.emitter.store).put(&store_key, &bytes);
        } else {
            let old = self.emitter.read(ctx, &store_key)?;
            let windowed = (self.windowed_key)(&record.key, Window::new(start, end));
            self.emitter.write(
                ctx,
                &store_key,
                &windowed,
                old,
                Some((bytes, new)),
                end,
                &record.headers,
            )?;
        }
        self.emit_closed(ctx)?;
        self.schema.expire(
            ctx.stores.kv(self.emitter.store),
            self.observed,
            &mut self.expired_below,
        );
        Ok(())
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_>) -> Result<(), StreamsError> {
        self.emitter.flush(ctx)
    }

    fn has_cache(&self) -> bool {
        self.emitter.has_cache()
    }

    fn abort(&mut self) {
        self.emitter.abort();
        if let Some(p) = &mut self.emit_final {
            p.abort();
        }
        // Back to the committed stream time (the task re-inits it); the store is back to its
        // committed state too, whose sessions this bound may not cover.
        self.next_close_end = i64::MIN;
        self.observed = UNKNOWN_TIME;
        self.expired_below = 0;
    }
}

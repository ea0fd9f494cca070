//! Aggregation over time windows (tumbling, hopping) and sliding windows.
//!
//! Window store values are `latest record timestamp | aggregate`. A window accepts records
//! until the stream time observed by this processor passes its end plus grace; records that miss
//! a window for that reason are counted once as `expired_window`. Sliding windows follow Kafka
//! Streams' KIP-450 algorithm: each record has a window ending at it (`[t - d, t]`), and a
//! window starting right after it (`[t + 1, t + 1 + d]`) exists while later records fall in it;
//! records before `d` share the window `[0, d]`.

use super::close_queue::{CloseQueue, CLOSE_QUEUE_CAPACITY};
use super::emit_progress::EmitProgress;
use super::table::{timestamp_of, EmitterHandle};
use super::{Processor, ProcessorContext};
use crate::error::StreamsError;
use crate::metrics::DropReason;
use crate::record::{Headers, Record};
use crate::task::UNKNOWN_TIME;
use sluice_dsl::dynamic::{Dyn, WindowedKeyFn};
use sluice_dsl::topology::Aggregation;
use sluice_dsl::windows::{Window, WindowDefinition};
use sluice_state::{WindowEntry, WindowSchema};

pub(crate) struct WindowAggregate {
    /// Shared by the aggregations of a windowed cogroup (one store, one record cache).
    emitter: EmitterHandle,
    /// The window store's index (the emitter's).
    store: usize,
    schema: WindowSchema,
    /// The store's retention: a window starting this long before the store's stream time is
    /// gone from it (Kafka Streams' window stores answer `null` for it).
    retention_ms: i64,
    windows: WindowDefinition,
    aggregation: Aggregation,
    windowed_key: WindowedKeyFn,
    /// `Some` with `EmitStrategy::on_window_close`.
    emit_final: Option<EmitProgress>,
    /// With `on_window_close`: the windows that close next. Without it every record that moved
    /// stream time on read whole segments of the store (every key's windows) to find the few
    /// that closed, or none.
    close_queue: CloseQueue,
    /// Stream time as seen by this processor.
    observed: i64,
    /// Segments below this one were dropped already.
    expired_below: u64,
    /// The store key of the window being read or written (one buffer, not one per update).
    store_key: Vec<u8>,
}

/// The record being aggregated.
struct Input<'a> {
    key: &'a Dyn,
    key_bytes: &'a [u8],
    value: &'a Dyn,
    timestamp: i64,
    headers: &'a Headers,
}

/// A stored window: its latest record time and stored bytes (`timestamp | aggregate`).
#[derive(Clone)]
struct Stored {
    max_timestamp: i64,
    bytes: Vec<u8>,
}

impl Stored {
    /// A window as read from the store.
    fn of(bytes: Vec<u8>) -> Stored {
        Stored {
            max_timestamp: timestamp_of(&bytes),
            bytes,
        }
    }

    /// Moves the window out, leaving an empty one (no allocation).
    fn take(&mut self) -> Stored {
        Stored {
            max_timestamp: self.max_timestamp,
            bytes: std::mem::take(&mut self.bytes),
        }
    }
}

/// What a window update starts from.
enum Base<'a> {
    /// A new window, empty.
    Empty,
    /// A new window holding what another window holds (a sliding record's left window,
    /// seeded by the latest window ending before the record).
    Seeded(&'a Stored),
    /// The window itself as stored: its aggregate, and its bytes as the old value.
    Stored(Stored),
}

impl WindowAggregate {
    pub(crate) fn new(
        emitter: EmitterHandle,
        retention_ms: i64,
        windows: WindowDefinition,
        aggregation: Aggregation,
        windowed_key: WindowedKeyFn,
        emit_final: Option<EmitProgress>,
    ) -> Self {
        WindowAggregate {
            store: match &emitter {
                EmitterHandle::Own(e) => e.store,
                EmitterHandle::Shared(e) => e.lock().expect("emitter lock poisoned").store,
            },
            emitter: match emitter {
                EmitterHandle::Own(e) if emit_final.is_some() => EmitterHandle::Own(e.without_cache()),
                other => other,
            },
            retention_ms,
            schema: WindowSchema::new(
                retention_ms,
                match windows {
                    WindowDefinition::Time { size_ms, .. } => size_ms,
                    WindowDefinition::Sliding {
                        time_difference_ms, ..
                    } => time_difference_ms,
                    _ => unreachable!("session windows have their own processor"),
                },
            ),
            windows,
            aggregation,
            windowed_key,
            emit_final,
            close_queue: CloseQueue::new(CLOSE_QUEUE_CAPACITY),
            observed: UNKNOWN_TIME,
            expired_below: 0,
            store_key: Vec::new(),
        }
    }

    /// `end - start` of every window.
    fn size(&self) -> i64 {
        match self.windows {
            WindowDefinition::Time { size_ms, .. } => size_ms,
            WindowDefinition::Sliding {
                time_difference_ms, ..
            } => time_difference_ms,
            _ => unreachable!("session windows have their own processor"),
        }
    }

    fn window(&self, start: i64) -> Window {
        Window::new(start, start + self.size())
    }

    fn fetch(
        &self,
        ctx: &mut ProcessorContext<'_>,
        key: &[u8],
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, Stored)>, StreamsError> {
        let task = ctx.task;
        let found = self
            .schema
            .fetch(ctx.stores.kv(self.store), key, from, to, self.observed)
            .map_err(|source| StreamsError::Store { task, source })?;
        Ok(found
            .into_iter()
            .map(|(start, bytes)| (start, Stored::of(bytes)))
            .collect())
    }

    /// Folds the record into the window at `start`, starting from `base`. Kafka Streams'
    /// `updateWindowAndForward`: a window that closed is not touched.
    fn update(
        &mut self,
        ctx: &mut ProcessorContext<'_>,
        input: &Input<'_>,
        start: i64,
        base: Base<'_>,
        close: i64,
    ) -> Result<bool, StreamsError> {
        let end = start + self.size();
        let open = match self.windows {
            WindowDefinition::Sliding { .. } => end >= close,
            _ => end > close,
        };
        if !open {
            return Ok(false);
        }
        let t = input.timestamp;
        let (agg, max_timestamp, old) = match base {
            Base::Empty => (None, t, None),
            Base::Seeded(s) => (Some(self.aggregate_of(ctx, s)?), s.max_timestamp.max(t), None),
            // The stored bytes become the old value downstream sees: moved, not copied.
            Base::Stored(s) => (
                Some(self.aggregate_of(ctx, &s)?),
                s.max_timestamp.max(t),
                Some(s.bytes),
            ),
        };
        let new = self.aggregation.fold(input.key, input.value, agg);
        let stored = self.emitter.get().stamped_value_bytes(ctx, &new, max_timestamp)?;
        self.write(ctx, input, start, old, stored, new, max_timestamp)?;
        Ok(true)
    }

    /// The aggregate a stored window holds, for the user's aggregator (which takes it by value).
    fn aggregate_of(
        &mut self,
        ctx: &ProcessorContext<'_>,
        stored: &Stored,
    ) -> Result<sluice_dsl::dynamic::DynBox, StreamsError> {
        self.emitter.get().deserialize_box(ctx, &stored.bytes)
    }

    /// Writes the window at `start`: `stored` is its value as stored (`timestamp | aggregate`),
    /// `value` the aggregate itself.
    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        ctx: &mut ProcessorContext<'_>,
        input: &Input<'_>,
        start: i64,
        old: Option<Vec<u8>>,
        stored: Vec<u8>,
        value: Dyn,
        timestamp: i64,
    ) -> Result<(), StreamsError> {
        let mut store_key = std::mem::take(&mut self.store_key);
        self.schema.store_key_into(&mut store_key, input.key_bytes, start);
        let result = if self.emit_final.is_some() {
            self.close_queue.written(start, input.key_bytes);
            let mut emitter = self.emitter.get();
            emitter.store_time = emitter.store_time.max(start);
            drop(emitter);
            ctx.stores.kv(self.store).put_owned(&store_key, stored);
            Ok(())
        } else {
            let window = self.window(start);
            let windowed_key = &self.windowed_key;
            let mut emitter = self.emitter.get();
            emitter.store_time = emitter.store_time.max(start);
            emitter.write_with(
                ctx,
                &store_key,
                || windowed_key(input.key, window),
                old,
                Some((stored, value)),
                timestamp,
                input.headers,
            )
        };
        self.store_key = store_key;
        result
    }

    fn process_time(
        &mut self,
        ctx: &mut ProcessorContext<'_>,
        input: &Input<'_>,
        close: i64,
    ) -> Result<bool, StreamsError> {
        let mut late = false;
        let windows = self.windows;
        for window in windows.iter_windows_for(input.timestamp) {
            // Open for this processor but expired from the store (a cogroup's other stream
            // moved the store's time on): the window starts over, as in Kafka Streams.
            let store_time = self.emitter.get().store_time;
            let old = if store_time != UNKNOWN_TIME && window.start <= store_time - self.retention_ms {
                None
            } else {
                self.schema
                    .store_key_into(&mut self.store_key, input.key_bytes, window.start);
                self.emitter.get().read(ctx, &self.store_key)?
            };
            let base = old.map_or(Base::Empty, |bytes| Base::Stored(Stored::of(bytes)));
            late |= !self.update(ctx, input, window.start, base, close)?;
        }
        Ok(late)
    }

    /// Kafka Streams' `processReverse` for records at or after the time difference.
    fn process_sliding(
        &mut self,
        ctx: &mut ProcessorContext<'_>,
        input: &Input<'_>,
        close: i64,
    ) -> Result<bool, StreamsError> {
        let d = self.size();
        let t = input.timestamp;
        if t + 1 + d <= close {
            return Ok(true);
        }
        if t < d {
            return self.process_early(ctx, input, close);
        }
        let (mut left_agg, mut right_agg) = (None::<Stored>, None::<Stored>);
        let (mut left_exists, mut right_exists) = (false, false);
        let mut previous: Option<i64> = None;
        let mut late = false;
        // Newest window first, as Kafka Streams' `processReverse` (its stores iterate
        // backwards): updates are forwarded in that order, the scan stops at the newest window
        // ending before the record, and a record at the time of an earlier one (its left window
        // ends at it) creates no window.
        // Ascending starts; each window's value is taken out as the scan reaches it, the starts
        // stay for the lookup of the previous record's right window below.
        let mut found = self.fetch(ctx, input.key_bytes, (t - 2 * d).max(0), t + 1)?;
        for i in (0..found.len()).rev() {
            let start = found[i].0;
            let stored = found[i].1.take();
            let end = start + d;
            if start == t + 1 {
                // The record's right window exists already.
                right_exists = true;
            } else if end > t {
                if right_agg.is_none() {
                    right_agg = Some(stored.clone());
                }
                late |= !self.update(ctx, input, start, Base::Stored(stored), close)?;
            } else if end == t {
                left_exists = true;
                let max_timestamp = stored.max_timestamp;
                late |= !self.update(ctx, input, start, Base::Stored(stored), close)?;
                if max_timestamp < t {
                    previous = Some(max_timestamp);
                } else {
                    return Ok(late);
                }
            } else {
                previous = Some(stored.max_timestamp);
                left_agg = Some(stored);
                break;
            }
        }
        // The previous record's right window, if the record falls into it.
        if let Some(p) = previous {
            // Windows the scan did not reach start at or before `p`: `found` answers as the
            // windows it reached would.
            let exists = found.binary_search_by_key(&(p + 1), |(start, _)| *start).is_ok();
            if !exists && p + 1 + d >= t {
                late |= !self.update(ctx, input, p + 1, Base::Empty, close)?;
            }
        }
        if !left_exists {
            // The left window holds the previous records within d, as the latest window ending
            // before the record does.
            let seed = left_agg.filter(|_| previous.is_some_and(|p| t - d <= p));
            let base = seed.as_ref().map_or(Base::Empty, Base::Seeded);
            late |= !self.update(ctx, input, t - d, base, close)?;
        }
        if !right_exists {
            self.create_right_window(ctx, input, right_agg)?;
        }
        Ok(late)
    }

    /// Kafka Streams' `processEarly`: records before the time difference share `[0, d]`.
    fn process_early(
        &mut self,
        ctx: &mut ProcessorContext<'_>,
        input: &Input<'_>,
        close: i64,
    ) -> Result<bool, StreamsError> {
        let t = input.timestamp;
        let mut combined: Option<Stored> = None;
        let mut right_agg: Option<Stored> = None;
        let mut right_exists = false;
        let mut previous: Option<i64> = None;
        let mut late = false;
        let mut found = self.fetch(ctx, input.key_bytes, 0, t + 1)?;
        for (start, stored) in found.iter_mut() {
            let (start, stored) = (*start, stored.take());
            if start == 0 {
                if stored.max_timestamp < t {
                    previous = Some(stored.max_timestamp);
                }
                combined = Some(stored);
            } else if start <= t {
                right_agg = Some(stored.clone());
                late |= !self.update(ctx, input, start, Base::Stored(stored), close)?;
            } else {
                right_exists = true;
            }
        }
        if right_agg.is_none() {
            right_agg = combined.clone().filter(|c| c.max_timestamp > t);
        }
        if !right_exists {
            self.create_right_window(ctx, input, right_agg)?;
        }
        if let Some(p) = previous {
            if found.binary_search_by_key(&(p + 1), |(start, _)| *start).is_err() {
                late |= !self.update(ctx, input, p + 1, Base::Empty, close)?;
            }
        }
        let base = combined.map_or(Base::Empty, Base::Stored);
        late |= !self.update(ctx, input, 0, base, close)?;
        Ok(late)
    }

    /// The record's right window `[t + 1, t + 1 + d]`, holding the later records of `right`
    /// (the aggregate of a window that contains the record and later ones), if there are any.
    fn create_right_window(
        &mut self,
        ctx: &mut ProcessorContext<'_>,
        input: &Input<'_>,
        right: Option<Stored>,
    ) -> Result<(), StreamsError> {
        let Some(right) = right.filter(|r| r.max_timestamp > input.timestamp) else {
            return Ok(());
        };
        let value = self
            .emitter
            .get()
            .deserialize(ctx, Some(&right.bytes))?
            .expect("a stored window has a value");
        // `right.bytes` is `right.max_timestamp | aggregate` (`Stored::of`): the new window's
        // stored value as it is.
        self.write(
            ctx,
            input,
            input.timestamp + 1,
            None,
            right.bytes,
            value,
            right.max_timestamp,
        )
    }

    /// With `on_window_close`: forwards every window that closed since the last emission.
    fn emit_closed(&mut self, ctx: &mut ProcessorContext<'_>, close: i64) -> Result<(), StreamsError> {
        // Time windows close when end <= close; sliding ones when end < close.
        let cutoff_start = match self.windows {
            WindowDefinition::Sliding {
                time_difference_ms, ..
            } => close - 1 - time_difference_ms,
            _ => close - self.size(),
        };
        let Some(progress) = &mut self.emit_final else {
            return Ok(());
        };
        let last = progress.get(ctx)?;
        if last.is_some_and(|l| cutoff_start <= l) || cutoff_start < 0 {
            return Ok(());
        }
        let task = ctx.task;
        // The queue is suspended from here until every closed window is forwarded: a failure
        // in between leaves it untrusted, and the progress unsaved, so the next emission scans
        // from the last saved cut-off and forwards them all again.
        let (closed, horizon) = if self.close_queue.covers(cutoff_start) {
            let due = self.close_queue.take_through(cutoff_start);
            if due.is_empty() {
                // Nothing closed. The progress stays, so a later scan starts where the last
                // one ended and misses nothing.
                return Ok(());
            }
            let horizon = self.close_queue.suspend();
            let kv = ctx.stores.kv(self.store);
            let mut closed = Vec::with_capacity(due.len());
            for (start, key) in due {
                let value = kv
                    .get(&self.schema.store_key(&key, start))
                    .map_err(|source| StreamsError::Store { task, source })?;
                // Every queued window is stored: windows are not deleted before they close.
                if let Some(value) = value {
                    closed.push(WindowEntry { key, start, value });
                }
            }
            (closed, horizon)
        } else {
            let found = self
                .schema
                .fetch_stored(
                    ctx.stores.kv(self.store),
                    last.map_or(0, |l| l + 1),
                    cutoff_start,
                    CLOSE_QUEUE_CAPACITY,
                )
                .map_err(|source| StreamsError::Store { task, source })?;
            self.close_queue.refill(found.later, found.horizon);
            let horizon = self.close_queue.suspend();
            let mut closed = found.windows;
            closed.sort_by(|a, b| (a.start, &a.key).cmp(&(b.start, &b.key)));
            (closed, horizon)
        };
        let size = self.size();
        let emitter = self.emitter.get();
        let records = closed
            .iter()
            .map(|entry| {
                emitter.final_record(
                    ctx,
                    &self.windowed_key,
                    &entry.key,
                    Window::new(entry.start, entry.start + size),
                    &entry.value,
                    timestamp_of(&entry.value),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        drop(emitter);
        for record in records {
            ctx.forward(record);
        }
        self.close_queue.resume(horizon);
        if let Some(progress) = &mut self.emit_final {
            progress.set(ctx, cutoff_start);
        }
        Ok(())
    }
}

impl Processor for WindowAggregate {
    fn init(&mut self, stream_time: i64) {
        self.observed = self.observed.max(stream_time);
    }

    fn process(&mut self, ctx: &mut ProcessorContext<'_>, record: Record) -> Result<(), StreamsError> {
        // As Kafka Streams: `count()` over time windows counts null values too (sliding windows,
        // like every other aggregation, skip them).
        let counts_nulls = self.aggregation.counts_null_values()
            && !matches!(self.windows, WindowDefinition::Sliding { .. });
        let value = match &record.value {
            Some(v) => v,
            None if counts_nulls => &super::null_placeholder(),
            None => {
                ctx.drop_record(DropReason::NullValue);
                return Ok(());
            }
        };
        let Some(key_bytes) = self.emitter.get().key_bytes(ctx, &record.key)? else {
            ctx.drop_record(DropReason::NullKey);
            return Ok(());
        };
        self.observed = self.observed.max(record.timestamp);
        let close = self.observed - self.windows.grace_ms();
        let input = Input {
            key: &record.key,
            key_bytes: &key_bytes,
            value,
            timestamp: record.timestamp,
            headers: &record.headers,
        };
        let late = match self.windows {
            WindowDefinition::Sliding { .. } => self.process_sliding(ctx, &input, close)?,
            _ => self.process_time(ctx, &input, close)?,
        };
        if late {
            ctx.drop_record(DropReason::ExpiredWindow);
        }
        self.emit_closed(ctx, close)?;
        self.schema
            .expire(ctx.stores.kv(self.store), self.observed, &mut self.expired_below);
        Ok(())
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_>) -> Result<(), StreamsError> {
        self.emitter.get().flush(ctx)
    }

    fn has_cache(&self) -> bool {
        self.emitter.has_cache()
    }

    fn abort(&mut self) {
        self.emitter.get().abort();
        if let Some(p) = &mut self.emit_final {
            p.abort();
        }
        // The progress goes back to the last commit's: windows emitted since then are emitted
        // again, and they left the queue.
        self.close_queue.forget();
        // Stream time goes back to the commit (the task re-inits it): records replayed after
        // an abort must not look late against time they themselves advanced.
        self.observed = UNKNOWN_TIME;
        self.emitter.get().store_time = UNKNOWN_TIME;
        self.expired_below = 0;
    }
}

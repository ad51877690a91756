//! How fast each consumer takes events. The lag view samples each consumer's cursor when it
//! is asked for; between an earlier sample and now, the events of the caller's scope routed to
//! that consumer are counted from the archive. Samples live in memory with the operator view
//! (serve keeps one for its whole run, `taskstream lag --watch` one per run), so nothing is
//! written on the consumers' path to measure them.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// The rate is measured over at most this much of the recent past.
const WINDOW_MS: i64 = 10_000;
/// Nor over less than this: a rate over a few milliseconds would only show noise.
const MIN_SPAN_MS: i64 = 1_000;
/// Looks closer together than this share a sample, so many open consoles keep few.
const SAMPLE_EVERY_MS: i64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    at_ms: i64,
    seq: i64,
}

/// Where to measure a consumer's pace from: its cursor an earlier look saw, and how long ago.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Since {
    pub seq: i64,
    pub span_ms: i64,
}

/// Each consumer's recent cursor positions.
#[derive(Debug, Default)]
pub(crate) struct CursorSamples {
    by_consumer: Mutex<HashMap<String, VecDeque<Sample>>>,
}

impl CursorSamples {
    /// Notes that `consumer`'s cursor stood at `seq` at `now_ms`, and answers the oldest
    /// earlier sample within the window that is at least a second old, if there is one.
    pub(super) fn record(&self, consumer: &str, now_ms: i64, seq: i64) -> Option<Since> {
        // A panic elsewhere while holding the lock leaves samples that are still valid.
        let mut all = self.by_consumer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let samples = all.entry(consumer.to_owned()).or_default();
        while samples.front().is_some_and(|s| now_ms - s.at_ms > WINDOW_MS) {
            samples.pop_front();
        }
        let since = samples
            .iter()
            .find(|s| now_ms - s.at_ms >= MIN_SPAN_MS && s.seq <= seq)
            .map(|s| Since { seq: s.seq, span_ms: now_ms - s.at_ms });
        if samples.back().is_none_or(|last| now_ms - last.at_ms >= SAMPLE_EVERY_MS) {
            samples.push_back(Sample { at_ms: now_ms, seq });
        }
        since
    }
}

/// Events per second, to a tenth.
pub(super) fn per_second(events: i64, span_ms: i64) -> f64 {
    if span_ms <= 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)] // counts and spans far below 2^52
    let rate = events as f64 * 1000.0 / span_ms as f64;
    (rate * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_look_has_no_pace_and_a_later_one_measures_from_the_oldest_sample_in_the_window() {
        let samples = CursorSamples::default();
        assert_eq!(samples.record("audit-history", 1_000, 10), None);
        // Too soon after the first: no span worth a rate yet.
        assert_eq!(samples.record("audit-history", 1_400, 12), None);
        assert_eq!(samples.record("audit-history", 3_000, 50), Some(Since { seq: 10, span_ms: 2_000 }));
        assert_eq!(samples.record("audit-history", 9_000, 90), Some(Since { seq: 10, span_ms: 8_000 }));
        // Past the window the first sample is gone; the one from 3 s is the oldest left.
        assert_eq!(samples.record("audit-history", 12_500, 120), Some(Since { seq: 50, span_ms: 9_500 }));
        // Another consumer keeps its own samples.
        assert_eq!(samples.record("search-indexer", 12_500, 7), None);
    }

    #[test]
    fn looks_close_together_share_a_sample_so_many_watchers_keep_few() {
        let samples = CursorSamples::default();
        for i in 0..1_000 {
            samples.record("metrics", i, i);
        }
        let kept = samples.by_consumer.lock().map(|m| m["metrics"].len()).unwrap_or(0);
        assert_eq!(kept, 2);
    }

    #[test]
    fn the_rate_is_events_over_the_span_to_a_tenth() {
        assert!((per_second(300, 2_000) - 150.0).abs() < f64::EPSILON);
        assert!((per_second(1, 3_000) - 0.3).abs() < 1e-9);
        assert!(per_second(5, 0).abs() < f64::EPSILON);
    }
}

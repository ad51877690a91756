//! One call's way onto the bus: sent, the refusals worth retrying resent with backoff and
//! jitter, the others set aside with their reason for the caller to park.

use backon::BackoffBuilder;

use super::{BusEntry, EventPublisher, RetryPolicy, RouterReport};

/// What became of one call's entries besides those the bus accepted.
pub(super) struct Sent {
    /// Entries the bus will never take (the refusal says so), with why.
    pub refused: Vec<(BusEntry, String)>,
    /// The earliest record whose entry was still refused, for a reason worth retrying,
    /// when the resends ran out.
    pub gave_up_at: Option<usize>,
}

pub(super) async fn send_with_resends(
    publisher: &dyn EventPublisher,
    call: Vec<BusEntry>,
    policy: &RetryPolicy,
    trace_header: Option<&str>,
    report: &mut RouterReport,
) -> Sent {
    let mut delays = backon::ExponentialBuilder::default()
        .with_min_delay(policy.min_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(policy.max_resends)
        .with_jitter()
        .build();
    let mut refused = Vec::new();
    let mut pending = call;
    loop {
        let mut again: Vec<(BusEntry, String)> = Vec::new();
        match publisher.put(&pending, trace_header).await {
            Ok(outcomes) => {
                let mut outcomes = outcomes.into_iter();
                for entry in pending {
                    match outcomes.next() {
                        Some(None) => {}
                        Some(Some(refusal)) if refusal.is_retryable() => again.push((entry, refusal.to_string())),
                        Some(Some(refusal)) => refused.push((entry, refusal.to_string())),
                        // An answer shorter than the call: whether those went is unknown.
                        None => again.push((entry, "PutEvents gave no answer for this entry".to_owned())),
                    }
                }
            }
            Err(failure) if failure.retryable => {
                again = pending.into_iter().map(|e| (e, failure.reason.clone())).collect();
            }
            Err(failure) => refused.extend(pending.into_iter().map(|e| (e, failure.reason.clone()))),
        }
        if again.is_empty() {
            return Sent { refused, gave_up_at: None };
        }
        let Some(delay) = delays.next() else {
            for (entry, reason) in &again {
                tracing::error!(event_id = %entry.event_id, %reason, "entry refused after resends");
            }
            return Sent { refused, gave_up_at: again.iter().map(|(e, _)| e.record).min() };
        };
        tracing::warn!(refused = again.len(), ?delay, "resending refused entries");
        tokio::time::sleep(delay).await;
        report.calls += 1;
        report.resends += again.len();
        pending = again.into_iter().map(|(e, _)| e).collect();
    }
}

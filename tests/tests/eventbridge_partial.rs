//! PutEvents partial failures at the SDK level: the real `EventBridgePublisher` against a
//! local server that speaks the EventBridge protocol (`eventbridge/mod.rs`), driven by the
//! stream router's batch logic. The local emulator always accepts every well-formed entry,
//! so refusals worth retrying (`FailedEntryCount > 0`) can only be tested this way.
//!
//! What is asserted comes from the request bodies the server recorded: only refused entries
//! are resent, in their order; no call carries two entries of one aggregate; every event is
//! accepted exactly once, each aggregate's in version order; and when an entry keeps being
//! refused, the batch names its record and nothing later of that aggregate is sent.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod eventbridge;

use eventbridge::*;
use serde_json::json;
use shared_core::stream_router::RetryPolicy;

#[tokio::test]
async fn refused_entries_alone_are_resent_in_order_until_every_event_is_accepted() {
    // a1 b1 c1 d1 go out together; a2 (a's next version, two events) and e1 follow later.
    let records = vec![
        record(0, "a", 1),
        record(1, "b", 1),
        record(2, "c", 1),
        record(3, "d", 1),
        record(4, "a", 2),
        record(5, "e", 1),
    ];
    let (bus, publisher) = bus(|n, sent| {
        Ok(sent
            .iter()
            .map(|s| match (n, s.aggregate.as_str()) {
                (0, "b") => Some(("ThrottlingException", "Rate exceeded.")),
                (0, "d") => Some(("InternalFailure", "An internal error occurred.")),
                // The resend of b and d: d is refused once more.
                (1, "d") => Some(("ThrottlingException", "Rate exceeded.")),
                _ => None,
            })
            .collect())
    })
    .await;

    let report = route(&records, &publisher, &fast()).await;

    let calls = bus.calls();
    let want = expected(&records);
    assert_eq!(want.iter().filter(|(_, aggregate, version)| aggregate == "a" && *version == 2).count(), 2);
    assert_eq!(report.first_failed_sequence, None, "{report:?}");
    assert_eq!(report.calls, calls.len(), "every call the router counted reached the bus");
    assert_one_entry_per_aggregate_a_call(&calls);
    assert_eq!(calls[0].iter().map(|s| s.aggregate.as_str()).collect::<Vec<_>>(), ["a", "b", "c", "d"]);
    // Only the refused entries go again, in their order, with their own event ids.
    assert_eq!(ids(&calls[1]), [calls[0][1].event_id.as_str(), calls[0][3].event_id.as_str()]);
    assert_eq!(ids(&calls[2]), [calls[0][3].event_id.as_str()]);
    // The later calls follow once the first one's entries are all in: a2's two events in
    // calls of their own, e1 beside the second.
    let rest: Vec<&str> = calls[3..].iter().flat_map(|call| ids(call)).collect();
    assert_eq!(rest, want[4..].iter().map(|(id, _, _)| id.as_str()).collect::<Vec<_>>());
    assert_eq!(calls.len(), 5, "{calls:?}");

    // Every derived event accepted exactly once; each aggregate's in the order derived.
    let accepted = bus.accepted();
    assert_eq!(report.events, want.len());
    let mut got: Vec<&str> = ids(&accepted);
    got.sort_unstable();
    let mut all: Vec<&str> = want.iter().map(|(id, _, _)| id.as_str()).collect();
    all.sort_unstable();
    assert_eq!(got, all, "each event accepted once");
    for aggregate in ["a", "b", "c", "d", "e"] {
        let order: Vec<&str> =
            accepted.iter().filter(|s| s.aggregate == aggregate).map(|s| s.event_id.as_str()).collect();
        let derived: Vec<&str> = want.iter().filter(|(_, a, _)| a == aggregate).map(|(id, _, _)| id.as_str()).collect();
        assert_eq!(order, derived, "{aggregate} accepted out of order");
    }
    assert!(accepted.iter().all(|s| !s.detail_type.is_empty()));
}

#[tokio::test]
async fn an_entry_refused_on_every_resend_fails_the_batch_at_its_record_and_holds_back_its_aggregate() {
    // b1 keeps being refused; b2 (its next version) must never reach the bus.
    let records = vec![record(0, "a", 1), record(1, "b", 1), record(2, "c", 1), record(3, "b", 2), record(4, "d", 1)];
    let (bus, publisher) = bus(|_, sent| {
        Ok(sent
            .iter()
            .map(|s| {
                (s.aggregate == "b" && s.version == 1).then_some(("InternalFailure", "An internal error occurred."))
            })
            .collect())
    })
    .await;
    let policy = RetryPolicy { max_resends: 2, ..fast() };

    let report = route(&records, &publisher, &policy).await;

    assert_eq!(report.first_failed_sequence, Some(sequence(1)), "retry from b1's record: {report:?}");
    let calls = bus.calls();
    assert_one_entry_per_aggregate_a_call(&calls);
    assert_eq!(calls.len(), 1 + policy.max_resends, "the first call and its resends, nothing after");
    assert_eq!(calls[0].iter().map(|s| s.aggregate.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
    for resend in &calls[1..] {
        assert_eq!(ids(resend), [calls[0][1].event_id.as_str()], "only b1 goes again");
    }
    let later_of_b = calls.iter().flatten().filter(|s| s.aggregate == "b" && s.version > 1).count();
    assert_eq!(later_of_b, 0, "nothing later of b was sent");
    assert!(calls.iter().flatten().all(|s| s.aggregate != "d"), "records after the failure wait for the retry");
    let accepted: Vec<String> = bus.accepted().into_iter().map(|s| s.aggregate).collect();
    assert_eq!(accepted, ["a", "c"], "records before the failed one are done");
}

#[tokio::test]
async fn a_call_failing_as_a_whole_is_resent_whole() {
    let records = vec![record(0, "a", 1), record(1, "b", 1)];
    let (bus, publisher) = bus(|n, sent| match n {
        0 => Err((500, json!({"__type": "InternalException", "message": "An internal error occurred."}))),
        _ => Ok(vec![None; sent.len()]),
    })
    .await;

    let report = route(&records, &publisher, &fast()).await;

    assert_eq!(report.first_failed_sequence, None, "{report:?}");
    let calls = bus.calls();
    assert_eq!(calls.len(), 2, "one failed call, one resend (the SDK itself retries nothing here)");
    assert_eq!(calls[0], calls[1]);
    assert_eq!(bus.accepted(), calls[1]);
}

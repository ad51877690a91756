//! PutEvents refusals by kind: which are resent, which park their record, and that a parked
//! record never holds back the batch.
//!
//! Most error codes cannot be produced by the local emulator (it never throttles, never
//! fails internally, knows no authorization): those run against the SDK-level double in
//! `eventbridge/mod.rs`, through the real `EventBridgePublisher`. The two the emulator does
//! produce (`InvalidArgument` for a missing field, `MalformedDetail` for a detail that is not
//! JSON) run against it, with the router's real parking queue, and the accepted events are
//! read back from a rule's target queue.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod aws;
mod eventbridge;

use std::time::Duration;

use aws_sdk_eventbridge::types::Target;
use eventbridge::*;
use serde_json::{Value, json};
use shared_aws::bus::EventBridgePublisher;
use shared_aws::parking::SqsParking;
use shared_core::stream_router::{BusEntry, Prepared, RetryPolicy, prepare_batch, route_batch};

/// Every entry error code PutEvents documents (and one it does not): b's entry is refused
/// in the first call with the code, then the bus accepts everything.
#[tokio::test]
async fn each_entry_error_code_is_resent_or_parks_its_record() {
    let codes = [
        ("ThrottlingException", true),
        ("InternalFailure", true),
        ("AccessDeniedException", false),
        ("InvalidAccountIdException", false),
        ("InvalidArgument", false),
        ("MalformedDetail", false),
        ("RedactionFailure", false),
        ("NotAuthorizedForSourceException", false),
        ("NotAuthorizedForDetailTypeException", false),
        ("SomeFutureCode", false),
    ];
    for (code, resent) in codes {
        let records = vec![record(0, "a", 1), record(1, "b", 1), record(2, "c", 1)];
        let (bus, publisher) = bus(move |n, sent| {
            Ok(sent.iter().map(|s| (n == 0 && s.aggregate == "b").then_some((code, "the entry was refused"))).collect())
        })
        .await;
        let parked = Parked::default();
        let report = route_parking(&records, &publisher, &parked, None).await;

        assert_eq!(report.first_failed_sequence, None, "{code}: the batch is done either way");
        let calls = bus.calls();
        let accepted: Vec<String> = bus.accepted().into_iter().map(|s| s.aggregate).collect();
        let parked = parked.0.lock().unwrap();
        if resent {
            assert_eq!(calls.len(), 2, "{code}");
            assert_eq!(
                calls[1].iter().map(|s| s.aggregate.as_str()).collect::<Vec<_>>(),
                ["b"],
                "{code}: b alone again"
            );
            assert_eq!(accepted, ["a", "c", "b"], "{code}");
            assert!(parked.is_empty(), "{code}");
            assert_eq!((report.resends, report.parked), (1, 0), "{code}");
        } else {
            assert_eq!(calls.len(), 1, "{code}: never resent");
            assert_eq!(accepted, ["a", "c"], "{code}");
            assert_eq!(parked.len(), 1, "{code}");
            assert_eq!(parked[0].0, json!({ "record": 1 }), "{code}: b's record, whole");
            let reason = &parked[0].1;
            assert!(reason.contains(code) && reason.contains("the entry was refused"), "{code}: {reason}");
            assert!(reason.contains(&calls[0][1].event_id), "{code}: the reason names the event: {reason}");
            assert_eq!((report.resends, report.parked), (0, 1), "{code}");
        }
    }
}

/// A call refused as a whole: throttled or failing on EventBridge's side it is resent;
/// refused for what it is (access denied, a request too large) every record in it is
/// parked and the batch goes on.
#[tokio::test]
async fn a_call_refused_as_a_whole_is_resent_or_parks_its_records() {
    let cases = [
        (400, "ThrottlingException", true),
        (500, "InternalException", true),
        (503, "ServiceUnavailable", true),
        (400, "AccessDeniedException", false),
        (400, "ValidationException", false),
    ];
    for (status, code, resent) in cases {
        let records = vec![record(0, "a", 1), record(1, "b", 1)];
        let (bus, publisher) = bus(move |n, sent| match n {
            0 => Err((status, json!({"__type": code, "message": "the call was refused"}))),
            _ => Ok(vec![None; sent.len()]),
        })
        .await;
        let parked = Parked::default();
        let report = route_parking(&records, &publisher, &parked, None).await;
        assert_eq!(report.first_failed_sequence, None, "{code}");
        let parked = parked.0.lock().unwrap();
        if resent {
            assert_eq!(bus.calls().len(), 2, "{code}: resent whole");
            assert_eq!(bus.accepted().len(), 2, "{code}");
            assert!(parked.is_empty(), "{code}");
        } else {
            assert_eq!(bus.calls().len(), 1, "{code}: never resent");
            assert_eq!(
                parked.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>(),
                [json!({"record": 0}), json!({"record": 1})]
            );
            assert!(parked.iter().all(|(_, reason)| reason.contains(code)), "{code}: {parked:?}");
        }
    }
}

/// The invocation's X-Ray trace header is on every entry of every call, resends included.
#[tokio::test]
async fn the_trace_header_travels_on_every_entry() {
    let records: Vec<_> = (0..12).map(|i| record(i, &format!("t{i}"), 1)).collect();
    let (bus, publisher) = bus(|n, sent| {
        Ok(sent
            .iter()
            .map(|s| (n == 0 && s.aggregate == "t4").then_some(("ThrottlingException", "slow down")))
            .collect())
    })
    .await;
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let report = route_parking(&records, &publisher, &Parked::default(), Some(trace)).await;
    assert_eq!(report.first_failed_sequence, None);
    let calls = bus.calls();
    assert_eq!(calls.len(), 3, "two calls and one resend");
    assert!(calls.iter().flatten().all(|s| s.trace.as_deref() == Some(trace)), "{calls:?}");
}

/// An entry the bus takes, built by hand: `detail_type` and `detail` as given.
fn entry(record: usize, aggregate: &str, detail_type: &str, detail: &str) -> BusEntry {
    BusEntry {
        event_id: format!("e{record}"),
        source: events_schema::EVENT_SOURCE.to_owned(),
        detail_type: detail_type.to_owned(),
        detail: detail.to_owned(),
        aggregate: aggregate.to_owned(),
        record,
    }
}

/// Against the emulator: a detail that is not JSON (`MalformedDetail`) and an entry without
/// a detail-type (`InvalidArgument`) park their records, with the reason, in the real
/// parking queue; the records around them reach the rule's target.
#[tokio::test]
async fn the_emulators_refusals_park_their_records_and_the_rest_is_delivered() {
    let moto = aws::Moto::shared();
    let config = moto.sdk_config();
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let bus_name = aws::unique_name("bus");
    events.create_event_bus().name(&bus_name).send().await.unwrap();
    let target = aws::queue(&sqs, &aws::unique_name("target"), 30).await;
    let rule = aws::unique_name("rule");
    let pattern = json!({ "source": [events_schema::EVENT_SOURCE] });
    events.put_rule().name(&rule).event_bus_name(&bus_name).event_pattern(pattern.to_string()).send().await.unwrap();
    let to_queue = Target::builder().id("queue").arn(&target.arn).build().unwrap();
    events.put_targets().rule(&rule).event_bus_name(&bus_name).targets(to_queue).send().await.unwrap();
    let parking_url =
        sqs.create_queue().queue_name(aws::unique_name("parking")).send().await.unwrap().queue_url.unwrap();

    let good = |record: usize, id: &str| json!({ "eventId": id, "record": record }).to_string();
    let records = vec![
        Prepared { sequence_number: "100".into(), entries: Ok(vec![entry(0, "a", "TaskCreated", &good(0, "ok-0"))]) },
        Prepared { sequence_number: "101".into(), entries: Ok(vec![entry(1, "b", "TaskCreated", "{not json")]) },
        Prepared { sequence_number: "102".into(), entries: Ok(vec![entry(2, "c", "", &good(2, "no-type"))]) },
        Prepared { sequence_number: "103".into(), entries: Ok(vec![entry(3, "d", "TaskCreated", &good(3, "ok-3"))]) },
    ];
    let publisher = EventBridgePublisher::from_config(&config, &bus_name);
    let parking = SqsParking::from_config(&config, &parking_url);
    let policy = RetryPolicy { min_delay: Duration::ZERO, max_delay: Duration::ZERO, max_resends: 2 };
    let raw = |i: usize| json!({ "eventID": format!("stream-{i}") });
    let report = route_batch(records, &raw, &publisher, &parking, &policy, None).await;
    assert_eq!((report.first_failed_sequence.as_deref(), report.parked, report.resends), (None, 2, 0));

    let delivered: Vec<Value> = aws::receive(&sqs, &target.url, 2)
        .await
        .iter()
        .map(|m| serde_json::from_str::<Value>(m.body().unwrap()).unwrap()["detail"]["eventId"].clone())
        .collect();
    assert_eq!(delivered.len(), 2, "{delivered:?}");
    assert!(delivered.contains(&json!("ok-0")) && delivered.contains(&json!("ok-3")), "{delivered:?}");

    let mut parked: Vec<(String, String)> = aws::receive(&sqs, &parking_url, 2)
        .await
        .iter()
        .map(|m| {
            let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            (body["record"]["eventID"].as_str().unwrap().to_owned(), body["reason"].as_str().unwrap().to_owned())
        })
        .collect();
    parked.sort();
    assert_eq!(parked.len(), 2, "{parked:?}");
    assert_eq!(parked[0].0, "stream-1");
    assert!(parked[0].1.contains("MalformedDetail"), "{}", parked[0].1);
    assert_eq!(parked[1].0, "stream-2");
    assert!(parked[1].1.contains("InvalidArgument"), "{}", parked[1].1);
}

/// The batch logic, end to end from records, with the emulator accepting everything: the
/// happy path the double's scripts depart from.
#[tokio::test]
async fn the_emulator_accepts_a_derived_batch_whole() {
    let moto = aws::Moto::shared();
    let config = moto.sdk_config();
    let bus_name = aws::unique_name("bus");
    aws_sdk_eventbridge::Client::new(&config).create_event_bus().name(&bus_name).send().await.unwrap();
    let publisher = EventBridgePublisher::from_config(&config, &bus_name);
    let records: Vec<_> = (0..15).map(|i| record(i, &format!("t{i}"), 1)).collect();
    let report =
        route_batch(prepare_batch(records), &|_| Value::Null, &publisher, &NoParking, &fast(), Some("Root=1-abc"))
            .await;
    assert_eq!((report.events, report.calls, report.parked, report.first_failed_sequence), (15, 2, 0, None));
}

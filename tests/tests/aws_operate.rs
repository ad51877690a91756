//! The operator's AWS side against the local emulator: a replay from the bus archive limited
//! to one consumer's rule, replays listed and cancelled, dead letters read with their reasons
//! without being removed, and redriven (one by id, then the rest). The emulator has no SQS
//! move task, so the redrive of a whole queue falls back to receive-and-resend there; the
//! move task itself runs against an SDK-level double that speaks SQS's JSON protocol.
//!
//! The emulator replays every archived event to every rule of the bus: it keeps the
//! replay's `FilterArns` (DescribeReplay returns them) but does not apply them, so the tests
//! check what was asked of EventBridge, and that the events came back marked as replayed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod aws;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws::{Moto, Queue, queue, receive, unique_name};
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use events_schema::{EVENT_SOURCE, Timestamp, routing};
use serde_json::{Value, json};
use shared_aws::operate::{
    AwsLagReader, AwsReplays, AwsTracer, MoveMethod, OperateError, SqsDeadLetterQueues, StageNames,
};
use shared_aws::parking::SqsDeadLetters;

/// The consumers this test deploys; the rest of the routing table is "not deployed".
const DEPLOYED: &[&str] = &[routing::AUDIT_HISTORY, routing::SEARCH_INDEXER];

struct Stage {
    moto: Arc<Moto>,
    names: StageNames,
    events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
    queues: Vec<(&'static str, Queue)>,
}

/// A stage as the CDK app names it: the bus and its archive, one rule and queue pair per
/// deployed consumer.
async fn stage() -> Stage {
    let moto = Moto::shared();
    let config = moto.sdk_config();
    let names = StageNames::new(unique_name("s").replace('-', ""));
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let bus_arn = events.create_event_bus().name(names.bus()).send().await.unwrap().event_bus_arn.unwrap();
    events
        .create_archive()
        .archive_name(names.archive())
        .event_source_arn(&bus_arn)
        .event_pattern(json!({ "source": [EVENT_SOURCE] }).to_string())
        .send()
        .await
        .unwrap();
    let mut queues = Vec::new();
    for name in DEPLOYED {
        let route = routing::route(name).unwrap();
        let q = queue(&sqs, &names.queue(name), 30).await;
        let pattern = json!({ "source": [EVENT_SOURCE], "detail-type": route.detail_types });
        events
            .put_rule()
            .name(names.rule(name))
            .event_bus_name(names.bus())
            .event_pattern(pattern.to_string())
            .send()
            .await
            .unwrap();
        let target = Target::builder().id("queue").arn(&q.arn).build().unwrap();
        events.put_targets().rule(names.rule(name)).event_bus_name(names.bus()).targets(target).send().await.unwrap();
        queues.push((*name, q));
    }
    Stage { moto, names, events, sqs, queues }
}

impl Stage {
    fn queue(&self, consumer: &str) -> &Queue {
        &self.queues.iter().find(|(n, _)| *n == consumer).unwrap().1
    }

    fn replays(&self) -> AwsReplays {
        AwsReplays::new(self.events.clone(), self.names.clone())
    }

    fn dead_letters(&self) -> SqsDeadLetterQueues {
        SqsDeadLetterQueues::new(self.sqs.clone(), self.names.clone())
    }

    async fn publish(&self, task: &str) {
        let detail = json!({ "eventId": format!("ev-{task}"), "eventType": "TaskCreated", "aggregateId": task });
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(self.names.bus())
            .source(EVENT_SOURCE)
            .detail_type("TaskCreated")
            .detail(detail.to_string())
            .build();
        let out = self.events.put_events().entries(entry).send().await.unwrap();
        assert_eq!(out.failed_entry_count, 0);
    }

    async fn depth(&self, url: &str) -> usize {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap();
        attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages]
            .parse()
            .unwrap()
    }

    /// Receives and deletes everything in the queue; returns the bodies.
    async fn drain(&self, url: &str, n: usize) -> Vec<Value> {
        let messages = receive(&self.sqs, url, n).await;
        for m in &messages {
            self.sqs.delete_message().queue_url(url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
        messages.iter().map(|m| serde_json::from_str(m.body().unwrap()).unwrap()).collect()
    }
}

fn window() -> (Timestamp, Timestamp) {
    let now = Timestamp::now().unix_millis();
    (Timestamp::from_unix_millis(now - 3_600_000).unwrap(), Timestamp::from_unix_millis(now + 3_600_000).unwrap())
}

#[tokio::test]
async fn a_replay_sends_the_archive_back_to_the_chosen_consumers_rule_marked_as_replayed() {
    let s = stage().await;
    for task in ["t1", "t2", "t3"] {
        s.publish(task).await;
    }
    let audit = s.queue(routing::AUDIT_HISTORY).url.clone();
    let first = s.drain(&audit, 3).await;
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|e| e.get("replay-name").is_none()), "{first:?}");

    let (from, to) = window();
    let replays = s.replays();
    let plan = replays.plan(from, to, &[routing::AUDIT_HISTORY.to_owned()]).await.unwrap();
    let rule_arn = s.events.describe_rule().name(s.names.rule(routing::AUDIT_HISTORY)).event_bus_name(s.names.bus());
    let rule_arn = rule_arn.send().await.unwrap().arn.unwrap();
    assert_eq!(plan.rules, vec![(routing::AUDIT_HISTORY.to_owned(), rule_arn.clone())]);
    assert!(plan.archive.ends_with(&format!("archive/{}", s.names.archive())), "{}", plan.archive);
    assert_eq!(plan.archive_events, 3);

    let replay = replays.start("fix-audit-1", &plan).await.unwrap();
    assert_eq!(replay.name, "fix-audit-1");
    assert_eq!(replay.rules, vec![rule_arn], "the replay is limited to the consumer's rule");
    let replay = replays.describe("fix-audit-1").await.unwrap();
    assert!(replay.finished(), "{replay:?}");
    assert_eq!(replay.state, "COMPLETED");
    assert_eq!(replay.progress_permille(), 1000);

    let again = s.drain(&audit, 3).await;
    let mut tasks: Vec<&str> = again.iter().map(|e| e["detail"]["aggregateId"].as_str().unwrap()).collect();
    tasks.sort_unstable();
    assert_eq!(tasks, ["t1", "t2", "t3"]);
    assert!(again.iter().all(|e| e["replay-name"] == "fix-audit-1"), "{again:?}");

    let listed = replays.list().await.unwrap();
    assert_eq!(listed.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["fix-audit-1"]);
    let taken = replays.start("fix-audit-1", &plan).await.unwrap_err();
    assert!(matches!(&taken, OperateError::Invalid(m) if m.contains("exists already")), "{taken}");
    let unknown = replays.cancel("no-such-replay").await.unwrap_err();
    assert!(matches!(unknown, OperateError::NotFound(_)), "{unknown}");
}

#[tokio::test]
async fn a_replay_plan_refuses_unknown_and_undeployed_consumers_and_an_empty_window() {
    let s = stage().await;
    let (from, to) = window();
    let replays = s.replays();
    let unknown = replays.plan(from, to, &["nope".to_owned()]).await.unwrap_err();
    assert!(matches!(&unknown, OperateError::Invalid(m) if m.contains("not a consumer")), "{unknown}");
    let undeployed = replays.plan(from, to, &[routing::NOTIFIER.to_owned()]).await.unwrap_err();
    assert!(matches!(&undeployed, OperateError::NotFound(m) if m.contains("deployed")), "{undeployed}");
    let backwards = replays.plan(to, from, &[routing::AUDIT_HISTORY.to_owned()]).await.unwrap_err();
    assert!(matches!(backwards, OperateError::Invalid(_)), "{backwards}");
    let nothing = replays.plan(from, to, &[]).await.unwrap_err();
    assert!(matches!(nothing, OperateError::Invalid(_)), "{nothing}");
    let other_stage = AwsReplays::new(s.events.clone(), StageNames::new(unique_name("none")));
    let missing = other_stage.plan(from, to, &[routing::AUDIT_HISTORY.to_owned()]).await.unwrap_err();
    assert!(matches!(&missing, OperateError::NotFound(m) if m.contains("archive")), "{missing}");
}

#[tokio::test]
async fn dead_letters_are_read_with_their_reasons_then_redriven_one_by_id_and_then_the_rest() {
    let s = stage().await;
    let config = s.moto.sdk_config();
    let audit = s.queue(routing::AUDIT_HISTORY);
    let writer = SqsDeadLetters::from_config(&config, &audit.dlq_url);
    let body = |task: &str| {
        json!({ "detail-type": "TaskCreated", "detail": { "eventId": format!("ev-{task}"), "eventType": "TaskCreated", "aggregateId": task } })
            .to_string()
    };
    for (task, reason) in [("t1", "history table throttled"), ("t2", "no such tenant"), ("t3", "bad snapshot")] {
        writer.send(&body(task), routing::AUDIT_HISTORY, reason, 5).await.unwrap();
    }
    let dlqs = s.dead_letters();

    let queues = dlqs.queues(None).await.unwrap();
    let depths: Vec<(&str, i64)> = queues.iter().map(|q| (q.consumer.as_str(), q.depth)).collect();
    assert_eq!(depths, [(routing::AUDIT_HISTORY, 3), (routing::SEARCH_INDEXER, 0)], "only deployed consumers");

    let letters = dlqs.letters(Some(routing::AUDIT_HISTORY), 100).await.unwrap();
    let mut seen: Vec<(String, String, Option<u32>)> =
        letters.iter().map(|l| (l.aggregate_id.clone().unwrap(), l.reason.clone(), l.receives)).collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("t1".into(), "history table throttled".into(), Some(5)),
            ("t2".into(), "no such tenant".into(), Some(5)),
            ("t3".into(), "bad snapshot".into(), Some(5)),
        ]
    );
    assert!(letters.iter().all(|l| l.body.is_none() && l.dead_lettered_at.is_some()));
    assert_eq!(s.depth(&audit.dlq_url).await, 3, "reading removes nothing");
    let limited = dlqs.letters(Some(routing::AUDIT_HISTORY), 2).await.unwrap();
    assert_eq!(limited.len(), 2);

    let t2 = letters.iter().find(|l| l.aggregate_id.as_deref() == Some("t2")).unwrap();
    let shown = dlqs.letter(None, &t2.id).await.unwrap();
    assert_eq!(shown.body.as_ref().unwrap()["detail"]["aggregateId"], "t2");
    assert!(matches!(dlqs.letter(None, "no-such-id").await.unwrap_err(), OperateError::NotFound(_)));

    let one = dlqs.redrive(routing::AUDIT_HISTORY, None, Some(&t2.id)).await.unwrap();
    assert_eq!((one.method, one.moved), (MoveMethod::Resend, 1));
    assert_eq!(s.depth(&audit.dlq_url).await, 2);
    let back = s.drain(&audit.url, 1).await;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0]["detail"]["aggregateId"], "t2", "the body is sent back unchanged");

    // The whole queue: a move task first; the emulator has none, so receive-and-resend.
    let rest = dlqs.redrive(routing::AUDIT_HISTORY, None, None).await.unwrap();
    assert_eq!((rest.method, rest.moved), (MoveMethod::Resend, 2));
    assert!(rest.fallback_reason.as_deref().is_some_and(|r| r.contains("StartMessageMoveTask")), "{rest:?}");
    assert_eq!(s.depth(&audit.dlq_url).await, 0);
    let mut back: Vec<String> =
        s.drain(&audit.url, 2).await.iter().map(|b| b["detail"]["aggregateId"].as_str().unwrap().to_owned()).collect();
    back.sort();
    assert_eq!(back, ["t1", "t3"]);

    writer.send(&body("t4"), routing::AUDIT_HISTORY, "still failing", 5).await.unwrap();
    assert_eq!(dlqs.purge(routing::AUDIT_HISTORY).await.unwrap(), 1, "the depth just before");
    assert_eq!(s.depth(&audit.dlq_url).await, 0);

    let undeployed = dlqs.redrive(routing::METRICS, None, None).await.unwrap_err();
    assert!(matches!(&undeployed, OperateError::NotFound(m) if m.contains("deployed")), "{undeployed}");
    let unknown = dlqs.letters(Some("nope"), 10).await.unwrap_err();
    assert!(matches!(unknown, OperateError::Invalid(_)), "{unknown}");
}

/// What the SQS double was asked, by operation.
#[derive(Default)]
struct Calls(Mutex<Vec<(String, Value)>>);

/// SQS's JSON protocol, for the calls a move task makes: queue URLs and ARNs, the move task
/// started, then listed as running once and completed after.
async fn sqs_double(
    State(calls): State<Arc<Calls>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, String) {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let operation = target.trim_start_matches("AmazonSQS.").to_owned();
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let listed = {
        let mut calls = calls.0.lock().unwrap();
        calls.push((operation.clone(), request.clone()));
        calls.iter().filter(|(op, _)| op == "ListMessageMoveTasks").count()
    };
    let name_of = |url: &str| url.rsplit('/').next().unwrap_or_default().to_owned();
    let answer = match operation.as_str() {
        "GetQueueUrl" => {
            json!({ "QueueUrl": format!("https://sqs.us-east-1.amazonaws.com/123456789012/{}", request["QueueName"].as_str().unwrap()) })
        }
        "GetQueueAttributes" => {
            json!({ "Attributes": { "QueueArn": format!("arn:aws:sqs:us-east-1:123456789012:{}", name_of(request["QueueUrl"].as_str().unwrap())) } })
        }
        "StartMessageMoveTask" => json!({ "TaskHandle": "task-handle-1" }),
        "ListMessageMoveTasks" => {
            let status = if listed == 1 { "RUNNING" } else { "COMPLETED" };
            json!({ "Results": [{ "TaskHandle": "task-handle-1", "Status": status, "ApproximateNumberOfMessagesMoved": 7,
                                 "SourceArn": request["SourceArn"] }] })
        }
        other => {
            let mut h = HeaderMap::new();
            h.insert("content-type", "application/x-amz-json-1.0".parse().unwrap());
            let body =
                json!({ "__type": "com.amazonaws.sqs#InvalidAction", "message": format!("{other} is not scripted") });
            return (StatusCode::BAD_REQUEST, h, body.to_string());
        }
    };
    let mut h = HeaderMap::new();
    h.insert("content-type", "application/x-amz-json-1.0".parse().unwrap());
    (StatusCode::OK, h, answer.to_string())
}

#[tokio::test]
async fn a_whole_queue_is_redriven_by_an_sqs_move_task_where_the_endpoint_has_them() {
    let calls = Arc::new(Calls::default());
    let app = axum::Router::new().fallback(axum::routing::post(sqs_double)).with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(format!("http://{addr}"))
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "double"))
        .build();
    let names = StageNames::new("prod");
    let dlqs = SqsDeadLetterQueues::new(aws_sdk_sqs::Client::from_conf(config), names.clone())
        .with_poll(Duration::from_millis(10));

    let redriven = dlqs.redrive(routing::SEARCH_INDEXER, None, None).await.unwrap();
    assert_eq!((redriven.method, redriven.moved, redriven.fallback_reason), (MoveMethod::MoveTask, 7, None));
    let calls = calls.0.lock().unwrap();
    let start: Vec<&Value> = calls.iter().filter(|(op, _)| op == "StartMessageMoveTask").map(|(_, r)| r).collect();
    assert_eq!(start.len(), 1);
    assert_eq!(start[0]["SourceArn"], "arn:aws:sqs:us-east-1:123456789012:prod-taskstream-search-indexer-dlq");
    assert_eq!(start[0]["DestinationArn"], "arn:aws:sqs:us-east-1:123456789012:prod-taskstream-search-indexer");
    let polls = calls.iter().filter(|(op, _)| op == "ListMessageMoveTasks").count();
    assert_eq!(polls, 2, "polled until the task completed");
    assert!(!calls.iter().any(|(op, _)| op == "ReceiveMessage" || op == "SendMessage"), "nothing passed through here");
}

/// Puts one datapoint (now) into the emulator's CloudWatch, as Lambda or SQS would publish it.
async fn metric(s: &Stage, namespace: &str, name: &str, dimension: (&str, &str), value: f64) {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&s.moto.sdk_config());
    let datum = MetricDatum::builder()
        .metric_name(name)
        .dimensions(Dimension::builder().name(dimension.0).value(dimension.1).build())
        .value(value)
        .build();
    cloudwatch.put_metric_data().namespace(namespace).metric_data(datum).send().await.unwrap();
}

#[tokio::test]
async fn lag_on_a_stage_reads_the_queues_and_the_ages_cloudwatch_holds() {
    let s = stage().await;
    for task in ["t1", "t2", "t3"] {
        s.publish(task).await;
    }
    let (audit, search) = (s.queue(routing::AUDIT_HISTORY), s.queue(routing::SEARCH_INDEXER));
    // One message of the audit history's in flight, one search event dead-lettered.
    let taken = s.sqs.receive_message().queue_url(&audit.url).visibility_timeout(60).send().await.unwrap();
    assert_eq!(taken.messages().len(), 1);
    SqsDeadLetters::new(s.sqs.clone(), search.dlq_url.clone())
        .send("{}", routing::SEARCH_INDEXER, "bad", 5)
        .await
        .unwrap();
    // The router's parking queue, with one record in it.
    let parking = s.sqs.create_queue().queue_name(s.names.dead_letter_queue("stream-router")).send().await.unwrap();
    s.sqs.send_message().queue_url(parking.queue_url().unwrap()).message_body("{}").send().await.unwrap();
    let router = s.names.function("stream-router");
    metric(&s, "AWS/Lambda", "IteratorAge", ("FunctionName", &router), 45_000.0).await;
    metric(&s, "AWS/SQS", "ApproximateAgeOfOldestMessage", ("QueueName", &s.names.queue(routing::AUDIT_HISTORY)), 12.0)
        .await;

    let config = s.moto.sdk_config();
    let lag = AwsLagReader::from_config(&config, s.names.clone()).read().await.unwrap();
    assert_eq!((lag.router.iterator_age_ms, lag.router.parked), (Some(45_000), Some(1)));
    let by = |name: &str| lag.consumers.iter().find(|c| c.consumer == name).unwrap().clone();
    let (a, q) = (by(routing::AUDIT_HISTORY), by(routing::SEARCH_INDEXER));
    assert_eq!((a.depth, a.in_flight, a.oldest_age_ms, a.dead_letters), (2, 1, Some(12_000), 0), "{a:?}");
    assert_eq!((q.depth, q.in_flight, q.oldest_age_ms, q.dead_letters), (3, 0, None, 1), "{q:?}");
    assert_eq!(lag.consumers.len(), DEPLOYED.len(), "consumers not deployed are left out");
    assert_eq!(lag.max_age_ms(), Some(45_000));
}

#[tokio::test]
async fn trace_on_a_stage_reads_the_history_and_the_dead_letters_and_runs_the_log_query() {
    use shared_core::ports::{HistoryRecord, HistoryStore};
    let s = stage().await;
    let config = s.moto.sdk_config();
    aws::create_table(&s.moto.dynamodb(), &s.names.table()).await;
    let store = shared_aws::dynamo::DynamoStore::new(&config, s.names.table());
    let task = uuid::Uuid::now_v7().to_string();
    let record = |version: u64, event_type: &str, correlation: &str| HistoryRecord {
        tenant: "acme".into(),
        task_id: task.clone(),
        version,
        event_type: event_type.into(),
        event_id: uuid::Uuid::new_v4(),
        schema_version: 1,
        occurred_at: Timestamp::now(),
        actor: "maria".into(),
        correlation_id: correlation.into(),
        data: json!({}),
    };
    for r in [
        record(1, "TaskCreated", "req-1"),
        record(3, "TaskCompleted", "req-3"),
        record(3, "TaskStatusChanged", "req-3"),
    ] {
        assert!(store.append(&r).await.unwrap());
    }
    // v2's event dead-lettered by the audit history; another task's letter beside it.
    let dlq = SqsDeadLetters::new(s.sqs.clone(), s.queue(routing::AUDIT_HISTORY).dlq_url.clone());
    let letter = |id: &str| json!({ "detail-type": "TaskStatusChanged", "detail": { "eventId": "ev-2", "eventType": "TaskStatusChanged", "aggregateId": id } });
    dlq.send(&letter(&task).to_string(), routing::AUDIT_HISTORY, "the history table refused the write", 5)
        .await
        .unwrap();
    dlq.send(&letter("someone-else").to_string(), routing::AUDIT_HISTORY, "other", 5).await.unwrap();

    let tracer = AwsTracer::from_config(&config, s.names.clone());
    let trace = tracer.trace("acme", &task, None).await.unwrap();
    let versions: Vec<(u64, usize, &str)> =
        trace.changes.iter().map(|c| (c.version, c.events.len(), c.correlation_id.as_str())).collect();
    assert_eq!(versions, vec![(1, 1, "req-1"), (3, 2, "req-3")]);
    assert_eq!(trace.dead_letters.len(), 1, "{:?}", trace.dead_letters);
    assert_eq!(trace.dead_letters[0].reason, "the history table refused the write");
    assert!(trace.parked.is_empty(), "the stage has no router: nothing parked");
    assert!(
        trace.query.contains(&format!("@message like \"{task}\"")) && trace.query.contains("\"req-3\""),
        "{}",
        trace.query
    );
    assert!(trace.log_groups.contains(&format!("/aws/lambda/{}", s.names.function("stream-router"))));

    // The query runs over the handlers' groups that exist; only lines of this task come back.
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let now = Timestamp::now().unix_millis();
    let lines = [
        (
            "task-api",
            format!(r#"{{"level":"INFO","correlationId":"req-3","message":"task updated","taskId":"{task}"}}"#),
        ),
        (
            "audit-history",
            r#"{"level":"ERROR","correlationId":"req-3","message":"the history table refused the write"}"#.to_owned(),
        ),
        ("audit-history", r#"{"level":"INFO","correlationId":"req-9","message":"another task's change"}"#.to_owned()),
    ];
    for (i, (handler, message)) in lines.iter().enumerate() {
        let group = format!("/aws/lambda/{}", s.names.function(handler));
        let _ = logs.create_log_group().log_group_name(&group).send().await;
        let stream = format!("2026/12/01/[$LATEST]{i}");
        logs.create_log_stream().log_group_name(&group).log_stream_name(&stream).send().await.unwrap();
        let event = aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
            .timestamp(now + i64::try_from(i).unwrap())
            .message(message)
            .build()
            .unwrap();
        logs.put_log_events().log_group_name(&group).log_stream_name(&stream).log_events(event).send().await.unwrap();
    }
    let found = tracer.search_logs(&trace).await.unwrap();
    assert_eq!(found.status, "Complete");
    let api_group = format!("/aws/lambda/{}", s.names.function("task-api"));
    assert!(found.searched.contains(&api_group) && found.searched.len() == 2, "{found:?}");
    assert_eq!(found.absent.len(), trace.log_groups.len() - 2, "{found:?}");
    let messages: Vec<&str> = found.lines.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(messages, vec![lines[0].1.as_str(), lines[1].1.as_str()], "oldest first, another task's line left out");
    let one = tracer.trace("acme", &task, Some(3)).await.unwrap();
    assert_eq!(one.changes.len(), 1);

    // Another tenant's view of the same id, and an id nobody wrote: not found.
    assert!(matches!(tracer.trace("globex", &task, None).await, Err(OperateError::NotFound(_))));
    assert!(matches!(tracer.trace("acme", "no-such-task", None).await, Err(OperateError::NotFound(_))));
}

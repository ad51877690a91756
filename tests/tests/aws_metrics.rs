//! The metrics consumer and queries on AWS: records written to the emulator's Timestream
//! (accepted; it never refuses), the refusals it cannot produce through an SDK-level double,
//! and the queries' SQL against the emulator's canned query results.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod aws;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use aws::{Moto, queue, receive, sqs_event, unique_name};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use events_schema::envelope::ChangeContext;
use events_schema::events::{Priority, TaskCompleted, TaskSnapshot, TaskStatus};
use events_schema::{AggregateType, BridgeEvent, DomainEvent, EventData, Timestamp};
use serde_json::{Value, json};
use shared_aws::lambda::consume_metrics;
use shared_aws::timestream::{Table, TimestreamMetrics, TimestreamSink, query_sql};
use shared_core::consumers::metrics::{WriteReport, write_batch};
use shared_core::metrics::{self, Interval, MetricName, MetricRecord, MetricsAnswer, MetricsQuery, VelocityRow};
use shared_core::ports::{MetricsReader, MetricsSink, RecordRejection, Rejected};

/// A completion of task `n` in sprint `sprint`, worth `points`.
fn completed(tenant: &str, n: u64, sprint: &str, points: u32) -> DomainEvent {
    let at = Timestamp::from_unix_millis(1_772_524_800_000 + i64::try_from(n).unwrap() * 60_000).unwrap();
    let task = TaskSnapshot {
        id: format!("task-{n}"),
        title: "done".into(),
        description: None,
        status: TaskStatus::Done,
        priority: Priority::High,
        assignee: Some("ana".into()),
        reporter: None,
        category_id: None,
        project_id: Some("project-1".into()),
        sprint_id: Some(sprint.into()),
        tags: vec![],
        due_date: Some("2026-03-01".into()),
        estimate_points: Some(points),
        created_at: Timestamp::from_unix_millis(1_772_438_400_000).unwrap(),
        updated_at: at,
        status_changed_at: at,
        escalation: None,
        version: 3,
    };
    let ctx = ChangeContext {
        tenant: tenant.into(),
        aggregate_type: AggregateType::Task,
        aggregate_id: task.id.clone(),
        aggregate_version: 3,
        occurred_at: at,
        correlation_id: "c".into(),
        actor: "ana".into(),
    };
    DomainEvent::new(
        &ctx,
        EventData::TaskCompleted(TaskCompleted {
            task_id: task.id.clone(),
            completed_at: at,
            lead_time_seconds: at.seconds_since(task.created_at),
            task,
        }),
    )
}

fn records(n: u64) -> Vec<MetricRecord> {
    (0..n).filter_map(|i| metrics::build(&completed("acme", i, "sprint-1", 3))).collect()
}

async fn timestream_table(moto: &Moto) -> (aws_sdk_timestreamwrite::Client, String, String) {
    let client = aws_sdk_timestreamwrite::Client::new(&moto.sdk_config());
    let (database, table) = (unique_name("metrics_db"), "task_metrics".to_owned());
    client.create_database().database_name(&database).send().await.unwrap();
    client.create_table().database_name(&database).table_name(&table).send().await.unwrap();
    (client, database, table)
}

#[tokio::test]
async fn the_emulator_accepts_every_write_of_at_most_100_records() {
    let moto = Moto::shared();
    let (client, database, table) = timestream_table(&moto).await;
    let sink = TimestreamSink::new(client, database, table);
    let (outcomes, report) = write_batch(&sink, &records(250)).await;
    assert_eq!(report, WriteReport { calls: 3, written: 250, already_stored: 0, refused: 0, failed: 0 });
    assert_eq!(outcomes.len(), 250);
}

#[tokio::test]
async fn a_queue_batch_from_sqs_is_written_and_acknowledged() {
    let moto = Moto::shared();
    let (client, database, table) = timestream_table(&moto).await;
    let sink = TimestreamSink::new(client, database, table);
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config());
    let q = queue(&sqs, &unique_name("metrics"), 30).await;
    for n in 0..5 {
        let body =
            serde_json::to_string(&BridgeEvent::wrap(&completed("acme", n, "s", 2).to_envelope().unwrap()).unwrap())
                .unwrap();
        sqs.send_message().queue_url(&q.url).message_body(body).send().await.unwrap();
    }
    let messages = receive(&sqs, &q.url, 5).await;
    assert_eq!(messages.len(), 5);
    let response = consume_metrics(&sink, sqs_event(&messages), None, None).await;
    assert!(response.batch_item_failures.is_empty(), "{:?}", response.batch_item_failures);
}

/// A stand-in for Timestream's write endpoint, at the HTTP boundary, for what the emulator
/// never does: refuse records. It keeps every request body and answers each WriteRecords
/// with the rejections it is given (by index within the call), or success.
struct Double {
    endpoint: String,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl Double {
    async fn start(rejections: Vec<Value>) -> Double {
        use axum::http::{HeaderMap, StatusCode};
        let requests: Arc<Mutex<Vec<Value>>> = Arc::default();
        let seen = requests.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (seen, rejections) = (seen.clone(), rejections.clone());
            async move {
                let target = headers.get("x-amz-target").and_then(|t| t.to_str().ok()).unwrap_or_default().to_owned();
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                assert!(target.ends_with(".WriteRecords"), "only WriteRecords is expected, got {target}");
                seen.lock().unwrap().push(body);
                let json = [("content-type", "application/x-amz-json-1.0")];
                if rejections.is_empty() {
                    let ok = json!({"RecordsIngested": {"Total": 1, "MemoryStore": 1, "MagneticStore": 0}});
                    return (StatusCode::OK, json, ok.to_string());
                }
                let refused = json!({
                    "__type": "com.amazonaws.timestream.v20181101#RejectedRecordsException",
                    "message": "One or more records have been rejected.",
                    "RejectedRecords": rejections,
                });
                (StatusCode::BAD_REQUEST, json, refused.to_string())
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Double { endpoint, requests }
    }

    fn sink(&self) -> TimestreamSink {
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new("t", "t", None, None, "double")))
            .build();
        TimestreamSink::new(aws_sdk_timestreamwrite::Client::new(&config), "db", "task_metrics")
    }
}

const OUT_OF_RANGE: &str = "The record timestamp is outside the time range [2026-03-01T00:00:00Z, 2026-03-02T00:00:00Z) of the data ingestion window.";

#[tokio::test]
async fn rejections_are_sorted_by_reason_a_stored_version_is_done_anything_else_is_refused() {
    let double = Double::start(vec![
        json!({"RecordIndex": 0, "Reason": "A record with a higher version exists", "ExistingVersion": 7}),
        json!({"RecordIndex": 2, "Reason": OUT_OF_RANGE}),
    ])
    .await;
    let rejected = double.sink().write(&records(3)).await.unwrap();
    assert_eq!(
        rejected,
        vec![
            Rejected { index: 0, rejection: RecordRejection::AlreadyStored { existing_version: Some(7) } },
            Rejected { index: 2, rejection: RecordRejection::Refused(OUT_OF_RANGE.into()) },
        ]
    );

    // Through the consumer: the stored one is acknowledged, the refused one fails with the
    // reason (and reaches the dead letters with it once its receives are spent).
    let events: Vec<DomainEvent> = (0..3).map(|n| completed("acme", n, "s", 1)).collect();
    let messages: Vec<aws_sdk_sqs::types::Message> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            aws_sdk_sqs::types::Message::builder()
                .message_id(format!("m-{i}"))
                .receipt_handle(format!("r-{i}"))
                .body(serde_json::to_string(&BridgeEvent::wrap(&e.to_envelope().unwrap()).unwrap()).unwrap())
                .build()
        })
        .collect();
    let response = consume_metrics(&double.sink(), sqs_event(&messages), None, None).await;
    let failed: Vec<String> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, vec!["m-2".to_owned()]);
}

#[tokio::test]
async fn a_write_hoists_what_its_records_share_and_sends_at_most_100() {
    let double = Double::start(vec![]).await;
    let (_, report) = write_batch(&double.sink(), &records(150)).await;
    assert_eq!((report.calls, report.written), (2, 150));
    let requests = double.requests.lock().unwrap().clone();
    let sizes: Vec<usize> = requests.iter().map(|r| r["Records"].as_array().unwrap().len()).collect();
    assert_eq!(sizes, vec![100, 50]);
    let first = &requests[0];
    assert_eq!((first["DatabaseName"].as_str(), first["TableName"].as_str()), (Some("db"), Some("task_metrics")));
    let common = &first["CommonAttributes"];
    assert_eq!(
        (common["MeasureValueType"].as_str(), common["TimeUnit"].as_str()),
        (Some("MULTI"), Some("NANOSECONDS"))
    );
    assert_eq!(common["MeasureName"], "task");
    let shared: Vec<&str> =
        common["Dimensions"].as_array().unwrap().iter().map(|d| d["Name"].as_str().unwrap()).collect();
    assert_eq!(shared, vec!["tenant", "event_type", "project", "sprint", "assignee", "priority"]);
    let record = &first["Records"][0];
    let own: Vec<&str> = record["Dimensions"].as_array().unwrap().iter().map(|d| d["Name"].as_str().unwrap()).collect();
    assert_eq!(own, vec!["aggregate_id"], "only what differs is said per record");
    // occurredAt's millisecond, with the version (3) below it in nanoseconds.
    assert_eq!((record["Time"].as_str(), record["Version"].as_i64()), (Some("1772524800000000003"), Some(3)));
    let measures: Vec<(&str, &str, &str)> = record["MeasureValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["Name"].as_str().unwrap(), m["Value"].as_str().unwrap(), m["Type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        measures,
        vec![
            ("events", "1", "BIGINT"),
            ("cycle_time_seconds", "86400", "BIGINT"),
            ("completed_points", "3", "BIGINT"),
            ("estimate_points", "3", "BIGINT"),
            ("overdue", "true", "BOOLEAN"),
        ]
    );
}

/// Queues canned results for `sql` at the emulator (`/moto-api/static/timestream/query-results`):
/// each page is returned for one Query call with exactly that text, in order.
fn can_results(moto: &Moto, sql: &str, pages: Vec<Value>) {
    let body = json!({ "results": { sql: pages } }).to_string();
    let address = moto.endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /moto-api/static/timestream/query-results HTTP/1.0\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.0 201") || answer.starts_with("HTTP/1.1 201"), "{answer}");
}

fn page(rows: &[(&str, u64, u64)], next: Option<&str>) -> Value {
    let mut page = json!({
        "QueryId": "q",
        "ColumnInfo": [
            {"Name": "sprint", "Type": {"ScalarType": "VARCHAR"}},
            {"Name": "completed", "Type": {"ScalarType": "BIGINT"}},
            {"Name": "points", "Type": {"ScalarType": "BIGINT"}}
        ],
        "Rows": rows.iter().map(|(s, c, p)| json!({"Data": [{"ScalarValue": s}, {"ScalarValue": c.to_string()}, {"ScalarValue": p.to_string()}]})).collect::<Vec<_>>(),
    });
    if let Some(next) = next {
        page["NextToken"] = json!(next);
    }
    page
}

#[tokio::test]
async fn a_query_sends_its_sql_and_reads_every_page() {
    let moto = Moto::shared();
    let table = Table { database: unique_name("metrics_db"), table: "task_metrics".into() };
    let query = MetricsQuery {
        project: Some("project-1".into()),
        from: Some(Timestamp::parse("2026-03-01T00:00:00Z").unwrap()),
        interval: Interval::Week,
        ..MetricsQuery::default()
    };
    let sql = query_sql(&table, "acme", MetricName::Velocity, &query).unwrap();
    let expected = format!(
        "SELECT sprint, count(*) AS completed, sum(completed_points) AS points\n\
         FROM \"{}\".\"task_metrics\"\n\
         WHERE measure_name = 'task' AND tenant = 'acme' AND project = 'project-1' AND time >= from_milliseconds(1772323200000) AND event_type = 'TaskCompleted' AND sprint IS NOT NULL\n\
         GROUP BY sprint\n\
         ORDER BY min(time)",
        table.database
    );
    assert_eq!(sql, expected);
    // The emulator answers these pages only to exactly this text: any other SQL gets no rows.
    can_results(&moto, &expected, vec![page(&[("s-1", 4, 13)], Some("page-2")), page(&[("s-2", 2, 5)], None)]);
    let reader = TimestreamMetrics::new(aws_sdk_timestreamquery::Client::new(&moto.sdk_config()), table);
    let answer = reader.query("acme", MetricName::Velocity, &query).await.unwrap();
    assert_eq!(
        answer,
        MetricsAnswer::Velocity(vec![
            VelocityRow { sprint: "s-1".into(), completed: 4, points: 13 },
            VelocityRow { sprint: "s-2".into(), completed: 2, points: 5 },
        ])
    );
}

//! The local AWS emulator for contract tests: a `moto_server` process on a free loopback
//! port, SDK configuration pointing at it, and resources named uniquely per test (its state
//! is global and in memory).
//!
//! `scripts/test` installs the pinned moto into `.venv/` and exports `MOTO_SERVER`. Without
//! it these tests fail, saying so: an AWS contract that silently did not run is not a pass.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_lambda_events::event::dynamodb::{EventRecord, UserIdentity};
use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use serde_json::json;

pub const REGION: &str = "us-east-1";
/// The smallest multipart part the emulator's S3 accepts (AWS: 5 MiB).
pub const S3_TEST_PART_MIN_SIZE: usize = 1024;
/// How long moto may take to answer its first request; it is usually ready in under a second.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// A running `moto_server`, stopped (by its pid) when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
    log: PathBuf,
}

/// The server the tests of this process share while any of them runs; the last one to
/// finish stops it.
static SHARED: Mutex<Weak<Moto>> = Mutex::new(Weak::new());

impl Moto {
    /// The shared server, started if none is running.
    pub fn shared() -> Arc<Moto> {
        let mut shared = SHARED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(running) = shared.upgrade() {
            return running;
        }
        let started = Arc::new(Moto::start());
        *shared = Arc::downgrade(&started);
        started
    }

    /// A server of its own.
    pub fn start() -> Moto {
        let binary = moto_server();
        let port = free_port();
        let log = std::env::temp_dir().join(format!("taskstream-moto-{port}.log"));
        let log_file = std::fs::File::create(&log).expect("a log file for moto_server");
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // S3 refuses multipart parts under 5 MiB but the last; lowered here so that tests
            // see exports go out in several parts without writing megabytes each.
            .env("S3_UPLOAD_PART_MIN_SIZE", S3_TEST_PART_MIN_SIZE.to_string())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("the log file, twice"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}"), log };
        moto.wait_until_ready(port);
        moto
    }

    fn wait_until_ready(&mut self, port: u16) {
        let deadline = Instant::now() + STARTUP_LIMIT;
        loop {
            if answers(port) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("moto_server exited ({status}) before it was ready:\n{}", self.log_tail());
            }
            if Instant::now() > deadline {
                panic!("moto_server did not answer GET /moto-api/ within {STARTUP_LIMIT:?}:\n{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// SDK configuration for the emulator: its endpoint, dummy static credentials, a region.
    pub fn sdk_config(&self) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "moto",
            )))
            .build()
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config())
    }

    pub fn dynamodb_streams(&self) -> aws_sdk_dynamodbstreams::Client {
        aws_sdk_dynamodbstreams::Client::new(&self.sdk_config())
    }

    pub fn secretsmanager(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk_config())
    }

    /// Path-style addressing: a bucket's own host name (`bucket.127.0.0.1`) does not resolve.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.sdk_config()).force_path_style(true).build(),
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// `MOTO_SERVER`, else the workspace's `.venv/bin/moto_server`.
fn moto_server() -> PathBuf {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        let path = PathBuf::from(path);
        assert!(path.exists(), "MOTO_SERVER={} does not exist; run scripts/test to install moto", path.display());
        return path;
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let venv = workspace.join(".venv/bin/moto_server");
    assert!(
        venv.exists(),
        "the AWS contract tests need the local AWS emulator: run scripts/test (it installs moto into .venv/), \
         or set MOTO_SERVER to a moto_server binary"
    );
    venv
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().expect("the port's address").port()
}

/// Whether moto answers `GET /moto-api/` with 200.
fn answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0_u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/") && head.ends_with(b"200")
}

/// A name no other test uses, for tables, queues, buses.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Creates a table as the CDK deploys it (`cdk/lib/constructs/data.ts`): `pk`/`sk`, the
/// indexes `gsi1`, `gsi2` and `gsi3`, a NEW_AND_OLD_IMAGES stream, TTL on `expiresAt`.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    let string = |name: &str| {
        AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build().unwrap()
    };
    let key = |name: &str, key_type: KeyType| {
        KeySchemaElement::builder().attribute_name(name).key_type(key_type).build().unwrap()
    };
    let index = |n: u8| {
        GlobalSecondaryIndex::builder()
            .index_name(format!("gsi{n}"))
            .key_schema(key(&format!("gsi{n}pk"), KeyType::Hash))
            .key_schema(key(&format!("gsi{n}sk"), KeyType::Range))
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(
            ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk"].into_iter().map(string).collect(),
        ))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(index(1))
        .global_secondary_indexes(index(2))
        .global_secondary_indexes(index(3))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("create table {name}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)));
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder().attribute_name("expiresAt").enabled(true).build().unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("enable TTL on {name}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)));
}

/// A record of the Streams API as the Lambda event carries it. Both use the same wire
/// format; only the attribute value types differ, which serde_dynamo converts.
pub fn as_lambda_event(record: &Record) -> EventRecord {
    let mut event = EventRecord::default();
    event.aws_region = REGION.to_owned();
    event.event_id = record.event_id().unwrap_or_default().to_owned();
    event.event_name = record.event_name().map(|n| n.as_str().to_owned()).unwrap_or_default();
    event.event_source = record.event_source().map(str::to_owned);
    if let Some(change) = record.dynamodb() {
        let item = |image: Option<&std::collections::HashMap<String, _>>| {
            image.cloned().map(serde_dynamo::Item::from).unwrap_or_default()
        };
        event.change.keys = item(change.keys());
        event.change.new_image = item(change.new_image());
        event.change.old_image = item(change.old_image());
        event.change.sequence_number = change.sequence_number().map(str::to_owned);
    }
    event.user_identity = record.user_identity().map(|who| {
        let mut identity = UserIdentity::default();
        identity.type_ = who.r#type().unwrap_or_default().to_owned();
        identity.principal_id = who.principal_id().unwrap_or_default().to_owned();
        identity
    });
    event
}

pub async fn read_stream(moto: &Moto, table: &str) -> Vec<Record> {
    let described = moto.dynamodb().describe_table().table_name(table).send().await.unwrap();
    let arn = described.table().and_then(|t| t.latest_stream_arn()).expect("the table has a stream").to_owned();
    let streams = moto.dynamodb_streams();
    let stream = streams.describe_stream().stream_arn(&arn).send().await.unwrap();
    let mut records = Vec::new();
    for shard in stream.stream_description().map(|d| d.shards()).unwrap_or_default() {
        let mut iterator = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard.shard_id().unwrap_or_default())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator;
        while let Some(position) = iterator {
            let out = streams.get_records().shard_iterator(position).send().await.unwrap();
            if out.records().is_empty() {
                break;
            }
            records.extend(out.records().iter().cloned());
            iterator = out.next_shard_iterator;
        }
    }
    records
}

/// A consumer's queue and its DLQ (redrive after 5 receives), as the CDK makes them.
pub struct Queue {
    pub url: String,
    pub arn: String,
    pub dlq_url: String,
}

pub async fn queue(sqs: &aws_sdk_sqs::Client, name: &str, visibility: u32) -> Queue {
    let dlq_url = sqs.create_queue().queue_name(format!("{name}-dlq")).send().await.unwrap().queue_url.unwrap();
    let dlq_arn = arn_of(sqs, &dlq_url).await;
    let redrive = json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5" }).to_string();
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .attributes(QueueAttributeName::VisibilityTimeout, visibility.to_string())
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = arn_of(sqs, &url).await;
    Queue { url, arn, dlq_url }
}

pub async fn arn_of(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    let attrs =
        sqs.get_queue_attributes().queue_url(url).attribute_names(QueueAttributeName::QueueArn).send().await.unwrap();
    attrs.attributes().unwrap()[&QueueAttributeName::QueueArn].clone()
}

/// Receives until `n` messages arrived (or a few empty polls), as SQS would hand them to Lambda.
pub async fn receive(sqs: &aws_sdk_sqs::Client, url: &str, n: usize) -> Vec<aws_sdk_sqs::types::Message> {
    let mut out = Vec::new();
    for _ in 0..20 {
        if out.len() >= n {
            break;
        }
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        out.extend(messages);
    }
    out
}

/// The Lambda SQS event for received messages.
pub fn sqs_event(messages: &[aws_sdk_sqs::types::Message]) -> SqsEvent {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            let count = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .cloned()
                .unwrap_or_else(|| "1".into());
            json!({
                "messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                "attributes": { "ApproximateReceiveCount": count }, "messageAttributes": {},
                "eventSource": "aws:sqs", "awsRegion": REGION
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

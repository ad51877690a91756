//! `taskstream replay | dlq --aws` as an operator runs them: the binary, credentials and the
//! endpoint from the environment, a stage's queues found by their names. Against the local
//! AWS emulator (`MOTO_SERVER`, installed by `scripts/test`); the operations themselves are
//! tested in depth in `tests/tests/aws_operate.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const JSON_10: (&str, &str) = ("Content-Type", "application/x-amz-json-1.0");

struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto() -> Moto {
    let binary = std::env::var("MOTO_SERVER").expect("MOTO_SERVER names moto_server (scripts/test sets it)");
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Moto { child, port }
}

impl Moto {
    /// One SQS call in its JSON protocol. The emulator checks no signature, but picks the
    /// service from the credential scope of the Authorization header.
    fn sqs(&self, operation: &str, body: Value) -> Value {
        let target = format!("AmazonSQS.{operation}");
        let answer = self.call("sqs", "POST", "/", &[("X-Amz-Target", &target), JSON_10], &body.to_string());
        serde_json::from_str(&answer).unwrap_or(Value::Null)
    }

    /// One EventBridge call in its JSON protocol.
    fn events(&self, operation: &str, body: Value) -> Value {
        let target = format!("AWSEvents.{operation}");
        let json = ("Content-Type", "application/x-amz-json-1.1");
        let answer = self.call("events", "POST", "/", &[("X-Amz-Target", &target), json], &body.to_string());
        serde_json::from_str(&answer).unwrap_or(Value::Null)
    }

    /// One request to `service`; answers the body of a 200.
    fn call(&self, service: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: AWS4-HMAC-SHA256 \
             Credential=testing/20261201/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n\
             Content-Length: {}\r\nConnection: close\r\n",
            self.port,
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{method} {path}: {answer}");
        body.to_owned()
    }

    fn taskstream(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_taskstream"))
            .args(args)
            .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", self.port))
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .env_remove("TASKSTREAM_STAGE")
            .output()
            .unwrap()
    }
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn dlq_on_a_stage_lists_with_reasons_and_redrives_by_receive_and_resend() {
    let moto = moto();
    let stage = "ops1";
    let queue = moto.sqs("CreateQueue", json!({ "QueueName": "ops1-taskstream-audit-history" }))["QueueUrl"].clone();
    let dlq = moto.sqs("CreateQueue", json!({ "QueueName": "ops1-taskstream-audit-history-dlq" }))["QueueUrl"].clone();
    let event = json!({ "detail-type": "TaskCreated",
                        "detail": { "eventId": "ev-1", "eventType": "TaskCreated", "aggregateId": "task-1" } });
    moto.sqs(
        "SendMessage",
        json!({ "QueueUrl": dlq, "MessageBody": event.to_string(), "MessageAttributes": {
            "reason": { "DataType": "String", "StringValue": "the history table refused the write" },
            "consumer": { "DataType": "String", "StringValue": "audit-history" },
            "receives": { "DataType": "Number", "StringValue": "5" } } }),
    );

    let out = moto.taskstream(&["dlq", "list", "--aws", "--stage", stage, "--json"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let listed: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(listed["queues"], json!([{ "consumer": "audit-history", "queueUrl": dlq, "depth": 1 }]));
    assert_eq!(listed["deadLetters"][0]["reason"], "the history table refused the write");
    assert_eq!(listed["deadLetters"][0]["aggregateId"], "task-1");

    let out = moto.taskstream(&["dlq", "list", "--aws", "--stage", stage, "--tenant", "acme"]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("--tenant acme cannot be used with --aws"), "{}", text(&out).1);

    let out = moto.taskstream(&["dlq", "redrive", "--aws", "--stage", stage, "--consumer", "audit-history"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("redrove 1 dead letter(s) of audit-history back to its queue (receive-and-resend)"),
        "{stdout}"
    );
    assert!(stderr.contains("no SQS move task here"), "{stderr}");
    let moved = moto.sqs("ReceiveMessage", json!({ "QueueUrl": queue, "MaxNumberOfMessages": 10 }));
    let body: Value = serde_json::from_str(moved["Messages"][0]["Body"].as_str().unwrap()).unwrap();
    assert_eq!(body, event, "the event is back in the consumer's queue, unchanged");

    let out = moto.taskstream(&["dlq", "redrive", "--aws", "--stage", stage]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("--consumer"), "{}", text(&out).1);
}

#[test]
fn replay_on_a_stage_without_an_archive_says_so() {
    let moto = moto();
    let out = moto.taskstream(&[
        "replay",
        "--aws",
        "--stage",
        "nowhere",
        "--from",
        "2026-01-01T00:00:00Z",
        "--to",
        "2026-01-02T00:00:00Z",
        "--consumer",
        "audit-history",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(stderr.contains("no archive named nowhere-taskstream"), "{stderr}");
}

#[test]
fn the_stream_routers_failed_batch_is_listed_counted_and_redriven_from_the_command_line() {
    let moto = moto();
    let stage = "ops2";
    // The stage as the CDK app names it: the bus (an observer queue on it counts the events),
    // the router's parking queue, and its failure bucket holding one batch Lambda gave up on.
    moto.events("CreateEventBus", json!({ "Name": "ops2-taskstream" }));
    let observer = moto.sqs("CreateQueue", json!({ "QueueName": "ops2-observer" }))["QueueUrl"].clone();
    moto.events(
        "PutRule",
        json!({ "Name": "ops2-taskstream-observer", "EventBusName": "ops2-taskstream",
                "EventPattern": json!({ "source": ["taskstream"] }).to_string() }),
    );
    moto.events(
        "PutTargets",
        json!({ "Rule": "ops2-taskstream-observer", "EventBusName": "ops2-taskstream",
                "Targets": [{ "Id": "q", "Arn": "arn:aws:sqs:us-east-1:123456789012:ops2-observer" }] }),
    );
    moto.sqs("CreateQueue", json!({ "QueueName": "ops2-taskstream-stream-router-dlq" }));
    let bucket = "/ops2-taskstream-stream-router-failures-123456789012";
    moto.call("s3", "PUT", bucket, &[], "");
    let key = "aws/lambda/8f2c6a31/shardId-00000001796126000000-1a2b3c4d/2026/12/01/2026-12-01T12.14.07-0b1c2d3e";
    let fixture = include_str!("../../tests/fixtures/stream-router-failure.json");
    moto.call("s3", "PUT", &format!("{bucket}/{key}"), &[], fixture);

    let out = moto.taskstream(&["dlq", "list", "--aws", "--stage", stage, "--consumer", "stream-router"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(key) && stdout.contains("RetryAttemptsExhausted"), "{stdout}");

    let redrive = ["dlq", "redrive", "--aws", "--stage", stage, "--consumer", "stream-router"];
    let out = moto.taskstream(&[&redrive[..], &["--dry-run"]].concat());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 failed batch(es) and 0 parked record(s) would be routed again: 4 record(s), 3 event(s)"),
        "{stdout}"
    );
    assert!(stdout.contains("1 record(s) would be parked again"), "{stdout}");

    let out = moto.taskstream(&[&redrive[..], &["--json"]].concat());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let done: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        (done["batches"].as_u64(), done["events"].as_u64(), done["newlyParked"].as_u64()),
        (Some(1), Some(3), Some(1))
    );
    assert_eq!(done["deletedKeys"], json!([key]));
    let received = moto.sqs("ReceiveMessage", json!({ "QueueUrl": observer, "MaxNumberOfMessages": 10 }));
    assert_eq!(received["Messages"].as_array().map(Vec::len), Some(3), "{received}");

    // What is left: the poison record, parked with its reason, which a redrive leaves alone.
    let out = moto.taskstream(&[&redrive[..], &["--dry-run"]].concat());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("0 failed batch(es) and 0 parked record(s) would be routed again"), "{stdout}");
    assert!(stdout.contains("still poison, left parked") && stdout.contains("exploded"), "{stdout}");

    let out = moto.taskstream(&["dlq", "purge", "--aws", "--stage", stage, "--consumer", "stream-router", "--yes"]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("only copy"), "{}", text(&out).1);
}

#[test]
fn lag_on_a_stage_exits_3_above_max_age_from_the_routers_iterator_age() {
    let moto = moto();
    moto.sqs("CreateQueue", json!({ "QueueName": "ops3-taskstream-audit-history" }));
    moto.sqs("CreateQueue", json!({ "QueueName": "ops3-taskstream-audit-history-dlq" }));
    // What Lambda publishes for the router: 45 s behind the table's writes.
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let put = "Action=PutMetricData&Version=2010-08-01&Namespace=AWS%2FLambda\
               &MetricData.member.1.MetricName=IteratorAge&MetricData.member.1.Value=45000\
               &MetricData.member.1.Dimensions.member.1.Name=FunctionName\
               &MetricData.member.1.Dimensions.member.1.Value=ops3-taskstream-stream-router";
    moto.call("monitoring", "POST", "/", &[form], put);

    let out = moto.taskstream(&["lag", "--aws", "--stage", "ops3", "--max-age", "30s"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(stdout.contains("45.0s (iterator age)") && stdout.contains("audit-history"), "{stdout}");
    assert!(stderr.contains("above --max-age"), "{stderr}");

    let out = moto.taskstream(&["lag", "--aws", "--stage", "ops3", "--max-age", "60s", "--json"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lag: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(lag["router"]["iteratorAgeMs"], 45_000);
    assert_eq!(lag["consumers"][0]["consumer"], "audit-history");
    assert_eq!(lag["consumers"][0]["depth"], 0);

    let out = moto.taskstream(&["lag", "--aws", "--stage", "ops3", "--tenant", "acme"]);
    assert!(!out.status.success());
}

#[test]
fn trace_on_a_stage_needs_the_tenant_whose_keys_hold_the_task() {
    let moto = moto();
    let out = moto.taskstream(&["trace", "some-task", "--aws", "--stage", "ops4"]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("trace --aws needs --tenant T"), "{}", text(&out).1);
}

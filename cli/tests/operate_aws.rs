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
        let body = body.to_string();
        let request = format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-Amz-Target: AmazonSQS.{operation}\r\n\
             Content-Type: application/x-amz-json-1.0\r\nAuthorization: AWS4-HMAC-SHA256 \
             Credential=testing/20261201/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{operation}: {answer}");
        serde_json::from_str(body).unwrap_or(Value::Null)
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

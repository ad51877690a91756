//! `taskstream webhooks …` against a real serve: subscriptions made, listed, changed and
//! removed through the HTTP API, deliveries to a local receiver listed and sent again, the
//! secret printed only when one is made, and the API's wall and refusals as the command's
//! error (a member's key, another tenant's id, a bad event type).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Server, create_key};

/// A receiver answering every POST with 204; counts what it got.
fn receiver() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/in", listener.local_addr().unwrap());
    let got = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&got);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok() {
                counted.fetch_add(1, Ordering::SeqCst);
            }
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, got)
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn webhooks(server: &Server, data: &Path, key: Option<&str>, args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_taskstream"));
    command.arg("webhooks").args(args).args(["--url", &format!("http://{}", server.addr)]).arg("--data").arg(data);
    if let Some(key) = key {
        command.args(["--key", key]);
    }
    let out = command.env("TASKSTREAM_LOG", "warn").env_remove("TASKSTREAM_KEY").output().unwrap();
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn ok(run: Run) -> String {
    assert!(run.ok, "failed: {}{}", run.stderr, run.stdout);
    run.stdout
}

fn json(run: Run) -> Value {
    serde_json::from_str(&ok(run)).unwrap()
}

fn until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(20), "{what} never happened");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_admin_manages_subscriptions_and_their_deliveries_from_the_command_line() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[("TASKSTREAM_ALLOW_PRIVATE_WEBHOOKS", "true")]);
    let (endpoint, received) = receiver();
    let dir = data.path();

    // Made with serve's own admin key (read from the data directory); the secret once.
    let made = ok(webhooks(&server, dir, None, &["create", "--endpoint", &endpoint, "--event-type", "TaskCreated"]));
    let secret = made.lines().last().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{made}");
    let listed = json(webhooks(&server, dir, None, &["list", "--json"]));
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    assert_eq!((listed.as_array().unwrap().len(), listed[0]["url"].as_str()), (1, Some(endpoint.as_str())));
    let table = ok(webhooks(&server, dir, None, &["list"]));
    assert!(table.contains(&id) && table.contains("TaskCreated") && !table.contains(&secret), "{table}");

    // A task made through the API is delivered; the delivery is listed and sent again.
    let (status, _) = server.call("POST", "/tasks", Some(r#"{"title": "to deliver"}"#));
    assert_eq!(status, 201);
    until("the first delivery", || received.load(Ordering::SeqCst) >= 1);
    let mut shown = Value::Null;
    until("the delivery settled", || {
        shown = json(webhooks(&server, dir, None, &["deliveries", &id, "--json"]));
        shown[0]["status"] == "delivered"
    });
    assert_eq!((shown[0]["eventType"].as_str(), shown[0]["lastStatusCode"].as_u64()), (Some("TaskCreated"), Some(204)));
    let delivery = shown[0]["id"].as_str().unwrap().to_owned();
    let table = ok(webhooks(&server, dir, None, &["deliveries", &id]));
    assert!(table.contains(&delivery) && table.contains("delivered") && table.contains("204"), "{table}");
    let again = json(webhooks(&server, dir, None, &["redeliver", &id, &delivery, "--json"]));
    assert_eq!((again["id"].as_str(), again["attempts"].as_u64()), (Some(delivery.as_str()), Some(0)));
    until("the second delivery", || received.load(Ordering::SeqCst) >= 2);

    // Changed in part: what is not given stays.
    let off = json(webhooks(&server, dir, None, &["update", &id, "--active", "false", "--json"]));
    assert_eq!((off["active"].as_bool(), off["url"].as_str()), (Some(false), Some(endpoint.as_str())));
    assert_eq!(off["eventTypes"], serde_json::json!(["TaskCreated"]));
    let rotated = ok(webhooks(&server, dir, None, &["rotate-secret", &id]));
    let new_secret = rotated.lines().last().unwrap();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret, "{rotated}");

    // The API's wall and checks, as the command's error.
    let member = create_key(dir, "default", "member");
    let refused = webhooks(&server, dir, Some(&member), &["list"]);
    assert!(!refused.ok && refused.stderr.contains("HTTP 403"), "{}", refused.stderr);
    let other = create_key(dir, "globex", "admin");
    let foreign = webhooks(&server, dir, Some(&other), &["show", &id]);
    assert!(!foreign.ok && foreign.stderr.contains("HTTP 404"), "{}", foreign.stderr);
    assert!(json(webhooks(&server, dir, Some(&other), &["list", "--json"])).as_array().unwrap().is_empty());
    let bad = webhooks(&server, dir, None, &["create", "--endpoint", &endpoint, "--event-type", "Nope"]);
    assert!(
        !bad.ok && bad.stderr.contains("HTTP 400") && bad.stderr.contains("unknown variant `Nope`"),
        "{}",
        bad.stderr
    );
    let sneaky = webhooks(&server, dir, None, &["show", "../keys"]);
    assert!(!sneaky.ok && sneaky.stderr.contains("is not an id"), "{}", sneaky.stderr);
    assert_eq!(json(webhooks(&server, dir, None, &["list", "--json"])).as_array().unwrap().len(), 1, "nothing made");

    assert!(ok(webhooks(&server, dir, None, &["delete", &id])).contains("deleted"));
    assert!(json(webhooks(&server, dir, None, &["list", "--json"])).as_array().unwrap().is_empty());
}

//! `serve --max-lag`: while the oldest change not yet through the pipeline is older than the
//! bound, writes get 503 `unavailable` with `Retry-After` and the error envelope, reads are
//! answered, and once the pipeline catches up writes are accepted again by themselves.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::time::{Duration, Instant};

use support::{Server, read_response, send};

fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn writes_are_refused_past_the_lag_bound_reads_go_on_and_writes_resume_after_catch_up() {
    let data = tempfile::tempdir().unwrap();
    // The pipeline held: every change waits, so the lag grows past the bound.
    let held = Server::start(data.path(), &[("TASKSTREAM_NO_PIPELINE", "true"), ("TASKSTREAM_MAX_LAG", "1s")]);
    let (status, created) = held.call("POST", "/tasks", Some(r#"{"title": "before the lag"}"#));
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();

    let refusal = wait_for("a write refused for lag", || {
        let mut conn = held.connect();
        send(&mut conn, "POST", "/tasks", &held.key, Some(r#"{"title": "during the lag"}"#), true);
        let reply = read_response(&mut conn);
        (reply.status != 201).then_some(reply)
    });
    assert_eq!(refusal.status, 503, "{}", String::from_utf8_lossy(&refusal.body));
    let body = refusal.json();
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(body["error"]["message"].as_str().unwrap().contains("behind"), "{body}");
    assert!(body["error"]["correlationId"].is_string(), "{body}");
    let retry_after: u64 = refusal.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    let (status, _) = held.call("PUT", &format!("/tasks/{id}"), Some(r#"{"version": 1, "status": "done"}"#));
    assert_eq!(status, 503, "every write is refused, not only creates");
    // Reads are answered meanwhile.
    let (status, task) = held.call("GET", &format!("/tasks/{id}"), None);
    assert_eq!((status, task["data"]["version"].as_u64()), (200, Some(1)));
    assert_eq!(held.call("GET", "/tasks", None).0, 200);
    assert!(held.terminate().0.success());

    // The same data with the pipeline running: it catches up, and writes come back by
    // themselves, without anyone touching the server.
    let server = Server::start(data.path(), &[("TASKSTREAM_MAX_LAG", "1s")]);
    let (status, created) = wait_for("writes accepted again", || {
        let reply = server.call("POST", "/tasks", Some(r#"{"title": "after catch-up"}"#));
        (reply.0 != 503).then_some(reply)
    });
    assert_eq!(status, 201, "{created}");
    let (_, history) = server.call("GET", &format!("/tasks/{id}/history"), None);
    assert_eq!(history["data"].as_array().unwrap().len(), 1, "the held change went through: {history}");
    assert!(server.terminate().0.success());
}

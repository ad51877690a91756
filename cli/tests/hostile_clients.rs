//! `serve` under slow and hostile clients, over raw sockets: a trickled request head and an
//! idle keep-alive connection are closed after their timeouts and hold up no shutdown; a
//! 429 that leaves a body unread says `Connection: close`; a flood of made-up keys from one
//! address is refused before any key is looked up.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use support::{Server, closed_by_server, read_response, send};

#[test]
fn a_slowloris_head_is_cut_at_the_header_timeout_and_an_idle_connection_at_the_idle_timeout() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[("TASKSTREAM_HEADER_TIMEOUT", "1"), ("TASKSTREAM_IDLE_TIMEOUT", "3")]);

    // A head trickled a header at a time, never finished.
    let mut slow = server.connect();
    let started = Instant::now();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: test\r\n").unwrap();
    let trickle = std::thread::spawn({
        let mut slow = slow.try_clone().unwrap();
        move || {
            for i in 0..40 {
                std::thread::sleep(Duration::from_millis(100));
                if write!(slow, "x-slow-{i}: 1\r\n").is_err() {
                    return;
                }
            }
        }
    });
    assert!(closed_by_server(&mut slow), "the slow head is cut off");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "not before the header timeout: {took:?}");
    assert!(took < Duration::from_secs(4), "at the header timeout, not at the end of the trickle: {took:?}");
    trickle.join().unwrap();

    // A kept-alive connection outlives the header timeout while idle, then the idle one ends it.
    let mut idle = server.connect();
    send(&mut idle, "GET", "/health", "", None, false);
    assert_eq!(read_response(&mut idle).status, 200);
    std::thread::sleep(Duration::from_millis(1500));
    send(&mut idle, "GET", "/health", "", None, false);
    assert_eq!(read_response(&mut idle).status, 200, "still open past the header timeout");
    let since = Instant::now();
    assert!(closed_by_server(&mut idle), "an idle connection is closed");
    let took = since.elapsed();
    assert!(took >= Duration::from_millis(2900) && took < Duration::from_secs(6), "at the idle timeout: {took:?}");

    let (status, _) = server.terminate();
    assert!(status.success());
}

#[test]
fn shutdown_does_not_wait_for_half_sent_requests_or_idle_connections() {
    let data = tempfile::tempdir().unwrap();
    // Timeouts far beyond what the shutdown may take.
    let server = Server::start(
        data.path(),
        &[("TASKSTREAM_HEADER_TIMEOUT", "60"), ("TASKSTREAM_IDLE_TIMEOUT", "60"), ("TASKSTREAM_SHUTDOWN_GRACE", "30")],
    );
    let mut half_sent = server.connect();
    half_sent.write_all(b"POST /tasks HTTP/1.1\r\nHost: test\r\nContent-Le").unwrap();
    let mut idle = server.connect();
    send(&mut idle, "GET", "/health", "", None, false);
    assert_eq!(read_response(&mut idle).status, 200);
    // A request whose body is half sent: its head reached the router, the rest never comes.
    let mut half_body = server.connect();
    let key = server.key.clone();
    write!(half_body, "POST /tasks HTTP/1.1\r\nHost: test\r\nx-api-key: {key}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"ti").unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let (status, took) = server.terminate();
    assert!(status.success(), "serve exits 0: {status}");
    assert!(took < Duration::from_secs(30), "within the shutdown grace: {took:?}");
    assert!(closed_by_server(&mut half_sent) && closed_by_server(&mut idle), "both closed");
    eprintln!("shutdown with a half-sent head, an idle connection and a half-sent body took {took:?}");
    assert!(took < Duration::from_secs(5), "a half-sent head and an idle connection are not waited for: {took:?}");
}

#[test]
fn a_429_that_leaves_a_body_unread_closes_the_connection_and_says_so() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[("TASKSTREAM_RATE_LIMIT", "0.01"), ("TASKSTREAM_RATE_BURST", "1")]);
    let body = r#"{"title": "one"}"#;
    let (status, _) = server.call("POST", "/tasks", Some(body));
    assert_eq!(status, 201, "the burst allows one");

    // On a kept-alive connection: the refusal says the connection ends, and it does, cleanly.
    let mut conn = server.connect();
    send(&mut conn, "POST", "/tasks", &server.key, Some(body), false);
    let refused = read_response(&mut conn);
    assert_eq!(refused.status, 429);
    assert_eq!(refused.json()["error"]["code"], "rate_limited");
    assert!(refused.header("retry-after").is_some_and(|s| s.parse::<u64>().unwrap() >= 1));
    assert_eq!(refused.header("connection"), Some("close"), "{:?}", refused.headers);
    assert!(closed_by_server(&mut conn), "closed after the 429, as announced");

    // Without a body there is nothing unread: the connection stays for the next request.
    let mut conn = server.connect();
    send(&mut conn, "GET", "/tasks", &server.key, None, false);
    let refused = read_response(&mut conn);
    assert_eq!((refused.status, refused.header("connection")), (429, None));
    send(&mut conn, "GET", "/health", "", None, false);
    assert_eq!(read_response(&mut conn).status, 200, "the same connection serves on");
    assert!(server.terminate().0.success());
}

#[test]
fn a_flood_of_made_up_keys_from_one_address_is_refused_before_any_lookup() {
    let data = tempfile::tempdir().unwrap();
    let server =
        Server::start(data.path(), &[("TASKSTREAM_AUTH_FAILURE_RATE", "0.01"), ("TASKSTREAM_AUTH_FAILURE_BURST", "3")]);
    let made_up = |i: usize| format!("tsk_{:016x}_{}", i, "0".repeat(64));
    let mut codes = Vec::new();
    for i in 0..6 {
        let mut conn = server.connect();
        send(&mut conn, "GET", "/tasks", &made_up(i), None, true);
        let reply = read_response(&mut conn);
        codes.push((reply.status, reply.json()["error"]["code"].as_str().unwrap_or_default().to_owned()));
        if reply.status == 429 {
            assert!(reply.header("retry-after").is_some());
        }
    }
    let statuses: Vec<u16> = codes.iter().map(|c| c.0).collect();
    assert_eq!(statuses, [401, 401, 401, 429, 429, 429], "{codes:?}");
    assert_eq!(codes[3].1, "rate_limited");
    assert!(server.terminate().0.success());
}

//! What a newcomer meets before anything works: addresses as people write them, a port in
//! use, a file where the data directory should be, keys made before the first start, and
//! errors that read as messages (one line, no backtrace, no colour codes in a pipe).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::process::{Command, Output};

use support::Server;

fn taskstream(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_taskstream"))
        .args(args)
        // Asked for, and still none: a user's error is not a crash.
        .env("RUST_BACKTRACE", "1")
        .env_remove("TASKSTREAM_LOG")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A refusal as a user should see it: non-zero, one `taskstream:` line, no backtrace, no
/// colour codes.
fn assert_user_error(out: &Output, expect: &[&str]) {
    let text = stderr(out);
    assert!(!out.status.success(), "refused: {text}");
    for part in expect {
        assert!(text.contains(part), "{part:?} in {text:?}");
    }
    assert!(!text.contains("backtrace") && !text.contains("Backtrace"), "{text}");
    assert!(!text.contains('\u{1b}'), "no colour codes off a terminal: {text:?}");
}

#[test]
fn addr_takes_localhost_port_and_a_bare_port() {
    for addr in ["localhost:0", "0"] {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_taskstream"))
            .args(["serve", "--addr", addr, "--data"])
            .arg(data.path())
            .env("TASKSTREAM_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        assert!(line.starts_with("taskstream listening on http://127.0.0.1:"), "{addr}: {line}");
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let out = taskstream(&["serve", "--addr", "somewhere"]);
    assert_user_error(&out, &["--addr", "HOST:PORT, localhost:PORT or a port"]);
}

#[test]
fn a_port_in_use_is_named_before_the_data_directory_is_created() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let out = taskstream(&["serve", "--addr", &port, "--data", data.to_str().unwrap()]);
    assert_user_error(&out, &["is in use", "--addr"]);
    assert_eq!(stderr(&out).trim().lines().filter(|l| l.starts_with("taskstream:")).count(), 1);
    assert!(!data.exists(), "nothing was created");
}

#[test]
fn data_pointing_at_a_file_says_it_is_a_file() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let out = taskstream(&["serve", "--addr", "0", "--data", file.path().to_str().unwrap()]);
    assert_user_error(&out, &["is a file"]);
}

#[test]
fn bad_flag_values_are_refused_not_changed() {
    for (flag, value) in [
        ("--max-receives", "0"),
        ("--rate-burst", "0"),
        ("--header-timeout", "0"),
        ("--idle-timeout", "0"),
        ("--max-connections", "0"),
        ("--sync", "sometimes"),
    ] {
        let out = taskstream(&["serve", flag, value]);
        assert_user_error(&out, &[flag]);
    }
    let out = taskstream(&["serve", "--addr", "0", "--rate-limit=-1"]);
    assert_user_error(&out, &["--rate-limit"]);
}

#[test]
fn keys_made_before_the_first_serve_still_let_it_write_admin_key() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let out = taskstream(&["keys", "create", "--data", dir, "--tenant", "default", "--role", "member"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let member = String::from_utf8(out.stdout).unwrap().lines().last().unwrap().to_owned();

    let server = Server::start(data.path(), &[]);
    assert!(server.key.starts_with("tsk_") && server.key != member);
    let (status, body) = server.call("POST", "/categories", Some(r#"{"name": "admin only"}"#));
    assert_eq!(status, 201, "admin.key holds an admin key: {body}");
    assert!(server.terminate().0.success());
}

#[test]
fn with_an_admin_key_made_first_serve_says_where_the_admin_keys_are() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let out = taskstream(&["keys", "create", "--data", dir, "--tenant", "default", "--role", "admin"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut child = Command::new(env!("CARGO_BIN_EXE_taskstream"))
        .args(["serve", "--addr", "0", "--data", dir])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    let log = stderr(&out);
    assert!(log.contains("admin keys already") && log.contains("taskstream keys list"), "{log}");
    assert!(!log.contains('\u{1b}'), "no colour codes off a terminal: {log:?}");
    assert!(!data.path().join("admin.key").exists());
}

//! Email and Slack notifications sent by `serve`: email to a real SMTP server in the test (a
//! small sink speaking the protocol), its parts read back by Python's own MIME parser; Slack
//! over real HTTP to a receiver in the test, its Block Kit body asserted. Once each: a muted
//! person or a preference turned off sends nothing, a failed attempt is retried, a replay
//! sends nothing unless it re-notifies, and a restart sends nothing twice. Without an SMTP
//! server email waits in the outbox, shown by `GET /notifications`, until one is configured.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use support::Server;

/// One message the SMTP sink accepted.
#[derive(Clone, Debug)]
struct Mail {
    from: String,
    to: Vec<String>,
    data: String,
}

/// An SMTP server on its own threads: answers EHLO, MAIL, RCPT, DATA, RSET, NOOP and QUIT,
/// and keeps every message it accepts.
struct SmtpSink {
    addr: SocketAddr,
    mail: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mail: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let kept = Arc::clone(&mail);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let kept = Arc::clone(&kept);
                std::thread::spawn(move || {
                    let _ = session(stream, &kept);
                });
            }
        });
        Self { addr, mail }
    }

    fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    fn received(&self) -> Vec<Mail> {
        self.mail.lock().unwrap().clone()
    }
}

fn session(stream: std::net::TcpStream, kept: &Mutex<Vec<Mail>>) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut lines = BufReader::new(stream);
    let mut reply = |text: &str| out.write_all(format!("{text}\r\n").as_bytes());
    reply("220 sink ESMTP")?;
    let (mut from, mut to) = (String::new(), Vec::new());
    loop {
        let mut line = String::new();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            reply("250 sink")?;
        } else if upper.starts_with("MAIL FROM:") {
            from = command[10..].trim().to_owned();
            to.clear();
            reply("250 OK")?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(command[8..].trim().to_owned());
            reply("250 OK")?;
        } else if upper == "DATA" {
            reply("354 go on")?;
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if lines.read_line(&mut l)? == 0 {
                    return Ok(());
                }
                if l == ".\r\n" {
                    break;
                }
                // Dot-stuffing undone (RFC 5321 4.5.2).
                data.push_str(l.strip_prefix('.').unwrap_or(&l));
            }
            kept.lock().unwrap().push(Mail { from: from.clone(), to: to.clone(), data });
            reply("250 queued")?;
        } else if upper == "QUIT" {
            reply("221 bye")?;
            return Ok(());
        } else if upper == "RSET" || upper == "NOOP" {
            reply("250 OK")?;
        } else {
            reply("502 not here")?;
        }
    }
}

/// A Slack incoming webhook stand-in: records every POST, answers with the next scripted
/// status (200 once the script is spent).
struct SlackReceiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<(String, Value)>>>,
}

impl SlackReceiver {
    fn start(script: &[u16]) -> Self {
        let got: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<u16>>()));
        let std_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let (g, s) = (Arc::clone(&got), Arc::clone(&script));
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                let app = axum::Router::new().route(
                    "/services/T1/B1/x",
                    axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                        let (g, s) = (Arc::clone(&g), Arc::clone(&s));
                        async move {
                            let kind = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
                            g.lock().unwrap().push((kind.to_owned(), serde_json::from_slice(&body).unwrap()));
                            let status = s.lock().unwrap().pop_front().unwrap_or(200);
                            StatusCode::from_u16(status).unwrap()
                        }
                    }),
                );
                axum::serve(listener, app).await.unwrap();
            });
        });
        Self { addr, got }
    }

    fn url(&self) -> String {
        format!("http://{}/services/T1/B1/x", self.addr)
    }

    fn received(&self) -> Vec<(String, Value)> {
        self.got.lock().unwrap().clone()
    }
}

fn wait<T>(mut ready: impl FnMut() -> Option<T>, what: &str) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(Instant::now() < deadline, "waited 20 s for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if venv.exists() {
        return venv;
    }
    let found = Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(found, "no python to read the message with: run scripts/test, which makes .venv");
    PathBuf::from("python3")
}

/// The message as Python's standard `email` package reads it: headers, and each leaf part's
/// content type and decoded text (its CRLF line ends, which SMTP carries, read as `\n`).
fn parsed(mail: &Mail) -> Value {
    let script = r#"
import email, email.policy, json, sys
m = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
parts = [{"type": p.get_content_type(), "text": p.get_content().replace("\r\n", "\n")}
         for p in m.walk() if not p.is_multipart()]
print(json.dumps({"subject": str(m["subject"]), "to": str(m["to"]), "from": str(m["from"]),
                  "messageId": str(m["message-id"]), "type": m.get_content_type(), "parts": parts}))
"#;
    let mut child =
        Command::new(python()).args(["-c", script]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(mail.data.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python could not read the message:\n{}", mail.data);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn put_person(server: &Server, name: &str, body: Value) {
    let (status, reply) = server.call("PUT", &format!("/people/{name}"), Some(&body.to_string()));
    assert_eq!(status, 200, "{reply}");
}

/// Makes a task titled `title` and assigns it to `who`: one TaskAssigned.
fn assign(server: &Server, title: &str, who: &str) -> String {
    let (status, made) = server.call("POST", "/tasks", Some(&json!({"title": title}).to_string()));
    assert_eq!(status, 201, "{made}");
    let id = made["data"]["id"].as_str().unwrap().to_owned();
    let body = json!({"version": 1, "assignee": who}).to_string();
    let (status, put) = server.call("PUT", &format!("/tasks/{id}"), Some(&body));
    assert_eq!(status, 200, "{put}");
    id
}

/// `(recipient, channel, status, attempts)` of every outbox row, read from the database.
fn outbox(data: &Path) -> Vec<(String, String, String, u32)> {
    let conn = rusqlite::Connection::open_with_flags(
        data.join("taskstream.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap();
    let mut stmt = conn
        .prepare("SELECT recipient, channel, status, attempts FROM notifications ORDER BY recipient, channel")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().map(Result::unwrap).collect()
}

/// Replays the whole archive into the notifier as `name` and waits for it to finish.
fn replay(server: &Server, name: &str) {
    let body =
        json!({"name": name, "from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z", "consumers": ["notifier"]});
    let (status, reply) = server.call("POST", "/admin/replays", Some(&body.to_string()));
    assert_eq!(status, 201, "{reply}");
    wait(
        || {
            let (_, state) = server.call("GET", &format!("/admin/replays/{name}"), None);
            (state["data"]["state"] != "running").then_some(())
        },
        "the replay to finish",
    );
}

fn env(smtp: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("TASKSTREAM_ALLOW_PRIVATE_WEBHOOKS", "true"),
        ("TASKSTREAM_NOTIFY_RETRIES", "200ms,400ms"),
        ("TASKSTREAM_SMTP_URL", smtp),
        ("TASKSTREAM_SMTP_FROM", "Taskstream <robot@example.com>"),
    ]
}

#[test]
fn email_and_slack_go_out_once_each_as_preferences_say() {
    let data = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start();
    // Slack's first answer is a 503: the message is tried again on the schedule.
    let slack = SlackReceiver::start(&[503]);
    let smtp = sink.url();
    let server = Server::start(data.path(), &env(&smtp));

    let everywhere = json!({"assigned": ["email", "slack", "in_app"]});
    put_person(
        &server,
        "li",
        json!({"email": "li@example.com", "slackWebhookUrl": slack.url(), "preferences": everywhere}),
    );
    put_person(
        &server,
        "mo",
        json!({"email": "mo@example.com", "slackWebhookUrl": slack.url(), "preferences": everywhere, "muted": true}),
    );
    put_person(
        &server,
        "ann",
        json!({"email": "ann@example.com", "slackWebhookUrl": slack.url(), "preferences": {"assigned": []}}),
    );
    let task = assign(&server, "Fix <b>login</b> & \"SSO\"", "li");
    assign(&server, "Muted work", "mo");
    assign(&server, "Quiet work", "ann");

    let mail = wait(|| (sink.received().len() == 1).then(|| sink.received()), "one email");
    let posts = wait(|| (slack.received().len() == 2).then(|| slack.received()), "a Slack retry");
    // Time for anything else to arrive, were it to.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(sink.received().len(), 1, "mo is muted and ann turned email off");
    assert_eq!(slack.received().len(), 2);

    assert_eq!(mail[0].from, "<robot@example.com>");
    assert_eq!(mail[0].to, ["<li@example.com>"]);
    let message = parsed(&mail[0]);
    assert_eq!(message["type"], "multipart/alternative");
    assert_eq!(message["to"], "li@example.com");
    assert_eq!(message["from"], "Taskstream <robot@example.com>");
    // The admin key speaks for no person: its writes' actor is `key:<id>`.
    let subject = message["subject"].as_str().unwrap();
    assert!(subject.starts_with("[taskstream] key:"), "{subject}");
    assert!(subject.ends_with(" assigned you \u{201c}Fix <b>login</b> & \"SSO\"\u{201d}"), "{subject}");
    assert!(message["messageId"].as_str().unwrap().ends_with("@taskstream>"), "{message}");
    let parts = message["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2, "{message}");
    assert_eq!(parts[0]["type"], "text/plain");
    let text = parts[0]["text"].as_str().unwrap();
    assert!(text.starts_with("Assigned to you\n\nkey:"), "{text}");
    assert!(text.contains(" assigned you \u{201c}Fix <b>login</b> & \"SSO\"\u{201d}\n\n"), "{text}");
    assert!(text.contains(&format!("Task: {task}\n")), "{text}");
    assert_eq!(parts[1]["type"], "text/html");
    let html = parts[1]["text"].as_str().unwrap();
    assert!(html.contains("<h1>Assigned to you</h1>"), "{html}");
    assert!(
        html.contains(" assigned you \u{201c}Fix &lt;b&gt;login&lt;/b&gt; &amp; &quot;SSO&quot;\u{201d}</p>"),
        "the title is escaped: {html}"
    );
    assert!(!html.contains("<b>login"), "{html}");

    assert_eq!(posts[0], posts[1], "the retry sends the same message");
    let (content_type, body) = &posts[0];
    assert_eq!(content_type, "application/json");
    assert_eq!(body["blocks"][0], json!({"type": "header", "text": {"type": "plain_text", "text": "Assigned to you"}}));
    assert_eq!(body["blocks"][1]["type"], "section");
    assert_eq!(body["blocks"][1]["text"]["type"], "mrkdwn");
    let section = body["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(section.ends_with(" assigned you \u{201c}Fix &lt;b&gt;login&lt;/b&gt; &amp; \"SSO\"\u{201d}"), "{section}");
    assert_eq!(body["text"], body["blocks"][1]["text"]["text"]);
    assert_eq!(body["blocks"][2]["type"], "context");
    assert!(body["blocks"][2]["elements"][0]["text"].as_str().unwrap().contains(&format!("Task: {task}")), "{body}");

    let rows = outbox(data.path());
    let li: Vec<_> = rows.iter().filter(|r| r.0 == "li").cloned().collect();
    assert_eq!(
        li,
        [
            ("li".into(), "email".into(), "delivered".into(), 1),
            ("li".into(), "in_app".into(), "delivered".into(), 0),
            ("li".into(), "slack".into(), "delivered".into(), 2),
        ]
    );
    assert_eq!(rows.len(), 3, "mo and ann have nothing: {rows:?}");

    // A replay sends nothing; a re-notifying one is one more round, sent once.
    replay(&server, "again-1");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!((sink.received().len(), slack.received().len()), (1, 2), "a replay sends nothing");
    replay(&server, "renotify-1");
    wait(|| (sink.received().len() == 2 && slack.received().len() == 3).then_some(()), "the re-notify round");

    // A restart finds nothing left to send.
    server.terminate();
    let server = Server::start(data.path(), &env(&smtp));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!((sink.received().len(), slack.received().len()), (2, 3), "a restart sends nothing twice");
    drop(server);
}

#[test]
fn without_a_mail_server_email_waits_in_the_outbox_until_one_is_configured() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[("TASKSTREAM_NOTIFY_RETRIES", "200ms")]);
    put_person(&server, "li", json!({"email": "li@example.com", "preferences": {"assigned": ["email"]}}));
    let (status, key) = server.call("POST", "/keys", Some(r#"{"role": "member", "person": "li"}"#));
    assert_eq!(status, 201, "{key}");
    let li_key = key["data"]["key"].as_str().unwrap().to_owned();
    assign(&server, "Write the notes", "li");

    let inbox = |server: &Server| {
        let mut stream = server.connect();
        support::send(&mut stream, "GET", "/notifications", &li_key, None, true);
        let reply = support::read_response(&mut stream);
        assert_eq!(reply.status, 200);
        reply.json()["data"].as_array().unwrap().clone()
    };
    let waiting = wait(|| Some(inbox(&server)).filter(|n| !n.is_empty()), "the notification");
    assert_eq!(waiting.len(), 1);
    assert_eq!(
        (&waiting[0]["channel"], &waiting[0]["status"], &waiting[0]["attempts"]),
        (&json!("email"), &json!("pending"), &json!(0))
    );
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(inbox(&server)[0]["status"], "pending", "no mail server: nothing is tried");
    server.terminate();

    // The mail server named in the data directory's owner-only `smtp-url` file this time.
    let sink = SmtpSink::start();
    let file = data.path().join("smtp-url");
    std::fs::write(&file, format!("{}\n", sink.url())).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let server = Server::start(data.path(), &[("TASKSTREAM_SMTP_FROM", "Taskstream <robot@example.com>")]);
    let mail = wait(|| (sink.received().len() == 1).then(|| sink.received()), "the email that waited");
    let subject = parsed(&mail[0])["subject"].as_str().unwrap().to_owned();
    assert!(subject.ends_with(" assigned you \u{201c}Write the notes\u{201d}"), "{subject}");
    let sent = wait(|| Some(inbox(&server)).filter(|n| n[0]["status"] == "delivered"), "the status");
    assert_eq!((&sent[0]["attempts"], &sent[0]["lastError"]), (&json!(1), &Value::Null));
}

//! Cold start of every Lambda handler: from exec of the release binary to its first poll of
//! the Lambda runtime API (`GET /2018-06-01/runtime/invocation/next`), which is when a
//! function is ready for its first event. The runtime API is a stand-in here: a loopback TCP
//! listener that notes when the request line of the first poll arrives and never answers.
//!
//! Each handler runs with the environment Lambda gives a function (and nothing else: no
//! HOME, no AWS profile files) plus the variables the CDK app sets on it, pointing at
//! resources that do not exist: a handler that reached for the network before its first
//! poll would show here as a slow start, or as no start at all.
//!
//! Run: `cargo bench -p tests --bench cold_start` (env: `COLD_START_RUNS`, default 30). It
//! builds the handlers first (`cargo build --release` of each). Figures go to BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench binary: a panic is the report

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The first poll must come within this, or the run counts as a failure to start.
const START_LIMIT: Duration = Duration::from_secs(5);
const POLL: &str = "GET /2018-06-01/runtime/invocation/next ";

/// Each handler and the variables the CDK app sets on it (cdk/lib), with made-up values.
const HANDLERS: &[(&str, &[(&str, &str)])] = &[
    (
        "stream-router",
        &[
            ("EVENT_BUS_NAME", "dev-taskstream"),
            ("ROUTER_DLQ_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/dev-taskstream-router-dlq"),
        ],
    ),
    (
        "audit-history",
        &[
            ("TABLE_NAME", "dev-taskstream"),
            ("TABLE_TASK_SHARDS", "8"),
            ("QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/dev-taskstream-audit-history"),
            ("DLQ_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/dev-taskstream-audit-history-dlq"),
        ],
    ),
    (
        "search-indexer",
        &[
            ("SEARCH_ENDPOINT", "https://abc123def456.us-east-1.aoss.amazonaws.com"),
            ("SEARCH_COLLECTION", "dev-taskstream"),
            ("QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/dev-taskstream-search-indexer"),
            ("DLQ_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/dev-taskstream-search-indexer-dlq"),
        ],
    ),
    (
        "task-api",
        &[
            ("TABLE_NAME", "dev-taskstream"),
            ("TABLE_TASK_SHARDS", "8"),
            ("SEARCH_ENDPOINT", "https://abc123def456.us-east-1.aoss.amazonaws.com"),
            ("SEARCH_COLLECTION", "dev-taskstream"),
            ("EXPORT_BUCKET", "dev-taskstream-exports-123456789012"),
            ("EXPORT_LINK_SECONDS", "300"),
            ("TENANT_API_KEYS", r#"[["a1b2c3d4e5","acme"],["f6g7h8i9j0","globex"]]"#),
        ],
    ),
    (
        "task-ingest",
        &[
            ("TABLE_NAME", "dev-taskstream"),
            ("TABLE_TASK_SHARDS", "8"),
            ("INGEST_SOURCES", "integrations.git=acme,ci.builds@111122223333=globex"),
            ("QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/dev-taskstream-task-ingest"),
            ("DLQ_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/dev-taskstream-task-ingest-dlq"),
        ],
    ),
    (
        "notifier",
        &[
            ("TABLE_NAME", "dev-taskstream"),
            ("TABLE_TASK_SHARDS", "8"),
            ("SENDER_EMAIL", "tasks@example.com"),
            (
                "WEBHOOK_SECRETS_ARN",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:dev/taskstream/webhook-signing-AbCdEf",
            ),
            ("QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/dev-taskstream-notifier"),
            ("DLQ_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/dev-taskstream-notifier-dlq"),
        ],
    ),
    // With `metricsSink: none`. With Timestream the handler first asks Timestream for its
    // endpoint (endpoint discovery, one HTTPS round trip during init), which needs the network
    // this bench does not give it.
    (
        "metrics",
        &[
            ("METRICS_SINK", "none"),
            ("QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/dev-taskstream-metrics"),
            ("DLQ_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/dev-taskstream-metrics-dlq"),
        ],
    ),
];

/// What Lambda sets in every function's environment (the managed `provided.al2023` runtime).
fn lambda_environment(handler: &str, runtime_api: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "ASIABENCHMARKBENCHMA"),
        ("AWS_SECRET_ACCESS_KEY", "bench/secret/bench/secret/bench/secret/be"),
        ("AWS_SESSION_TOKEN", "bench-session-token"),
        ("AWS_LAMBDA_FUNCTION_NAME", &format!("dev-taskstream-{handler}")),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", &format!("/aws/lambda/dev-taskstream-{handler}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/12/01/[$LATEST]0123456789abcdef"),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023"),
        ("LAMBDA_TASK_ROOT", "/var/task"),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime"),
        ("_HANDLER", "bootstrap"),
        ("TZ", ":UTC"),
        ("LANG", "en_US.UTF-8"),
        ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin"),
        // Set by the CDK app on every function (cdk/lib/constructs/rust-function.ts) to the
        // image's one root certificate bundle; here, this machine's bundle in its place.
        ("SSL_CERT_FILE", ca_bundle()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The root certificate bundle: the provided.al2023 image's path where it exists (as on
/// Lambda), else Debian's.
fn ca_bundle() -> &'static str {
    const AL2023: &str = "/etc/pki/tls/certs/ca-bundle.crt";
    const DEBIAN: &str = "/etc/ssl/certs/ca-certificates.crt";
    if Path::new(AL2023).exists() { AL2023 } else { DEBIAN }
}

/// `target/release`, where this bench binary's own directory (`target/release/deps`) is.
fn release_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).expect("the bench runs from target/<profile>/deps").to_path_buf()
}

fn build_handlers() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command.args(["build", "--release", "--locked"]);
    for (handler, _) in HANDLERS {
        command.args(["-p", handler]);
    }
    let status = command.status().unwrap();
    assert!(status.success(), "building the handlers failed: {status}");
}

/// One start: exec → the first poll's request line, or why there was none.
fn start_once(binary: &Path, handler: &str, vars: &[(&str, &str)]) -> Result<Duration, String> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let runtime_api = listener.local_addr().unwrap().to_string();
    let (polled, first_poll) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else { return };
        let mut line = String::new();
        if BufReader::new(&stream).read_line(&mut line).is_ok() {
            let _ = polled.send((Instant::now(), line));
        }
        // The connection stays open (unanswered) until the handler is stopped.
        std::thread::sleep(START_LIMIT);
    });
    let mut command = Command::new(binary);
    command.env_clear().envs(lambda_environment(handler, &runtime_api)).envs(vars.iter().copied());
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().unwrap();
    let outcome = match first_poll.recv_timeout(START_LIMIT) {
        Ok((at, line)) if line.starts_with(POLL) => Ok(at - started),
        Ok((_, line)) => Err(format!("the first request was {line:?}, not a poll for the next invocation")),
        Err(_) => Err(format!("no poll within {START_LIMIT:?}: {}", stop_and_read(&mut child))),
    };
    stop_and_read(&mut child);
    outcome
}

/// Stops the handler (by its pid) and returns what it wrote to stderr.
fn stop_and_read(child: &mut Child) -> String {
    let _ = child.kill();
    let _ = child.wait();
    let mut text = String::new();
    if let Some(stderr) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
    }
    text
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing here takes arguments.
    let runs: usize = std::env::var("COLD_START_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(30).max(1);
    build_handlers();
    let dir = release_dir();
    println!("cold start to the first runtime API poll, {runs} runs each (release binaries in {})", dir.display());
    println!("| handler | binary | min ms | median ms | p90 ms | max ms |");
    println!("|---|---|---|---|---|---|");
    let mut failed = false;
    for (handler, vars) in HANDLERS {
        let binary = dir.join(handler);
        let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            match start_once(&binary, handler, vars) {
                Ok(time) => times.push(time),
                Err(why) => {
                    eprintln!("{handler} did not start: {why}");
                    failed = true;
                    break;
                }
            }
        }
        if times.len() < runs {
            continue;
        }
        times.sort();
        println!(
            "| {handler} | {:.1} MB | {:.2} | {:.2} | {:.2} | {:.2} |",
            size as f64 / 1e6,
            millis(times[0]),
            millis(percentile(&times, 0.5)),
            millis(percentile(&times, 0.9)),
            millis(times[times.len() - 1]),
        );
    }
    assert!(!failed, "a handler did not reach its first poll");
}

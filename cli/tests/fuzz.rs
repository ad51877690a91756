//! The OpenAPI document held to the server: Schemathesis (pinned, in the repository's
//! `.venv/`, installed by `scripts/test`) generates requests from the document a running
//! `serve` publishes and checks that no schema-valid request is refused as invalid, no
//! response breaks the document and nothing is a server error. Bounded in examples and time;
//! the bar is zero failures.
//!
//! What "refused" means is in `tests/fuzz/schemathesis.toml`: besides 2xx, a schema-valid
//! request may get 404 (an id that does not exist), 409 (a stale version) or 422 (what the
//! tenant's data refuses: a link to nothing, a cursor this server did not issue, a status
//! change the rules forbid) — never 400, which means the request broke the document.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::Server;

#[test]
fn a_schema_fuzzer_finds_no_valid_request_refused_and_no_response_off_the_document() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let tool = std::env::var_os("SCHEMATHESIS").map(PathBuf::from).unwrap_or(repo.join(".venv/bin/schemathesis"));
    if !tool.exists() {
        assert!(std::env::var_os("CI").is_none(), "{} is missing: scripts/test installs it", tool.display());
        eprintln!("SKIPPED: {} is missing; run scripts/test, which installs it", tool.display());
        return;
    }
    let data = tempfile::tempdir().unwrap();
    // One key drives every request: no per-key or per-address limit in the way.
    let server = Server::start(data.path(), &[("TASKSTREAM_RATE_LIMIT", "0"), ("TASKSTREAM_AUTH_FAILURE_RATE", "0")]);
    let url = format!("http://{}", server.addr);
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(&tool)
        .arg("--config-file")
        .arg(repo.join("tests/fuzz/schemathesis.toml"))
        .args(["run", &format!("{url}/openapi.json"), "--url", &url])
        .args(["-H", &format!("x-api-key: {}", server.key), "-H", &format!("Authorization: Bearer {}", server.key)])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,positive_data_acceptance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "30",
            "--max-time",
            "150",
            // One worker: the same seed then asks the same questions in the same order.
            "--workers",
            "1",
            "--seed",
            "1",
            "--no-color",
        ])
        // Hypothesis keeps its example database in the working directory.
        .current_dir(work.path())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{}", report.lines().rev().take(25).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n"));
    assert!(out.status.success(), "the fuzzer found failures:\n{report}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(server.terminate().0.success());
}

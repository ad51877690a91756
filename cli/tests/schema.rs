//! `taskstream schema` as CI runs it: `check` against shipped schemas fails on each kind of
//! breaking change, naming it, and passes on an additive one; `export` writes what `check`
//! reads.
//!
//! Each fixture under `fixtures/schema-check/<case>/` is the shipped form of one or two
//! schema files; the test lays it over a copy of the committed `events-schema/schemas/`, so
//! the code's current schemas differ from the "shipped" ones exactly there.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn taskstream(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_taskstream"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .env("TASKSTREAM_LOG", "warn")
        .output()
        .unwrap()
}

/// Runs `schema check` against the committed schemas with `case` laid over them; returns
/// whether it passed and its stdout and stderr.
fn check_case(case: &str) -> (bool, String, String) {
    let shipped = tempfile::tempdir().unwrap();
    copy_tree(&workspace().join("events-schema/schemas"), shipped.path());
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-check").join(case), shipped.path());
    let out = taskstream(&["schema", "check", "--against", shipped.path().to_str().unwrap()]);
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn each_kind_of_breaking_change_fails_the_check_and_is_named() {
    let cases = [
        ("field-removed", "breaking: TaskCreated.v1.schema.json: field `task.milestone` was removed"),
        ("field-retyped", "breaking: TaskAssigned.v1.schema.json: field `taskId` was retyped from integer to string"),
        ("required-field-added", "breaking: TaskDeleted.v1.schema.json: new required field `taskId`"),
        (
            "enum-value-removed",
            "breaking: TaskStatusChanged.v2.schema.json: enum value \"archived\" was removed from field `status`",
        ),
        ("version-removed", "breaking: TaskArchived.v1.schema.json: a shipped version was removed"),
        (
            "command-field-removed",
            "breaking: commands/TaskCreateRequested.v1.schema.json: field `milestone` was removed",
        ),
    ];
    for (case, expected) in cases {
        let (passed, stdout, stderr) = check_case(case);
        assert!(!passed, "{case} passed the check:\n{stdout}");
        assert!(stdout.lines().any(|l| l == expected), "{case}: {expected:?} not in\n{stdout}");
        assert!(stderr.contains("breaking change(s) to shipped schemas"), "{case}: {stderr}");
    }
}

#[test]
fn an_additive_change_and_the_committed_schemas_pass() {
    let (passed, stdout, stderr) = check_case("additive");
    assert!(passed, "{stdout}{stderr}");
    assert!(stdout.contains("shipped schemas are compatible"), "{stdout}");
    let committed = workspace().join("events-schema/schemas");
    let out = taskstream(&["schema", "check", "--against", committed.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn a_check_against_nothing_is_an_error_not_a_pass() {
    let empty = tempfile::tempdir().unwrap();
    let out = taskstream(&["schema", "check", "--against", empty.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no *.schema.json files"));
}

#[test]
fn the_exported_json_schemas_are_the_committed_ones_and_check_clean() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = taskstream(&["schema", "export", "--format", "jsonschema", "--out", out_dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let committed = workspace().join("events-schema/schemas");
    for file in ["TaskCreated.v1.schema.json", "envelope.schema.json", "commands/TaskStatusRequested.v1.schema.json"] {
        assert_eq!(
            std::fs::read_to_string(out_dir.path().join(file)).unwrap(),
            std::fs::read_to_string(committed.join(file)).unwrap(),
            "{file}"
        );
    }
    let out = taskstream(&["schema", "check", "--against", out_dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_other_formats_export_whole_documents() {
    let out = taskstream(&["schema", "export", "--format", "openapi"]);
    assert!(out.status.success());
    let document: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["components"]["schemas"]["TaskStatusRequested.v1"].is_object());

    let dir = tempfile::tempdir().unwrap();
    let out = taskstream(&["schema", "export", "--format", "eventbridge", "--out", dir.path().to_str().unwrap()]);
    assert!(out.status.success());
    let registry = workspace().join("events-schema/registry");
    for name in ["TaskCreated.json", "TaskStatusRequested.json"] {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(name)).unwrap(),
            std::fs::read_to_string(registry.join(name)).unwrap(),
            "{name}: the CDK registers the committed copy"
        );
    }
}

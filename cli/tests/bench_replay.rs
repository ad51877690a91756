//! `taskstream bench replay` on a small archive: it runs end to end and reports every figure
//! it promises, consistently. Checked for shape, never for speed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::Command;

use serde_json::Value;

#[test]
fn the_replay_bench_applies_every_event_once_and_times_the_reads() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_taskstream"))
        .args(["bench", "replay", "--events", "700", "--json", "--dir"])
        .arg(dir.path())
        .env("TASKSTREAM_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "bench failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!((report["applied"].as_i64(), report["unchanged"].as_i64()), (Some(700), Some(0)), "{report}");
    assert!(report["eventsPerSecond"].as_f64().unwrap() > 0.0);
    assert!(report["rssKibMaxDuring"].as_u64().unwrap() >= report["rssKibAtStart"].as_u64().unwrap());
    for key in ["dlqShowMs", "dlqListMs", "traceMs", "lagMs"] {
        let t = &report[key];
        assert!(t["median"].as_f64().unwrap() <= t["max"].as_f64().unwrap(), "{key}: {t}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the bench removes its data directory");
}

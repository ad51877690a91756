//! `taskstream bench pipeline --small`: the benchmark runs end to end against real `serve`
//! processes and reports every figure it promises. Its output is checked for shape and for
//! consistency, never for speed (CI machines vary).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::Command;

use serde_json::Value;

#[test]
fn the_small_pipeline_bench_reports_every_figure_for_every_scenario() {
    let out = Command::new(env!("CARGO_BIN_EXE_taskstream"))
        .args(["bench", "pipeline", "--small", "--json"])
        .env("TASKSTREAM_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "bench failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let scenarios = report["scenarios"].as_array().unwrap();
    let names: Vec<&str> = scenarios.iter().map(|s| s["scenario"].as_str().unwrap()).collect();
    assert_eq!(names, ["burst", "backlog", "sustained"]);
    for s in scenarios {
        let name = s["scenario"].as_str().unwrap();
        let num = |key: &str| s[key].as_f64().unwrap_or_else(|| panic!("{name}: {key} missing in {s}"));
        // Every acknowledged write left one change record, and every record was routed.
        assert_eq!(s["writes"].as_i64(), s["changes"].as_i64(), "{name}");
        assert!(num("events") >= num("writes"), "{name}: each write derives at least one event");
        for key in ["ackEventsPerSecond", "routerEventsPerSecond", "endToEndEventsPerSecond", "ackSeconds"] {
            assert!(num(key) > 0.0, "{name}: {key} = {}", num(key));
        }
        assert!(num("drainSeconds") >= 0.0);
        assert!(num("samples") >= 2.0, "{name}: sampled through the run");
        let lag = &s["lagMs"];
        let (p50, p99, max) =
            (lag["p50"].as_i64().unwrap(), lag["p99"].as_i64().unwrap(), lag["max"].as_i64().unwrap());
        assert!(0 <= p50 && p50 <= p99 && p99 <= max, "{name}: {lag}");
        assert!(s["lagSlopeMsPerSecond"].is_number());
        if cfg!(target_os = "linux") {
            assert!(num("peakRssMib") > 1.0, "{name}: serve's peak RSS");
        }
        let consumers = s["consumers"].as_array().unwrap();
        let consumer_names: Vec<&str> = consumers.iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(consumer_names, ["audit-history", "escalation", "metrics", "notifier", "search-indexer"], "{name}");
        for c in consumers {
            if c["name"] == "notifier" || c["name"] == "escalation" {
                // The notifier and escalation take only the event types routed to them.
                assert!(c["events"].as_f64().unwrap() <= num("events"), "{name}: {c}");
            } else {
                // History, metrics and search take every task event this load derives.
                assert_eq!(c["events"].as_f64(), Some(num("events")), "{name}: {c}");
                assert!(c["eventsPerSecond"].as_f64().unwrap() > 0.0, "{name}: {c}");
            }
            assert_eq!(c["dead"].as_i64(), Some(0), "{name}: {c}");
        }
    }
    // The backlog scenario writes with the pipeline stopped: its drain is measured from the
    // restart, so it is the time the router and consumers alone needed.
    let backlog = &scenarios[1];
    assert!(backlog["drainSeconds"].as_f64().unwrap() > 0.0);
}

//! A full disk under a running `serve`: writes are refused with 503 `unavailable` and
//! `Retry-After` (not a corrupt-data 500), reads go on, and once space is back writes work
//! again in the same process, with every acknowledged write in place and the consumers'
//! interrupted work done promptly.
//!
//! The disk is a real small filesystem: a tmpfs mounted for the test, which needs root (as
//! CI runs). Without the privilege the test says so and passes only outside CI; in CI it
//! fails, like the tests that need the AWS emulator.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{Server, read_response, send};

/// A tmpfs of `megabytes` at a fresh directory, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .status();
        match status {
            Ok(s) if s.success() => Some(Self { dir }),
            _ => None,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Fills the filesystem of `dir` with one file until it refuses another byte.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    let small = [0u8; 512];
    while file.write_all(&small).is_ok() {}
    let _ = file.sync_all();
    path
}

#[test]
fn a_full_disk_is_503_unavailable_and_writes_resume_without_a_restart() {
    let Some(disk) = SmallDisk::mount(8) else {
        assert!(std::env::var_os("CI").is_none(), "CI runs as root: mounting a small tmpfs must work there");
        eprintln!("SKIPPED: mounting a tmpfs needs root; this test runs in CI");
        return;
    };
    let data = disk.path().join("data");
    let server = Server::start(&data, &[]);
    let body = |i: usize| format!(r#"{{"title": "task {i}", "description": "{}"}}"#, "x".repeat(2000));
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        let (status, created) = server.call("POST", "/tasks", Some(&body(i)));
        assert_eq!(status, 201, "{created}");
        acknowledged.push(created["data"]["id"].as_str().unwrap().to_owned());
    }

    let filler = fill(disk.path());
    // The write-ahead log may still have room; writes go on until the disk runs out.
    let mut refusal = None;
    for i in 5..3000 {
        let mut conn = server.connect();
        send(&mut conn, "POST", "/tasks", &server.key, Some(&body(i)), true);
        let reply = read_response(&mut conn);
        match reply.status {
            201 => acknowledged.push(reply.json()["data"]["id"].as_str().unwrap().to_owned()),
            _ => {
                refusal = Some(reply);
                break;
            }
        }
    }
    let refusal = refusal.expect("a write is refused once the disk is full");
    assert_eq!(refusal.status, 503, "{}", String::from_utf8_lossy(&refusal.body));
    assert_eq!(refusal.json()["error"]["code"], "unavailable");
    assert!(refusal.header("retry-after").is_some_and(|s| s.parse::<u64>().unwrap() >= 1));
    eprintln!("{} writes acknowledged before the disk was full", acknowledged.len());

    // Reads go on meanwhile.
    let (status, _) = server.call("GET", &format!("/tasks/{}", acknowledged[0]), None);
    assert_eq!(status, 200);

    std::fs::remove_file(filler).unwrap();
    let (status, created) = server.call("POST", "/tasks", Some(&body(9999)));
    assert_eq!(status, 201, "writes work again in the same process: {created}");
    for id in &acknowledged {
        let (status, _) = server.call("GET", &format!("/tasks/{id}"), None);
        assert_eq!(status, 200, "acknowledged write {id} is in place");
    }
    acknowledged.push(created["data"]["id"].as_str().unwrap().to_owned());

    // The consumers' work that the full disk interrupted comes back promptly, not after a
    // visibility timeout (30 s on SQS): every acknowledged task has its history well within
    // that, with nothing dead-lettered for the disk's fault.
    let db =
        rusqlite::Connection::open_with_flags(data.join("taskstream.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let freed = Instant::now();
    loop {
        let with_history: i64 = db.query_row("SELECT COUNT(DISTINCT task_id) FROM history", [], |r| r.get(0)).unwrap();
        if with_history == acknowledged.len() as i64 {
            break;
        }
        assert!(
            freed.elapsed() < Duration::from_secs(10),
            "{with_history} of {} tasks have their history 10 s after the disk has room again",
            acknowledged.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("history complete {:.1} s after the disk had room again", freed.elapsed().as_secs_f64());
    let dead: i64 = db.query_row("SELECT COUNT(*) FROM consumer_dead_letters", [], |r| r.get(0)).unwrap();
    assert_eq!(dead, 0, "a full disk is not the events' fault");
    assert!(server.terminate().0.success());
}

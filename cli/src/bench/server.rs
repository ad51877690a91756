//! A `taskstream serve` child process on a fresh data directory, as a user would start it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Context;

pub struct Served {
    child: Child,
    pub addr: SocketAddr,
    pub key: String,
}

impl Served {
    /// Starts this binary's `serve` over `data` with `extra` flags; returns once it listens.
    pub fn start(data: &Path, extra: &[&str]) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("finding the taskstream binary")?;
        let mut child = Command::new(exe)
            .args(["serve", "--addr", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .env("TASKSTREAM_LOG", "error")
            // One key drives all the load: a per-key limit would measure itself.
            .env("TASKSTREAM_RATE_LIMIT", "0")
            .stdout(Stdio::piped())
            .spawn()
            .context("starting taskstream serve")?;
        let stdout = child.stdout.take().context("serve's stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .and_then(|a| a.parse().ok())
            .with_context(|| format!("serve did not print its address: {line:?}"))?;
        let key = std::fs::read_to_string(data.join("admin.key")).context("reading admin.key")?.trim().to_owned();
        Ok(Self { child, addr, key })
    }

    /// The process's peak resident set so far, in KiB (Linux: `VmHWM`).
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// SIGTERM, then wait for the exit.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().context("kill -TERM")?;
        let status = self.child.wait()?;
        anyhow::ensure!(status.success(), "serve exited with {status}");
        Ok(())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // Stopped already, or an error path: make sure no serve outlives the bench.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh data directory under the system's temporary directory, removed on drop.
pub struct DataDir(pub PathBuf);

impl DataDir {
    pub fn new(scenario: &str) -> anyhow::Result<Self> {
        let stamp =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let path = std::env::temp_dir().join(format!("taskstream-bench-{}-{scenario}-{stamp}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

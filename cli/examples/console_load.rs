//! How long `/console` takes to load in a real browser, from a `serve` on this machine.
//!
//! ```sh
//! cargo build -p cli --bin taskstream      # the serve measured (or pass --serve PATH)
//! cargo run -p cli --example console_load -- [--runs N] [--serve PATH]
//! ```
//!
//! Starts `serve` (`target/debug/taskstream` unless `--serve` names another) on a fresh data directory, signs a headless
//! Chromium in once, then loads `/console` N times (20 by default) and reads the Navigation
//! Timing entry of each load: `loadEventEnd`, from the start of the navigation to the end of
//! the load event (the page, its stylesheet and its eight modules fetched, parsed and run),
//! and the time until the first data the page asks for (the consumers' lag) is on screen.
//! Needs Debian's `chromium` and `chromium-driver`, as the browser tests do.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fantoccini::{ClientBuilder, Locator};
use serde_json::{Value, json};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs: usize = match arg("--runs") {
        Some(r) => r.parse().with_context(|| format!("--runs takes a number of loads, not {r:?}"))?,
        None => 20,
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or(root.join("target"));
    let serve = arg("--serve").map(PathBuf::from).unwrap_or(target.join("debug/taskstream"));
    if !serve.exists() {
        bail!("{} is missing: cargo build -p cli --bin taskstream, or pass --serve PATH", serve.display());
    }

    let data = tempfile::tempdir()?;
    let mut server = Command::new(&serve)
        .args(["serve", "--addr", "0", "--data"])
        .arg(data.path())
        .env("TASKSTREAM_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", serve.display()))?;
    let mut line = String::new();
    BufReader::new(server.stdout.take().context("serve's output")?).read_line(&mut line)?;
    let base = line.trim().rsplit(' ').next().context("serve printed no address")?.to_owned();
    let key = std::fs::read_to_string(data.path().join("admin.key")).context("serve's admin key")?.trim().to_owned();

    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut driver = Command::new("/usr/bin/chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("chromedriver (Debian's chromium-driver)")?;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": "/usr/bin/chromium", "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] }),
    );
    let started = Instant::now();
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => break c,
            Err(_) if started.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => bail!("no browser session: {e}"),
        }
    };

    // Signed in once; later loads find the key in the tab's session storage.
    client.goto(&format!("{base}/console")).await?;
    client.find(Locator::Id("key")).await?.send_keys(&key).await?;
    client.find(Locator::Css("#sign-in-form button[type=submit]")).await?.click().await?;
    client.wait().for_element(Locator::Css("#consumers tbody tr")).await?;

    let mut loads = Vec::new();
    let mut first_data = Vec::new();
    for _ in 0..runs {
        client.goto(&format!("{base}/console")).await?;
        client.wait().for_element(Locator::Css("#consumers tbody tr")).await?;
        let timing: Value = client
            .execute(
                "const [n] = performance.getEntriesByType('navigation');
                 const shown = performance.getEntriesByName('first-data')[0];
                 return { load: n.loadEventEnd, data: shown ? shown.startTime : null };",
                vec![],
            )
            .await?;
        loads.push(timing["load"].as_f64().context("the page's navigation timing has no loadEventEnd")?);
        if let Some(d) = timing["data"].as_f64() {
            first_data.push(d);
        }
    }
    client.close().await?;
    let _ = driver.kill();
    let _ = driver.wait();
    let _ = server.kill();
    let _ = server.wait();

    let summary = |name: &str, mut v: Vec<f64>| {
        if v.is_empty() {
            println!("{name}: not measured");
            return;
        }
        v.sort_by(f64::total_cmp);
        let median = v[v.len() / 2];
        println!(
            "{name}: median {median:.1} ms, min {:.1} ms, max {:.1} ms over {} loads",
            v[0],
            v[v.len() - 1],
            v.len()
        );
    };
    println!("serve: {}", serve.display());
    summary("loadEventEnd", loads);
    summary("first data on screen", first_data);
    Ok(())
}

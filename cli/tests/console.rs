//! The console in a real browser: headless Chromium driven over WebDriver (chromedriver)
//! against a `serve` process. Signs in with a key; sees a task created through the API
//! arrive in the live events and on the board; moves it by its "Move to" list and by drag
//! and drop to done and reads its history; sees a 409 when another writer got there first;
//! finds a poisoned message under dead letters, redrives it once its cause is fixed and sees
//! it gone; gets a replay's dry-run numbers and runs it. A screenshot of each view goes to
//! `<target>/console-screenshots/`.
//!
//! Chromium and chromedriver are Debian's `chromium` and `chromium-driver`, which
//! `scripts/test` installs. Without them this test fails: it is never skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use support::Server;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long the page has to show what the test waits for (a busy machine, a debug build).
const WAIT: Duration = Duration::from_secs(30);

/// chromedriver on a free port, killed with the test.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Self {
        for tool in [CHROMEDRIVER, CHROMIUM] {
            assert!(Path::new(tool).exists(), "{tool} is missing: scripts/test installs chromium and chromium-driver");
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session.
async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"]
        }),
    );
    let url = format!("http://127.0.0.1:{}", driver.port);
    let started = Instant::now();
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector).capabilities(caps.clone()).connect(&url).await {
            Ok(client) => return client,
            Err(e) if started.elapsed() < WAIT => {
                eprintln!("waiting for chromedriver: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("no browser session: {e}"),
        }
    }
}

fn screenshots() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target dir>/tmp, wherever CARGO_TARGET_DIR puts it.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// Evaluates `expr` in the page until it is truthy; its last value otherwise, in the panic.
async fn until(client: &Client, what: &str, expr: &str) -> Value {
    let started = Instant::now();
    loop {
        let value = client.execute(&format!("return ({expr});"), vec![]).await.unwrap();
        let truthy = match &value {
            Value::Null | Value::Bool(false) => false,
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::String(s) => !s.is_empty(),
            _ => true,
        };
        if truthy {
            return value;
        }
        assert!(started.elapsed() < WAIT, "{what}: still {value} after {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text(client: &Client, css: &str) -> String {
    client.find(Locator::Css(css)).await.unwrap().text().await.unwrap()
}

/// The API as another client would use it.
struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Api {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).header("x-api-key", &self.key);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (status, if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() })
    }

    async fn create(&self, title: &str) -> String {
        let (status, body) = self.send(reqwest::Method::POST, "/tasks", Some(json!({ "title": title }))).await;
        assert_eq!(status, 201, "{body}");
        body["data"]["id"].as_str().unwrap().to_owned()
    }
}

async fn open_view(client: &Client, view: &str) {
    client.find(Locator::Css(&format!("#nav a[data-view='{view}']"))).await.unwrap().click().await.unwrap();
    until(client, &format!("the {view} view"), &format!("!document.getElementById('{view}').hidden")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    let data = tempfile::tempdir().unwrap();
    // One receive before a dead letter, so a poisoned event is dead at once.
    let server = Server::start(data.path(), &[("TASKSTREAM_MAX_RECEIVES", "1")]);
    let base = format!("http://{}", server.addr);
    let api = Api { base: base.clone(), key: server.key.clone(), http: reqwest::Client::new() };
    let driver = Driver::start();
    let client = browser(&driver).await;

    // The page needs no key; it asks for one and keeps it out of the URL.
    client.goto(&format!("{base}/console")).await.unwrap();
    until(&client, "the sign-in form", "document.getElementById('key') !== null").await;
    let inline =
        client.execute("return document.querySelectorAll('script:not([src]), style, [style]').length", vec![]).await;
    assert_eq!(inline.unwrap(), json!(0), "no inline script or style");
    screenshot(&client, "sign-in").await;
    client.find(Locator::Id("key")).await.unwrap().send_keys(&server.key).await.unwrap();
    client.find(Locator::Css("#sign-in-form button[type=submit]")).await.unwrap().click().await.unwrap();
    until(&client, "signed in", "!document.getElementById('nav').hidden").await;
    let stored = client.execute("return sessionStorage.getItem('taskstream.key')", vec![]).await.unwrap();
    assert_eq!(stored, json!(server.key));
    assert!(!client.current_url().await.unwrap().as_str().contains(&server.key), "the key is never in a URL");

    // Flow: the consumers' lag, and a task created through the API arriving live.
    until(&client, "the stream", "document.getElementById('stream-state').textContent.includes('live')").await;
    let task = api.create("shown live").await;
    until(&client, "the live event", &format!("document.querySelector('#events li[data-aggregate=\"{task}\"]')")).await;
    let first = text(&client, &format!("#events li[data-aggregate='{task}']")).await;
    assert!(first.contains("TaskCreated") && first.contains("v1"), "{first}");
    until(&client, "the consumers", "document.querySelectorAll('#consumers tbody tr').length >= 4").await;
    let lag = text(&client, "#consumers").await;
    assert!(lag.contains("audit-history") && lag.contains("search-indexer"), "{lag}");
    // From the second look at the lag on, each consumer shows the events per second it took.
    let rate = until(
        &client,
        "the consumers' events per second",
        "document.querySelector('#consumers tr[data-consumer=\"audit-history\"] td[data-rate]')?.dataset.rate",
    )
    .await;
    let rate = rate.as_str().unwrap_or_default().to_owned();
    assert!(rate.parse::<f64>().is_ok_and(|r| r >= 0.0), "{rate}");
    let shown = text(&client, "#consumers tr[data-consumer='audit-history'] td[data-rate]").await;
    assert!(shown.parse::<f64>().is_ok(), "a number with one decimal: {shown}");
    // Click-through to the task's trace.
    client
        .find(Locator::Css(&format!("#events li[data-aggregate='{task}'] button")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(&client, "the trace", "document.getElementById('trace-body').textContent.includes('TaskCreated')").await;
    let trace = text(&client, "#trace-body").await;
    assert!(trace.contains("version 1") && trace.contains("audit-history"), "{trace}");
    screenshot(&client, "flow").await;

    // Tasks: the card on the board, moved by its list (as from the keyboard), then dragged.
    open_view(&client, "tasks").await;
    let card = format!("#board .column[data-status='todo'] .card[data-task='{task}']");
    until(&client, "the card in todo", &format!("document.querySelector(\"{card}\")")).await;
    client
        .find(Locator::Css(&format!(".card[data-task='{task}'] select")))
        .await
        .unwrap()
        .select_by_value("in_progress")
        .await
        .unwrap();
    until(
        &client,
        "the card in progress",
        &format!("document.querySelector(\"#board .column[data-status='in_progress'] .card[data-task='{task}']\")"),
    )
    .await;
    // WebDriver's pointer actions do not start HTML5 drag and drop in Chromium; the page's
    // handlers get the same DragEvents, with a DataTransfer, from script.
    client
        .execute(
            "const [id, status] = arguments;
             const card = document.querySelector(`.card[data-task='${id}']`);
             const column = document.querySelector(`.column[data-status='${status}']`);
             const dt = new DataTransfer();
             card.dispatchEvent(new DragEvent('dragstart', { dataTransfer: dt, bubbles: true }));
             column.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
             column.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));",
            vec![json!(task), json!("done")],
        )
        .await
        .unwrap();
    until(
        &client,
        "the card in done",
        &format!("document.querySelector(\"#board .column[data-status='done'] .card[data-task='{task}']\")"),
    )
    .await;
    let notice = text(&client, "#notice").await;
    assert!(notice.contains("Done") && notice.contains("version 3"), "{notice}");
    // Its history, once the audit consumer has it: created, started, completed.
    let started = Instant::now();
    loop {
        client.find(Locator::Css(&format!(".card[data-task='{task}'] .title"))).await.unwrap().click().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let history = text(&client, "#task-history").await;
        if history.contains("TaskCompleted") {
            assert!(history.contains("v1 TaskCreated") && history.contains("v3"), "{history}");
            break;
        }
        assert!(started.elapsed() < WAIT, "the history never showed the move: {history}");
    }
    screenshot(&client, "tasks").await;

    // A 409: another writer changes a task after the board was read.
    let contested = api.create("contested").await;
    client.find(Locator::Css("#board-pick button[type=submit]")).await.unwrap().click().await.unwrap();
    until(&client, "the second card", &format!("document.querySelector(\".card[data-task='{contested}']\")")).await;
    let (status, _) = api
        .send(
            reqwest::Method::PUT,
            &format!("/tasks/{contested}"),
            Some(json!({ "version": 1, "title": "renamed elsewhere" })),
        )
        .await;
    assert_eq!(status, 200);
    client
        .find(Locator::Css(&format!(".card[data-task='{contested}'] select")))
        .await
        .unwrap()
        .select_by_value("in_progress")
        .await
        .unwrap();
    until(
        &client,
        "the conflict message",
        "document.getElementById('notice').textContent.includes('someone else changed')",
    )
    .await;
    let notice = text(&client, "#notice").await;
    assert!(notice.contains("version 2") && notice.contains("showed 1"), "{notice}");
    let (_, now) = api.send(reqwest::Method::GET, &format!("/tasks/{contested}"), None).await;
    assert_eq!((now["data"]["status"].as_str(), now["data"]["version"].as_u64()), (Some("todo"), Some(2)));
    screenshot(&client, "tasks-conflict").await;

    // Dead letters: an archived event no consumer can read.
    let conn = rusqlite::Connection::open(data.path().join("taskstream.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute(
        "INSERT INTO archive (event_id, detail_type, tenant, occurred_at, archived_ms, body)
         VALUES ('poison', 'TaskCreated', 'default', '2026-01-01T00:00:00.000Z', 0, '{\"id\": \"poison\"}')",
        [],
    )
    .unwrap();
    open_view(&client, "dead-letters").await;
    // audit-history, escalation, metrics, notifier and search-indexer take TaskCreated.
    let started = Instant::now();
    loop {
        client.find(Locator::Css("#dl-filter button[type=submit]")).await.unwrap().click().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let rows =
            client.execute("return document.querySelectorAll('#dl-table tbody tr').length", vec![]).await.unwrap();
        if rows == json!(5) {
            break;
        }
        assert!(started.elapsed() < WAIT, "the dead letters never showed: {rows}");
    }
    let letters = text(&client, "#dl-table").await;
    assert!(letters.contains("audit-history") && letters.contains("TaskCreated"), "{letters}");
    screenshot(&client, "dead-letters").await;
    // The cause fixed (the event made whole again: a copy of the task's own creation), then
    // redriven with the count confirmed.
    conn.execute(
        "UPDATE archive SET body = (SELECT body FROM archive WHERE detail_type = 'TaskCreated' AND event_id <> 'poison'
                                    ORDER BY seq LIMIT 1)
         WHERE event_id = 'poison'",
        [],
    )
    .unwrap();
    drop(conn);
    client.find(Locator::Id("dl-redrive-all")).await.unwrap().click().await.unwrap();
    until(&client, "the confirmation", "!document.getElementById('dl-confirm').hidden").await;
    let ask = text(&client, "#dl-confirm-text").await;
    assert!(ask.contains("Redrive 5 dead letters"), "{ask}");
    screenshot(&client, "dead-letters-confirm").await;
    client.find(Locator::Id("dl-confirm-yes")).await.unwrap().click().await.unwrap();
    until(&client, "the redrive", "document.getElementById('notice').textContent.includes('Redrove 5')").await;
    let started = Instant::now();
    loop {
        let (_, listed) = api.send(reqwest::Method::GET, "/admin/dead-letters", None).await;
        client.find(Locator::Css("#dl-filter button[type=submit]")).await.unwrap().click().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let rows =
            client.execute("return document.querySelectorAll('#dl-table tbody tr').length", vec![]).await.unwrap();
        if rows == json!(0) && listed["data"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(started.elapsed() < WAIT, "the redriven letters came back: {listed}");
    }
    assert!(client.execute("return !document.getElementById('dl-empty').hidden", vec![]).await.unwrap() == json!(true));

    // Replay: the dry run's numbers, then the run to its end.
    open_view(&client, "replay").await;
    until(&client, "the consumers", "document.getElementById('replay-c-search-indexer')").await;
    client.find(Locator::Id("replay-c-search-indexer")).await.unwrap().click().await.unwrap();
    client.find(Locator::Id("replay-plan")).await.unwrap().click().await.unwrap();
    until(&client, "the dry run", "document.querySelector(\"#replay-plan-table tr[data-consumer='search-indexer']\")")
        .await;
    let (_, plan) = api
        .send(
            reqwest::Method::POST,
            "/admin/replays/plan",
            Some(json!({
                "from": client.execute("return new Date(document.getElementById('replay-from').value).toISOString()", vec![]).await.unwrap(),
                "to": client.execute("return new Date(document.getElementById('replay-to').value).toISOString()", vec![]).await.unwrap(),
                "consumers": ["search-indexer"]
            })),
        )
        .await;
    let events = plan["data"]["consumers"][0]["events"].as_i64().unwrap();
    assert!(events >= 5, "the window holds this test's events: {plan}");
    let row = text(&client, "#replay-plan-table tr[data-consumer='search-indexer']").await;
    assert!(
        row.split_whitespace().any(|cell| cell == events.to_string()),
        "the page shows the plan's numbers: {row} vs {plan}"
    );
    screenshot(&client, "replay").await;
    client.find(Locator::Id("replay-run")).await.unwrap().click().await.unwrap();
    until(
        &client,
        "the replay's end",
        "document.querySelector('#replay-progress h3')?.textContent.includes('completed')",
    )
    .await;
    screenshot(&client, "replay-done").await;

    // Metrics: the completion of the task above, as a bar; and a sprint's velocity, named.
    let (_, project) = api.send(reqwest::Method::POST, "/projects", Some(json!({"name": "Launch"}))).await;
    let project = project["data"]["id"].as_str().unwrap().to_owned();
    let (_, sprint) = api
        .send(reqwest::Method::POST, &format!("/projects/{project}/sprints"), Some(json!({"name": "Sprint 9"})))
        .await;
    let sprint = sprint["data"]["id"].as_str().unwrap().to_owned();
    let (status, _) = api.send(reqwest::Method::POST, &format!("/sprints/{sprint}/start?version=1"), None).await;
    assert_eq!(status, 200);
    let (status, done) = api
        .send(
            reqwest::Method::POST,
            "/tasks",
            Some(json!({"title": "in the sprint", "projectId": project, "sprintId": sprint, "estimatePoints": 5})),
        )
        .await;
    assert_eq!(status, 201, "{done}");
    let done = done["data"]["id"].as_str().unwrap().to_owned();
    for (version, status) in [(1, "in_progress"), (2, "done")] {
        let (code, body) = api
            .send(reqwest::Method::PUT, &format!("/tasks/{done}"), Some(json!({"version": version, "status": status})))
            .await;
        assert_eq!(code, 200, "{body}");
        if status == "in_progress" {
            // A cycle time of a second or more: in a chart of hours it would be a bar of nothing.
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
    }
    let started = Instant::now();
    loop {
        let (_, velocity) = api.send(reqwest::Method::GET, "/metrics/velocity", None).await;
        if velocity["data"].as_array().is_some_and(|rows| !rows.is_empty()) {
            break;
        }
        assert!(started.elapsed() < WAIT, "the metrics consumer never recorded the completion: {velocity}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    open_view(&client, "metrics").await;
    until(&client, "the throughput chart", "document.querySelectorAll('#chart-throughput svg rect').length").await;
    until(&client, "the velocity chart", "document.querySelectorAll('#chart-velocity svg rect').length").await;
    let bars = client.execute("return document.querySelectorAll('#chart-velocity svg rect').length", vec![]).await;
    assert_eq!(bars.unwrap(), json!(1), "one sprint, one bar");
    let title = client.execute("return document.querySelector('#chart-velocity svg title').textContent", vec![]).await;
    assert_eq!(title.unwrap(), json!("Sprint 9 (5 points): 1 completed"));
    // Today's median cycle time, a second or two, fills the chart in the unit it reads in.
    until(&client, "the cycle-time chart", "document.querySelectorAll('#chart-cycle svg rect').length").await;
    let tallest = client
        .execute(
            "return Math.max(...[...document.querySelectorAll('#chart-cycle svg rect')].map((r) => Number(r.getAttribute('height'))))",
            vec![],
        )
        .await;
    assert_eq!(tallest.unwrap(), json!(160), "the longest median is the chart's full height");
    assert_eq!(text(&client, "#caption-cycle").await, "Cycle time, median seconds per day");
    screenshot(&client, "metrics").await;

    // At phone width nothing needs sideways scrolling of the page.
    client.set_window_size(390, 844).await.unwrap();
    open_view(&client, "tasks").await;
    let fits =
        client.execute("return document.documentElement.scrollWidth <= window.innerWidth + 1", vec![]).await.unwrap();
    assert_eq!(fits, json!(true), "the tasks view fits a phone's width");
    screenshot(&client, "tasks-phone").await;
    open_view(&client, "flow").await;
    let fits =
        client.execute("return document.documentElement.scrollWidth <= window.innerWidth + 1", vec![]).await.unwrap();
    assert_eq!(fits, json!(true), "the flow view fits a phone's width");
    screenshot(&client, "flow-phone").await;

    client.close().await.unwrap();
    assert!(server.terminate().0.success());
}

#[tokio::test]
async fn the_page_and_its_assets_carry_a_strict_policy_and_hold_no_data() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let http = reqwest::Client::new();
    for (path, media) in [
        ("/console", "text/html"),
        ("/console/main.js", "text/javascript"),
        ("/console/stream.js", "text/javascript"),
        ("/console/console.css", "text/css"),
    ] {
        // No key: the shell is public; it holds no data.
        let response = http.get(format!("http://{}{path}", server.addr)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert!(headers["content-type"].to_str().unwrap().starts_with(media), "{path}");
        let body = response.text().await.unwrap();
        assert!(!body.contains(&server.key), "{path}");
    }
    // Every data call still needs the key.
    for path in ["/tasks", "/admin/lag", "/events/stream"] {
        let response = http.get(format!("http://{}{path}", server.addr)).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path}");
    }
    let missing = http.get(format!("http://{}/console/nothing.js", server.addr)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = serde_json::from_slice(&missing.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert!(server.terminate().0.success());
}

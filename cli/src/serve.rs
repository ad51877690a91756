//! `taskstream serve`: the whole backbone in one process.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::time::Duration;

use anyhow::Context;
use shared_api::auth_failures::AuthFailureLayer;
use shared_api::backpressure::{Backpressure, BackpressureLayer};
use shared_api::rate_limit::{RateLimitConfig, RateLimitLayer, RateLimiter};
use shared_api::{
    AppState, EscalationHandle, EventsHandle, KeysHandle, NotificationsHandle, OpsHandle, WebhooksHandle, router,
};
use shared_aws::http_sender::HttpSender;
use shared_core::consumers::escalation::EscalationPlanner;
use shared_core::consumers::history::AuditHistory;
use shared_core::consumers::metrics::MetricsRecorder;
use shared_core::consumers::notifier::Notifier;
use shared_core::consumers::search::SearchIndexer;
use shared_core::consumers::sprint_closure::SprintClosure;
use shared_core::notify::deliver::{Deliverer, EmailSender};
use shared_core::pipeline::Consumer;
use shared_core::webhooks::dispatch::Dispatcher;
use shared_core::webhooks::retry::RetrySchedule;
use shared_embedded::{Durability, Engine, EngineConfig};
use tokio::sync::watch;

use crate::http_server::{self, Limits};
use crate::smtp_sender::SmtpSender;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on: HOST:PORT, localhost:PORT, or a bare PORT (on 127.0.0.1).
    /// Port 0 picks a free one; the chosen address is printed.
    #[arg(long, env = "TASKSTREAM_ADDR", default_value = "127.0.0.1:8080", value_parser = parse_addr)]
    addr: SocketAddr,
    /// Directory holding the SQLite database; created if missing.
    #[arg(long, env = "TASKSTREAM_DATA", default_value = "./taskstream-data")]
    data: PathBuf,
    /// Receives before a failing message moves to its queue's dead letters (at least 1).
    #[arg(long, env = "TASKSTREAM_MAX_RECEIVES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    max_receives: u32,
    /// Seconds a verified API key is trusted before it is read again: `keys revoke` from
    /// another process takes effect within this.
    #[arg(long, env = "TASKSTREAM_KEY_CACHE_SECONDS", default_value_t = 5)]
    key_cache_seconds: u64,
    /// Requests a second allowed per API key (0 turns rate limiting off).
    #[arg(long, env = "TASKSTREAM_RATE_LIMIT", default_value_t = 1000.0)]
    rate_limit: f64,
    /// Requests an API key may make at once on top of the rate.
    #[arg(long, env = "TASKSTREAM_RATE_BURST", default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    rate_burst: u32,
    /// Failed authentications a second allowed per client address, once its burst is spent
    /// (0 turns the limit off).
    #[arg(long, env = "TASKSTREAM_AUTH_FAILURE_RATE", default_value_t = 1.0)]
    auth_failure_rate: f64,
    /// Failed authentications a client address may make at once.
    #[arg(long, env = "TASKSTREAM_AUTH_FAILURE_BURST", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    auth_failure_burst: u32,
    /// How commits reach the disk. `full`: every acknowledged write survives power loss.
    /// `normal`: faster; survives a crash of the process, but power loss may take the last
    /// writes.
    #[arg(long, env = "TASKSTREAM_SYNC", value_enum, default_value = "full")]
    sync: SyncMode,
    /// Accept writes but leave the router and the consumers stopped: the change log keeps
    /// every change for the next start. For measuring how fast a backlog drains (`taskstream
    /// bench pipeline`) and for maintenance.
    #[arg(long, env = "TASKSTREAM_NO_PIPELINE")]
    no_pipeline: bool,
    /// How stale history and search may get: while the oldest change not yet through the
    /// router and every consumer is older than this, writes are refused with 503 and
    /// `Retry-After` (reads go on). `500ms`, `30s`, `2m`, or seconds; `0` turns it off.
    #[arg(long, env = "TASKSTREAM_MAX_LAG", default_value = "30s", value_parser = parse_duration)]
    max_lag: Duration,
    /// How long `GET /events/stream` may stay silent before it sends a comment line, so
    /// proxies and load balancers keep the connection open: `500ms`, `15s`, or seconds.
    #[arg(long, env = "TASKSTREAM_STREAM_HEARTBEAT", default_value = "15s", value_parser = parse_heartbeat)]
    stream_heartbeat: Duration,
    #[command(flatten)]
    http: HttpArgs,
    #[command(flatten)]
    webhooks: WebhookArgs,
    #[command(flatten)]
    notify: NotifyArgs,
}

/// How email and Slack notifications are sent.
#[derive(clap::Args)]
struct NotifyArgs {
    /// The mail server email notifications are sent through: `smtp://host:port` (no TLS),
    /// `smtp://host:port?tls=required` (STARTTLS), `smtps://host:port` (TLS), with
    /// `user:password@` before the host for a login. Without it, email notifications stay
    /// `pending` in the outbox (listed by GET /notifications) until a serve with one runs.
    /// Never logged; prefer the environment variable to the flag, which `ps` shows, or the
    /// data directory's `smtp-url` file (mode 0600), read when neither is given.
    #[arg(long, env = "TASKSTREAM_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// The From address of email notifications.
    #[arg(long, env = "TASKSTREAM_SMTP_FROM", default_value = "taskstream <taskstream@localhost>")]
    smtp_from: String,
    /// The waits between attempts of a failing email or Slack notification; once they are
    /// spent the notification is `failed` with its last reason.
    #[arg(long, env = "TASKSTREAM_NOTIFY_RETRIES", default_value = "5s,30s,2m,10m,1h,6h", value_parser = RetrySchedule::parse)]
    notify_retries: RetrySchedule,
}

/// How webhooks are sent.
#[derive(clap::Args)]
struct WebhookArgs {
    /// Let webhook URLs point at loopback, private, link-local and other non-public
    /// addresses. For tests and for local use: with it, a subscriber can make serve send
    /// requests into the network it runs in (the cloud metadata service included).
    #[arg(long, env = "TASKSTREAM_ALLOW_PRIVATE_WEBHOOKS")]
    allow_private_webhooks: bool,
    /// The waits between attempts of a failing webhook delivery; once they are spent the
    /// delivery is dead-lettered with its last reason.
    #[arg(long, env = "TASKSTREAM_WEBHOOK_RETRIES", default_value = "5s,30s,2m,10m,1h,6h", value_parser = RetrySchedule::parse)]
    webhook_retries: RetrySchedule,
    /// How long a receiver has to answer one attempt: `500ms`, `10s`, `2m`, or seconds.
    #[arg(long, env = "TASKSTREAM_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    webhook_timeout: Duration,
}

/// The HTTP server's limits against slow and hostile clients.
#[derive(clap::Args)]
struct HttpArgs {
    /// Seconds a client has to send a whole request head once it has begun.
    #[arg(long, env = "TASKSTREAM_HEADER_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    header_timeout: u64,
    /// Seconds a kept-alive connection may sit idle before it is closed.
    #[arg(long, env = "TASKSTREAM_IDLE_TIMEOUT", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: u64,
    /// Connections served at once; more wait in the listen backlog.
    #[arg(long, env = "TASKSTREAM_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=65536))]
    max_connections: u64,
    /// Seconds requests being handled at shutdown get to finish.
    #[arg(long, env = "TASKSTREAM_SHUTDOWN_GRACE", default_value_t = 10)]
    shutdown_grace: u64,
}

impl HttpArgs {
    fn limits(&self) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(self.header_timeout),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            shutdown_grace: Duration::from_secs(self.shutdown_grace),
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SyncMode {
    Full,
    Normal,
}

/// `127.0.0.1:8080`, `[::1]:8080`, `localhost:8080`, or `8080` alone (on 127.0.0.1).
fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Some(port) = text.strip_prefix("localhost:") {
        let port = port.parse::<u16>().map_err(|_| format!("{port:?} is not a port (0 to 65535)"))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| format!("expected HOST:PORT, localhost:PORT or a port, got {text:?}"))
}

/// `250ms`, `30s`, `2m`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number.parse().map_err(|_| format!("expected a duration such as 500ms, 30s or 2m, got {text:?}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        _ => Err(format!("unknown unit {unit:?} in {text:?}: use ms, s or m")),
    }
}

/// A heartbeat period: a duration above zero.
fn parse_heartbeat(text: &str) -> Result<Duration, String> {
    let period = parse_duration(text)?;
    if period < Duration::from_millis(10) {
        Err(format!("{text:?} is too short: give at least 10ms"))
    } else {
        Ok(period)
    }
}

/// A limiter of `per_second` with `burst`, or none when `per_second` is 0.
fn limiter(per_second: f64, burst: u32) -> anyhow::Result<Option<Arc<RateLimiter>>> {
    if per_second == 0.0 {
        return Ok(None);
    }
    let config = RateLimitConfig { per_second, burst, ..RateLimitConfig::default() };
    Ok(Some(Arc::new(RateLimiter::new(config)?)))
}

/// The file in the data directory that may hold the SMTP URL (with its password).
pub const SMTP_URL_FILE: &str = "smtp-url";

/// The SMTP URL: `--smtp-url` (or its environment variable), else the data directory's
/// `smtp-url` file, which must be its owner's alone since it holds a password.
fn smtp_url(given: Option<String>, data: &Path) -> anyhow::Result<Option<String>> {
    if given.is_some() {
        return Ok(given);
    }
    let path = data.join(SMTP_URL_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode =
            std::fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?.permissions().mode();
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "{} holds a password but others may read it (mode {:o}): run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    let url = text.trim();
    if url.is_empty() {
        anyhow::bail!("{} is empty: write the SMTP URL into it, or remove it", path.display());
    }
    Ok(Some(url.to_owned()))
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    // Settings, the data path and the port are checked before anything is created.
    let key_limiter = limiter(args.rate_limit, args.rate_burst).context("--rate-limit and --rate-burst")?;
    let auth_limiter = limiter(args.auth_failure_rate, args.auth_failure_burst)
        .context("--auth-failure-rate and --auth-failure-burst")?;
    if args.data.exists() && !args.data.is_dir() {
        anyhow::bail!("--data {} is a file; give a directory (it is created if missing)", args.data.display());
    }
    let smtp_url = smtp_url(args.notify.smtp_url.clone(), &args.data)?;
    let email: Option<Arc<dyn EmailSender>> = match &smtp_url {
        Some(url) => Some(Arc::new(SmtpSender::new(url, &args.notify.smtp_from, args.webhooks.webhook_timeout)?)),
        None => None,
    };
    let listener = bind(args.addr).await?;

    let durability = match args.sync {
        SyncMode::Full => Durability::Full,
        SyncMode::Normal => Durability::Normal,
    };
    let mut config = EngineConfig { durability, ..EngineConfig::default() };
    config.queue.max_receives = args.max_receives;
    let engine = Engine::open(&args.data, config).with_context(|| format!("opening {}", args.data.display()))?;
    tracing::info!(data = %engine.db().path().display(), sync = ?args.sync, "data directory open");

    let (stop, stopped) = watch::channel(false);
    // Turns true as soon as shutdown begins, before the HTTP server drains: open event
    // streams end then, instead of holding the drain until its deadline.
    let (closing, closing_rx) = watch::channel(false);
    let stopped_lag = stopped.clone();
    let history = engine.history_store();
    let search = engine.search_index();
    let metrics = engine.metrics();
    let notifications = engine.notification_store();
    let webhooks = engine.webhook_store();
    let consumers = consumers(&engine);
    let mut loops = Vec::new();
    if args.webhooks.allow_private_webhooks {
        tracing::warn!("webhooks may go to private addresses (--allow-private-webhooks)");
    }
    if args.no_pipeline {
        for consumer in &consumers {
            engine.register_queue(consumer.name())?;
        }
        tracing::warn!("the pipeline is stopped (--no-pipeline): changes wait in the change log");
    } else {
        for consumer in consumers {
            loops.push(engine.spawn_consumer(consumer, stopped.clone())?);
        }
        loops.push(engine.spawn_escalation_timers(stopped.clone()));
        let sender = HttpSender::new(args.webhooks.webhook_timeout, args.webhooks.allow_private_webhooks)
            .context("the webhook HTTP client")?;
        let sender = Arc::new(sender);
        let dispatcher = Dispatcher::new(Arc::clone(&webhooks), sender.clone(), args.webhooks.webhook_retries.clone());
        loops.push(tokio::spawn(dispatcher.run(stopped.clone())));
        // Slack incoming webhooks go through the webhook client: the same address guard,
        // the same timeout, no redirects.
        let mut deliverer =
            Deliverer::new(engine.notification_outbox(), args.notify.notify_retries.clone()).with_slack(sender);
        if let Some(email) = email {
            deliverer = deliverer.with_email(email);
        } else {
            tracing::info!("no --smtp-url: email notifications stay in the outbox");
        }
        loops.push(tokio::spawn(deliverer.run(stopped.clone())));
        loops.push(engine.spawn_router(stopped));
    }

    let keys = engine.api_keys();
    crate::keys::ensure_admin_key(&args.data, &keys).await?;
    let state = AppState {
        store: engine.store(),
        history,
        search,
        metrics: Some(metrics),
        auth: Arc::new(keys.authenticator(Duration::from_secs(args.key_cache_seconds))),
        // No response size limit here: the export is streamed as the response.
        exports: None,
    };
    let mut app = router(state)
        .layer(axum::Extension(KeysHandle(Arc::new(keys))))
        .layer(axum::Extension(OpsHandle(Arc::new(engine.operator()))))
        .layer(axum::Extension(EventsHandle {
            feed: engine.event_feed(),
            heartbeat: args.stream_heartbeat,
            closing: closing_rx,
        }))
        .layer(axum::Extension(NotificationsHandle(notifications)))
        .layer(axum::Extension(EscalationHandle(engine.escalation())))
        .layer(axum::Extension(WebhooksHandle {
            store: webhooks,
            allow_private: args.webhooks.allow_private_webhooks,
        }));
    match key_limiter {
        Some(limiter) => app = app.layer(RateLimitLayer::new(limiter)),
        None => tracing::warn!("rate limiting is off"),
    }
    match auth_limiter {
        Some(limiter) => app = app.layer(AuthFailureLayer::new(limiter)),
        None => tracing::warn!("failed authentications are not limited"),
    }
    if args.max_lag.is_zero() {
        tracing::warn!("the pipeline's lag is not bounded (--max-lag 0)");
    } else {
        let gate = Backpressure::new(args.max_lag);
        // The first look before the first request: a restart over a backlog refuses writes
        // from its first answer, not only once the watcher has had its first turn.
        match engine.progress().await {
            Ok(progress) => {
                gate.observe(progress.oldest_age_ms().map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))))
            }
            Err(e) => tracing::warn!(error = %e, "the pipeline's lag could not be read"),
        }
        loops.push(watch_lag(engine.clone(), gate.clone(), stopped_lag));
        app = app.layer(BackpressureLayer::new(gate));
    }
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "listening");
    // The one line on stdout: scripts and tests read the address from it.
    println!("taskstream listening on http://{local}");
    std::io::stdout().flush()?;

    let shutdown = async move {
        shutdown_signal().await;
        closing.send_replace(true);
    };
    http_server::serve(listener, app, args.http.limits(), shutdown).await?;
    tracing::info!("shutting down: finishing in-flight work");
    stop.send_replace(true);
    for handle in loops {
        handle.await.context("a background loop panicked")?;
    }
    tracing::info!("stopped");
    Ok(())
}

/// The consumers the embedded engine runs; `replay` runs the same ones when no serve does.
pub fn consumers(engine: &Engine) -> Vec<Arc<dyn Consumer>> {
    vec![
        Arc::new(AuditHistory::new(engine.history_store())),
        Arc::new(SearchIndexer::new(engine.search_index())),
        Arc::new(MetricsRecorder::new(engine.metrics())),
        Arc::new(Notifier::new(engine.notification_store()).with_webhooks(engine.webhook_store())),
        Arc::new(
            EscalationPlanner::new(engine.escalation(), engine.escalation())
                .with_sprint_closure(SprintClosure::new(engine.store())),
        ),
    ]
}

/// Looks at the pipeline a few times a second and tells `gate` how far behind it is.
fn watch_lag(engine: Engine, gate: Backpressure, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let period = (gate.bound() / 4).clamp(Duration::from_millis(50), Duration::from_millis(500));
    tokio::spawn(async move {
        while !*shutdown.borrow() {
            match engine.progress().await {
                Ok(progress) => gate
                    .observe(progress.oldest_age_ms().map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0)))),
                Err(e) => tracing::warn!(error = %e, "the pipeline's lag could not be read"),
            }
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = shutdown.changed() => {}
            }
        }
    })
}

/// The listening socket; a port in use is a plain message with what to do about it.
async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => Ok(listener),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => anyhow::bail!(
            "{addr} is in use (another taskstream serve?); choose another address with --addr, \
             e.g. --addr {}:{} or --addr 0 for any free port",
            addr.ip(),
            addr.port().wrapping_add(1).max(1024)
        ),
        Err(e) => Err(e).with_context(|| format!("listening on {addr}")),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_their_unit_or_as_seconds() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5h").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("fast").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn the_smtp_url_comes_from_the_flag_else_from_an_owner_only_file_in_the_data_directory() {
        use std::os::unix::fs::PermissionsExt;
        let data = tempfile::tempdir().unwrap();
        assert_eq!(smtp_url(None, data.path()).unwrap(), None, "no file: no mail server");
        let file = data.path().join(SMTP_URL_FILE);
        std::fs::write(&file, "smtp://mail:secret@127.0.0.1:2525\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = smtp_url(None, data.path()).unwrap_err().to_string();
        assert!(refused.contains("chmod 600") && !refused.contains("secret"), "{refused}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(smtp_url(None, data.path()).unwrap().as_deref(), Some("smtp://mail:secret@127.0.0.1:2525"));
        let flag = Some("smtp://127.0.0.1:25".to_owned());
        assert_eq!(smtp_url(flag.clone(), data.path()).unwrap(), flag, "the flag wins");
        std::fs::write(&file, " \n").unwrap();
        assert!(smtp_url(None, data.path()).unwrap_err().to_string().contains("is empty"));
    }
}

//! `taskstream serve`: the whole backbone in one process.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use shared_api::rate_limit::{RateLimitConfig, RateLimitLayer, RateLimiter};
use shared_api::{AppState, router};
use shared_core::consumers::history::AuditHistory;
use shared_core::consumers::search::SearchIndexer;
use shared_embedded::{Engine, EngineConfig};
use tokio::sync::watch;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one; the chosen address is printed).
    #[arg(long, env = "TASKSTREAM_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Directory holding the SQLite database; created if missing.
    #[arg(long, env = "TASKSTREAM_DATA", default_value = "./taskstream-data")]
    data: PathBuf,
    /// Receives before a failing message moves to its queue's dead letters.
    #[arg(long, env = "TASKSTREAM_MAX_RECEIVES", default_value_t = 5)]
    max_receives: u32,
    /// Seconds a verified API key is trusted before it is read again: `keys revoke` from
    /// another process takes effect within this.
    #[arg(long, env = "TASKSTREAM_KEY_CACHE_SECONDS", default_value_t = 5)]
    key_cache_seconds: u64,
    /// Requests a second allowed per API key (0 turns rate limiting off).
    #[arg(long, env = "TASKSTREAM_RATE_LIMIT", default_value_t = 1000.0)]
    rate_limit: f64,
    /// Requests an API key may make at once on top of the rate.
    #[arg(long, env = "TASKSTREAM_RATE_BURST", default_value_t = 2000)]
    rate_burst: u32,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    // Settings are checked before anything is opened or started.
    let limiter = if args.rate_limit == 0.0 {
        None
    } else {
        let config =
            RateLimitConfig { per_second: args.rate_limit, burst: args.rate_burst, ..RateLimitConfig::default() };
        Some(Arc::new(RateLimiter::new(config)?))
    };
    let mut config = EngineConfig::default();
    config.queue.max_receives = args.max_receives.max(1);
    let engine = Engine::open(&args.data, config).with_context(|| format!("opening {}", args.data.display()))?;
    tracing::info!(data = %engine.db().path().display(), "data directory open");

    let (stop, stopped) = watch::channel(false);
    let history = engine.history_store();
    let mut loops = vec![engine.spawn_consumer(Arc::new(AuditHistory::new(Arc::clone(&history))), stopped.clone())?];
    let search = engine.search_index();
    loops.push(engine.spawn_consumer(Arc::new(SearchIndexer::new(Arc::clone(&search))), stopped.clone())?);
    loops.push(engine.spawn_router(stopped));

    let keys = engine.api_keys();
    crate::keys::ensure_admin_key(&args.data, &keys).await?;
    let state = AppState {
        store: engine.store(),
        history,
        search,
        auth: Arc::new(keys.authenticator(std::time::Duration::from_secs(args.key_cache_seconds))),
    };
    let mut app = router(state);
    match limiter {
        Some(limiter) => app = app.layer(RateLimitLayer::new(limiter)),
        None => tracing::warn!("rate limiting is off"),
    }
    let listener = tokio::net::TcpListener::bind(args.addr).await.with_context(|| format!("binding {}", args.addr))?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "listening");
    // The one line on stdout: scripts and tests read the address from it.
    println!("taskstream listening on http://{local}");
    std::io::stdout().flush()?;

    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    tracing::info!("shutting down: finishing in-flight work");
    stop.send_replace(true);
    for handle in loops {
        handle.await.context("a background loop panicked")?;
    }
    tracing::info!("stopped");
    Ok(())
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

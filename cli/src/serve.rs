//! `taskstream serve`: the whole backbone in one process.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use shared_core::Identity;
use shared_core::consumers::history::AuditHistory;
use shared_core::http::{AppState, router};
use shared_core::ports::SingleTenant;
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
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = EngineConfig::default();
    config.queue.max_receives = args.max_receives.max(1);
    let engine = Engine::open(&args.data, config).with_context(|| format!("opening {}", args.data.display()))?;
    tracing::info!(data = %engine.db().path().display(), "data directory open");

    let (stop, stopped) = watch::channel(false);
    let history = engine.history_store();
    let mut loops = vec![engine.spawn_consumer(Arc::new(AuditHistory::new(Arc::clone(&history))), stopped.clone())?];
    loops.push(engine.spawn_router(stopped));

    let state = AppState {
        store: engine.store(),
        history,
        auth: Arc::new(SingleTenant(Identity {
            tenant: "default".into(),
            actor: "anonymous".into(),
            role: shared_core::Role::Admin,
        })),
    };
    let listener = tokio::net::TcpListener::bind(args.addr).await.with_context(|| format!("binding {}", args.addr))?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "listening");
    // The one line on stdout: scripts and tests read the address from it.
    println!("taskstream listening on http://{local}");
    std::io::stdout().flush()?;

    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown_signal()).await?;
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

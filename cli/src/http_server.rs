//! The HTTP server under `serve`: HTTP/1.1 connections over hyper, with the limits a server
//! facing slow or hostile clients needs and `axum::serve` does not have.
//!
//! - **Header timeout.** Once the first byte of a request arrives, the whole head must follow
//!   within `header_timeout`, or the connection is closed: a client trickling headers
//!   (slowloris) holds a socket for that long at most.
//! - **Idle timeout.** A kept-alive connection with no request in progress and no bytes
//!   either way for `idle_timeout` is closed.
//! - **Connection cap.** At most `max_connections` are served at once; further ones wait in
//!   the listen backlog until one ends, instead of each taking memory and a task.
//! - **Shutdown with a deadline.** On shutdown no new connection is accepted; connections
//!   waiting for a request or part way through sending one (its head or its body) are
//!   closed at once, requests being handled finish and get their whole response (a streamed
//!   one included: its connection closes only once the body has ended), and whatever still
//!   runs after `shutdown_grace` is dropped.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains as described above.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or the peer gave up before accept: neither
                    // ends the server. A short pause keeps a persistent error from spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let app = app.clone();
        let stopping = stopping.clone();
        connections.spawn(async move {
            serve_connection(stream, peer, app, limits, stopping).await;
            drop(permit);
        });
        // Reap finished connections so the set does not grow with the server's uptime.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    stop.send_replace(true);
    let open = connections.len();
    if open > 0 {
        tracing::info!(connections = open, "finishing open connections");
    }
    let drained =
        tokio::time::timeout(limits.shutdown_grace, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(connections = connections.len(), "shutdown deadline reached: closing the rest");
        connections.shutdown().await;
    }
    Ok(())
}

/// What the watchdog of one connection knows of it.
#[derive(Debug)]
struct Activity {
    /// Requests handed to the router and not yet answered.
    in_flight: usize,
    /// Request bodies still arriving.
    bodies_open: usize,
    /// Answers whose body is still being sent (a stream of events sends for a long time).
    responses_open: usize,
    /// When the first byte of a request head arrived, while no head is complete yet.
    head_started: Option<Instant>,
    /// The last byte read or written, or the last answer.
    last: Instant,
}

#[derive(Debug, Clone)]
struct Tracker(Arc<Mutex<Activity>>);

impl Tracker {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(Activity {
            in_flight: 0,
            bodies_open: 0,
            responses_open: 0,
            head_started: None,
            last: Instant::now(),
        })))
    }

    fn with<T>(&self, f: impl FnOnce(&mut Activity) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn read(&self) {
        self.with(|a| {
            a.last = Instant::now();
            if a.in_flight == 0 && a.head_started.is_none() {
                a.head_started = Some(a.last);
            }
        });
    }

    fn wrote(&self) {
        self.with(|a| a.last = Instant::now());
    }

    /// A head was parsed and handed to the router; the guard marks its answer, the body
    /// the end of its arrival.
    fn begin(&self, body: Incoming) -> (InFlight, Tracked<Incoming>) {
        self.with(|a| {
            a.in_flight += 1;
            a.head_started = None;
        });
        let open = !hyper::body::Body::is_end_stream(&body);
        (InFlight(self.clone()), Tracked::new(body, self, Direction::Request, open))
    }
}

/// Which of a connection's open bodies a [`Tracked`] body counts among.
#[derive(Debug, Clone, Copy)]
enum Direction {
    /// A request body still arriving.
    Request,
    /// An answer's body still being sent: at shutdown, a connection still sending an answer
    /// finishes it rather than being cut mid-way.
    Response,
}

impl Direction {
    fn count(self, activity: &mut Activity) -> &mut usize {
        match self {
            Direction::Request => &mut activity.bodies_open,
            Direction::Response => &mut activity.responses_open,
        }
    }
}

/// A body that tells the tracker when it has ended (or is dropped before).
struct Tracked<B> {
    inner: B,
    open: Option<(Tracker, Direction)>,
}

impl<B> Tracked<B> {
    /// `open`: whether the body has anything left to carry; an empty one is never counted.
    fn new(inner: B, tracker: &Tracker, direction: Direction, open: bool) -> Self {
        if open {
            tracker.with(|a| *direction.count(a) += 1);
        }
        Self { inner, open: open.then(|| (tracker.clone(), direction)) }
    }

    fn done(&mut self) {
        if let Some((tracker, direction)) = self.open.take() {
            tracker.with(|a| {
                let count = direction.count(a);
                *count = count.saturating_sub(1);
            });
        }
    }
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        self.done();
    }
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let poll = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(poll, Poll::Ready(None | Some(Err(_)))) {
            self.done();
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

struct InFlight(Tracker);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.with(|a| {
            a.in_flight = a.in_flight.saturating_sub(1);
            a.last = Instant::now();
        });
    }
}

/// What the watchdog decides for a connection.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Fine,
    /// The head took too long, or nothing happened for too long: close now.
    Close(&'static str),
}

fn judge(a: &Activity, limits: &Limits, now: Instant) -> Verdict {
    if a.in_flight > 0 {
        return Verdict::Fine;
    }
    match a.head_started {
        Some(started) if now.saturating_duration_since(started) >= limits.header_timeout => {
            Verdict::Close("request head not complete within the header timeout")
        }
        Some(_) => Verdict::Fine,
        None if now.saturating_duration_since(a.last) >= limits.idle_timeout => Verdict::Close("idle"),
        None => Verdict::Fine,
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let tracker = Tracker::new();
    let io = TokioIo::new(Watched { inner: stream, tracker: tracker.clone() });
    let service = {
        let tracker = tracker.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let (parts, body) = request.into_parts();
            let (answered, body) = tracker.begin(body);
            let mut request = hyper::Request::from_parts(parts, body);
            // The client address, for the per-address limits (`ConnectInfo`, as axum names it).
            request.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            let tracker = tracker.clone();
            async move {
                let response = app.oneshot(request).await;
                drop(answered);
                // Counted even when empty: the answer is not sent until hyper has polled it.
                response.map(|r| r.map(|body| Tracked::new(body, &tracker, Direction::Response, true)))
            }
        })
    };
    let connection = hyper::server::conn::http1::Builder::new().keep_alive(true).serve_connection(io, service);
    tokio::pin!(connection);
    let tick = (limits.header_timeout.min(limits.idle_timeout) / 5)
        .clamp(Duration::from_millis(20), Duration::from_millis(500));
    let mut draining = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = tokio::time::sleep(tick) => {
                if let Verdict::Close(why) = tracker.with(|a| judge(a, &limits, Instant::now())) {
                    tracing::debug!(%peer, why, "closing connection");
                    return;
                }
            }
            changed = stopping.changed(), if !draining => {
                draining = true;
                let idle = |a: &Activity| a.in_flight == 0 && a.responses_open == 0;
                if changed.is_err() || tracker.with(|a| idle(a) || a.bodies_open > 0) {
                    // Waiting for a request, or part way through sending one: nothing to finish.
                    return;
                }
                // Answer what is being handled, then close.
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// The socket, reporting every byte moved to the connection's tracker.
struct Watched {
    inner: TcpStream,
    tracker: Tracker,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.tracker.read();
        }
        poll
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.tracker.wrote();
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.tracker.wrote();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1,
            shutdown_grace: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_head_that_takes_too_long_closes_the_connection_but_a_request_in_flight_does_not() {
        let start = Instant::now();
        let mut a =
            Activity { in_flight: 0, bodies_open: 0, responses_open: 0, head_started: Some(start), last: start };
        assert_eq!(judge(&a, &limits(), start + Duration::from_secs(9)), Verdict::Fine);
        assert!(matches!(judge(&a, &limits(), start + Duration::from_secs(10)), Verdict::Close(_)));
        a.in_flight = 1;
        a.head_started = None;
        assert_eq!(judge(&a, &limits(), start + Duration::from_secs(3600)), Verdict::Fine);
    }

    #[test]
    fn an_idle_connection_closes_after_the_idle_timeout() {
        let start = Instant::now();
        let a = Activity { in_flight: 0, bodies_open: 0, responses_open: 0, head_started: None, last: start };
        assert_eq!(judge(&a, &limits(), start + Duration::from_secs(59)), Verdict::Fine);
        assert_eq!(judge(&a, &limits(), start + Duration::from_secs(60)), Verdict::Close("idle"));
    }
}

//! A consumer batch's writes, held back to commit with the batch's settlement.
//!
//! A worker applies a batch inside [`collect`]; a store that can take a batch's records in
//! one write (the audit history's `append_many`) hands its write to [`stage`] instead of the
//! writer, and the worker runs every staged write and the cursor move as ONE write: one
//! savepoint, one commit, and effects and settlement together or not at all. Outside a
//! worker's batch (the API, tools, tests driving a consumer by hand) nothing is staged and
//! the store writes at once.

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::Notify;

use crate::EmbeddedError;

/// A write held for the batch's transaction.
pub(crate) type Staged = Box<dyn FnOnce(&Connection) -> Result<(), EmbeddedError> + Send>;

/// What a batch's stores held back: the writes, and whom to wake once they committed (a
/// store that signals a loop of its own when it writes must not do so before its write is
/// visible).
#[derive(Default)]
pub(crate) struct Held {
    pub writes: Vec<Staged>,
    pub wakes: Vec<Arc<Notify>>,
}

tokio::task_local! {
    static STAGED: RefCell<Held>;
}

/// Runs `work` (a batch's apply) and returns its output with what it held back.
pub(crate) async fn collect<F: Future>(work: F) -> (F::Output, Held) {
    STAGED
        .scope(RefCell::new(Held::default()), async {
            let output = work.await;
            let held = STAGED.try_with(RefCell::take).unwrap_or_default();
            (output, held)
        })
        .await
}

/// Wakes `signal` once the batch being applied on this task committed, or at once outside a
/// batch.
pub(crate) fn wake_after_commit(signal: Arc<Notify>) {
    let mut signal = Some(signal);
    let _ = STAGED.try_with(|held| {
        if let Some(s) = signal.take() {
            held.borrow_mut().wakes.push(s);
        }
    });
    if let Some(s) = signal {
        s.notify_one();
    }
}

/// True while a worker's batch is being applied on this task: a store's write handed to
/// [`stage`] now joins the batch's transaction.
pub(crate) fn active() -> bool {
    STAGED.try_with(|_| ()).is_ok()
}

/// Holds `write` for the batch being applied on this task; gives it back when no batch is
/// (the caller then writes at once).
pub(crate) fn stage(write: Staged) -> Result<(), Staged> {
    let mut write = Some(write);
    // Outside a batch the closure never runs and the write stays here.
    let _ = STAGED.try_with(|staged| {
        if let Some(w) = write.take() {
            staged.borrow_mut().writes.push(w);
        }
    });
    match write {
        None => Ok(()),
        Some(w) => Err(w),
    }
}

/// [`stage`] for a store that checked [`active`] first: it holds `write` for the batch, or
/// answers that the batch no longer takes writes (it cannot end between the two calls, which
/// run on one task; the error only keeps that a store failure rather than a panic).
pub(crate) fn stage_checked(write: Staged) -> Result<(), shared_core::ports::StoreError> {
    stage(write).map_err(|_| {
        shared_core::ports::StoreError::Unavailable("the batch being applied no longer takes writes".into())
    })
}

/// True when `err` is a statement refusing what it was given (a constraint, a value it
/// cannot take) rather than the storage failing: worth finding the event that caused it.
pub(crate) fn is_refusal(err: &EmbeddedError) -> bool {
    match err {
        EmbeddedError::Sqlite(e) => matches!(
            e.sqlite_error_code(),
            Some(
                rusqlite::ErrorCode::ConstraintViolation
                    | rusqlite::ErrorCode::TypeMismatch
                    | rusqlite::ErrorCode::TooBig
            )
        ),
        EmbeddedError::Json(_) => true,
        EmbeddedError::Store(e) => {
            !matches!(e, shared_core::ports::StoreError::Unavailable(_) | shared_core::ports::StoreError::Throttled(_))
        }
        _ => false,
    }
}

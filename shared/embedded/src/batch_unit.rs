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

use rusqlite::Connection;

use crate::EmbeddedError;

/// A write held for the batch's transaction.
pub(crate) type Staged = Box<dyn FnOnce(&Connection) -> Result<(), EmbeddedError> + Send>;

tokio::task_local! {
    static STAGED: RefCell<Vec<Staged>>;
}

/// Runs `work` (a batch's apply) and returns its output with the writes it staged.
pub(crate) async fn collect<F: Future>(work: F) -> (F::Output, Vec<Staged>) {
    STAGED
        .scope(RefCell::new(Vec::new()), async {
            let output = work.await;
            let staged = STAGED.try_with(RefCell::take).unwrap_or_default();
            (output, staged)
        })
        .await
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
            staged.borrow_mut().push(w);
        }
    });
    match write {
        None => Ok(()),
        Some(w) => Err(w),
    }
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

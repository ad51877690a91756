//! The status rules. A new task starts in `todo`. The allowed moves:
//!
//! | from          | to                                           |
//! |---------------|----------------------------------------------|
//! | `todo`        | `in_progress`, `blocked`, `cancelled`         |
//! | `in_progress` | `todo`, `in_review`, `blocked`, `done`, `cancelled` |
//! | `in_review`   | `in_progress`, `blocked`, `done`, `cancelled` |
//! | `blocked`     | `todo`, `in_progress`, `cancelled`            |
//! | `done`        | `in_progress` (reopen)                        |
//! | `cancelled`   | `todo` (restore)                              |
//!
//! Work is started before it is finished (no `todo` → `done`), and a finished or cancelled
//! task is reopened explicitly, so cycle-time metrics always see a start.

use super::TaskStatus::{self, *};

pub fn allowed_transitions(from: TaskStatus) -> &'static [TaskStatus] {
    match from {
        Todo => &[InProgress, Blocked, Cancelled],
        InProgress => &[Todo, InReview, Blocked, Done, Cancelled],
        InReview => &[InProgress, Blocked, Done, Cancelled],
        Blocked => &[Todo, InProgress, Cancelled],
        Done => &[InProgress],
        Cancelled => &[Todo],
    }
}

/// `Ok` when `from` may move to `to`; staying put is always allowed.
pub fn check_transition(from: TaskStatus, to: TaskStatus) -> Result<(), String> {
    if from == to || allowed_transitions(from).contains(&to) {
        return Ok(());
    }
    let allowed: Vec<&str> = allowed_transitions(from).iter().map(TaskStatus::as_str).collect();
    Err(format!(
        "a task cannot move from {} to {}; from {} it may move to {}",
        from.as_str(),
        to.as_str(),
        from.as_str(),
        allowed.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_happy_path_is_allowed() {
        for (a, b) in [(Todo, InProgress), (InProgress, InReview), (InReview, Done), (InProgress, Done)] {
            assert!(check_transition(a, b).is_ok(), "{a:?} -> {b:?}");
        }
    }

    #[test]
    fn skipping_work_is_not() {
        let err = check_transition(Todo, Done).unwrap_err();
        assert_eq!(
            err,
            "a task cannot move from todo to done; from todo it may move to in_progress, blocked, cancelled"
        );
        assert!(check_transition(Done, Todo).is_err());
        assert!(check_transition(Cancelled, Done).is_err());
    }

    #[test]
    fn every_status_can_be_left_and_no_status_lists_itself() {
        for s in TaskStatus::ALL {
            assert!(!allowed_transitions(s).is_empty());
            assert!(!allowed_transitions(s).contains(&s));
        }
    }
}

//! The seams: what the core needs from an engine. `shared/embedded` implements these over
//! SQLite, `shared/aws` over DynamoDB and friends; tests can implement them in memory.

mod auth;
mod history;
mod store;

pub use auth::{AuthError, Authenticator, SingleTenant};
pub use history::{HistoryRecord, HistoryStore};
pub use store::{
    Aggregate, Change, ChangeFailure, FailureReason, IdempotencyRecord, MAX_CHANGES_PER_COMMIT, Page, Store,
    StoreError, TaskFilter, TaskQuery, TaskSort,
};

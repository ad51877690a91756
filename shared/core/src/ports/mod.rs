//! The seams: what the core needs from an engine. `shared/embedded` implements these over
//! SQLite, `shared/aws` over DynamoDB and friends; tests can implement them in memory.

mod auth;
mod history;
mod store;

pub use auth::{AuthError, Authenticator, SingleTenant};
pub use history::{HistoryRecord, HistoryStore};
pub use store::{Page, StoreError, TaskQuery, TaskStore};

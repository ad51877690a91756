//! taskstream's core: the domain, event derivation, the ports the engines implement and the
//! consumer pipeline. No AWS SDK, no SQLite and no HTTP server in here: the same code runs
//! inside a Lambda and inside `taskstream serve`; the HTTP API over it is `shared/api`.

pub mod change;
pub mod consumers;
pub mod context;
pub mod derive;
pub mod domain;
pub mod escalation;
pub mod ingest;
pub mod metrics;
pub mod notify;
pub mod outbox;
pub mod pipeline;
pub mod ports;
pub mod stream_router;
pub mod webhooks;

pub use change::ChangeRecord;
pub use context::{Identity, RequestContext, Role};
pub use derive::{DeriveError, derive};

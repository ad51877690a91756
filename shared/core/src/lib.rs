//! taskstream's core: the domain, event derivation, the ports the engines implement, the
//! consumer pipeline and the HTTP API. No AWS SDK and no SQLite in here: the same code runs
//! inside a Lambda and inside `taskstream serve`.

pub mod change;
pub mod consumers;
pub mod context;
pub mod derive;
pub mod domain;
pub mod http;
pub mod pipeline;
pub mod ports;
pub mod stream_router;

pub use change::ChangeRecord;
pub use context::{Identity, RequestContext, Role};
pub use derive::{DeriveError, derive};

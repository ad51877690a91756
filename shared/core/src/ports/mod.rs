//! The seams: what the core needs from an engine. `shared/embedded` implements these over
//! SQLite, `shared/aws` over DynamoDB and friends; tests can implement them in memory.

mod auth;
mod escalation;
mod event_feed;
mod export;
mod history;
mod keys;
mod metrics;
mod notifications;
mod operations;
mod search;
mod store;
mod webhooks;

pub use auth::{API_KEY_HEADER, AuthError, Authenticator, SingleTenant, presented_credential};
pub use escalation::{EscalationPolicies, EscalationSchedule};
pub use event_feed::{EventFeed, FeedEvent, FeedFilter, FeedPage, MAX_FEED_BATCH};
pub use export::{ExportLink, ExportStore, ExportUpload};
pub use history::{HistoryRecord, HistoryStore};
/// The HTTP types the `Authenticator` port speaks, so adapters need no HTTP crate of their own.
pub use http;
pub use keys::{IssuedKey, KeyDirectory, KeySummary};
pub use metrics::{MAX_RECORDS_PER_WRITE, MetricsReader, MetricsSink, RecordRejection, Rejected};
pub use notifications::{NotificationOutbox, NotificationQuery, NotificationStore, ReadSelection, SendClaims};
pub use operations::{
    ChangeState, ConsumerLag, ConsumerPlan, DEFAULT_DEAD_LETTER_LIMIT, DeadLetterView, DeliveryState, Lag,
    MAX_DEAD_LETTER_LIMIT, MAX_REPLAY_NAME, Operations, RedriveRequest, ReplayPlan, ReplayProgress, ReplayRequest,
    ReplayState, ReplayStatus, RouterRedriven, StillPoison, Trace, TraceChange, TraceDelivery, TraceEvent,
    valid_replay_name,
};
pub use search::{
    DEFAULT_SEARCH_LIMIT, FACET_FIELDS, MAX_SEARCH_LIMIT, MAX_SUGGESTIONS, SearchFilter, SearchIndex, SearchQuery,
    SearchResults, cursor as search_cursor, suggestion_inputs, words as search_words,
};
pub use store::{
    Aggregate, Change, ChangeFailure, ExternalKeyLink, FailureReason, IdempotencyRecord, LIST_READ_CAP,
    MAX_CHANGES_PER_COMMIT, Page, Store, StoreError, TaskFilter, TaskQuery, TaskSort,
};
pub use webhooks::{DeliveryQuery, WebhookStore};

//! taskstream's ports over AWS services. Lambda handlers wire these; nothing here links SQLite.

pub mod api;
pub mod auth;
pub mod bus;
pub mod dynamo;
pub mod env;
pub mod escalation;
pub mod export;
pub mod http_sender;
pub mod ingest;
pub mod lambda;
pub mod notifications;
pub mod notifier_lambda;
pub mod operate;
pub mod parking;
pub mod search;
pub mod ses;
pub mod timestream;
pub mod webhooks;

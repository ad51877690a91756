//! Task metrics in Amazon Timestream: the SQL of the metric queries.

pub mod sql;

pub use sql::{Table, query_sql};

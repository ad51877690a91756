//! Optimistic locking at the edge: every change of an existing resource says which version
//! it changes, as `"version"` in the body, `?version=` or `If-Match` — the same three ways on
//! every route. None of them is a 428; two that disagree are a 400.

use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use shared_core::domain::FieldError;

use super::error::{ApiError, ErrorCode};

/// `?version=` of a change.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    /// The version being changed (or `If-Match`).
    #[schemars(with = "u64", range(min = 1, max = super::tasks::MAX_VERSION))]
    pub(super) version: Option<u64>,
}

/// The version a change expects; every source given must agree.
pub(super) fn expected_version(body: Option<u64>, query: Option<u64>, headers: &HeaderMap) -> Result<u64, ApiError> {
    let sources = [("version in the body", body), ("?version=", query), ("If-Match", if_match_version(headers)?)];
    let mut given = sources.iter().filter_map(|(name, v)| v.map(|v| (*name, v)));
    let Some((first_name, first)) = given.next() else { return Err(version_required()) };
    if let Some((name, other)) = given.find(|(_, v)| *v != first) {
        return Err(ApiError::invalid_fields(vec![FieldError::new(
            "version",
            format!("{first_name} says {first} but {name} says {other}"),
        )]));
    }
    Ok(first)
}

fn version_required() -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_REQUIRED,
        ErrorCode::VersionRequired,
        "say which version you are changing: \"version\" in the body, ?version= or an If-Match header",
    )
}

/// The version in `If-Match` (`"3"`, `W/"3"` or `3`), if present.
fn if_match_version(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let text = value.to_str().unwrap_or_default().trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse::<u64>().map(Some).map_err(|_| {
        ApiError::invalid_fields(vec![FieldError::new("If-Match", format!("must hold a version number, got {text:?}"))])
    })
}

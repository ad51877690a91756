//! `GET /tasks/export.csv`: any filtered list as CSV (RFC 4180), read page by page so an
//! export of any size runs in constant memory. Without an export store (`serve`) the CSV is
//! the response, streamed; with one (the task-api Lambda, whose response may not exceed
//! 6 MB) it is written there as it is read, and the response is a short-lived link to it.
//!
//! Cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or
//! carriage return) are prefixed with `'`, so an exported title cannot execute on open.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use super::extract::{Ctx, Query};
use super::tasks::{ListQuery, MAX_PAGE};
use shared_core::domain::Task;
use shared_core::ports::{ExportStore, ExportUpload, Page, Store, StoreError, TaskQuery};

const COLUMNS: [&str; 17] = [
    "id",
    "title",
    "description",
    "status",
    "priority",
    "assignee",
    "reporter",
    "categoryId",
    "projectId",
    "sprintId",
    "tags",
    "dueDate",
    "estimatePoints",
    "createdAt",
    "updatedAt",
    "statusChangedAt",
    "version",
];

/// One CSV cell: neutralised against formula injection, then quoted when it must be.
pub fn cell(raw: &str) -> String {
    let neutral = if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{raw}") } else { raw.to_owned() };
    if neutral.contains([',', '"', '\r', '\n']) { format!("\"{}\"", neutral.replace('"', "\"\"")) } else { neutral }
}

fn row(fields: impl IntoIterator<Item = String>) -> String {
    let mut line = fields.into_iter().map(|f| cell(&f)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

pub fn task_row(t: &Task) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    row([
        t.id.clone(),
        t.title.clone(),
        opt(&t.description),
        t.status.as_str().to_owned(),
        t.priority.as_str().to_owned(),
        opt(&t.assignee),
        opt(&t.reporter),
        opt(&t.category_id),
        opt(&t.project_id),
        opt(&t.sprint_id),
        t.tags.join(";"),
        opt(&t.due_date),
        t.estimate_points.map(|p| p.to_string()).unwrap_or_default(),
        t.created_at.to_string(),
        t.updated_at.to_string(),
        t.status_changed_at.to_string(),
        t.version.to_string(),
    ])
}

/// The name the caller's download gets.
const FILE_NAME: &str = "tasks.csv";

enum Next {
    Page(Option<String>),
    Done,
}

pub async fn export(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let mut query: TaskQuery = query.parse()?;
    query.limit = MAX_PAGE;
    // Read the first page before answering, so a bad cursor is a 400, not a broken stream.
    let tenant = ctx.tenant().to_owned();
    let first = state.store.list_tasks(&tenant, &query).await?;
    match state.exports.clone() {
        Some(exports) => to_export_store(exports.as_ref(), state.store.as_ref(), &tenant, query, first).await,
        None => Ok(streamed(state, tenant, query, first)),
    }
}

fn header_row() -> String {
    row(COLUMNS.iter().map(|c| (*c).to_owned()))
}

/// The CSV as the response body, one page of the list after another.
fn streamed(state: AppState, tenant: String, query: TaskQuery, first: Page<Task>) -> Response {
    let head = Bytes::from(header_row());
    let first_rows = Bytes::from(first.items.iter().map(task_row).collect::<String>());
    let start = match first.next_cursor {
        Some(c) => Next::Page(Some(c)),
        None => Next::Done,
    };
    let prefix = stream::iter([Ok::<_, std::io::Error>(head), Ok(first_rows)]);
    let rest = stream::unfold((start, state, tenant, query), |(next, state, tenant, mut query)| async move {
        let Next::Page(cursor) = next else { return None };
        query.cursor = cursor;
        match state.store.list_tasks(&tenant, &query).await {
            Ok(page) => {
                let bytes = Bytes::from(page.items.iter().map(task_row).collect::<String>());
                let following = match page.next_cursor {
                    Some(c) => Next::Page(Some(c)),
                    None => Next::Done,
                };
                Some((Ok(bytes), (following, state, tenant, query)))
            }
            Err(e) => {
                tracing::error!(error = %e, "export interrupted");
                Some((Err(std::io::Error::other(e.to_string())), (Next::Done, state, tenant, query)))
            }
        }
    });
    let body = Body::from_stream(futures_util::StreamExt::chain(prefix, rest));
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"tasks.csv\""),
        ],
        body,
    )
        .into_response()
}

/// The CSV written to the export store page by page (the upload sends it on in parts), and
/// the answer a link to it: `{"data": {"url", "expiresAt"}}`. A failure on either side
/// gives the upload up, so no partial export is ever linked.
async fn to_export_store(
    exports: &dyn ExportStore,
    store: &dyn Store,
    tenant: &str,
    query: TaskQuery,
    first: Page<Task>,
) -> Result<Response, ApiError> {
    let mut upload = exports.create(tenant, FILE_NAME).await.map_err(export_failed)?;
    match write_pages(upload.as_mut(), store, tenant, query, first).await {
        Ok(rows) => {
            let link = upload.finish().await.map_err(export_failed)?;
            tracing::info!(rows, "export written");
            Ok(Json(json!({ "data": { "url": link.url, "expiresAt": link.expires_at } })).into_response())
        }
        Err(e) => {
            upload.abort().await;
            Err(e)
        }
    }
}

/// A failure of the export store (S3), told apart from one of the task store.
fn export_failed(err: StoreError) -> ApiError {
    match err {
        StoreError::Unavailable(reason) | StoreError::Throttled(reason) => {
            tracing::error!(%reason, "export store unavailable");
            ApiError::unavailable("the export store")
        }
        other => other.into(),
    }
}

/// Writes the header and every page from `first` on; the number of task rows written.
async fn write_pages(
    upload: &mut dyn ExportUpload,
    store: &dyn Store,
    tenant: &str,
    mut query: TaskQuery,
    first: Page<Task>,
) -> Result<usize, ApiError> {
    upload.write(header_row().as_bytes()).await.map_err(export_failed)?;
    let mut page = first;
    let mut rows = 0;
    loop {
        let text: String = page.items.iter().map(task_row).collect();
        upload.write(text.as_bytes()).await.map_err(export_failed)?;
        rows += page.items.len();
        let Some(cursor) = page.next_cursor else { return Ok(rows) };
        query.cursor = Some(cursor);
        page = store.list_tasks(tenant, &query).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_per_rfc4180() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn formula_triggers_are_neutralised() {
        for raw in ["=1+1", "+cmd", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert!(cell(raw).trim_start_matches('"').starts_with('\''), "{raw:?} -> {}", cell(raw));
        }
        assert_eq!(cell("=HYPERLINK(\"x\",\"y\")"), "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\"");
    }
}

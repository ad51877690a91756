//! `GET /tasks/export.csv`: any filtered list as CSV (RFC 4180), streamed page by page so an
//! export of any size runs in constant memory.
//!
//! Cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or
//! carriage return) are prefixed with `'`, so an exported title cannot execute on open.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::stream;

use super::AppState;
use super::error::ApiError;
use super::extract::{Ctx, Query};
use super::tasks::{ListQuery, MAX_PAGE};
use shared_core::domain::Task;
use shared_core::ports::TaskQuery;

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
    let head = Bytes::from(row(COLUMNS.iter().map(|c| (*c).to_owned())));
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
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"tasks.csv\""),
        ],
        body,
    )
        .into_response())
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

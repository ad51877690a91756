//! Lists: every task filter under every sort, paged across several pages and compared with
//! a model of the port's documented order; a selective filter over more tasks than a call
//! may read; comments, categories, projects and sprints in their orders; cursors that are
//! not the list's own.

use std::cmp::Reverse;

use events_schema::AggregateType;
use events_schema::events::{Priority, TaskStatus};
use shared_core::ports::{Aggregate, LIST_READ_CAP, StoreError, TaskFilter, TaskQuery, TaskSort};

use super::*;

const DUE_DATES: [Option<&str>; 7] =
    [None, Some("2026-05-01"), Some("2026-05-01"), Some("2026-04-15"), Some("2026-06-30"), None, Some("2026-05-20")];

/// 24 tasks that differ in every filtered field, two of them deleted afterwards, and one
/// matching task in another tenant: returns the live ones of `ACME`.
pub async fn seed(s: &Subject) -> Vec<TaskSnapshot> {
    let tasks: Vec<TaskSnapshot> = (0..24_usize)
        .map(|i| {
            let mut t = task(&new_id());
            t.title = format!("Task {i}");
            t.status = TaskStatus::ALL[i % 6];
            t.priority = Priority::ALL[i % 4];
            t.assignee = [Some("li"), Some("maria"), None][i % 3].map(str::to_owned);
            t.category_id = [Some("c1"), None, Some("c2"), None, None][i % 5].map(str::to_owned);
            t.project_id = [Some("p1"), Some("p2"), None][(i / 2) % 3].map(str::to_owned);
            t.sprint_id = (i % 4 == 1).then(|| "s1".to_owned());
            t.tags = [(i % 2 == 0, "a"), (i % 3 == 0, "b"), (i % 5 == 0, "c")]
                .into_iter()
                .filter(|(on, _)| *on)
                .map(|(_, tag)| tag.to_owned())
                .collect();
            t.due_date = DUE_DATES[i % 7].map(str::to_owned);
            t
        })
        .collect();
    s.commit_ok(ACME, tasks.iter().map(|t| create(Aggregate::Task(t.clone()))).collect()).await;
    let deleted = [5, 10];
    s.commit_ok(ACME, deleted.iter().map(|&i| delete(AggregateType::Task, &tasks[i].id, 1)).collect()).await;
    let mut elsewhere = tasks[0].clone();
    elsewhere.id = new_id();
    s.commit_ok(GLOBEX, vec![create(Aggregate::Task(elsewhere))]).await;
    tasks.into_iter().enumerate().filter(|(i, _)| !deleted.contains(i)).map(|(_, t)| t).collect()
}

fn matches(t: &TaskSnapshot, f: &TaskFilter) -> bool {
    let eq = |want: &Option<String>, have: &Option<String>| want.is_none() || want == have;
    f.status.is_none_or(|s| s == t.status)
        && f.priority.is_none_or(|p| p == t.priority)
        && eq(&f.assignee, &t.assignee)
        && eq(&f.category_id, &t.category_id)
        && eq(&f.project_id, &t.project_id)
        && eq(&f.sprint_id, &t.sprint_id)
        && f.tag.as_ref().is_none_or(|tag| t.tags.contains(tag))
        && f.due_from.as_ref().is_none_or(|from| t.due_date.as_ref().is_some_and(|d| d >= from))
        && f.due_to.as_ref().is_none_or(|to| t.due_date.as_ref().is_some_and(|d| d <= to))
}

fn rank(p: Priority) -> u8 {
    match p {
        Priority::Critical => 0,
        Priority::High => 1,
        Priority::Medium => 2,
        Priority::Low => 3,
    }
}

/// The port's documented order of `sort`, over the tasks `filter` matches.
pub fn expected(tasks: &[TaskSnapshot], filter: &TaskFilter, sort: TaskSort) -> Vec<String> {
    let mut found: Vec<&TaskSnapshot> = tasks.iter().filter(|t| matches(t, filter)).collect();
    match sort {
        TaskSort::Created => found.sort_by_key(|t| Reverse(t.id.clone())),
        TaskSort::DueDate => found.sort_by_key(|t| (t.due_date.clone().unwrap_or_else(|| "~".into()), t.id.clone())),
        TaskSort::Priority => found.sort_by_key(|t| (rank(t.priority), Reverse(t.id.clone()))),
    }
    found.into_iter().map(|t| t.id.clone()).collect()
}

/// Every page of a list, checking that each holds at most `limit` items, and (these lists
/// being far below the read cap) that a cursor comes with a full page and always leads to
/// more.
async fn all_pages(s: &Subject, tenant: &str, filter: &TaskFilter, sort: TaskSort, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = None;
    for _ in 0..100 {
        let query = TaskQuery { filter: filter.clone(), sort, limit, cursor: cursor.clone() };
        let page = s.store.list_tasks(tenant, &query).await.unwrap();
        assert!(page.items.len() <= limit, "{filter:?} {sort:?}: {} items in a page of {limit}", page.items.len());
        if cursor.is_some() {
            assert!(!page.items.is_empty(), "{filter:?} {sort:?}: a cursor led to an empty page");
        }
        ids.extend(page.items.into_iter().map(|t| t.id));
        match page.next_cursor {
            Some(next) => {
                assert_eq!(ids.len() % limit, 0, "{filter:?} {sort:?}: a cursor after a short page");
                cursor = Some(next);
            }
            None => return ids,
        }
    }
    panic!("{filter:?} {sort:?}: more than 100 pages");
}

pub fn filters() -> Vec<TaskFilter> {
    let f = TaskFilter::default;
    let some = |s: &str| Some(s.to_owned());
    vec![
        f(),
        TaskFilter { status: Some(TaskStatus::Todo), ..f() },
        TaskFilter { status: Some(TaskStatus::Done), ..f() },
        TaskFilter { priority: Some(Priority::Critical), ..f() },
        TaskFilter { priority: Some(Priority::Low), ..f() },
        TaskFilter { assignee: some("li"), ..f() },
        TaskFilter { assignee: some("nobody"), ..f() },
        TaskFilter { category_id: some("c1"), ..f() },
        TaskFilter { project_id: some("p2"), ..f() },
        TaskFilter { sprint_id: some("s1"), ..f() },
        TaskFilter { tag: some("a"), ..f() },
        TaskFilter { tag: some("c"), ..f() },
        TaskFilter { due_from: some("2026-05-01"), ..f() },
        TaskFilter { due_to: some("2026-05-01"), ..f() },
        TaskFilter { due_from: some("2026-04-20"), due_to: some("2026-05-20"), ..f() },
        TaskFilter { due_from: some("2026-05-01"), due_to: some("2026-05-01"), ..f() },
        TaskFilter { due_from: some("2026-07-01"), due_to: some("2026-04-01"), ..f() },
        TaskFilter { status: Some(TaskStatus::Todo), assignee: some("li"), ..f() },
        TaskFilter { tag: some("a"), priority: Some(Priority::High), project_id: some("p1"), ..f() },
        TaskFilter { due_from: some("2026-01-01"), priority: Some(Priority::Medium), ..f() },
    ]
}

async fn every_filter_pages_in_order(s: &Subject, sort: TaskSort) {
    let tasks = seed(s).await;
    let mut nonempty = 0;
    for filter in filters() {
        let want = expected(&tasks, &filter, sort);
        nonempty += usize::from(!want.is_empty());
        assert_eq!(all_pages(s, ACME, &filter, sort, 4).await, want, "{filter:?} {sort:?}");
    }
    assert!(nonempty >= 15, "the data set leaves too many filters empty");
    // One page for all, and pages of one.
    assert_eq!(all_pages(s, ACME, &TaskFilter::default(), sort, 100).await.len(), tasks.len());
    let one_by_one = all_pages(s, ACME, &TaskFilter::default(), sort, 1).await;
    assert_eq!(one_by_one, expected(&tasks, &TaskFilter::default(), sort));
}

pub async fn tasks_list_newest_first_under_every_filter(s: &Subject) {
    every_filter_pages_in_order(s, TaskSort::Created).await;
}

pub async fn tasks_list_by_due_date_under_every_filter(s: &Subject) {
    every_filter_pages_in_order(s, TaskSort::DueDate).await;
}

pub async fn tasks_list_by_priority_under_every_filter(s: &Subject) {
    every_filter_pages_in_order(s, TaskSort::Priority).await;
}

/// More tasks than one call may examine, two of which a filter picks: the newest and the
/// oldest. A call stops at the read cap with a short page (even an empty one) and a cursor,
/// and the cursor goes on from there, under every sort.
pub async fn a_selective_filter_over_a_large_tenant_stops_at_the_read_cap(s: &Subject) {
    let total = LIST_READ_CAP + 150;
    let mut tasks: Vec<TaskSnapshot> = (0..total)
        .map(|i| {
            let mut t = task(&new_id());
            t.title = format!("Bulk {i}");
            t.due_date = Some(format!("2026-{:02}-{:02}", 1 + i % 12, 1 + i % 28));
            t
        })
        .collect();
    tasks[0].assignee = Some("needle".into());
    tasks[0].due_date = Some("2027-12-31".into());
    tasks[total - 1].assignee = Some("needle".into());
    tasks[total - 1].due_date = Some("2025-01-01".into());
    // One write each, a few at a time: the emulator makes a transaction of many items slow.
    let mut writes = tokio::task::JoinSet::new();
    for t in &tasks {
        let (store, t) = (s.store.clone(), t.clone());
        writes.spawn(async move { store.commit(&ctx(ACME), vec![create(Aggregate::Task(t))], None).await });
        if writes.len() >= 16 {
            writes.join_next().await.unwrap().unwrap().unwrap();
        }
    }
    while let Some(done) = writes.join_next().await {
        done.unwrap().unwrap();
    }
    let (oldest, newest) = (tasks[0].id.clone(), tasks[total - 1].id.clone());
    let needle = TaskFilter { assignee: Some("needle".into()), ..TaskFilter::default() };
    // Newest first and by due date, the first match is near the start and the second beyond
    // the cap; by priority (all medium, newest first) the same.
    for sort in [TaskSort::Created, TaskSort::DueDate, TaskSort::Priority] {
        let query = |cursor: Option<String>| TaskQuery { filter: needle.clone(), sort, limit: 10, cursor };
        let first = s.store.list_tasks(ACME, &query(None)).await.unwrap();
        assert_eq!(first.items.iter().map(|t| &t.id).collect::<Vec<_>>(), [&newest], "{sort:?}: the first match only");
        let cursor = first.next_cursor.expect("a short page at the read cap still has a cursor");
        let second = s.store.list_tasks(ACME, &query(Some(cursor))).await.unwrap();
        assert_eq!(second.items.iter().map(|t| &t.id).collect::<Vec<_>>(), [&oldest], "{sort:?}: the rest");
        assert_eq!(second.next_cursor, None, "{sort:?}");
    }
    // A filter only the oldest matches: the first call finds nothing within its cap, says so
    // with an empty page and a cursor, and the next call finds it.
    let oldest_only = TaskFilter { due_from: Some("2027-01-01".into()), ..TaskFilter::default() };
    let query =
        |cursor: Option<String>| TaskQuery { filter: oldest_only.clone(), sort: TaskSort::Created, limit: 10, cursor };
    let first = s.store.list_tasks(ACME, &query(None)).await.unwrap();
    assert!(first.items.is_empty(), "{:?}", first.items.iter().map(|t| &t.title).collect::<Vec<_>>());
    assert!(first.next_cursor.is_some(), "an empty page within the cap is not the end of the list");
    let second = s.store.list_tasks(ACME, &query(first.next_cursor)).await.unwrap();
    assert_eq!((second.items.iter().map(|t| &t.id).collect::<Vec<_>>(), second.next_cursor), (vec![&oldest], None));
}

pub async fn bad_and_foreign_cursors_are_refused(s: &Subject) {
    let tasks = seed(s).await;
    let first = |filter: TaskFilter, sort: TaskSort| TaskQuery { filter, sort, limit: 2, cursor: None };
    let todo = TaskFilter { status: Some(TaskStatus::Todo), ..TaskFilter::default() };
    for sort in [TaskSort::Created, TaskSort::DueDate, TaskSort::Priority] {
        let page = s.store.list_tasks(ACME, &first(TaskFilter::default(), sort)).await.unwrap();
        let cursor = page.next_cursor.unwrap();
        let with = |tenant: &str, filter: TaskFilter, sort: TaskSort, cursor: &str| {
            let query = TaskQuery { cursor: Some(cursor.to_owned()), ..first(filter, sort) };
            let store = s.store.clone();
            let tenant = tenant.to_owned();
            async move { store.list_tasks(&tenant, &query).await }
        };
        assert!(with(ACME, TaskFilter::default(), sort, &cursor).await.is_ok());
        assert_eq!(with(GLOBEX, TaskFilter::default(), sort, &cursor).await, Err(StoreError::BadCursor), "{sort:?}");
        assert_eq!(with(ACME, todo.clone(), sort, &cursor).await, Err(StoreError::BadCursor), "{sort:?}");
        let other_sort = if sort == TaskSort::Created { TaskSort::Priority } else { TaskSort::Created };
        assert_eq!(with(ACME, TaskFilter::default(), other_sort, &cursor).await, Err(StoreError::BadCursor));
        // Broken in its frame (what every engine can tell; a changed position inside a
        // well-formed cursor is just another position of the same list).
        let truncated = &cursor[..10];
        let flipped = format!("{}{}", if cursor.starts_with('0') { '1' } else { '0' }, &cursor[1..]);
        for bad in ["", "not a cursor", "zz", "7b7d", truncated, &flipped] {
            assert_eq!(
                with(ACME, TaskFilter::default(), sort, bad).await,
                Err(StoreError::BadCursor),
                "{sort:?} {bad:?}"
            );
        }
    }
    // A comment cursor is bound to its task, and is no task cursor.
    let (t1, t2) = (&tasks[0].id, &tasks[1].id);
    let comments: Vec<_> = (0..3).map(|_| create(Aggregate::Comment(comment(&new_id(), t1)))).collect();
    s.commit_ok(ACME, comments).await;
    let page = s.store.list_comments(ACME, t1, 1, None).await.unwrap();
    let cursor = page.next_cursor.unwrap();
    assert!(s.store.list_comments(ACME, t1, 1, Some(&cursor)).await.is_ok());
    assert_eq!(s.store.list_comments(ACME, t2, 1, Some(&cursor)).await, Err(StoreError::BadCursor));
    assert_eq!(s.store.list_comments(GLOBEX, t1, 1, Some(&cursor)).await, Err(StoreError::BadCursor));
    let as_task_cursor = TaskQuery { cursor: Some(cursor), ..first(TaskFilter::default(), TaskSort::Created) };
    assert_eq!(s.store.list_tasks(ACME, &as_task_cursor).await, Err(StoreError::BadCursor));
    assert_eq!(s.store.list_comments(ACME, t1, 1, Some("zz")).await, Err(StoreError::BadCursor));
}

pub async fn comments_list_oldest_first_in_pages(s: &Subject) {
    let (t1, t2) = (new_id(), new_id());
    let mine: Vec<CommentSnapshot> = (0..7).map(|_| comment(&new_id(), &t1)).collect();
    let others: Vec<CommentSnapshot> = (0..2).map(|_| comment(&new_id(), &t2)).collect();
    let changes = mine.iter().chain(&others).map(|c| create(Aggregate::Comment(c.clone()))).collect();
    s.commit_ok(ACME, changes).await;
    let mut listed = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = s.store.list_comments(ACME, &t1, 3, cursor.as_deref()).await.unwrap();
        sizes.push(page.items.len());
        listed.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut want = mine.clone();
    want.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(listed, want);
    assert_eq!(sizes, [3, 3, 1]);
    let exact = s.store.list_comments(ACME, &t2, 2, None).await.unwrap();
    assert_eq!((exact.items.len(), exact.next_cursor), (2, None));
}

pub async fn categories_projects_and_sprints_list_in_their_orders(s: &Subject) {
    let names = ["beta", "Zeta", "alpha", "Beta", "alpha"];
    let categories: Vec<CategorySnapshot> = names.iter().map(|n| category(&new_id(), n)).collect();
    let projects: Vec<ProjectSnapshot> = (0..4).map(|_| project(&new_id())).collect();
    let (p1, p2) = (&projects[0].id, &projects[1].id);
    let sprints: Vec<SprintSnapshot> = (0..5).map(|i| sprint(&new_id(), if i == 2 { p2 } else { p1 })).collect();
    let changes = categories
        .iter()
        .map(|c| create(Aggregate::Category(c.clone())))
        .chain(projects.iter().map(|p| create(Aggregate::Project(p.clone()))))
        .chain(sprints.iter().map(|sp| create(Aggregate::Sprint(sp.clone()))))
        .collect();
    s.commit_ok(ACME, changes).await;
    s.commit_ok(
        ACME,
        vec![
            delete(AggregateType::Category, &categories[1].id, 1),
            delete(AggregateType::Project, &projects[3].id, 1),
            delete(AggregateType::Sprint, &sprints[4].id, 1),
        ],
    )
    .await;

    let mut want: Vec<CategorySnapshot> = categories.iter().filter(|c| c.id != categories[1].id).cloned().collect();
    want.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    assert_eq!(s.store.list_categories(ACME).await.unwrap(), want);

    let mut want: Vec<ProjectSnapshot> = projects[..3].to_vec();
    want.sort_by(|a, b| b.id.cmp(&a.id));
    assert_eq!(s.store.list_projects(ACME).await.unwrap(), want);

    let mut want: Vec<SprintSnapshot> = [0, 1, 3].iter().map(|&i| sprints[i].clone()).collect();
    want.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(s.store.list_sprints(ACME, p1).await.unwrap(), want);
    assert_eq!(s.store.list_sprints(ACME, p2).await.unwrap(), vec![sprints[2].clone()]);
}

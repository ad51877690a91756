//! Writes: every aggregate's life cycle, optimistic locking, all-or-nothing commits,
//! idempotency records, the commit size limit, tenant walls, the audit history.

use events_schema::AggregateType;
use events_schema::events::TaskStatus;
use shared_core::ports::{
    Aggregate, ChangeFailure, FailureReason, HistoryRecord, IdempotencyRecord, StoreError, TaskQuery,
};

use super::*;

async fn live_task_ids(s: &Subject, tenant: &str) -> Vec<String> {
    let query = TaskQuery { limit: 100, ..TaskQuery::default() };
    let page = s.store.list_tasks(tenant, &query).await.unwrap();
    assert_eq!(page.next_cursor, None);
    page.items.into_iter().map(|t| t.id).collect()
}

pub async fn every_aggregate_is_created_read_updated_and_deleted(s: &Subject) {
    // Task.
    let mut t = task(&new_id());
    t.tags = vec!["backend".into()];
    t.due_date = Some("2026-04-01".into());
    s.commit_ok(ACME, vec![create(Aggregate::Task(t.clone()))]).await;
    assert_eq!(s.store.get_task(ACME, &t.id).await.unwrap(), Some(t.clone()));
    let mut t2 = t.clone();
    t2.title = "Write better release notes".into();
    t2.status = TaskStatus::InProgress;
    t2.version = 2;
    s.commit_ok(ACME, vec![update(Aggregate::Task(t2.clone()), 1)]).await;
    assert_eq!(s.store.get_task(ACME, &t.id).await.unwrap(), Some(t2.clone()));
    s.commit_ok(ACME, vec![delete(AggregateType::Task, &t.id, 2)]).await;
    assert_eq!(s.store.get_task(ACME, &t.id).await.unwrap(), None);
    assert!(live_task_ids(s, ACME).await.is_empty());
    let mut t3 = t2.clone();
    t3.version = 3;
    assert_eq!(s.commit(ACME, vec![update(Aggregate::Task(t3), 2)]).await, Err(StoreError::NotFound));
    assert_eq!(s.commit(ACME, vec![delete(AggregateType::Task, &t.id, 3)]).await, Err(StoreError::NotFound));
    // A deleted id can be created afresh.
    s.commit_ok(ACME, vec![create(Aggregate::Task(t.clone()))]).await;
    assert_eq!(s.store.get_task(ACME, &t.id).await.unwrap(), Some(t.clone()));

    // Category.
    let c = category(&new_id(), "Bugs");
    s.commit_ok(ACME, vec![create(Aggregate::Category(c.clone()))]).await;
    assert_eq!(s.store.get_category(ACME, &c.id).await.unwrap(), Some(c.clone()));
    let c2 = CategorySnapshot { name: "Defects".into(), icon: Some("bug".into()), version: 2, ..c.clone() };
    s.commit_ok(ACME, vec![update(Aggregate::Category(c2.clone()), 1)]).await;
    assert_eq!(s.store.get_category(ACME, &c.id).await.unwrap(), Some(c2));
    s.commit_ok(ACME, vec![delete(AggregateType::Category, &c.id, 2)]).await;
    assert_eq!(s.store.get_category(ACME, &c.id).await.unwrap(), None);
    assert!(s.store.list_categories(ACME).await.unwrap().is_empty());

    // Project.
    let p = project(&new_id());
    s.commit_ok(ACME, vec![create(Aggregate::Project(p.clone()))]).await;
    assert_eq!(s.store.get_project(ACME, &p.id).await.unwrap(), Some(p.clone()));
    let p2 = ProjectSnapshot { description: Some("To the moon".into()), version: 2, ..p.clone() };
    s.commit_ok(ACME, vec![update(Aggregate::Project(p2.clone()), 1)]).await;
    assert_eq!(s.store.get_project(ACME, &p.id).await.unwrap(), Some(p2));
    s.commit_ok(ACME, vec![delete(AggregateType::Project, &p.id, 2)]).await;
    assert_eq!(s.store.get_project(ACME, &p.id).await.unwrap(), None);
    assert!(s.store.list_projects(ACME).await.unwrap().is_empty());

    // Sprint.
    let sp = sprint(&new_id(), &p.id);
    s.commit_ok(ACME, vec![create(Aggregate::Sprint(sp.clone()))]).await;
    assert_eq!(s.store.get_sprint(ACME, &sp.id).await.unwrap(), Some(sp.clone()));
    let sp2 = SprintSnapshot {
        status: SprintStatus::Active,
        started_at: Some(ts("2026-03-02T08:00:00Z")),
        version: 2,
        ..sp.clone()
    };
    s.commit_ok(ACME, vec![update(Aggregate::Sprint(sp2.clone()), 1)]).await;
    assert_eq!(s.store.get_sprint(ACME, &sp.id).await.unwrap(), Some(sp2));
    s.commit_ok(ACME, vec![delete(AggregateType::Sprint, &sp.id, 2)]).await;
    assert_eq!(s.store.get_sprint(ACME, &sp.id).await.unwrap(), None);
    assert!(s.store.list_sprints(ACME, &p.id).await.unwrap().is_empty());

    // Comment (immutable: created and listed).
    let m = comment(&new_id(), &t.id);
    s.commit_ok(ACME, vec![create(Aggregate::Comment(m.clone()))]).await;
    assert_eq!(s.store.list_comments(ACME, &t.id, 10, None).await.unwrap().items, vec![m]);
}

pub async fn stale_versions_conflict_with_the_current_version(s: &Subject) {
    let t = task(&new_id());
    let t2 = TaskSnapshot { title: "Renamed".into(), version: 2, ..t.clone() };
    s.commit_ok(ACME, vec![create(Aggregate::Task(t.clone()))]).await;
    s.commit_ok(ACME, vec![update(Aggregate::Task(t2.clone()), 1)]).await;
    let stale = TaskSnapshot { title: "Lost update".into(), version: 2, ..t.clone() };
    assert_eq!(
        s.commit(ACME, vec![update(Aggregate::Task(stale), 1)]).await,
        Err(StoreError::Conflict { expected: 1, current: 2 })
    );
    assert_eq!(
        s.commit(ACME, vec![delete(AggregateType::Task, &t.id, 1)]).await,
        Err(StoreError::Conflict { expected: 1, current: 2 })
    );
    assert_eq!(s.store.get_task(ACME, &t.id).await.unwrap(), Some(t2));

    let missing = task(&new_id());
    assert_eq!(s.commit(ACME, vec![update(Aggregate::Task(missing.clone()), 1)]).await, Err(StoreError::NotFound));
    assert_eq!(s.commit(ACME, vec![delete(AggregateType::Task, &missing.id, 1)]).await, Err(StoreError::NotFound));

    let p = project(&new_id());
    s.commit_ok(ACME, vec![create(Aggregate::Project(p.clone()))]).await;
    let p3 = ProjectSnapshot { version: 3, ..p.clone() };
    assert_eq!(
        s.commit(ACME, vec![update(Aggregate::Project(p3), 2)]).await,
        Err(StoreError::Conflict { expected: 2, current: 1 })
    );
}

/// Two writers that send the same correlation id (a client reusing its request id, two
/// services copying one upstream id) at the same version: the second is a conflict, never
/// taken for the first one's retry, whichever way the write is made.
pub async fn a_shared_correlation_id_does_not_make_a_conflict_a_success(s: &Subject) {
    let shared = ctx_as(ACME, "corr-shared");
    let t = task(&new_id());
    s.store.commit(&shared, vec![create(Aggregate::Task(t.clone()))], None).await.unwrap();
    let first = TaskSnapshot { title: "First".into(), version: 2, ..t.clone() };
    let second = TaskSnapshot { title: "Second".into(), version: 2, ..t.clone() };
    s.store.commit(&shared, vec![update(Aggregate::Task(first.clone()), 1)], None).await.unwrap();
    assert_eq!(
        s.store.commit(&shared, vec![update(Aggregate::Task(second), 1)], None).await,
        Err(StoreError::Conflict { expected: 1, current: 2 })
    );
    assert_eq!(
        s.store.commit(&shared, vec![delete(AggregateType::Task, &t.id, 1)], None).await,
        Err(StoreError::Conflict { expected: 1, current: 2 })
    );
    assert_eq!(s.store.get_task(ACME, &t.id).await.unwrap(), Some(first.clone()));
    s.store.commit(&shared, vec![delete(AggregateType::Task, &t.id, 2)], None).await.unwrap();
    assert_eq!(
        s.store.commit(&shared, vec![delete(AggregateType::Task, &t.id, 2)], None).await,
        Err(StoreError::NotFound),
        "a second delete at the same version is no success either"
    );
}

pub async fn creating_an_existing_id_is_already_exists(s: &Subject) {
    let t = task(&new_id());
    s.commit_ok(ACME, vec![create(Aggregate::Task(t.clone()))]).await;
    let again = TaskSnapshot { title: "Someone else's".into(), ..t.clone() };
    assert_eq!(
        s.commit(ACME, vec![create(Aggregate::Task(again))]).await,
        Err(StoreError::AlreadyExists(t.id.clone()))
    );
    assert_eq!(s.store.get_task(ACME, &t.id).await.unwrap(), Some(t.clone()));

    let c = category(&new_id(), "Bugs");
    s.commit_ok(ACME, vec![create(Aggregate::Category(c.clone()))]).await;
    assert_eq!(
        s.commit(ACME, vec![create(Aggregate::Category(c.clone()))]).await,
        Err(StoreError::AlreadyExists(c.id.clone()))
    );
    let m = comment(&new_id(), &t.id);
    s.commit_ok(ACME, vec![create(Aggregate::Comment(m.clone()))]).await;
    assert_eq!(s.commit(ACME, vec![create(Aggregate::Comment(m.clone()))]).await, Err(StoreError::AlreadyExists(m.id)));
}

pub async fn a_commit_of_several_changes_is_all_or_nothing(s: &Subject) {
    let [a, b, c, d, gone] = [(); 5].map(|_| task(&new_id()));
    s.commit_ok(
        ACME,
        vec![
            create(Aggregate::Task(a.clone())),
            create(Aggregate::Task(b.clone())),
            create(Aggregate::Task(c.clone())),
        ],
    )
    .await;
    let b2 = TaskSnapshot { version: 2, title: "b, edited".into(), ..b.clone() };
    s.commit_ok(ACME, vec![update(Aggregate::Task(b2.clone()), 1)]).await;

    let a2 = TaskSnapshot { version: 2, status: TaskStatus::Done, ..a.clone() };
    let refused = s
        .commit(
            ACME,
            vec![
                update(Aggregate::Task(a2.clone()), 1),
                update(Aggregate::Task(TaskSnapshot { version: 2, ..b.clone() }), 1),
                delete(AggregateType::Task, &gone.id, 1),
                create(Aggregate::Task(c.clone())),
                create(Aggregate::Task(d.clone())),
            ],
        )
        .await;
    let Err(StoreError::Rejected(mut failures)) = refused else { panic!("expected Rejected, got {refused:?}") };
    failures.sort_by(|x, y| x.id.cmp(&y.id));
    let mut expected = vec![
        ChangeFailure {
            aggregate_type: AggregateType::Task,
            id: b.id.clone(),
            reason: FailureReason::VersionMismatch { expected: 1, current: Some(2) },
        },
        ChangeFailure { aggregate_type: AggregateType::Task, id: gone.id.clone(), reason: FailureReason::NotFound },
        ChangeFailure { aggregate_type: AggregateType::Task, id: c.id.clone(), reason: FailureReason::AlreadyExists },
    ];
    expected.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(failures, expected);
    // Nothing was written: not the good update, not the good create.
    assert_eq!(s.store.get_task(ACME, &a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(s.store.get_task(ACME, &d.id).await.unwrap(), None);

    let b3 = TaskSnapshot { version: 3, ..b2.clone() };
    s.commit_ok(
        ACME,
        vec![
            update(Aggregate::Task(a2.clone()), 1),
            update(Aggregate::Task(b3.clone()), 2),
            delete(AggregateType::Task, &c.id, 1),
            create(Aggregate::Task(d.clone())),
        ],
    )
    .await;
    assert_eq!(s.store.get_task(ACME, &a.id).await.unwrap(), Some(a2));
    assert_eq!(s.store.get_task(ACME, &b.id).await.unwrap(), Some(b3));
    assert_eq!(s.store.get_task(ACME, &c.id).await.unwrap(), None);
    assert_eq!(s.store.get_task(ACME, &d.id).await.unwrap(), Some(d));
}

fn record(key: &str, body: &str) -> IdempotencyRecord {
    IdempotencyRecord { key: key.into(), fingerprint: format!("sha256:{body}"), status: 201, body: body.into() }
}

pub async fn idempotency_records_commit_with_their_changes(s: &Subject) {
    let key = format!("key-{}", new_id());
    let first = record(&key, r#"{"data":{"id":"a"}}"#);
    let a = task(&new_id());
    s.store.commit(&ctx(ACME), vec![create(Aggregate::Task(a.clone()))], Some(first.clone())).await.unwrap();
    assert_eq!(s.store.get_idempotency(ACME, &key).await.unwrap(), Some(first.clone()));
    assert!(s.store.get_task(ACME, &a.id).await.unwrap().is_some());

    // A second use of the key writes nothing.
    let b = task(&new_id());
    let second = record(&key, r#"{"data":{"id":"b"}}"#);
    assert_eq!(
        s.store.commit(&ctx(ACME), vec![create(Aggregate::Task(b.clone()))], Some(second.clone())).await,
        Err(StoreError::IdempotencyRace)
    );
    assert_eq!(s.store.get_task(ACME, &b.id).await.unwrap(), None);
    assert_eq!(s.store.get_idempotency(ACME, &key).await.unwrap(), Some(first));
    let several = vec![create(Aggregate::Task(b.clone())), create(Aggregate::Task(task(&new_id())))];
    assert_eq!(s.store.commit(&ctx(ACME), several, Some(second)).await, Err(StoreError::IdempotencyRace));
    assert_eq!(s.store.get_task(ACME, &b.id).await.unwrap(), None);

    // A request that changed nothing still records its key, once.
    let quiet = record(&format!("quiet-{}", new_id()), "{}");
    s.store.commit(&ctx(ACME), vec![], Some(quiet.clone())).await.unwrap();
    assert_eq!(s.store.get_idempotency(ACME, &quiet.key).await.unwrap(), Some(quiet.clone()));
    assert_eq!(s.store.commit(&ctx(ACME), vec![], Some(quiet.clone())).await, Err(StoreError::IdempotencyRace));

    // A refused change takes its idempotency record down with it.
    let refused = record(&format!("refused-{}", new_id()), "{}");
    let stale = TaskSnapshot { version: 5, ..a.clone() };
    assert_eq!(
        s.store.commit(&ctx(ACME), vec![update(Aggregate::Task(stale), 4)], Some(refused.clone())).await,
        Err(StoreError::Conflict { expected: 4, current: 1 })
    );
    assert_eq!(s.store.get_idempotency(ACME, &refused.key).await.unwrap(), None);

    // Keys belong to their tenant.
    assert_eq!(s.store.get_idempotency(GLOBEX, &key).await.unwrap(), None);
    let theirs = record(&key, "{}");
    s.store.commit(&ctx(GLOBEX), vec![], Some(theirs.clone())).await.unwrap();
    assert_eq!(s.store.get_idempotency(GLOBEX, &key).await.unwrap(), Some(theirs));
}

pub async fn a_commit_holds_at_most_100_changes(s: &Subject) {
    let too_many: Vec<_> = (0..101).map(|_| create(Aggregate::Task(task(&new_id())))).collect();
    assert_eq!(s.commit(ACME, too_many).await, Err(StoreError::TooManyChanges(101)));
    assert!(live_task_ids(s, ACME).await.is_empty());
    // An idempotency record is an item of the same transaction.
    let hundred: Vec<_> = (0..100).map(|_| create(Aggregate::Task(task(&new_id())))).collect();
    let keyed = s.store.commit(&ctx(ACME), hundred.clone(), Some(record("k-limit", "{}"))).await;
    assert_eq!(keyed, Err(StoreError::TooManyChanges(101)));
    assert!(live_task_ids(s, ACME).await.is_empty());
    s.commit_ok(ACME, hundred).await;
    assert_eq!(live_task_ids(s, ACME).await.len(), 100);
}

pub async fn tenants_are_walled_off(s: &Subject) {
    let t = task(&new_id());
    let c = category(&new_id(), "Bugs");
    let p = project(&new_id());
    let sp = sprint(&new_id(), &p.id);
    let m = comment(&new_id(), &t.id);
    s.commit_ok(
        ACME,
        vec![
            create(Aggregate::Task(t.clone())),
            create(Aggregate::Category(c.clone())),
            create(Aggregate::Project(p.clone())),
            create(Aggregate::Sprint(sp.clone())),
            create(Aggregate::Comment(m.clone())),
        ],
    )
    .await;
    assert_eq!(s.store.get_task(GLOBEX, &t.id).await.unwrap(), None);
    assert_eq!(s.store.get_category(GLOBEX, &c.id).await.unwrap(), None);
    assert_eq!(s.store.get_project(GLOBEX, &p.id).await.unwrap(), None);
    assert_eq!(s.store.get_sprint(GLOBEX, &sp.id).await.unwrap(), None);
    assert!(live_task_ids(s, GLOBEX).await.is_empty());
    assert!(s.store.list_categories(GLOBEX).await.unwrap().is_empty());
    assert!(s.store.list_projects(GLOBEX).await.unwrap().is_empty());
    assert!(s.store.list_sprints(GLOBEX, &p.id).await.unwrap().is_empty());
    assert!(s.store.list_comments(GLOBEX, &t.id, 10, None).await.unwrap().items.is_empty());

    // Another tenant's ids are not there to change, and are free to use.
    let t2 = TaskSnapshot { version: 2, ..t.clone() };
    assert_eq!(s.commit(GLOBEX, vec![update(Aggregate::Task(t2), 1)]).await, Err(StoreError::NotFound));
    assert_eq!(s.commit(GLOBEX, vec![delete(AggregateType::Category, &c.id, 1)]).await, Err(StoreError::NotFound));
    let theirs = TaskSnapshot { title: "Globex's own".into(), ..t.clone() };
    s.commit_ok(GLOBEX, vec![create(Aggregate::Task(theirs.clone()))]).await;
    assert_eq!(s.store.get_task(GLOBEX, &t.id).await.unwrap(), Some(theirs));
    assert_eq!(s.store.get_task(ACME, &t.id).await.unwrap(), Some(t));
}

fn history(tenant: &str, task_id: &str, version: u64, event_type: &str) -> HistoryRecord {
    HistoryRecord {
        tenant: tenant.into(),
        task_id: task_id.into(),
        version,
        event_type: event_type.into(),
        event_id: uuid::Uuid::new_v4(),
        schema_version: 2,
        occurred_at: ts("2026-03-01T10:00:00.500Z"),
        actor: "maria".into(),
        correlation_id: "corr-h".into(),
        data: serde_json::json!({ "task": { "id": task_id, "points": 2.5, "tags": ["a"] }, "n": 10 }),
    }
}

pub async fn history_is_appended_once_per_version_and_event_type(s: &Subject) {
    let id = new_id();
    let entries = [
        history(ACME, &id, 10, "TaskUpdated"),
        history(ACME, &id, 2, "TaskStatusChanged"),
        history(ACME, &id, 2, "TaskAssigned"),
        history(ACME, &id, 1, "TaskCreated"),
    ];
    for entry in &entries {
        assert!(s.history.append(entry).await.unwrap());
    }
    // A redelivery (even with another event id) is a no-op that succeeds.
    let again = HistoryRecord { event_id: uuid::Uuid::new_v4(), ..entries[1].clone() };
    assert!(!s.history.append(&again).await.unwrap());
    let listed = s.history.list(ACME, &id).await.unwrap();
    assert_eq!(listed, vec![entries[3].clone(), entries[2].clone(), entries[1].clone(), entries[0].clone()]);
    assert!(s.history.list(GLOBEX, &id).await.unwrap().is_empty());
    assert!(s.history.append(&history(GLOBEX, &id, 1, "TaskCreated")).await.unwrap());
}

//! Inbound commands over the store port: external keys link once, a command applies once
//! however often it is delivered, and a refused command writes nothing.

use events_schema::commands::CommandEnvelope;
use serde_json::{Value, json};
use shared_core::ingest::{Effect, Outcome, Reason, apply, parse_envelope, receipt_key};
use shared_core::ports::{ExternalKeyLink, IdempotencyRecord, TaskQuery};

use super::*;

pub fn publisher(tenant: &str) -> Identity {
    Identity { tenant: tenant.into(), actor: "git-bot".into(), role: Role::Member }
}

pub fn wire(command_id: &str, command_type: &str, data: Value) -> CommandEnvelope {
    let text = json!({ "commandId": command_id, "commandType": command_type, "schemaVersion": 1, "data": data });
    parse_envelope(text.to_string().as_bytes()).unwrap()
}

fn receipt(command_id: &str) -> IdempotencyRecord {
    IdempotencyRecord { key: receipt_key(command_id), fingerprint: "f".into(), status: 200, body: "{}".into() }
}

async fn task_count(s: &Subject, tenant: &str) -> usize {
    let query = TaskQuery { limit: 100, ..TaskQuery::default() };
    s.store.list_tasks(tenant, &query).await.unwrap().items.len()
}

pub async fn external_keys_link_once_with_their_task(s: &Subject) {
    let key = format!("PR-{}", new_id());
    let a = task(&new_id());
    let link = ExternalKeyLink { key: key.clone(), task_id: a.id.clone() };
    s.store
        .commit_command(&ctx(ACME), vec![create(Aggregate::Task(a.clone()))], receipt("c-a"), Some(link))
        .await
        .unwrap();
    assert_eq!(s.store.task_for_external_key(ACME, &key).await.unwrap(), Some(a.id.clone()));
    assert!(s.store.get_idempotency(ACME, &receipt_key("c-a")).await.unwrap().is_some());

    // The key is taken: the second create, its receipt and its link are all refused.
    let b = task(&new_id());
    let again = ExternalKeyLink { key: key.clone(), task_id: b.id.clone() };
    assert_eq!(
        s.store.commit_command(&ctx(ACME), vec![create(Aggregate::Task(b.clone()))], receipt("c-b"), Some(again)).await,
        Err(StoreError::AlreadyExists(key.clone()))
    );
    assert_eq!(s.store.get_task(ACME, &b.id).await.unwrap(), None);
    assert_eq!(s.store.get_idempotency(ACME, &receipt_key("c-b")).await.unwrap(), None);
    assert_eq!(s.store.task_for_external_key(ACME, &key).await.unwrap(), Some(a.id.clone()));

    // A second delivery of the first command is a duplicate, not a taken key.
    let c = task(&new_id());
    let same = ExternalKeyLink { key: key.clone(), task_id: c.id.clone() };
    assert_eq!(
        s.store.commit_command(&ctx(ACME), vec![create(Aggregate::Task(c.clone()))], receipt("c-a"), Some(same)).await,
        Err(StoreError::IdempotencyRace)
    );
    assert_eq!(s.store.get_task(ACME, &c.id).await.unwrap(), None);

    // A refused change takes its receipt and link down with it.
    let stale = TaskSnapshot { version: 5, ..a.clone() };
    let other_key = format!("PR-{}", new_id());
    let link = ExternalKeyLink { key: other_key.clone(), task_id: a.id.clone() };
    assert_eq!(
        s.store.commit_command(&ctx(ACME), vec![update(Aggregate::Task(stale), 4)], receipt("c-d"), Some(link)).await,
        Err(StoreError::Conflict { expected: 4, current: 1 })
    );
    assert_eq!(s.store.task_for_external_key(ACME, &other_key).await.unwrap(), None);
    assert_eq!(s.store.get_idempotency(ACME, &receipt_key("c-d")).await.unwrap(), None);

    // Keys belong to their tenant: another tenant neither sees nor is blocked by it.
    assert_eq!(s.store.task_for_external_key(GLOBEX, &key).await.unwrap(), None);
    let g = task(&new_id());
    let theirs = ExternalKeyLink { key: key.clone(), task_id: g.id.clone() };
    s.store
        .commit_command(&ctx(GLOBEX), vec![create(Aggregate::Task(g.clone()))], receipt("c-a"), Some(theirs))
        .await
        .unwrap();
    assert_eq!(s.store.task_for_external_key(GLOBEX, &key).await.unwrap(), Some(g.id));
    assert_eq!(s.store.task_for_external_key(ACME, &key).await.unwrap(), Some(a.id));
}

pub async fn commands_apply_once_and_name_their_rejections(s: &Subject) {
    let store = s.store.as_ref();
    let acme = publisher(ACME);
    let key = format!("PR-{}", new_id());
    let create = wire("c-1", "TaskCreateRequested", json!({ "title": "Review the PR", "externalKey": key }));
    let created = apply(store, &acme, create.clone()).await.unwrap();
    assert_eq!((created.result, created.version, created.duplicate), (Effect::Applied, 1, false));
    let task = store.get_task(ACME, &created.task_id).await.unwrap().unwrap();
    assert_eq!((task.title.as_str(), task.status), ("Review the PR", TaskStatus::Todo));

    // A second delivery does nothing and says what the first did.
    let again = apply(store, &acme, create).await.unwrap();
    assert_eq!(again, Outcome { duplicate: true, ..created.clone() });
    assert_eq!(task_count(s, ACME).await, 1);

    // By external key, on the latest version; then by id, on a named version.
    let by_key = json!({ "task": { "externalKey": key }, "status": "in_progress", "expectedVersion": "latest" });
    let moved = apply(store, &acme, wire("c-2", "TaskStatusRequested", by_key)).await.unwrap();
    assert_eq!((moved.task_id.as_str(), moved.version), (created.task_id.as_str(), 2));
    let by_id = json!({ "task": { "id": created.task_id }, "status": "in_review", "expectedVersion": 2 });
    let reviewed = apply(store, &acme, wire("c-3", "TaskStatusRequested", by_id)).await.unwrap();
    assert_eq!(reviewed.version, 3);
    let comment = json!({ "task": { "externalKey": key }, "body": "CI is green, @maria" });
    let commented = apply(store, &acme, wire("c-4", "TaskCommentRequested", comment)).await.unwrap();
    let comments = store.list_comments(ACME, &created.task_id, 10, None).await.unwrap().items;
    assert_eq!(comments.len(), 1);
    assert_eq!(Some(&comments[0].id), commented.comment_id.as_ref());
    assert_eq!((comments[0].author.as_str(), comments[0].mentions.clone()), ("git-bot", vec!["maria".to_owned()]));

    // Each refusal names its reason and writes nothing.
    let refused = |id: &str, command_type: &str, data: Value| wire(id, command_type, data);
    let stale = json!({ "task": { "id": created.task_id }, "status": "blocked", "expectedVersion": 2 });
    let err = apply(store, &acme, refused("c-5", "TaskStatusRequested", stale)).await.unwrap_err();
    assert_eq!((err.reason, err.current_version), (Reason::StaleVersion, Some(3)));
    let unknown = json!({ "task": { "externalKey": "PR-none" }, "status": "blocked", "expectedVersion": "latest" });
    let err = apply(store, &acme, refused("c-6", "TaskStatusRequested", unknown)).await.unwrap_err();
    assert_eq!(err.reason, Reason::TaskNotFound);
    let illegal = json!({ "task": { "id": created.task_id }, "status": "todo", "expectedVersion": "latest" });
    let status_err = apply(store, &acme, refused("c-7", "TaskStatusRequested", illegal)).await;
    // in_review → todo is not a move the rules allow.
    assert_eq!(status_err.map_err(|e| e.reason), Err(Reason::IllegalTransition));
    let taken = json!({ "title": "Another", "externalKey": key });
    let err = apply(store, &acme, refused("c-8", "TaskCreateRequested", taken)).await.unwrap_err();
    assert_eq!(err.reason, Reason::ExternalKeyTaken);
    assert!(err.message.contains(&created.task_id), "{}", err.message);
    let reused = json!({ "title": "Not the first command" });
    let err = apply(store, &acme, refused("c-1", "TaskCreateRequested", reused)).await.unwrap_err();
    assert_eq!(err.reason, Reason::CommandIdReused);
    let mut foreign = wire("c-9", "TaskCreateRequested", json!({ "title": "Theirs" }));
    foreign.tenant = Some(GLOBEX.into());
    assert_eq!(apply(store, &acme, foreign).await.unwrap_err().reason, Reason::WrongTenant);
    let unknown_version = CommandEnvelope { schema_version: 2, ..wire("c-10", "TaskCreateRequested", json!({})) };
    assert_eq!(apply(store, &acme, unknown_version).await.unwrap_err().reason, Reason::Invalid);

    let after = store.get_task(ACME, &created.task_id).await.unwrap().unwrap();
    assert_eq!((after.version, after.status), (3, TaskStatus::InReview));
    assert_eq!(task_count(s, ACME).await, 1);
    for refused_id in ["c-5", "c-6", "c-7", "c-8", "c-9", "c-10"] {
        assert_eq!(store.get_idempotency(ACME, &receipt_key(refused_id)).await.unwrap(), None, "{refused_id}");
    }
    assert_eq!(task_count(s, GLOBEX).await, 0);
}

pub async fn duplicate_and_shuffled_deliveries_apply_once(s: &Subject) {
    let store = s.store.as_ref();
    let acme = publisher(ACME);
    let key = format!("PR-{}", new_id());
    apply(store, &acme, wire("k-0", "TaskCreateRequested", json!({ "title": "t", "externalKey": key }))).await.unwrap();
    let commands: Vec<CommandEnvelope> = (1..=5)
        .map(|i| {
            wire(
                &format!("k-{i}"),
                "TaskCommentRequested",
                json!({ "task": { "externalKey": key }, "body": format!("note {i}") }),
            )
        })
        .chain([wire(
            "k-6",
            "TaskStatusRequested",
            json!({ "task": { "externalKey": key }, "status": "blocked", "expectedVersion": "latest" }),
        )])
        .collect();
    // Every command three times, in an order that interleaves the copies.
    let mut deliveries: Vec<CommandEnvelope> = Vec::new();
    for round in 0..3 {
        for i in 0..commands.len() {
            deliveries.push(commands[(i * 5 + round * 2) % commands.len()].clone());
        }
    }
    let mut duplicates = 0;
    for delivery in deliveries {
        if apply(store, &acme, delivery).await.unwrap().duplicate {
            duplicates += 1;
        }
    }
    assert_eq!(duplicates, 12);
    let id = store.task_for_external_key(ACME, &key).await.unwrap().unwrap();
    let mut bodies: Vec<String> =
        store.list_comments(ACME, &id, 50, None).await.unwrap().items.into_iter().map(|c| c.body).collect();
    bodies.sort();
    assert_eq!(bodies, ["note 1", "note 2", "note 3", "note 4", "note 5"]);
    let task = store.get_task(ACME, &id).await.unwrap().unwrap();
    assert_eq!((task.status, task.version), (TaskStatus::Blocked, 2));
}

pub async fn publishers_reach_only_their_tenant(s: &Subject) {
    let store = s.store.as_ref();
    let key = format!("PR-{}", new_id());
    let ours =
        apply(store, &publisher(ACME), wire("t-1", "TaskCreateRequested", json!({ "title": "t", "externalKey": key })))
            .await
            .unwrap();
    let globex = publisher(GLOBEX);
    for task in [json!({ "externalKey": key }), json!({ "id": ours.task_id })] {
        let data = json!({ "task": task, "status": "in_progress", "expectedVersion": "latest" });
        let err =
            apply(store, &globex, wire(&format!("g-{}", new_id()), "TaskStatusRequested", data)).await.unwrap_err();
        assert_eq!(err.reason, Reason::TaskNotFound);
        let data = json!({ "task": task, "body": "hello" });
        let err =
            apply(store, &globex, wire(&format!("g-{}", new_id()), "TaskCommentRequested", data)).await.unwrap_err();
        assert_eq!(err.reason, Reason::TaskNotFound);
    }
    // The same command id in another tenant is another command.
    let theirs = apply(store, &globex, wire("t-1", "TaskCreateRequested", json!({ "title": "t", "externalKey": key })))
        .await
        .unwrap();
    assert!(!theirs.duplicate);
    assert_ne!(theirs.task_id, ours.task_id);
    let viewer = Identity { role: Role::Viewer, ..publisher(ACME) };
    let err = apply(store, &viewer, wire("v-1", "TaskCreateRequested", json!({ "title": "t" }))).await.unwrap_err();
    assert_eq!(err.reason, Reason::Forbidden);
    let ours_now = store.get_task(ACME, &ours.task_id).await.unwrap().unwrap();
    assert_eq!((ours_now.version, ours_now.status), (1, TaskStatus::Todo));
}

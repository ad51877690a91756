//! A store over another one, with hooks that make races and failures happen on cue: commits
//! that wait for each other, task lists that fail from the nth call on. Everything else goes
//! straight to the store underneath.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use events_schema::events::{CategorySnapshot, CommentSnapshot, ProjectSnapshot, SprintSnapshot, TaskSnapshot};
use shared_core::context::RequestContext;
use shared_core::ports::{Change, ExternalKeyLink, IdempotencyRecord, Page, Store, StoreError, TaskQuery};
use tokio::sync::Barrier;

pub struct Hooked {
    inner: Arc<dyn Store>,
    /// No commit reaches the store until this many are under way.
    commits_together: Option<Barrier>,
    /// Task lists from this call on (0 is the first) fail as unavailable.
    fail_lists_from: Option<usize>,
    lists: AtomicUsize,
    /// Commits from this call on (0 is the first) fail as unavailable, writing nothing.
    fail_commits_from: Option<usize>,
    commits: AtomicUsize,
}

impl Hooked {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            commits_together: None,
            fail_lists_from: None,
            lists: AtomicUsize::new(0),
            fail_commits_from: None,
            commits: AtomicUsize::new(0),
        }
    }

    /// Commits wait until `n` of them are under way, then all go at once: requests that
    /// read the same version really race on the conditional write.
    pub fn commits_together(mut self, n: usize) -> Self {
        self.commits_together = Some(Barrier::new(n));
        self
    }

    /// The `n`th commit (0 the first) and every later one fail: a process stopped half-way.
    pub fn fail_commits_from(mut self, n: usize) -> Self {
        self.fail_commits_from = Some(n);
        self
    }

    /// The `n`th task list call (0 the first) and every later one fail.
    pub fn fail_lists_from(mut self, n: usize) -> Self {
        self.fail_lists_from = Some(n);
        self
    }
}

#[async_trait]
impl Store for Hooked {
    async fn get_task(&self, tenant: &str, id: &str) -> Result<Option<TaskSnapshot>, StoreError> {
        self.inner.get_task(tenant, id).await
    }
    async fn list_tasks(&self, tenant: &str, query: &TaskQuery) -> Result<Page<TaskSnapshot>, StoreError> {
        let call = self.lists.fetch_add(1, Ordering::SeqCst);
        if self.fail_lists_from.is_some_and(|n| call >= n) {
            return Err(StoreError::Unavailable(format!("list call {call} fails on cue")));
        }
        self.inner.list_tasks(tenant, query).await
    }
    async fn get_category(&self, tenant: &str, id: &str) -> Result<Option<CategorySnapshot>, StoreError> {
        self.inner.get_category(tenant, id).await
    }
    async fn list_categories(&self, tenant: &str) -> Result<Vec<CategorySnapshot>, StoreError> {
        self.inner.list_categories(tenant).await
    }
    async fn get_project(&self, tenant: &str, id: &str) -> Result<Option<ProjectSnapshot>, StoreError> {
        self.inner.get_project(tenant, id).await
    }
    async fn list_projects(&self, tenant: &str) -> Result<Vec<ProjectSnapshot>, StoreError> {
        self.inner.list_projects(tenant).await
    }
    async fn get_sprint(&self, tenant: &str, id: &str) -> Result<Option<SprintSnapshot>, StoreError> {
        self.inner.get_sprint(tenant, id).await
    }
    async fn list_sprints(&self, tenant: &str, project_id: &str) -> Result<Vec<SprintSnapshot>, StoreError> {
        self.inner.list_sprints(tenant, project_id).await
    }
    async fn list_comments(
        &self,
        tenant: &str,
        task_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<CommentSnapshot>, StoreError> {
        self.inner.list_comments(tenant, task_id, limit, cursor).await
    }
    async fn get_idempotency(&self, tenant: &str, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.inner.get_idempotency(tenant, key).await
    }
    async fn commit(
        &self,
        ctx: &RequestContext,
        changes: Vec<Change>,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        if let Some(barrier) = &self.commits_together {
            barrier.wait().await;
        }
        let call = self.commits.fetch_add(1, Ordering::SeqCst);
        if self.fail_commits_from.is_some_and(|n| call >= n) {
            return Err(StoreError::Unavailable(format!("commit {call} fails on cue")));
        }
        self.inner.commit(ctx, changes, idempotency).await
    }
    async fn task_for_external_key(&self, tenant: &str, key: &str) -> Result<Option<String>, StoreError> {
        self.inner.task_for_external_key(tenant, key).await
    }
    async fn commit_command(
        &self,
        ctx: &RequestContext,
        changes: Vec<Change>,
        receipt: IdempotencyRecord,
        link: Option<ExternalKeyLink>,
    ) -> Result<(), StoreError> {
        if let Some(barrier) = &self.commits_together {
            barrier.wait().await;
        }
        self.inner.commit_command(ctx, changes, receipt, link).await
    }
}

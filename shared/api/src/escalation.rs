//! `/escalation-policy`: the tenant's escalation policy, read and replaced whole (admin).
//! A tenant that never stored one reads the defaults at version 0; a replace names the
//! version it replaces like every other change.
//!
//! The routes answer only where the engine keeps policies: `serve` (SQLite) and the task-api
//! Lambda (the table) put an [`EscalationHandle`] in the request extensions; without one they
//! are 404.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use events_schema::events::Priority;
use serde::{Deserialize, Serialize};
use shared_core::Role;
use shared_core::domain::FieldError;
use shared_core::escalation::{Level, Policy, Problems, ProjectRules, Rules, Target};
use shared_core::ports::{EscalationPolicies, StoreError};

use super::AppState;
use super::error::{ApiError, ErrorCode};
use super::extract::{Ctx, Json};
use super::tasks::{MAX_VERSION, USER_NAME, data};
use super::versions::expected_version;

/// The engine's policy store, as `serve` and the task-api Lambda hand it to the router.
#[derive(Clone)]
pub struct EscalationHandle(pub Arc<dyn EscalationPolicies>);

pub struct Policies(pub Arc<dyn EscalationPolicies>);

impl<S: Send + Sync> FromRequestParts<S> for Policies {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<EscalationHandle>() {
            Some(handle) => Ok(Policies(Arc::clone(&handle.0))),
            None => Err(super::error::not_found().await),
        }
    }
}

const LEVEL_NAME: &str = "^[a-z0-9_-]{1,40}$";

/// Who a level tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetName {
    Assignee,
    Reporter,
    /// The lead the rules name (`lead`).
    Lead,
}

impl From<TargetName> for Target {
    fn from(t: TargetName) -> Self {
        match t {
            TargetName::Assignee => Target::Assignee,
            TargetName::Reporter => Target::Reporter,
            TargetName::Lead => Target::Lead,
        }
    }
}

impl From<Target> for TargetName {
    fn from(t: Target) -> Self {
        match t {
            Target::Assignee => TargetName::Assignee,
            Target::Reporter => TargetName::Reporter,
            Target::Lead => TargetName::Lead,
        }
    }
}

/// One level of a due-date escalation.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LevelDoc {
    /// Unique within its rules.
    #[schemars(regex(pattern = LEVEL_NAME))]
    name: String,
    /// Minutes from the due instant (the end of the due day in the rules' time zone);
    /// negative is before it. Unique within its rules.
    #[schemars(range(min = -527_040, max = 527_040))]
    offset_minutes: i64,
    #[schemars(length(max = 3))]
    notify: Vec<TargetName>,
    /// Raise the task's priority to this when it is lower.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    raise_priority: Option<Priority>,
}

/// Minutes a task without a due date may stay in `todo`, per priority; a priority left out
/// has no SLA.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 527_040))]
    low: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 527_040))]
    medium: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 527_040))]
    high: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 527_040))]
    critical: Option<u32>,
}

impl SlaDoc {
    fn into_map(self) -> BTreeMap<Priority, u32> {
        [
            (Priority::Low, self.low),
            (Priority::Medium, self.medium),
            (Priority::High, self.high),
            (Priority::Critical, self.critical),
        ]
        .into_iter()
        .filter_map(|(p, m)| m.map(|m| (p, m)))
        .collect()
    }

    fn from_map(map: &BTreeMap<Priority, u32>) -> Self {
        let get = |p| map.get(&p).copied();
        Self {
            low: get(Priority::Low),
            medium: get(Priority::Medium),
            high: get(Priority::High),
            critical: get(Priority::Critical),
        }
    }
}

/// A project's overrides: each field given replaces the tenant's for its tasks.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProjectDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -840, max = 840))]
    utc_offset_minutes: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10))]
    levels: Option<Vec<LevelDoc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sla_minutes: Option<SlaDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 3))]
    sla_notify: Option<Vec<TargetName>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), regex(pattern = USER_NAME))]
    lead: Option<String>,
}

/// The whole policy, as read and as replaced: PUT back what GET gave with fields changed.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyDoc {
    /// The version being replaced: 0 while the tenant has the defaults (or `If-Match`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u64", range(min = 0, max = MAX_VERSION))]
    version: Option<u64>,
    /// The time zone due dates are meant in, as minutes east of UTC.
    #[schemars(range(min = -840, max = 840))]
    utc_offset_minutes: i32,
    /// Any order; stored by offset, and numbered from 1 in that order.
    #[schemars(length(max = 10))]
    levels: Vec<LevelDoc>,
    sla_minutes: SlaDoc,
    /// Who an SLA breach tells.
    #[schemars(length(max = 3))]
    sla_notify: Vec<TargetName>,
    /// The person `lead` names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), regex(pattern = USER_NAME))]
    lead: Option<String>,
    /// Project id → its overrides (at most 1 000; each a project of the tenant).
    #[serde(default)]
    projects: BTreeMap<String, ProjectDoc>,
}

fn level_of(doc: LevelDoc) -> Level {
    Level {
        name: doc.name,
        offset_minutes: doc.offset_minutes,
        notify: doc.notify.into_iter().map(Target::from).collect(),
        raise_priority: doc.raise_priority,
    }
}

fn level_doc(level: &Level) -> LevelDoc {
    LevelDoc {
        name: level.name.clone(),
        offset_minutes: level.offset_minutes,
        notify: level.notify.iter().map(|t| (*t).into()).collect(),
        raise_priority: level.raise_priority,
    }
}

fn targets(list: Vec<TargetName>) -> Vec<Target> {
    list.into_iter().map(Target::from).collect()
}

impl PolicyDoc {
    fn into_policy(self) -> Policy {
        let projects = self
            .projects
            .into_iter()
            .map(|(id, p)| {
                let rules = ProjectRules {
                    utc_offset_minutes: p.utc_offset_minutes,
                    levels: p.levels.map(|l| l.into_iter().map(level_of).collect()),
                    sla_minutes: p.sla_minutes.map(SlaDoc::into_map),
                    sla_notify: p.sla_notify.map(targets),
                    lead: p.lead,
                };
                (id, rules)
            })
            .collect();
        Policy {
            rules: Rules {
                utc_offset_minutes: self.utc_offset_minutes,
                levels: self.levels.into_iter().map(level_of).collect(),
                sla_minutes: self.sla_minutes.into_map(),
                sla_notify: targets(self.sla_notify),
                lead: self.lead,
            },
            projects,
            version: 0,
        }
    }

    fn of(policy: &Policy) -> Self {
        let projects = policy
            .projects
            .iter()
            .map(|(id, p)| {
                let doc = ProjectDoc {
                    utc_offset_minutes: p.utc_offset_minutes,
                    levels: p.levels.as_ref().map(|l| l.iter().map(level_doc).collect()),
                    sla_minutes: p.sla_minutes.as_ref().map(SlaDoc::from_map),
                    sla_notify: p.sla_notify.as_ref().map(|l| l.iter().map(|t| (*t).into()).collect()),
                    lead: p.lead.clone(),
                };
                (id.clone(), doc)
            })
            .collect();
        Self {
            version: Some(policy.version),
            utc_offset_minutes: policy.rules.utc_offset_minutes,
            levels: policy.rules.levels.iter().map(level_doc).collect(),
            sla_minutes: SlaDoc::from_map(&policy.rules.sla_minutes),
            sla_notify: policy.rules.sla_notify.iter().map(|t| (*t).into()).collect(),
            lead: policy.rules.lead.clone(),
            projects,
        }
    }
}

pub async fn get(ctx: Ctx, Policies(policies): Policies) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    let policy = policies.policy(ctx.tenant()).await?.unwrap_or_default();
    Ok(data(PolicyDoc::of(&policy)).into_response())
}

pub async fn put(
    State(state): State<AppState>,
    ctx: Ctx,
    Policies(policies): Policies,
    headers: HeaderMap,
    Json(body): Json<PolicyDoc>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    let expected = expected_version(body.version, None, &headers)?;
    let mut policy = body.into_policy();
    let Problems { shape, mut consistency } = policy.check();
    if !shape.is_empty() {
        return Err(ApiError::invalid_fields(shape));
    }
    // Overrides name projects of the caller's tenant; another tenant's project does not exist.
    for id in policy.projects.keys() {
        if state.store.get_project(ctx.tenant(), id).await?.is_none() {
            consistency.push(FieldError::new(&format!("projects.{id}"), "no such project"));
        }
    }
    if !consistency.is_empty() {
        return Err(ApiError::unprocessable_fields(consistency));
    }
    let stored = policies.put_policy(ctx.tenant(), &policy, expected).await.map_err(|e| match e {
        StoreError::Conflict { expected, current } => ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::VersionConflict,
            format!("the escalation policy is at version {current}, not {expected}: read it again and retry"),
        )
        .with_details(serde_json::json!({
            "resource": "escalation policy", "expectedVersion": expected, "currentVersion": current
        })),
        other => other.into(),
    })?;
    tracing::info!(version = stored.version, "escalation policy saved");
    Ok(data(PolicyDoc::of(&stored)).into_response())
}

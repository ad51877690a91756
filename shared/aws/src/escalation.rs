//! Escalation on AWS: a tenant's policy as an item of the table, and each task's plan as one
//! Step Functions execution of `state-machines/escalation.asl.json`.
//!
//! The execution is handed everything it does, made here from the plan: for each level the
//! time to wait until and the whole conditional `UpdateItem` (key, update, condition, names,
//! values). The definition only waits and writes; a failed condition writes nothing. The
//! condition is the one core's [`escalate`](shared_core::escalation::escalate) checks for
//! `serve`: the task is open (in `todo` for an SLA plan), has the plan's due date, has not
//! reached the level, and still has the priority the plan saw when the level raises it.
//!
//! An execution is named from the tenant, the task and the plan's version: a redelivered
//! event starts the same name, which Step Functions refuses (`ExecutionAlreadyExists`) or
//! answers with the running one; either way it is done. Which execution is a task's current
//! one is kept in a small item beside the task (`sk = ESCALATION`, fenced by task version),
//! so a newer plan, a finished or a deleted task stops the one before.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use events_schema::events::TaskStatus;
use serde_json::{Value, json};
use shared_core::escalation::{Plan, Policy, RUNNER_ACTOR, Step};
use shared_core::ports::{EscalationPolicies, EscalationSchedule, StoreError};

use crate::dynamo::item::{self, get_n, get_s, key, n, s};
use crate::dynamo::{ConfigError, keys, unavailable};

/// The sort key of a task's escalation item, in the task's own partition.
const ESCALATION_SK: &str = "ESCALATION";
/// The sort key of a tenant's policy item.
const POLICY_SK: &str = "POLICY";
/// Step Functions' limit on an execution name.
const MAX_NAME: usize = 80;

/// The statuses a task escalates in.
const OPEN: [TaskStatus; 4] = [TaskStatus::Todo, TaskStatus::InProgress, TaskStatus::InReview, TaskStatus::Blocked];

/// The tenant's policy item.
pub struct DynamoPolicies {
    client: Client,
    table: String,
}

impl DynamoPolicies {
    pub fn new(config: &SdkConfig, table: impl Into<String>) -> Self {
        Self { client: Client::new(config), table: table.into() }
    }

    fn key(tenant: &str) -> HashMap<String, AttributeValue> {
        key(keys::escalation_policy_pk(tenant), POLICY_SK.to_owned())
    }
}

#[async_trait]
impl EscalationPolicies for DynamoPolicies {
    async fn policy(&self, tenant: &str) -> Result<Option<Policy>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        let Some(found) = out.item else { return Ok(None) };
        let body = get_s(&found, "body").ok_or_else(|| StoreError::Corrupt("a policy item has no body".into()))?;
        let mut policy: Policy =
            serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("a stored policy: {e}")))?;
        policy.version = get_n(&found, item::VERSION).unwrap_or(0);
        Ok(Some(policy))
    }

    async fn put_policy(&self, tenant: &str, policy: &Policy, expected: u64) -> Result<Policy, StoreError> {
        let mut stored = policy.clone();
        stored.version = expected + 1;
        let body = serde_json::to_string(&stored).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut entry = Self::key(tenant);
        entry.insert("body".to_owned(), s(body));
        entry.insert(item::VERSION.to_owned(), n(stored.version));
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(entry))
            .expression_attribute_names("#pk", keys::PK)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        request = if expected == 0 {
            request.condition_expression("attribute_not_exists(#pk)")
        } else {
            request
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", item::VERSION)
                .expression_attribute_values(":expected", n(expected))
        };
        match request.send().await {
            Ok(_) => Ok(stored),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let current = match e.into_err() {
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                        c.item.as_ref().and_then(|i| get_n(i, item::VERSION)).unwrap_or(0)
                    }
                    _ => 0,
                };
                Err(StoreError::Conflict { expected, current })
            }
            Err(e) => Err(unavailable("PutItem", e)),
        }
    }
}

/// Plans as executions of the escalation state machine.
pub struct SfnSchedule {
    sfn: aws_sdk_sfn::Client,
    dynamo: Client,
    table: String,
    state_machine: String,
}

impl SfnSchedule {
    pub fn new(config: &SdkConfig, table: impl Into<String>, state_machine_arn: impl Into<String>) -> Self {
        Self {
            sfn: aws_sdk_sfn::Client::new(config),
            dynamo: Client::new(config),
            table: table.into(),
            state_machine: state_machine_arn.into(),
        }
    }

    /// The ARN of the execution called `name`: Step Functions derives it from the state
    /// machine's, so it is known without asking.
    pub fn execution_arn(&self, name: &str) -> String {
        format!("{}:{name}", self.state_machine.replacen(":stateMachine:", ":execution:", 1))
    }

    fn tracking_key(tenant: &str, task_id: &str) -> HashMap<String, AttributeValue> {
        key(keys::task_pk(tenant, task_id), ESCALATION_SK.to_owned())
    }

    /// The task's current decision: the task version it came from and its execution.
    async fn current(&self, tenant: &str, task_id: &str) -> Result<Option<(u64, Option<String>)>, StoreError> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::tracking_key(tenant, task_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        Ok(out.item.map(|i| (get_n(&i, "taskVersion").unwrap_or(0), get_s(&i, "executionArn").map(str::to_owned))))
    }

    /// Records `execution` (none: nothing running) as the task's decision at `task_version`,
    /// unless a newer version's is in place; returns whether it was recorded.
    async fn record(
        &self,
        tenant: &str,
        task_id: &str,
        task_version: u64,
        execution: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut entry = Self::tracking_key(tenant, task_id);
        entry.insert("taskVersion".to_owned(), n(task_version));
        if let Some(arn) = execution {
            entry.insert("executionArn".to_owned(), s(arn));
        }
        let put = self
            .dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(entry))
            .condition_expression("attribute_not_exists(#pk) OR #taskVersion <= :v")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#taskVersion", "taskVersion")
            .expression_attribute_values(":v", n(task_version))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(false),
            Err(e) => Err(unavailable("PutItem", e)),
        }
    }

    async fn stop(&self, execution: &str, cause: &str) -> Result<(), StoreError> {
        match self.sfn.stop_execution().execution_arn(execution).cause(cause).send().await {
            Ok(_) => Ok(()),
            // Gone already (finished long ago, or never started): nothing to stop.
            Err(SdkError::ServiceError(e)) if e.err().is_execution_does_not_exist() => Ok(()),
            Err(e) => Err(sfn_error("StopExecution", e)),
        }
    }
}

fn sfn_error<E, R>(operation: &str, err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let throttled =
        err.as_service_error().and_then(ProvideErrorMetadata::code).is_some_and(|c| c == "ThrottlingException");
    let message = format!("Step Functions {operation}: {}", DisplayErrorContext(err));
    tracing::warn!(error = %message, throttled, "Step Functions call failed");
    if throttled { StoreError::Throttled(message) } else { StoreError::Unavailable(message) }
}

#[async_trait]
impl EscalationSchedule for SfnSchedule {
    async fn schedule(&self, tenant: &str, plan: &Plan) -> Result<bool, StoreError> {
        let previous = self.current(tenant, &plan.task_id).await?;
        if previous.as_ref().is_some_and(|(v, _)| *v > plan.task_version) {
            return Ok(false);
        }
        let name = execution_name(tenant, plan);
        let arn = self.execution_arn(&name);
        let input = execution_input(tenant, plan).to_string();
        match self.sfn.start_execution().state_machine_arn(&self.state_machine).name(&name).input(input).send().await {
            Ok(_) => tracing::info!(execution = %name, steps = plan.steps.len(), "escalation started"),
            // A redelivery: this plan runs, or ran, under its name already.
            Err(SdkError::ServiceError(e)) if e.err().is_execution_already_exists() => {
                tracing::debug!(execution = %name, "escalation already started");
            }
            Err(e) => return Err(sfn_error("StartExecution", e)),
        }
        if !self.record(tenant, &plan.task_id, plan.task_version, Some(&arn)).await? {
            // A newer version's decision landed meanwhile: this plan is already superseded.
            self.stop(&arn, "superseded by a newer plan").await?;
            return Ok(false);
        }
        if let Some((_, Some(older))) = previous
            && older != arn
        {
            self.stop(&older, "superseded by a newer plan").await?;
        }
        Ok(true)
    }

    async fn cancel(&self, tenant: &str, task_id: &str, task_version: u64) -> Result<bool, StoreError> {
        let previous = self.current(tenant, task_id).await?;
        if previous.as_ref().is_some_and(|(v, _)| *v > task_version) {
            return Ok(false);
        }
        if !self.record(tenant, task_id, task_version, None).await? {
            return Ok(false);
        }
        if let Some((_, Some(running))) = previous {
            self.stop(&running, "the task has nothing left to escalate").await?;
        }
        Ok(true)
    }
}

/// `<tenant digest>-<task id>-<plan version>`, within Step Functions' 80 characters and
/// its alphabet (anything but letters, digits, `-` and `_` becomes `_`).
pub fn execution_name(tenant: &str, plan: &Plan) -> String {
    let task: String =
        plan.task_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    let room = MAX_NAME - 8 - 1 - 1 - plan.version.len();
    let task = if task.len() > room { &task[..room] } else { &task[..] };
    format!("{:08x}-{task}-{}", keys::stable_hash(tenant) as u32, plan.version)
}

/// The execution's input: each step's time and its whole conditional write.
pub fn execution_input(tenant: &str, plan: &Plan) -> Value {
    let steps: Vec<Value> = plan.steps.iter().map(|step| step_input(tenant, plan, step)).collect();
    json!({ "tenant": tenant, "taskId": plan.task_id, "plan": plan.version, "steps": steps })
}

fn ddb_s(text: &str) -> Value {
    json!({ "S": text })
}

fn step_input(tenant: &str, plan: &Plan, step: &Step) -> Value {
    let guard = &plan.guard;
    let mut names = serde_json::Map::new();
    let mut values = serde_json::Map::new();
    for name in [
        "pk",
        "deleted",
        "status",
        "dueDate",
        "escalation",
        "level",
        "version",
        "updatedAt",
        "changedAt",
        "actor",
        "correlationId",
    ] {
        names.insert(format!("#{name}"), json!(name));
    }
    let escalation = json!({ "M": {
        "level": { "N": step.level.to_string() },
        "name": ddb_s(&step.name),
        "notify": { "L": step.notify.iter().map(|p| ddb_s(p)).collect::<Vec<_>>() },
        "plan": ddb_s(&plan.version),
        "at": ddb_s(&step.at.to_string()),
    }});
    values.insert(":escalation".into(), escalation);
    values.insert(":level".into(), json!({ "N": step.level.to_string() }));
    values.insert(":one".into(), json!({ "N": "1" }));
    values.insert(":at".into(), ddb_s(&step.at.to_string()));
    values.insert(":actor".into(), ddb_s(RUNNER_ACTOR));
    values.insert(":correlationId".into(), ddb_s(&format!("escalation-{}-{}", plan.task_id, step.level)));
    let mut update = "SET #escalation = :escalation, #version = #version + :one, #updatedAt = :at, #changedAt = :at, \
                      #actor = :actor, #correlationId = :correlationId"
        .to_owned();
    let mut condition = vec!["attribute_exists(#pk)".to_owned(), "attribute_not_exists(#deleted)".to_owned()];
    if guard.todo_only {
        values.insert(":todo".into(), ddb_s(TaskStatus::Todo.as_str()));
        condition.push("#status = :todo".into());
    } else {
        let open: Vec<String> = OPEN.iter().map(|s| format!(":{}", s.as_str())).collect();
        for status in OPEN {
            values.insert(format!(":{}", status.as_str()), ddb_s(status.as_str()));
        }
        condition.push(format!("#status IN ({})", open.join(", ")));
    }
    match &guard.due_date {
        Some(due) => {
            values.insert(":due".into(), ddb_s(due));
            condition.push("#dueDate = :due".into());
        }
        None => condition.push("attribute_not_exists(#dueDate)".into()),
    }
    condition.push("(attribute_not_exists(#escalation) OR #escalation.#level < :level)".into());
    if let (Some(raise), Some(base)) = (step.raise_priority, guard.priority) {
        names.insert("#priority".into(), json!("priority"));
        let (_, sort_key) = keys::TaskIndex::Priority.attributes();
        names.insert("#prioritySk".into(), json!(sort_key));
        values.insert(":raise".into(), ddb_s(raise.as_str()));
        values.insert(":base".into(), ddb_s(base.as_str()));
        values.insert(":prioritySk".into(), ddb_s(&keys::priority_sk(raise, &plan.task_id)));
        update.push_str(", #priority = :raise, #prioritySk = :prioritySk");
        condition.push("#priority = :base".into());
    }
    json!({
        "level": step.level,
        "at": step.at.to_string(),
        "key": { "pk": ddb_s(&keys::task_pk(tenant, &plan.task_id)), "sk": ddb_s(keys::TASK_SK) },
        "update": update,
        "condition": condition.join(" AND "),
        "names": names,
        "values": values,
    })
}

/// The escalation state machine's ARN: `STATE_MACHINE_ARNS` holds every state machine's by
/// name (`{"escalation": "arn:…"}`), as the CDK sets it.
pub fn state_machine_arn() -> Result<String, ConfigError> {
    const VAR: &str = "STATE_MACHINE_ARNS";
    let text = std::env::var(VAR).map_err(|_| ConfigError::Missing(VAR))?;
    let invalid = || ConfigError::Invalid {
        name: VAR,
        expected: "a JSON object naming the escalation state machine's ARN",
        got: text.clone(),
    };
    let arns: HashMap<String, String> = serde_json::from_str(&text).map_err(|_| invalid())?;
    arns.get("escalation").cloned().ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use events_schema::Timestamp;
    use events_schema::events::{Priority, TaskSnapshot};
    use shared_core::escalation::plan;

    use super::*;

    fn task(id: &str) -> TaskSnapshot {
        let at = Timestamp::parse("2026-03-01T09:00:00Z").unwrap();
        TaskSnapshot {
            id: id.into(),
            title: "t".into(),
            description: None,
            status: TaskStatus::Todo,
            priority: Priority::Medium,
            assignee: Some("li".into()),
            reporter: None,
            category_id: None,
            project_id: None,
            sprint_id: None,
            tags: vec![],
            due_date: Some("2026-03-20".into()),
            estimate_points: None,
            created_at: at,
            updated_at: at,
            status_changed_at: at,
            escalation: None,
            version: 1,
        }
    }

    fn plan_of(t: &TaskSnapshot) -> Plan {
        plan(t, &Policy::default(), Timestamp::parse("2026-03-02T00:00:00Z").unwrap()).unwrap()
    }

    #[test]
    fn names_fit_step_functions_and_tell_tenants_tasks_and_plans_apart() {
        let p = plan_of(&task("0195a3c4-0000-7000-8000-000000000001"));
        let name = execution_name("acme", &p);
        assert!(name.len() <= MAX_NAME && name.ends_with(&p.version), "{name}");
        assert_eq!(name, execution_name("acme", &p), "the same plan, the same name");
        assert_ne!(name, execution_name("globex", &p));
        let odd = plan_of(&task(&format!("odd id/with:{}", "x".repeat(100))));
        let odd_name = execution_name("acme", &odd);
        assert!(odd_name.len() <= MAX_NAME && !odd_name.contains(['/', ':', ' ']), "{odd_name}");
    }

    #[test]
    fn each_step_carries_its_time_and_the_whole_conditional_write() {
        let p = plan_of(&task("t1"));
        let input = execution_input("acme", &p);
        let steps = input["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 3);
        let last = &steps[2];
        assert_eq!(last["at"], p.steps[2].at.to_string());
        assert_eq!(last["key"]["pk"]["S"], "T#acme#TASK#t1");
        let condition = last["condition"].as_str().unwrap();
        for part in ["#dueDate = :due", "#escalation.#level < :level", "#status IN (", "#priority = :base"] {
            assert!(condition.contains(part), "{condition}");
        }
        assert_eq!(last["values"][":raise"]["S"], "critical");
        assert_eq!(last["values"][":base"]["S"], "medium");
        assert!(last["update"].as_str().unwrap().contains("#priority = :raise, #prioritySk = :prioritySk"));
        // A level that raises nothing leaves the priority out of both.
        let first = &steps[0];
        assert!(!first["condition"].as_str().unwrap().contains("#priority"));
        assert!(!first["update"].as_str().unwrap().contains("#priority"));
        assert_eq!(first["values"][":escalation"]["M"]["notify"]["L"][0]["S"], "li");
    }
}

//! Replays on AWS: EventBridge's own `StartReplay` from the bus archive back to the bus,
//! limited to the chosen consumers' rules (`FilterArns`), so nothing else sees the events
//! again. EventBridge marks each replayed event with `replay-name`, which the consumers
//! read as a replay (no notifications, no escalations; version fences make it idempotent).

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::{ReplayDestination, ReplayState};
use events_schema::Timestamp;
use serde::Serialize;

use super::{OperateError, StageNames};

/// A replay as EventBridge reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsReplay {
    pub name: String,
    /// STARTING, RUNNING, CANCELLING, COMPLETED, CANCELLED or FAILED.
    pub state: String,
    pub reason: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// How far the replay has got: the time of the last event it sent.
    pub last_replayed: Option<String>,
    /// The rules (one per consumer) the replay is limited to.
    pub rules: Vec<String>,
}

impl AwsReplay {
    /// Whether EventBridge is done with it, one way or another.
    pub fn finished(&self) -> bool {
        matches!(self.state.as_str(), "COMPLETED" | "CANCELLED" | "FAILED")
    }

    /// Progress through the window in permille, from the last replayed event's time.
    pub fn progress_permille(&self) -> u32 {
        if self.state == "COMPLETED" {
            return 1000;
        }
        let parse = |t: &Option<String>| t.as_deref().and_then(|t| Timestamp::parse(t).ok()).map(|t| t.unix_millis());
        match (parse(&self.from), parse(&self.to), parse(&self.last_replayed)) {
            (Some(from), Some(to), Some(last)) if to > from => {
                (((last - from).clamp(0, to - from) as f64 / (to - from) as f64) * 1000.0) as u32
            }
            _ => 0,
        }
    }
}

/// What a replay would do: the archive, the window, and each consumer's rule. EventBridge
/// counts an archive's events only as a whole, not per window or per rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsReplayPlan {
    pub archive: String,
    pub archive_events: i64,
    pub from: String,
    pub to: String,
    /// (consumer, rule ARN).
    pub rules: Vec<(String, String)>,
}

pub struct AwsReplays {
    client: Client,
    names: StageNames,
}

impl AwsReplays {
    pub fn new(client: Client, names: StageNames) -> Self {
        Self { client, names }
    }

    pub fn from_config(config: &aws_config::SdkConfig, names: StageNames) -> Self {
        Self::new(Client::new(config), names)
    }

    /// The plan of a replay of `[from, to)` into `consumers`, checking that each consumer has
    /// its rule on the bus (a consumer not deployed has none).
    pub async fn plan(
        &self,
        from: Timestamp,
        to: Timestamp,
        consumers: &[String],
    ) -> Result<AwsReplayPlan, OperateError> {
        if from >= to {
            return Err(OperateError::Invalid("--to must be after --from".into()));
        }
        if consumers.is_empty() {
            return Err(OperateError::Invalid("name at least one consumer with --consumer".into()));
        }
        let archive = self.client.describe_archive().archive_name(self.names.archive()).send().await.map_err(|e| {
            match e.as_service_error() {
                Some(s) if s.is_resource_not_found_exception() => OperateError::NotFound(format!(
                    "no archive named {} (is the stage deployed?)",
                    self.names.archive()
                )),
                _ => OperateError::aws("DescribeArchive", e),
            }
        })?;
        let mut rules = Vec::with_capacity(consumers.len());
        for consumer in consumers {
            if events_schema::routing::route(consumer).is_none() {
                let known: Vec<&str> = events_schema::routing::ROUTES.iter().map(|r| r.name).collect();
                return Err(OperateError::Invalid(format!(
                    "{consumer:?} is not a consumer; known: {}",
                    known.join(", ")
                )));
            }
            let rule = self
                .client
                .describe_rule()
                .name(self.names.rule(consumer))
                .event_bus_name(self.names.bus())
                .send()
                .await
                .map_err(|e| match e.as_service_error() {
                    Some(s) if s.is_resource_not_found_exception() => OperateError::NotFound(format!(
                        "{consumer} has no rule {} on {} (is it deployed?)",
                        self.names.rule(consumer),
                        self.names.bus()
                    )),
                    _ => OperateError::aws("DescribeRule", e),
                })?;
            let arn = rule.arn.ok_or_else(|| OperateError::aws_missing("DescribeRule", "Arn"))?;
            rules.push((consumer.clone(), arn));
        }
        Ok(AwsReplayPlan {
            archive: archive.archive_arn.unwrap_or_else(|| self.names.archive()),
            archive_events: archive.event_count,
            from: from.to_string(),
            to: to.to_string(),
            rules,
        })
    }

    /// Starts the replay the plan describes, named `name`.
    pub async fn start(&self, name: &str, plan: &AwsReplayPlan) -> Result<AwsReplay, OperateError> {
        if !shared_core::ports::valid_replay_name(name) {
            return Err(OperateError::Invalid(format!(
                "the replay name {name:?} must be 1 to 64 letters, digits, '.', '-' and '_'"
            )));
        }
        let bus = self
            .client
            .describe_event_bus()
            .name(self.names.bus())
            .send()
            .await
            .map_err(|e| OperateError::aws("DescribeEventBus", e))?;
        let bus_arn = bus.arn.ok_or_else(|| OperateError::aws_missing("DescribeEventBus", "Arn"))?;
        let destination = ReplayDestination::builder()
            .arn(bus_arn)
            .set_filter_arns(Some(plan.rules.iter().map(|(_, arn)| arn.clone()).collect()))
            .build()
            .map_err(|e| OperateError::Invalid(e.to_string()))?;
        let time = |text: &str| {
            Timestamp::parse(text)
                .map(|t| DateTime::from_millis(t.unix_millis()))
                .map_err(|e| OperateError::Invalid(format!("{text}: {e}")))
        };
        self.client
            .start_replay()
            .replay_name(name)
            .description(format!("taskstream replay into {}", consumers_of(plan).join(", ")))
            .event_source_arn(&plan.archive)
            .event_start_time(time(&plan.from)?)
            .event_end_time(time(&plan.to)?)
            .destination(destination)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_resource_already_exists_exception() => {
                    OperateError::Invalid(format!("a replay named {name} exists already"))
                }
                _ => OperateError::aws("StartReplay", e),
            })?;
        self.describe(name).await
    }

    pub async fn describe(&self, name: &str) -> Result<AwsReplay, OperateError> {
        let out =
            self.client.describe_replay().replay_name(name).send().await.map_err(|e| match e.as_service_error() {
                Some(s) if s.is_resource_not_found_exception() => {
                    OperateError::NotFound(format!("no replay named {name}"))
                }
                _ => OperateError::aws("DescribeReplay", e),
            })?;
        Ok(AwsReplay {
            name: out.replay_name.unwrap_or_else(|| name.to_owned()),
            state: state_text(out.state.as_ref()),
            reason: out.state_reason,
            from: out.event_start_time.map(text_of),
            to: out.event_end_time.map(text_of),
            last_replayed: out.event_last_replayed_time.map(text_of),
            rules: out.destination.and_then(|d| d.filter_arns).unwrap_or_default(),
        })
    }

    /// The replays of this stage's archive, every page.
    pub async fn list(&self) -> Result<Vec<AwsReplay>, OperateError> {
        let archive = self
            .client
            .describe_archive()
            .archive_name(self.names.archive())
            .send()
            .await
            .map_err(|e| OperateError::aws("DescribeArchive", e))?;
        let mut replays = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_replays()
                .set_event_source_arn(archive.archive_arn.clone())
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| OperateError::aws("ListReplays", e))?;
            for r in page.replays.unwrap_or_default() {
                replays.push(AwsReplay {
                    name: r.replay_name.unwrap_or_default(),
                    state: state_text(r.state.as_ref()),
                    reason: r.state_reason,
                    from: r.event_start_time.map(text_of),
                    to: r.event_end_time.map(text_of),
                    last_replayed: r.event_last_replayed_time.map(text_of),
                    rules: Vec::new(),
                });
            }
            match page.next_token {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => break,
            }
        }
        Ok(replays)
    }

    pub async fn cancel(&self, name: &str) -> Result<String, OperateError> {
        let out =
            self.client.cancel_replay().replay_name(name).send().await.map_err(|e| match e.as_service_error() {
                Some(s) if s.is_resource_not_found_exception() => {
                    OperateError::NotFound(format!("no replay named {name}"))
                }
                Some(s) if s.is_illegal_status_exception() => {
                    OperateError::Invalid(format!("replay {name} is finished and cannot be cancelled"))
                }
                _ => OperateError::aws("CancelReplay", e),
            })?;
        Ok(state_text(out.state.as_ref()))
    }
}

fn consumers_of(plan: &AwsReplayPlan) -> Vec<&str> {
    plan.rules.iter().map(|(c, _)| c.as_str()).collect()
}

fn state_text(state: Option<&ReplayState>) -> String {
    state.map_or_else(|| "UNKNOWN".to_owned(), |s| s.as_str().to_owned())
}

fn text_of(time: DateTime) -> String {
    time.to_millis().ok().and_then(Timestamp::from_unix_millis).map(|t| t.to_string()).unwrap_or_default()
}

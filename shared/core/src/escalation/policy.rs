//! The escalation policy of a tenant, with per-project overrides: data in the store, read
//! and replaced whole through `GET/PUT /escalation-policy`. A tenant that never set one
//! gets [`Policy::default`].

use std::collections::BTreeMap;

use events_schema::events::Priority;
use serde::{Deserialize, Serialize};

use crate::domain::{FieldError, UserName};

/// At most this many levels in one set of rules.
pub const MAX_LEVELS: usize = 10;
/// At most this many projects with rules of their own.
pub const MAX_PROJECTS: usize = 1000;
/// Level offsets stay within a year of the due date.
pub const MAX_OFFSET_MINUTES: i64 = 366 * 24 * 60;
/// SLAs are at most a year.
pub const MAX_SLA_MINUTES: u32 = 366 * 24 * 60;
/// UTC offsets as the world uses them: −14:00 to +14:00.
pub const MAX_UTC_OFFSET_MINUTES: i32 = 14 * 60;

/// Who a level tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Assignee,
    Reporter,
    /// The project's lead as the rules name it (`lead`).
    Lead,
}

/// One step of a due-date escalation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Level {
    pub name: String,
    /// Minutes from the due instant (negative: before it).
    pub offset_minutes: i64,
    pub notify: Vec<Target>,
    /// Raise the task's priority to this, when it is lower.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raise_priority: Option<Priority>,
}

/// A whole set of rules: the tenant's, or a project's after its overrides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rules {
    /// The offset of the time zone due dates are meant in, in minutes east of UTC: a task
    /// due on a day is due at the end of that day there.
    pub utc_offset_minutes: i32,
    /// By offset, earliest first; level numbers count from 1 in this order.
    pub levels: Vec<Level>,
    /// For tasks without a due date: minutes a task of this priority may stay in `todo`.
    /// A priority left out has no SLA.
    pub sla_minutes: BTreeMap<Priority, u32>,
    /// Who an SLA breach tells.
    pub sla_notify: Vec<Target>,
    /// The person [`Target::Lead`] names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<String>,
}

/// A project's overrides: each field given replaces the tenant's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectRules {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utc_offset_minutes: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<Vec<Level>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_minutes: Option<BTreeMap<Priority, u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_notify: Option<Vec<Target>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub rules: Rules,
    /// Project id → its overrides.
    #[serde(default)]
    pub projects: BTreeMap<String, ProjectRules>,
    /// 0 for the defaults of a tenant that never stored a policy.
    #[serde(default)]
    pub version: u64,
}

/// The rules that hold for one task, borrowed from the policy (no copies: plans are made
/// for every task event).
#[derive(Debug, Clone, Copy)]
pub struct Effective<'a> {
    pub utc_offset_minutes: i32,
    pub levels: &'a [Level],
    pub sla_minutes: &'a BTreeMap<Priority, u32>,
    pub sla_notify: &'a [Target],
    pub lead: Option<&'a str>,
}

impl Default for Policy {
    /// A day before the due date the assignee is reminded, on the due date the reporter is
    /// told, a day after it the priority goes to `critical` and the lead is told; a critical
    /// task without a due date has 4 hours to leave `todo`, a high one a day.
    fn default() -> Self {
        let level = |name: &str, offset_minutes, notify: &[Target], raise_priority| Level {
            name: name.to_owned(),
            offset_minutes,
            notify: notify.to_vec(),
            raise_priority,
        };
        Self {
            rules: Rules {
                utc_offset_minutes: 0,
                levels: vec![
                    level("reminder", -24 * 60, &[Target::Assignee], None),
                    level("due", 0, &[Target::Reporter], None),
                    level("overdue", 24 * 60, &[Target::Lead, Target::Assignee], Some(Priority::Critical)),
                ],
                sla_minutes: BTreeMap::from([(Priority::Critical, 4 * 60), (Priority::High, 24 * 60)]),
                sla_notify: vec![Target::Assignee, Target::Reporter, Target::Lead],
                lead: None,
            },
            projects: BTreeMap::new(),
            version: 0,
        }
    }
}

impl Policy {
    /// The rules for a task of `project` (the tenant's, with the project's overrides).
    pub fn effective(&self, project: Option<&str>) -> Effective<'_> {
        let base = &self.rules;
        let over = project.and_then(|p| self.projects.get(p));
        Effective {
            utc_offset_minutes: over.and_then(|o| o.utc_offset_minutes).unwrap_or(base.utc_offset_minutes),
            levels: over.and_then(|o| o.levels.as_deref()).unwrap_or(&base.levels),
            sla_minutes: over.and_then(|o| o.sla_minutes.as_ref()).unwrap_or(&base.sla_minutes),
            sla_notify: over.and_then(|o| o.sla_notify.as_deref()).unwrap_or(&base.sla_notify),
            lead: over.and_then(|o| o.lead.as_deref()).or(base.lead.as_deref()),
        }
    }

    /// Every rule a stored policy must keep, each broken one named by its field. Levels are
    /// sorted by offset first, so a client may send them in any order.
    pub fn validate(&mut self) -> Result<(), Vec<FieldError>> {
        let Problems { shape, mut consistency } = self.check();
        let mut errors = shape;
        errors.append(&mut consistency);
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// The policy's problems, in two kinds: `shape` (a range, a pattern, a count: what a
    /// request schema can state) and `consistency` (two levels with one name or one offset,
    /// which it cannot). Sorts the levels by offset.
    pub fn check(&mut self) -> Problems {
        let mut problems = Problems::default();
        check_rules(
            "",
            Some(self.rules.utc_offset_minutes),
            Some(&mut self.rules.levels),
            Some(&self.rules.sla_minutes),
            self.rules.lead.as_deref(),
            &mut problems,
        );
        if self.projects.len() > MAX_PROJECTS {
            problems.shape.push(FieldError::new(
                "projects",
                format!("at most {MAX_PROJECTS} projects, got {}", self.projects.len()),
            ));
        }
        for (id, rules) in &mut self.projects {
            let prefix = format!("projects.{id}.");
            check_rules(
                &prefix,
                rules.utc_offset_minutes,
                rules.levels.as_mut(),
                rules.sla_minutes.as_ref(),
                rules.lead.as_deref(),
                &mut problems,
            );
        }
        problems
    }
}

/// What [`Policy::check`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Problems {
    pub shape: Vec<FieldError>,
    pub consistency: Vec<FieldError>,
}

fn check_rules(
    prefix: &str,
    utc_offset: Option<i32>,
    levels: Option<&mut Vec<Level>>,
    sla: Option<&BTreeMap<Priority, u32>>,
    lead: Option<&str>,
    problems: &mut Problems,
) {
    let field = |name: &str| format!("{prefix}{name}");
    let shape = &mut problems.shape;
    if let Some(offset) = utc_offset
        && offset.abs() > MAX_UTC_OFFSET_MINUTES
    {
        shape
            .push(FieldError::new(&field("utcOffsetMinutes"), format!("must be within ±840 (14 hours), got {offset}")));
    }
    if let Some(levels) = levels {
        if levels.len() > MAX_LEVELS {
            shape.push(FieldError::new(&field("levels"), format!("at most {MAX_LEVELS} levels, got {}", levels.len())));
        }
        levels.sort_by_key(|l| l.offset_minutes);
        for (i, level) in levels.iter().enumerate() {
            if level.offset_minutes.abs() > MAX_OFFSET_MINUTES {
                shape.push(FieldError::new(
                    &field(&format!("levels[{i}].offsetMinutes")),
                    format!(
                        "must be within a year of the due date (±{MAX_OFFSET_MINUTES}), got {}",
                        level.offset_minutes
                    ),
                ));
            }
            if !valid_level_name(&level.name) {
                shape.push(FieldError::new(
                    &field(&format!("levels[{i}].name")),
                    format!("must be 1 to 40 of a-z, 0-9, - and _, got {:?}", level.name),
                ));
            }
            if levels[..i].iter().any(|l| l.name == level.name) {
                problems.consistency.push(FieldError::new(
                    &field(&format!("levels[{i}].name")),
                    format!("{:?} names two levels", level.name),
                ));
            }
            if i > 0 && levels[i - 1].offset_minutes == level.offset_minutes {
                problems.consistency.push(FieldError::new(
                    &field(&format!("levels[{i}].offsetMinutes")),
                    format!("two levels at the same offset {}", level.offset_minutes),
                ));
            }
        }
    }
    let shape = &mut problems.shape;
    if let Some(sla) = sla {
        for (priority, minutes) in sla {
            if *minutes == 0 || *minutes > MAX_SLA_MINUTES {
                shape.push(FieldError::new(
                    &field(&format!("slaMinutes.{}", priority.as_str())),
                    format!("must be 1 to {MAX_SLA_MINUTES} minutes, got {minutes}"),
                ));
            }
        }
    }
    if let Some(lead) = lead
        && let Err(e) = UserName::parse(&field("lead"), lead)
    {
        shape.push(e);
    }
}

/// A level's name: what the API schema states (`^[a-z0-9_-]{1,40}$`).
pub fn valid_level_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_in_order() {
        let mut p = Policy::default();
        assert_eq!(p.validate(), Ok(()));
        assert_eq!(p, Policy::default(), "validating sorted defaults changes nothing");
        let names: Vec<_> = p.rules.levels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["reminder", "due", "overdue"]);
    }

    #[test]
    fn a_project_override_replaces_only_what_it_names() {
        let mut p = Policy::default();
        p.rules.lead = Some("ana".into());
        p.projects.insert(
            "p1".into(),
            ProjectRules { lead: Some("li".into()), utc_offset_minutes: Some(120), ..Default::default() },
        );
        let own = p.effective(Some("p1"));
        assert_eq!((own.lead, own.utc_offset_minutes, own.levels.len()), (Some("li"), 120, 3));
        let other = p.effective(Some("p2"));
        assert_eq!((other.lead, other.utc_offset_minutes), (Some("ana"), 0));
        assert_eq!(p.effective(None).lead, Some("ana"));
    }

    #[test]
    fn broken_rules_are_named_by_field() {
        let mut p = Policy::default();
        p.rules.utc_offset_minutes = 900;
        p.rules.levels[1].name = "Due!".into();
        p.rules.sla_minutes.insert(Priority::Low, 0);
        let mut levels = p.rules.levels.clone();
        levels[0].offset_minutes = levels[1].offset_minutes;
        p.projects.insert(
            "p1".into(),
            ProjectRules { levels: Some(levels), lead: Some("two words".into()), ..Default::default() },
        );
        let fields: Vec<String> = p.validate().unwrap_err().into_iter().map(|e| e.field).collect();
        assert!(fields.contains(&"utcOffsetMinutes".to_owned()), "{fields:?}");
        assert!(fields.contains(&"levels[1].name".to_owned()), "{fields:?}");
        assert!(fields.contains(&"slaMinutes.low".to_owned()), "{fields:?}");
        assert!(fields.contains(&"projects.p1.levels[1].offsetMinutes".to_owned()), "{fields:?}");
        assert!(fields.contains(&"projects.p1.lead".to_owned()), "{fields:?}");
    }

    #[test]
    fn levels_sent_out_of_order_are_stored_in_order() {
        let mut p = Policy::default();
        p.rules.levels.reverse();
        assert_eq!(p.validate(), Ok(()));
        assert_eq!(p.rules.levels, Policy::default().rules.levels);
    }
}

//! A task's escalation plan: which levels it still has to reach and when, from the task as
//! an event carries it, the tenant's policy and the time now. Pure: the same three give the
//! same plan, and nothing here reads a clock.
//!
//! A task with a due date gets the policy's levels, each at the due instant plus its
//! offset; the due instant is the end of the due day in the policy's time zone (a task due
//! on 2026-03-20 at +02:00 is due at 2026-03-20T22:00:00Z). A task without one gets the SLA
//! of its priority while it is in `todo`. Finished tasks get no plan.

use events_schema::Timestamp;
use events_schema::events::{Priority, TaskSnapshot, TaskStatus};

use super::policy::{Effective, Policy, Target};

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;
/// The name of the one level an SLA plan has.
pub const SLA_LEVEL: &str = "sla";

/// What must still hold when a step fires, besides the task being open and below the
/// step's level: the plan is current only while the task keeps what it was made from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Guard {
    /// The due date the plan was made for; `None` for an SLA plan, whose task must still
    /// have none.
    pub due_date: Option<String>,
    /// An SLA plan's task must still be in `todo`.
    pub todo_only: bool,
    /// When a level raises the priority: the priority the plan was made at. A level raises
    /// only while the task still has it (a person who changed it since has made a newer plan),
    /// so a raise never lowers a priority set by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
}

/// One level to reach, and when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub level: u32,
    pub name: String,
    pub at: Timestamp,
    /// The people to tell, by name, each once.
    pub notify: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raise_priority: Option<Priority>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub task_id: String,
    /// The task version the plan was made from: a plan from an older version never
    /// replaces one from a newer.
    pub task_version: u64,
    /// A digest of everything the plan decides (every level's time, people and priority, and
    /// the guard), not of the time it was made: the same task under the same policy has the
    /// same version, so a redelivered event starts nothing new.
    pub version: String,
    pub guard: Guard,
    /// The levels not yet reached, earliest first. Levels already due when the plan is made
    /// are folded into the highest of them (its people and priority raise joined), so a task
    /// that is found late escalates once, to where it should be.
    pub steps: Vec<Step>,
}

/// Open: escalation applies. Done and cancelled tasks have nothing left to escalate.
pub fn is_open(status: TaskStatus) -> bool {
    !matches!(status, TaskStatus::Done | TaskStatus::Cancelled)
}

/// The task's plan, or `None` when it has nothing left to escalate.
pub fn plan(task: &TaskSnapshot, policy: &Policy, now: Timestamp) -> Option<Plan> {
    if !is_open(task.status) {
        return None;
    }
    let rules = policy.effective(task.project_id.as_deref());
    let reached = task.escalation.as_ref().map_or(0, |e| e.level);
    let mut digest = Fnv::new();
    digest.write(task.id.as_bytes());
    let (guard, all) = match &task.due_date {
        Some(due) => {
            let due_ms = due_instant_ms(due, rules.utc_offset_minutes)?;
            digest.write(due.as_bytes());
            let steps = rules
                .levels
                .iter()
                .zip(1u32..)
                .map(|(level, n)| {
                    let at = due_ms.saturating_add(level.offset_minutes.saturating_mul(MINUTE_MS));
                    (n, level.name.as_str(), at, level.notify.as_slice(), level.raise_priority)
                })
                .collect::<Vec<_>>();
            (Guard { due_date: Some(due.clone()), todo_only: false, priority: None }, steps)
        }
        None => {
            if task.status != TaskStatus::Todo {
                return None;
            }
            let minutes = *rules.sla_minutes.get(&task.priority)?;
            let at = task.created_at.unix_millis().saturating_add(i64::from(minutes) * MINUTE_MS);
            digest.write(b"sla");
            (
                Guard { due_date: None, todo_only: true, priority: None },
                vec![(1, SLA_LEVEL, at, rules.sla_notify, None)],
            )
        }
    };

    let mut guard = guard;
    let mut steps: Vec<Step> = Vec::with_capacity(all.len());
    let now_ms = now.unix_millis();
    for (level, name, at, targets, raise) in all {
        // A raise to where the task already is, or below, is no raise.
        let raise = raise.filter(|r| *r > task.priority);
        if raise.is_some() {
            guard.priority = Some(task.priority);
        }
        let notify = people(task, &rules, targets);
        digest.write(&level.to_le_bytes());
        digest.write(name.as_bytes());
        digest.write(&at.to_le_bytes());
        for person in &notify {
            digest.write(person.as_bytes());
            digest.write(&[0]);
        }
        digest.write(raise.map_or("-", |p| p.as_str()).as_bytes());
        if level <= reached {
            continue;
        }
        let at_ts = Timestamp::from_unix_millis(at)?;
        // A step already due folds into the next one that is also due.
        if at <= now_ms
            && let Some(prev) = steps.last_mut()
            && prev.at.unix_millis() <= now_ms
        {
            let mut joined = std::mem::take(&mut prev.notify);
            for person in notify {
                if !joined.contains(&person) {
                    joined.push(person);
                }
            }
            *prev = Step {
                level,
                name: name.to_owned(),
                at: at_ts,
                notify: joined,
                raise_priority: raise.max(prev.raise_priority),
            };
            continue;
        }
        steps.push(Step { level, name: name.to_owned(), at: at_ts, notify, raise_priority: raise });
    }
    if steps.is_empty() {
        return None;
    }
    if let Some(base) = guard.priority {
        digest.write(base.as_str().as_bytes());
    }
    Some(Plan { task_id: task.id.clone(), task_version: task.version, version: digest.hex(), guard, steps })
}

/// The names `targets` stand for on this task, each once, in the targets' order; a target
/// with nobody behind it (no assignee, no lead) is left out.
fn people(task: &TaskSnapshot, rules: &Effective<'_>, targets: &[Target]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(targets.len());
    for target in targets {
        let name = match target {
            Target::Assignee => task.assignee.as_deref(),
            Target::Reporter => task.reporter.as_deref(),
            Target::Lead => rules.lead,
        };
        if let Some(name) = name
            && !out.iter().any(|n| n == name)
        {
            out.push(name.to_owned());
        }
    }
    out
}

/// The end of the due day `YYYY-MM-DD` at `utc_offset_minutes`, in Unix milliseconds.
pub fn due_instant_ms(date: &str, utc_offset_minutes: i32) -> Option<i64> {
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |acc, c| c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0')))
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let next_midnight_local = (days_from_civil(y, m, d) + 1) * DAY_MS;
    Some(next_midnight_local - i64::from(utc_offset_minutes) * MINUTE_MS)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the civil date (proleptic Gregorian), after Howard Hinnant's
/// `days_from_civil`.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// FNV-1a, 64 bits: a digest that stays the same across builds and platforms (std's
/// hashers promise neither), which execution names and stored plans rely on.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests;

//! Categories, projects and sprints: what tasks are filed under.

use events_schema::Timestamp;
use events_schema::events::{CategorySnapshot, ProjectSnapshot, SprintSnapshot, SprintStatus};

use super::fields::{FieldError, bounded_text};

/// A category name: 1 to 50 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryName(String);

impl CategoryName {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        bounded_text("name", raw.trim(), 1, 50).map(Self)
    }
}

/// `#rrggbb`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Color(String);

impl Color {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let ok = raw.len() == 7 && raw.starts_with('#') && raw[1..].chars().all(|c| c.is_ascii_hexdigit());
        if !ok {
            return Err(FieldError::new("color", format!("must be #rrggbb, got {raw:?}")));
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }
}

/// An icon name: 1 to 32 of `a-z`, `0-9`, `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icon(String);

impl Icon {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let ok = (1..=32).contains(&raw.len())
            && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return Err(FieldError::new("icon", format!("must be 1 to 32 of a-z, 0-9 and '-', got {raw:?}")));
        }
        Ok(Self(raw.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryDraft {
    pub name: CategoryName,
    pub color: Option<Color>,
    pub icon: Option<Icon>,
}

pub fn new_category(id: String, draft: CategoryDraft) -> CategorySnapshot {
    CategorySnapshot {
        id,
        name: draft.name.0,
        color: draft.color.map(|c| c.0),
        icon: draft.icon.map(|i| i.0),
        version: 1,
    }
}

/// The category with `draft` applied, one version up; `None` when nothing changes.
pub fn update_category(current: &CategorySnapshot, draft: CategoryDraft) -> Option<CategorySnapshot> {
    let next = CategorySnapshot { version: current.version, ..new_category(current.id.clone(), draft) };
    (next != *current).then(|| CategorySnapshot { version: current.version + 1, ..next })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectDraft {
    pub name: String,
    pub description: Option<String>,
}

impl ProjectDraft {
    pub fn parse(name: &str, description: Option<&str>) -> Result<Self, Vec<FieldError>> {
        let name = bounded_text("name", name.trim(), 1, 100);
        let description = description.map(|d| bounded_text("description", d, 0, 2_000)).transpose();
        match (name, description) {
            (Ok(name), Ok(description)) => Ok(Self { name, description }),
            (name, description) => Err(name.err().into_iter().chain(description.err()).collect()),
        }
    }
}

pub fn new_project(id: String, draft: ProjectDraft, now: Timestamp) -> ProjectSnapshot {
    ProjectSnapshot {
        id,
        name: draft.name,
        description: draft.description,
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

pub fn update_project(current: &ProjectSnapshot, draft: ProjectDraft, now: Timestamp) -> Option<ProjectSnapshot> {
    if current.name == draft.name && current.description == draft.description {
        return None;
    }
    Some(ProjectSnapshot {
        name: draft.name,
        description: draft.description,
        updated_at: now,
        version: current.version + 1,
        ..current.clone()
    })
}

pub fn new_sprint(id: String, project_id: String, name: &str) -> Result<SprintSnapshot, FieldError> {
    let name = bounded_text("name", name.trim(), 1, 100)?;
    Ok(SprintSnapshot {
        id,
        project_id,
        name,
        status: SprintStatus::Planned,
        started_at: None,
        closed_at: None,
        carry_over_to: None,
        moved_out: 0,
        summary: None,
        version: 1,
    })
}

/// Sprints move planned → active → closed, by explicit actions only.
pub fn start_sprint(current: &SprintSnapshot, now: Timestamp) -> Result<SprintSnapshot, String> {
    match current.status {
        SprintStatus::Planned => Ok(SprintSnapshot {
            status: SprintStatus::Active,
            started_at: Some(now),
            version: current.version + 1,
            ..current.clone()
        }),
        other => Err(format!("only a planned sprint can start; this one is {}", sprint_status(other))),
    }
}

/// Where a closing sprint's unfinished tasks go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CarryOver {
    /// Out of any sprint, still in the project.
    Backlog,
    /// Into another sprint of the same project, by id.
    Sprint(String),
}

impl CarryOver {
    /// How the choice is written on the sprint and asked for in a request.
    pub const BACKLOG: &'static str = "backlog";

    /// Reads the stored (or requested) form: `backlog` or a sprint id.
    pub fn parse(text: &str) -> Self {
        if text == Self::BACKLOG { CarryOver::Backlog } else { CarryOver::Sprint(text.to_owned()) }
    }

    pub fn as_str(&self) -> &str {
        match self {
            CarryOver::Backlog => Self::BACKLOG,
            CarryOver::Sprint(id) => id,
        }
    }

    /// The sprint of the closed sprint's choice; the backlog when none was recorded (a
    /// sprint closed before the choice existed).
    pub fn of(sprint: &SprintSnapshot) -> Self {
        sprint.carry_over_to.as_deref().map_or(CarryOver::Backlog, Self::parse)
    }
}

/// Whether `target` may take the unfinished tasks of `closing`: another sprint of the same
/// project that has not closed. (The tenant is the same by construction: it was read
/// within the caller's tenant.)
pub fn check_carry_over_target(closing: &SprintSnapshot, target: &SprintSnapshot) -> Result<(), String> {
    if target.id == closing.id {
        return Err("a sprint cannot carry its tasks over to itself".into());
    }
    if target.project_id != closing.project_id {
        return Err(format!("sprint {} belongs to another project", target.id));
    }
    if target.status == SprintStatus::Closed {
        return Err(format!("sprint {} is closed; name a planned or active sprint", target.id));
    }
    Ok(())
}

/// Closes an active sprint, recording where its unfinished tasks go; moving them is the
/// closing step's work, after the fact.
pub fn close_sprint(
    current: &SprintSnapshot,
    carry_over: &CarryOver,
    now: Timestamp,
) -> Result<SprintSnapshot, String> {
    match current.status {
        SprintStatus::Active => Ok(SprintSnapshot {
            status: SprintStatus::Closed,
            closed_at: Some(now),
            carry_over_to: Some(carry_over.as_str().to_owned()),
            version: current.version + 1,
            ..current.clone()
        }),
        other => Err(format!("only an active sprint can close; this one is {}", sprint_status(other))),
    }
}

pub fn sprint_status(status: SprintStatus) -> &'static str {
    match status {
        SprintStatus::Planned => "planned",
        SprintStatus::Active => "active",
        SprintStatus::Closed => "closed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colors_and_icons_parse_strictly() {
        assert!(Color::parse("#A0b1C2").is_ok());
        assert!(Color::parse("red").is_err());
        assert!(Color::parse("#12345").is_err());
        assert!(Icon::parse("book-open").is_ok());
        assert!(Icon::parse("Book").is_err());
    }

    #[test]
    fn sprints_start_then_close_once() {
        let now = Timestamp::now();
        let s = new_sprint("s".into(), "p".into(), "Sprint 1").unwrap();
        let active = start_sprint(&s, now).unwrap();
        assert!(start_sprint(&active, now).is_err());
        let closed = close_sprint(&active, &CarryOver::Backlog, now).unwrap();
        assert_eq!((closed.version, closed.closed_at), (3, Some(now)));
        assert_eq!(closed.carry_over_to.as_deref(), Some("backlog"));
        assert!(close_sprint(&closed, &CarryOver::Backlog, now).is_err());
        assert!(close_sprint(&s, &CarryOver::Backlog, now).is_err(), "a planned sprint cannot close without starting");
    }

    #[test]
    fn a_carry_over_target_is_another_open_sprint_of_the_same_project() {
        let now = Timestamp::now();
        let closing = start_sprint(&new_sprint("s1".into(), "p".into(), "One").unwrap(), now).unwrap();
        let next = new_sprint("s2".into(), "p".into(), "Two").unwrap();
        assert_eq!(check_carry_over_target(&closing, &next), Ok(()));
        assert!(check_carry_over_target(&closing, &closing).is_err());
        let elsewhere = new_sprint("s3".into(), "q".into(), "Three").unwrap();
        assert!(check_carry_over_target(&closing, &elsewhere).unwrap_err().contains("another project"));
        let done = close_sprint(&start_sprint(&next, now).unwrap(), &CarryOver::Backlog, now).unwrap();
        assert!(check_carry_over_target(&closing, &done).unwrap_err().contains("closed"));
        assert_eq!(CarryOver::parse("backlog"), CarryOver::Backlog);
        assert_eq!(CarryOver::parse("s2"), CarryOver::Sprint("s2".into()));
    }

    #[test]
    fn an_unchanged_category_is_no_new_version() {
        let draft = CategoryDraft { name: CategoryName::parse("Docs").unwrap(), color: None, icon: None };
        let c = new_category("c".into(), draft.clone());
        assert_eq!(update_category(&c, draft), None);
    }
}

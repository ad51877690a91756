//! The domain: types that can only hold valid values, the commands that change tasks, and
//! the status rules.

mod catalog;
mod comment;
mod fields;
mod status;
mod task;

pub use catalog::{
    CarryOver, CategoryDraft, CategoryName, Color, Icon, ProjectDraft, check_carry_over_target, close_sprint,
    new_category, new_project, new_sprint, sprint_status, start_sprint, update_category, update_project,
};
pub use comment::{mentions, new_comment};
pub use events_schema::events::{Priority, TaskSnapshot as Task, TaskStatus};
pub use fields::{Description, DueDate, EstimatePoints, FieldError, Tag, Title, UserName};
pub use status::{allowed_transitions, check_transition};
pub use task::{CreateTask, DomainError, Links, Patch, UpdateTask, apply_update, new_task};

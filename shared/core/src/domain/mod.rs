//! The domain: types that can only hold valid values, the commands that change tasks, and
//! the status rules.

mod fields;
mod status;
mod task;

pub use events_schema::events::{Priority, TaskSnapshot as Task, TaskStatus};
pub use fields::{Description, DueDate, EstimatePoints, FieldError, Tag, Title, UserName};
pub use status::{allowed_transitions, check_transition};
pub use task::{CreateTask, DomainError, Patch, UpdateTask, apply_update, new_task};

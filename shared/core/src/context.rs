//! Who is asking, for which tenant, under which correlation id.

use serde::{Deserialize, Serialize};

/// What a caller may do. Each role includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything of its tenant.
    Viewer,
    /// Also writes tasks and comments.
    Member,
    /// Also manages categories, projects, sprints and keys.
    Admin,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Role::Viewer, Role::Member, Role::Admin].into_iter().find(|r| r.as_str() == text)
    }

    pub fn allows(&self, needed: Role) -> bool {
        *self >= needed
    }
}

/// The caller as authentication established it. The tenant never comes from the request
/// body or a client-chosen header: every read and write is scoped by this value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub tenant: String,
    pub actor: String,
    pub role: Role,
}

impl Identity {
    /// The person the caller acts as: the actor, unless it names a key that speaks for no
    /// one (`key:<id>`).
    pub fn person(&self) -> Option<&str> {
        (!self.actor.starts_with("key:")).then_some(self.actor.as_str())
    }
}

/// What every write carries into its change record and so into every event and log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    pub identity: Identity,
    pub correlation_id: String,
}

impl RequestContext {
    pub fn tenant(&self) -> &str {
        &self.identity.tenant
    }
}

//! Who is asking, for which tenant, under which correlation id.

/// The caller as authentication established it. The tenant never comes from the request
/// body or a client-chosen header: every read and write is scoped by this value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub tenant: String,
    pub actor: String,
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

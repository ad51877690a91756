//! How a command names the task it is about, and the version it expects to find.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A task, by its id (`{"id": "0195…"}`) or by the external key it was created with
/// (`{"externalKey": "PR-123"}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum TaskRef {
    Id(String),
    ExternalKey(String),
}

impl TaskRef {
    pub fn id(id: impl Into<String>) -> Self {
        TaskRef::Id(id.into())
    }

    pub fn external_key(key: impl Into<String>) -> Self {
        TaskRef::ExternalKey(key.into())
    }
}

impl fmt::Display for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskRef::Id(id) => write!(f, "task {id}"),
            TaskRef::ExternalKey(key) => write!(f, "the task of external key {key:?}"),
        }
    }
}

/// The version a command expects the task to be at: a number (optimistic locking, as the
/// API's `version`), or `"latest"` to apply to whatever version the task has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectedVersion {
    Exact(u64),
    Latest,
}

const LATEST: &str = "latest";

impl Serialize for ExpectedVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ExpectedVersion::Exact(v) => serializer.serialize_u64(*v),
            ExpectedVersion::Latest => serializer.serialize_str(LATEST),
        }
    }
}

impl<'de> Deserialize<'de> for ExpectedVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Expected;

        impl Visitor<'_> for Expected {
            type Value = ExpectedVersion;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a task version (1 or more) or \"latest\"")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                if v == 0 {
                    return Err(E::invalid_value(de::Unexpected::Unsigned(v), &self));
                }
                Ok(ExpectedVersion::Exact(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                }
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v == LATEST {
                    Ok(ExpectedVersion::Latest)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
        }

        deserializer.deserialize_any(Expected)
    }
}

impl JsonSchema for ExpectedVersion {
    fn schema_name() -> Cow<'static, str> {
        "ExpectedVersion".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "The task version the command applies to, or \"latest\" for whatever version it has.",
            "anyOf": [
                { "type": "integer", "format": "uint64", "minimum": 1 },
                { "type": "string", "enum": [LATEST] }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_task_is_named_by_id_or_by_external_key_and_nothing_else() {
        assert_eq!(serde_json::to_value(TaskRef::id("t1")).unwrap(), json!({ "id": "t1" }));
        let by_key: TaskRef = serde_json::from_value(json!({ "externalKey": "PR-123" })).unwrap();
        assert_eq!(by_key, TaskRef::external_key("PR-123"));
        assert!(serde_json::from_value::<TaskRef>(json!({ "id": "t1", "externalKey": "PR-1" })).is_err());
        assert!(serde_json::from_value::<TaskRef>(json!({ "title": "t1" })).is_err());
    }

    #[test]
    fn a_version_is_a_positive_number_or_latest() {
        let parse = |v| serde_json::from_value::<ExpectedVersion>(v);
        assert_eq!(parse(json!(3)).unwrap(), ExpectedVersion::Exact(3));
        assert_eq!(parse(json!("latest")).unwrap(), ExpectedVersion::Latest);
        for bad in [json!(0), json!(-1), json!("newest"), json!(2.5), json!(null)] {
            let err = parse(bad.clone()).unwrap_err().to_string();
            assert!(err.contains("a task version (1 or more) or \"latest\""), "{bad}: {err}");
        }
        assert_eq!(serde_json::to_value(ExpectedVersion::Latest).unwrap(), json!("latest"));
        assert_eq!(serde_json::to_value(ExpectedVersion::Exact(7)).unwrap(), json!(7));
    }
}

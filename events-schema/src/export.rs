//! The contract in the forms services in other languages read: one OpenAPI 3.1 document of
//! every schema, and per bus detail-type an OpenAPI 3.0 document in the EventBridge schema
//! registry's form (an `AWSEvent` whose `detail` is our envelope), from which the registry
//! generates code bindings. `taskstream schema export` writes them; the CDK registers the
//! committed registry documents (`registry/`).

use serde_json::{Map, Value, json};

use crate::catalog::{self, CatalogEntry, Kind};
use crate::commands::CommandData;
use crate::{EVENT_SOURCE, EventData};

/// The registry's schema name prefix: `taskstream@TaskCreated`.
pub const REGISTRY_PREFIX: &str = "taskstream@";

/// What the registry documents of commands give as their source: integrations publish under
/// sources of their own (`integrations.git`), any but taskstream's.
pub const COMMAND_SOURCE_PATTERN: &str = "integrations.*";

const COMPONENTS: &str = "#/components/schemas/";

fn to_value(schema: schemars::Schema) -> Value {
    schema.to_value()
}

/// Moves a schema's `$defs` into `components` and points its references there. A definition
/// equal to a component of the same name shares it; one that differs (or refers to one that
/// differs) is renamed `{owner}.{name}`. Returns the schema itself, without `$schema` and
/// `$defs`.
fn hoist(mut schema: Value, owner: &str, components: &mut Map<String, Value>) -> Value {
    let Value::Object(object) = &mut schema else { return schema };
    object.remove("$schema");
    let defs = match object.remove("$defs") {
        Some(Value::Object(defs)) => defs,
        _ => Map::new(),
    };
    // Renaming one definition changes those that refer to it: repeat until nothing moves.
    let mut renamed: Vec<String> = Vec::new();
    let rewritten = loop {
        let target = |reference: &str| -> Option<String> {
            let name = reference.strip_prefix("#/$defs/")?;
            Some(if renamed.iter().any(|r| r == name) {
                format!("{COMPONENTS}{owner}.{name}")
            } else {
                format!("{COMPONENTS}{name}")
            })
        };
        let rewritten: Vec<(String, Value)> = defs
            .iter()
            .map(|(name, def)| {
                let mut def = def.clone();
                rewrite_refs(&mut def, &target);
                (name.clone(), def)
            })
            .collect();
        let clashing: Vec<String> = rewritten
            .iter()
            .filter(|(name, def)| {
                !renamed.contains(name) && components.get(name).is_some_and(|existing| existing != def)
            })
            .map(|(name, _)| name.clone())
            .collect();
        if clashing.is_empty() {
            rewrite_refs(&mut schema, &target);
            break rewritten;
        }
        renamed.extend(clashing);
    };
    for (name, def) in rewritten {
        let key = if renamed.contains(&name) { format!("{owner}.{name}") } else { name };
        components.insert(key, def);
    }
    schema
}

fn rewrite_refs(value: &mut Value, target: &dyn Fn(&str) -> Option<String>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get_mut("$ref")
                && let Some(to) = target(reference)
            {
                *reference = to;
            }
            object.values_mut().for_each(|v| rewrite_refs(v, target));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, target)),
        _ => {}
    }
}

/// The name of an entry's payload among the components: `TaskCreated.v1`.
fn component_name(entry: &CatalogEntry) -> String {
    entry.file_stem()
}

/// One OpenAPI 3.1 document holding every schema of the contract as a component: each
/// payload version (`TaskCreated.v1`, `TaskStatusRequested.v1`), both envelopes (`Envelope`,
/// `CommandEnvelope`) and what they share (`TaskSnapshot`, `TaskStatus` …).
pub fn openapi_document() -> Value {
    let mut components = Map::new();
    let envelopes = [("Envelope", catalog::envelope_schema()), ("CommandEnvelope", catalog::command_envelope_schema())];
    for (name, schema) in envelopes {
        let root = hoist(to_value(schema), name, &mut components);
        components.insert(name.to_owned(), root);
    }
    for entry in catalog::entries().iter().chain(&catalog::command_entries()) {
        let name = component_name(entry);
        let root = hoist(to_value((entry.schema)()), &name, &mut components);
        components.insert(name, root);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "taskstream events and commands",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every event taskstream emits and every command it takes in, in every version. \
                Events travel in an `Envelope` (its `data` is the payload of the version `schemaVersion` \
                names); commands in a `CommandEnvelope`."
        },
        "paths": {},
        "components": { "schemas": components }
    })
}

/// The registry documents: for every event and command type, its latest version as the
/// registry's OpenAPI 3.0 `AWSEvent`, named by its schema name without the prefix
/// (`TaskCreated`), sorted by name.
pub fn eventbridge_documents() -> Vec<(String, Value)> {
    let latest = |entry: &&CatalogEntry| match entry.kind {
        Kind::Event => EventData::latest_version(entry.event_type) == Some(entry.version),
        Kind::Command => CommandData::latest_version(entry.event_type) == Some(entry.version),
    };
    let entries: Vec<CatalogEntry> = catalog::entries().into_iter().chain(catalog::command_entries()).collect();
    let mut documents: Vec<(String, Value)> =
        entries.iter().filter(latest).map(|e| (e.event_type.to_owned(), eventbridge_document(e))).collect();
    documents.sort_by(|a, b| a.0.cmp(&b.0));
    documents
}

/// One detail-type as the registry's discovered schemas look: `AWSEvent` with the bus
/// fields, its `detail` the envelope, the envelope's `data` this payload.
fn eventbridge_document(entry: &CatalogEntry) -> Value {
    let (envelope_name, envelope, source, description) = match entry.kind {
        Kind::Event => (
            "Envelope",
            catalog::envelope_schema(),
            EVENT_SOURCE,
            "An event taskstream emits: its envelope is the bus event's detail.",
        ),
        Kind::Command => (
            "CommandEnvelope",
            catalog::command_envelope_schema(),
            COMMAND_SOURCE_PATTERN,
            "A command taskstream takes in: publish it under your own source (any but taskstream), \
             its envelope as the bus event's detail.",
        ),
    };
    let payload = entry.event_type;
    let mut components = Map::new();
    let mut envelope = hoist(to_value(envelope), envelope_name, &mut components);
    if let Some(Value::Object(properties)) = envelope.get_mut("properties") {
        properties.insert("data".to_owned(), json!({ "$ref": format!("{COMPONENTS}{payload}") }));
    }
    let root = hoist(to_value((entry.schema)()), payload, &mut components);
    components.insert(payload.to_owned(), root);
    components.insert(envelope_name.to_owned(), envelope);
    let string = || json!({ "type": "string" });
    components.insert(
        "AWSEvent".to_owned(),
        json!({
            "type": "object",
            "required": ["detail-type", "resources", "detail", "id", "source", "time", "region", "version", "account"],
            "x-amazon-events-detail-type": payload,
            "x-amazon-events-source": source,
            "properties": {
                "detail": { "$ref": format!("{COMPONENTS}{envelope_name}") },
                "account": string(),
                "detail-type": string(),
                "id": string(),
                "region": string(),
                "resources": { "type": "array", "items": string() },
                "source": string(),
                "time": { "type": "string", "format": "date-time" },
                "version": string()
            }
        }),
    );
    let components: Map<String, Value> = components.into_iter().map(|(k, v)| (k, to_openapi30(v))).collect();
    json!({
        "openapi": "3.0.0",
        "info": {
            "title": payload,
            "version": format!("{}.0.0", entry.version),
            "description": description
        },
        "paths": {},
        "components": { "schemas": components }
    })
}

/// Keywords an OpenAPI 3.0 Schema Object may carry (besides `x-` extensions).
const OPENAPI30_KEYWORDS: &[&str] = &[
    "title",
    "multipleOf",
    "maximum",
    "minimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "enum",
    "type",
    "not",
    "allOf",
    "oneOf",
    "anyOf",
    "items",
    "properties",
    "additionalProperties",
    "description",
    "format",
    "default",
    "nullable",
    "readOnly",
    "writeOnly",
    "deprecated",
];

fn is_null_schema(value: &Value) -> bool {
    value.get("type").and_then(Value::as_str) == Some("null")
}

/// A JSON Schema (2020-12, as schemars writes it) as an OpenAPI 3.0 Schema Object: `null`
/// in a type list or an alternative becomes `nullable`, `const` an enum of one, `true` an
/// empty schema, and keywords 3.0 does not have are left out.
pub fn to_openapi30(value: Value) -> Value {
    let mut object = match value {
        Value::Bool(true) => return json!({}),
        Value::Bool(false) => return json!({ "not": {} }),
        Value::Object(object) => object,
        other => return other,
    };
    let mut nullable = false;
    if let Some(constant) = object.remove("const") {
        object.insert("enum".to_owned(), Value::Array(vec![constant]));
    }
    if let Some(Value::Array(types)) = object.get("type").cloned() {
        let mut rest: Vec<Value> = types.into_iter().filter(|t| t.as_str() != Some("null")).collect();
        nullable = rest.len() < object.get("type").and_then(Value::as_array).map_or(0, Vec::len);
        match rest.len() {
            0 => {
                object.remove("type");
            }
            1 => {
                object.insert("type".to_owned(), rest.remove(0));
            }
            _ => {
                object.remove("type");
                let alternatives = rest.into_iter().map(|t| json!({ "type": t })).collect();
                object.insert("anyOf".to_owned(), Value::Array(alternatives));
            }
        }
    }
    if let Some(Value::Array(values)) = object.get_mut("enum")
        && values.iter().any(Value::is_null)
    {
        values.retain(|v| !v.is_null());
        nullable = true;
    }
    for key in ["anyOf", "oneOf"] {
        let Some(Value::Array(alternatives)) = object.remove(key) else { continue };
        let before = alternatives.len();
        let mut rest: Vec<Value> = alternatives.into_iter().filter(|a| !is_null_schema(a)).collect();
        nullable |= rest.len() < before;
        if rest.len() == 1 && !object.contains_key("allOf") {
            // `X or null`: X itself, made nullable (a reference can only be nullable inside allOf).
            let only = rest.remove(0);
            if only.get("$ref").is_some() {
                object.insert("allOf".to_owned(), Value::Array(vec![only]));
            } else if let Value::Object(fields) = only {
                for (k, v) in fields {
                    object.entry(k).or_insert(v);
                }
            }
        } else if !rest.is_empty() {
            object.insert(key.to_owned(), Value::Array(rest));
        }
    }
    // A reference stands alone in 3.0: with anything beside it, it moves into allOf.
    if let Some(reference) = object.remove("$ref") {
        let alone = json!({ "$ref": reference });
        if object.is_empty() && !nullable {
            return alone;
        }
        object.insert("allOf".to_owned(), Value::Array(vec![alone]));
    }
    if nullable {
        object.insert("nullable".to_owned(), Value::Bool(true));
    }
    if object.get("required").and_then(Value::as_array).is_some_and(Vec::is_empty) {
        object.remove("required");
    }
    let mut out = Map::new();
    for (key, value) in object {
        if !(OPENAPI30_KEYWORDS.contains(&key.as_str()) || key.starts_with("x-")) {
            continue;
        }
        let value = match key.as_str() {
            "properties" => match value {
                Value::Object(properties) => {
                    Value::Object(properties.into_iter().map(|(k, v)| (k, to_openapi30(v))).collect())
                }
                other => other,
            },
            "items" | "not" => to_openapi30(value),
            "additionalProperties" if value.is_object() => to_openapi30(value),
            "allOf" | "anyOf" | "oneOf" => match value {
                Value::Array(items) => Value::Array(items.into_iter().map(reference_or_openapi30).collect()),
                other => other,
            },
            _ => value,
        };
        out.insert(key, value);
    }
    Value::Object(out)
}

fn reference_or_openapi30(value: Value) -> Value {
    match value.get("$ref") {
        Some(reference) if value.as_object().is_some_and(|o| o.len() == 1) => json!({ "$ref": reference }),
        _ => to_openapi30(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_become_nullable_and_references_stand_alone() {
        assert_eq!(
            to_openapi30(json!({ "type": ["string", "null"], "description": "d" })),
            json!({ "type": "string", "nullable": true, "description": "d" })
        );
        assert_eq!(
            to_openapi30(json!({ "anyOf": [{ "$ref": "#/components/schemas/S" }, { "type": "null" }] })),
            json!({ "allOf": [{ "$ref": "#/components/schemas/S" }], "nullable": true })
        );
        assert_eq!(
            to_openapi30(json!({ "$ref": "#/components/schemas/S", "description": "why" })),
            json!({ "allOf": [{ "$ref": "#/components/schemas/S" }], "description": "why" })
        );
        assert_eq!(to_openapi30(json!({ "const": "latest" })), json!({ "enum": ["latest"] }));
        assert_eq!(to_openapi30(json!(true)), json!({}));
        assert_eq!(
            to_openapi30(json!({ "type": "object", "properties": { "a": { "type": ["integer", "null"] } },
                                 "required": [], "$comment": "x" })),
            json!({ "type": "object", "properties": { "a": { "type": "integer", "nullable": true } } })
        );
    }

    #[test]
    fn definitions_are_shared_when_equal_and_renamed_when_not() {
        let mut components = Map::new();
        let a = json!({ "properties": { "s": { "$ref": "#/$defs/S" } }, "$defs": { "S": { "type": "string" } } });
        let b = json!({ "properties": { "s": { "$ref": "#/$defs/S" } }, "$defs": { "S": { "type": "integer" } } });
        let a = hoist(a, "A", &mut components);
        let b = hoist(b, "B", &mut components);
        assert_eq!(a["properties"]["s"]["$ref"], "#/components/schemas/S");
        assert_eq!(b["properties"]["s"]["$ref"], "#/components/schemas/B.S");
        assert_eq!(components["S"], json!({ "type": "string" }));
        assert_eq!(components["B.S"], json!({ "type": "integer" }));
    }
}

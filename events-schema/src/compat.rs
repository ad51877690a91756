//! What counts as a breaking change to a shipped schema, found by comparing two sets of JSON
//! Schema files (as `schemas/` holds them): the set a release shipped and the set the code
//! makes now. `taskstream schema check --against DIR` runs this, and CI runs it against the
//! schemas committed on the main line, so a breaking change without a new version cannot land.
//!
//! Breaking, for a (type, version) present in the shipped set:
//! - the version is gone (its schema file no longer exists);
//! - a field is removed;
//! - a field is retyped (its set of JSON types changes, or it becomes restricted to a list
//!   of values), or an alternative of its `oneOf`/`anyOf` disappears;
//! - a new field is required, or a field becomes required;
//! - a value is removed from an enum.
//!
//! Compatible: new types and versions, new optional fields, new enum values, descriptions.
//! Readers of events must therefore tolerate enum values they do not know yet.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

/// One breaking change, naming the schema file and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breaking {
    /// The schema file, relative to the schema folder (`TaskCreated.v1.schema.json`).
    pub file: String,
    /// The field, dotted from the payload's top (`task.assignee`, `tags[]`); empty for the
    /// schema as a whole.
    pub field: String,
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    VersionRemoved,
    FieldRemoved,
    FieldRetyped {
        was: String,
        now: String,
    },
    /// A `oneOf`/`anyOf` alternative (told apart by its required fields) is gone.
    AlternativeRemoved(String),
    RequiredFieldAdded,
    BecameRequired,
    EnumValueRemoved(String),
}

impl fmt::Display for Breaking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = if self.field.is_empty() { "the payload".to_owned() } else { format!("field `{}`", self.field) };
        match &self.change {
            Change::VersionRemoved => write!(f, "{}: a shipped version was removed", self.file),
            Change::FieldRemoved => write!(f, "{}: {field} was removed", self.file),
            Change::FieldRetyped { was, now } => write!(f, "{}: {field} was retyped from {was} to {now}", self.file),
            Change::AlternativeRemoved(what) => write!(f, "{}: {field} no longer accepts {what}", self.file),
            Change::RequiredFieldAdded => write!(f, "{}: new required {field}", self.file),
            Change::BecameRequired => write!(f, "{}: {field} became required", self.file),
            Change::EnumValueRemoved(value) => {
                write!(f, "{}: enum value {value} was removed from {field}", self.file)
            }
        }
    }
}

/// Compares every shipped schema file with the current one of the same path. Files only in
/// `current` are new types or versions: compatible.
pub fn check(shipped: &BTreeMap<String, Value>, current: &BTreeMap<String, Value>) -> Vec<Breaking> {
    let mut found = Vec::new();
    for (file, old) in shipped {
        match current.get(file) {
            None => found.push(Breaking { file: file.clone(), field: String::new(), change: Change::VersionRemoved }),
            Some(new) => compare_schemas(file, old, new, &mut found),
        }
    }
    found
}

/// Compares one schema file's shipped and current forms.
pub fn compare_schemas(file: &str, old: &Value, new: &Value, found: &mut Vec<Breaking>) {
    let mut cmp = Comparison { file, old_root: old, new_root: new, found, depth: 0 };
    cmp.node(old, new, "");
}

/// A schema node with its `anyOf`/`oneOf` alternatives and `$ref`s expanded: one branch
/// per alternative, each a plain schema object (or `true` for "anything").
#[derive(Default)]
struct Shape<'a> {
    types: BTreeSet<&'static str>,
    /// Enum values by JSON type; `None` for a type some branch leaves unrestricted.
    enums: BTreeMap<&'static str, Option<BTreeSet<String>>>,
    objects: Vec<&'a serde_json::Map<String, Value>>,
    items: Vec<&'a Value>,
}

const ALL_TYPES: [&str; 7] = ["array", "boolean", "integer", "null", "number", "object", "string"];

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn static_type(name: &str) -> Option<&'static str> {
    ALL_TYPES.into_iter().find(|t| *t == name)
}

fn describe(types: &BTreeSet<&'static str>) -> String {
    if types.len() == ALL_TYPES.len() {
        return "anything".to_owned();
    }
    let list: Vec<&str> = types.iter().copied().collect();
    list.join(" or ")
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() { field.to_owned() } else { format!("{path}.{field}") }
}

/// A deeper nesting than any schema of ours: a recursive `$ref` stops here.
const MAX_DEPTH: usize = 32;

struct Comparison<'a, 'f> {
    file: &'a str,
    old_root: &'a Value,
    new_root: &'a Value,
    found: &'f mut Vec<Breaking>,
    depth: usize,
}

impl<'a> Comparison<'a, '_> {
    fn report(&mut self, field: &str, change: Change) {
        self.found.push(Breaking { file: self.file.to_owned(), field: field.to_owned(), change });
    }

    fn node(&mut self, old: &'a Value, new: &'a Value, path: &str) {
        if self.depth > MAX_DEPTH {
            return;
        }
        self.depth += 1;
        let (old_shape, new_shape) = (shape(self.old_root, old), shape(self.new_root, new));
        self.shapes(&old_shape, &new_shape, path);
        self.depth -= 1;
    }

    fn shapes(&mut self, old: &Shape<'a>, new: &Shape<'a>, path: &str) {
        if old.types != new.types {
            let change = Change::FieldRetyped { was: describe(&old.types), now: describe(&new.types) };
            self.report(path, change);
            return;
        }
        for (json_type, old_values) in &old.enums {
            match (old_values, new.enums.get(json_type).and_then(Option::as_ref)) {
                (None, Some(values)) => {
                    let now = format!("one of {}", values.iter().cloned().collect::<Vec<_>>().join(", "));
                    self.report(path, Change::FieldRetyped { was: format!("any {json_type}"), now });
                }
                (Some(old_values), Some(new_values)) => {
                    for removed in old_values.difference(new_values) {
                        self.report(path, Change::EnumValueRemoved(removed.clone()));
                    }
                }
                (_, None) => {}
            }
        }
        self.objects(&old.objects, &new.objects, path);
        if let (Some(old_items), Some(new_items)) = (old.items.first(), new.items.first()) {
            self.node(old_items, new_items, &format!("{path}[]"));
        }
    }

    /// Object alternatives are matched by their required fields (how a reader tells
    /// `{"id"}` from `{"externalKey"}`); a single object on each side is simply compared.
    fn objects(
        &mut self,
        old: &[&'a serde_json::Map<String, Value>],
        new: &[&'a serde_json::Map<String, Value>],
        path: &str,
    ) {
        if let ([old], [new]) = (old, new) {
            self.object(old, new, path);
            return;
        }
        for old_object in old {
            let key = required(old_object);
            match new.iter().find(|n| required(n) == key) {
                Some(new_object) => self.object(old_object, new_object, path),
                None => {
                    let what = format!("an object with {}", key.into_iter().collect::<Vec<_>>().join(", "));
                    self.report(path, Change::AlternativeRemoved(what));
                }
            }
        }
    }

    fn object(&mut self, old: &'a serde_json::Map<String, Value>, new: &'a serde_json::Map<String, Value>, path: &str) {
        let properties =
            |object: &'a serde_json::Map<String, Value>| object.get("properties").and_then(Value::as_object);
        let (old_props, new_props) = (properties(old), properties(new));
        let (old_required, new_required) = (required(old), required(new));
        for (name, old_schema) in old_props.into_iter().flatten() {
            let field = join(path, name);
            match new_props.and_then(|p| p.get(name)) {
                None => self.report(&field, Change::FieldRemoved),
                Some(new_schema) => self.node(old_schema, new_schema, &field),
            }
        }
        for name in new_required.difference(&old_required) {
            let known = old_props.is_some_and(|p| p.contains_key(*name));
            let change = if known { Change::BecameRequired } else { Change::RequiredFieldAdded };
            self.report(&join(path, name), change);
        }
    }
}

fn required(object: &serde_json::Map<String, Value>) -> BTreeSet<&str> {
    object.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect()
}

/// The definition a local `$ref` (`#/$defs/X`, `#/definitions/X`) points at.
fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

fn shape<'a>(root: &'a Value, node: &'a Value) -> Shape<'a> {
    let mut shape = Shape::default();
    add_branches(root, node, &mut shape, 0);
    shape
}

fn add_branches<'a>(root: &'a Value, node: &'a Value, shape: &mut Shape<'a>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let object = match node {
        Value::Bool(true) => {
            for t in ALL_TYPES {
                shape.types.insert(t);
                shape.enums.insert(t, None);
            }
            return;
        }
        Value::Object(object) => object,
        // `false` (nothing validates) or not a schema: no branch.
        _ => return,
    };
    if let Some(target) = object.get("$ref").and_then(Value::as_str).and_then(|r| resolve(root, r)) {
        add_branches(root, target, shape, depth + 1);
        return;
    }
    let alternatives = ["anyOf", "oneOf"].iter().find_map(|k| object.get(*k).and_then(Value::as_array));
    if let Some(alternatives) = alternatives {
        for alternative in alternatives {
            add_branches(root, alternative, shape, depth + 1);
        }
        return;
    }
    if let Some([only]) = object.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
        add_branches(root, only, shape, depth + 1);
        return;
    }
    let listed: Option<Vec<&Value>> = match (object.get("enum"), object.get("const")) {
        (Some(Value::Array(values)), _) => Some(values.iter().collect()),
        (_, Some(value)) => Some(vec![value]),
        _ => None,
    };
    let types: BTreeSet<&'static str> = match object.get("type") {
        Some(Value::String(t)) => static_type(t).into_iter().collect(),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).filter_map(static_type).collect(),
        _ => match &listed {
            Some(values) => values.iter().map(|v| type_name(v)).collect(),
            // No type said: a schema that only describes (`{}`) accepts anything.
            None => ALL_TYPES.into_iter().collect(),
        },
    };
    for t in &types {
        shape.types.insert(t);
        let entry = shape.enums.entry(t).or_insert_with(|| Some(BTreeSet::new()));
        match (&listed, entry.as_mut()) {
            (Some(values), Some(set)) => {
                set.extend(values.iter().filter(|v| type_name(v) == *t).map(|v| v.to_string()));
            }
            (None, _) => *entry = None,
            (Some(_), None) => {}
        }
    }
    if types.contains("object") {
        shape.objects.push(object);
    }
    if types.contains("array")
        && let Some(items) = object.get("items")
    {
        shape.items.push(items);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(properties: Value, required: &[&str]) -> Value {
        json!({
            "type": "object", "properties": properties, "required": required,
            "$defs": { "Status": { "type": "string", "enum": ["todo", "done"] } }
        })
    }

    fn changes(old: Value, new: Value) -> Vec<String> {
        let mut found = Vec::new();
        compare_schemas("T.v1.schema.json", &old, &new, &mut found);
        found.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn an_identical_or_additive_schema_is_compatible() {
        let old = schema(json!({ "id": { "type": "string" } }), &["id"]);
        assert!(changes(old.clone(), old.clone()).is_empty());
        let grown = schema(json!({ "id": { "type": "string" }, "note": { "type": ["string", "null"] } }), &["id"]);
        assert!(changes(old, grown).is_empty());
    }

    #[test]
    fn each_kind_of_break_is_named_with_its_field() {
        let old = schema(
            json!({
                "id": { "type": "string" },
                "status": { "$ref": "#/$defs/Status" },
                "tags": { "type": "array", "items": { "type": "string" } },
                "points": { "type": ["integer", "null"] }
            }),
            &["id"],
        );
        let new = json!({
            "type": "object",
            "properties": {
                "status": { "$ref": "#/$defs/Status" },
                "tags": { "type": "array", "items": { "type": "integer" } },
                "points": { "type": ["integer", "null"] },
                "owner": { "type": "string" }
            },
            "required": ["owner", "points"],
            "$defs": { "Status": { "type": "string", "enum": ["todo", "doing"] } }
        });
        assert_eq!(
            changes(old, new),
            [
                "T.v1.schema.json: field `id` was removed",
                "T.v1.schema.json: enum value \"done\" was removed from field `status`",
                "T.v1.schema.json: field `tags[]` was retyped from string to integer",
                "T.v1.schema.json: new required field `owner`",
                "T.v1.schema.json: field `points` became required",
            ]
        );
    }

    #[test]
    fn alternatives_are_matched_by_their_required_fields() {
        let by = |name: &str| {
            json!({ "type": "object", "properties": { name: { "type": "string" } }, "required": [name],
                    "additionalProperties": false })
        };
        let old = json!({ "type": "object", "properties": { "task": { "oneOf": [by("id"), by("externalKey")] } } });
        let reordered =
            json!({ "type": "object", "properties": { "task": { "oneOf": [by("externalKey"), by("id")] } } });
        assert!(changes(old.clone(), reordered).is_empty());
        let narrowed = json!({ "type": "object", "properties": { "task": { "oneOf": [by("id")] } } });
        assert_eq!(
            changes(old, narrowed),
            ["T.v1.schema.json: field `task` no longer accepts an object with externalKey"]
        );
    }

    #[test]
    fn a_nullable_reference_and_its_alternatives_keep_their_type() {
        let old = json!({ "type": "object", "properties": {
            "previous": { "anyOf": [{ "$ref": "#/$defs/Status" }, { "type": "null" }] } },
            "$defs": { "Status": { "type": "string", "enum": ["todo", "done"] } } });
        let not_null = json!({ "type": "object", "properties": { "previous": { "$ref": "#/$defs/Status" } },
            "$defs": { "Status": { "type": "string", "enum": ["todo", "done", "blocked"] } } });
        assert_eq!(
            changes(old.clone(), not_null),
            ["T.v1.schema.json: field `previous` was retyped from null or string to string"]
        );
        let more_values = json!({ "type": "object", "properties": {
            "previous": { "anyOf": [{ "$ref": "#/$defs/Status" }, { "type": "null" }] } },
            "$defs": { "Status": { "type": "string", "enum": ["todo", "done", "blocked"] } } });
        assert!(changes(old, more_values).is_empty(), "a new enum value is compatible");
    }

    #[test]
    fn a_missing_file_is_a_removed_version_and_a_new_file_is_fine() {
        let s = json!({ "type": "object" });
        let shipped = BTreeMap::from([("A.v1.schema.json".to_owned(), s.clone())]);
        let current = BTreeMap::from([("B.v1.schema.json".to_owned(), s)]);
        let found = check(&shipped, &current);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].to_string(), "A.v1.schema.json: a shipped version was removed");
        assert!(check(&BTreeMap::new(), &current).is_empty());
    }
}

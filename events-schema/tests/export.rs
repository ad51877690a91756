//! The exported forms of the contract: the EventBridge registry documents are valid OpenAPI
//! 3.0 (checked against the OpenAPI Initiative's JSON Schema of 3.0 documents, published
//! 2021-09-28, in `fixtures/openapi-3.0.schema.json`), every reference in them resolves, and
//! the goldens validate against the OpenAPI 3.1 document's payload schemas.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::PathBuf;

use events_schema::catalog;
use events_schema::export::{eventbridge_documents, openapi_document};
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Every `$ref` under `value`.
fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(r)) = object.get("$ref") {
                out.push(r.clone());
            }
            object.values().for_each(|v| references(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

fn assert_references_resolve(document: &Value, name: &str) {
    let mut found = Vec::new();
    references(document, &mut found);
    assert!(!found.is_empty(), "{name} has no references at all");
    for reference in found {
        let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("{name}: {reference} is not local"));
        assert!(document.pointer(pointer).is_some(), "{name}: {reference} points nowhere");
    }
}

#[test]
fn every_registry_document_is_a_valid_openapi_3_0_document() {
    let meta = fixture("openapi-3.0.schema.json");
    let validator = jsonschema::validator_for(&meta).unwrap();
    let documents = eventbridge_documents();
    assert!(!documents.is_empty());
    for (name, document) in &documents {
        let errors: Vec<String> =
            validator.iter_errors(document).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{name} is not valid OpenAPI 3.0: {errors:#?}");
        assert_references_resolve(document, name);
        let event = &document["components"]["schemas"]["AWSEvent"];
        assert_eq!(event["x-amazon-events-detail-type"], json!(name));
        assert!(event["properties"]["detail"]["$ref"].is_string());
    }
}

#[test]
fn the_meta_schema_catches_json_schema_that_is_not_openapi_3_0() {
    // The check above is only worth something if the meta-schema refuses what 3.0 lacks.
    let meta = fixture("openapi-3.0.schema.json");
    let mut document = eventbridge_documents().remove(0).1;
    document["components"]["schemas"]["AWSEvent"]["properties"]["account"] = json!({ "type": ["string", "null"] });
    assert!(!jsonschema::is_valid(&meta, &document), "a type list is JSON Schema, not OpenAPI 3.0");
}

#[test]
fn there_is_a_registry_document_per_detail_type_at_its_latest_version() {
    let names: Vec<String> = eventbridge_documents().into_iter().map(|(name, _)| name).collect();
    let mut expected: Vec<String> = events_schema::EventData::TYPES
        .iter()
        .chain(events_schema::commands::CommandData::TYPES)
        .map(|t| t.to_string())
        .collect();
    expected.sort();
    assert_eq!(names, expected);
    let status = eventbridge_documents().into_iter().find(|(n, _)| n == "TaskStatusChanged").unwrap().1;
    assert_eq!(status["info"]["version"], "2.0.0");
    let payload = &status["components"]["schemas"]["TaskStatusChanged"]["properties"];
    assert!(payload["previousStatus"].is_object(), "the document is of version 2");
}

#[test]
fn goldens_validate_against_the_openapi_3_1_document() {
    let document = openapi_document();
    assert_eq!(document["openapi"], "3.1.0");
    assert_references_resolve(&document, "openapi");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let entries = catalog::entries().into_iter().chain(catalog::command_entries());
    for entry in entries {
        let golden: Value =
            serde_json::from_str(&std::fs::read_to_string(root.join(entry.golden_path())).unwrap()).unwrap();
        let mut schema = json!({ "$ref": format!("#/components/schemas/{}", entry.file_stem()) });
        schema["components"] = document["components"].clone();
        let validator = jsonschema::options().should_validate_formats(true).build(&schema).unwrap();
        let errors: Vec<String> = validator.iter_errors(&golden["data"]).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{} golden fails the exported schema: {errors:?}", entry.file_stem());
        let envelope = if entry.kind == catalog::Kind::Event { "Envelope" } else { "CommandEnvelope" };
        let mut whole = json!({ "$ref": format!("#/components/schemas/{envelope}") });
        whole["components"] = document["components"].clone();
        assert!(jsonschema::is_valid(&whole, &golden), "{} envelope", entry.file_stem());
    }
}

//! The contract's guard rails: committed schemas and the routing file match the code, and
//! every golden fixture of every version still parses, validates and upcasts.
//!
//! After an intended change (a new version, a new event), regenerate the committed files with
//! `TASKSTREAM_BLESS=1 cargo test -p events-schema --test contract` and review the diff.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};

use events_schema::catalog::{self, CatalogEntry};
use events_schema::{DomainEvent, Envelope, EventData, routing};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn blessing() -> bool {
    std::env::var_os("TASKSTREAM_BLESS").is_some()
}

fn pretty(value: &impl serde::Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap();
    text.push('\n');
    text
}

/// Compares `path` with `expected`, or rewrites it when blessing.
fn check_committed(path: &Path, expected: &str) -> Result<(), String> {
    if blessing() {
        std::fs::write(path, expected).unwrap();
        return Ok(());
    }
    match std::fs::read_to_string(path) {
        Ok(found) if found == expected => Ok(()),
        Ok(_) => Err(format!("{} differs from the code", path.display())),
        Err(e) => Err(format!("{} is missing: {e}", path.display())),
    }
}

fn golden(entry: &CatalogEntry) -> Envelope {
    let path = root().join("fixtures").join(format!("{}.json", entry.file_stem()));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("every shipped version needs a golden; {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not an envelope: {e}", path.display()))
}

#[test]
fn committed_schemas_match_the_code() {
    let dir = root().join("schemas");
    let mut drift = Vec::new();
    for entry in catalog::entries() {
        let path = dir.join(format!("{}.schema.json", entry.file_stem()));
        drift.extend(check_committed(&path, &pretty(&(entry.schema)())).err());
    }
    let envelope = pretty(&catalog::envelope_schema());
    drift.extend(check_committed(&dir.join("envelope.schema.json"), &envelope).err());
    assert!(
        drift.is_empty(),
        "schema drift: {drift:#?}\nA shipped version must not change: add a new version with an \
         upcaster instead. For a new version or event, regenerate with TASKSTREAM_BLESS=1."
    );
}

#[test]
fn no_stray_schema_files() {
    let expected: Vec<String> = catalog::entries()
        .iter()
        .map(|e| format!("{}.schema.json", e.file_stem()))
        .chain(["envelope.schema.json".to_owned()])
        .collect();
    for file in std::fs::read_dir(root().join("schemas")).unwrap() {
        let name = file.unwrap().file_name().into_string().unwrap();
        assert!(expected.contains(&name), "schemas/{name} belongs to no catalog entry");
    }
}

#[test]
fn committed_routing_file_matches_the_table() {
    let path = root().join("routing.json");
    if let Err(e) = check_committed(&path, &routing::routing_json()) {
        panic!("{e}: regenerate with TASKSTREAM_BLESS=1 so the CDK rules follow the table");
    }
}

#[test]
fn every_golden_parses_as_its_own_version_and_validates_against_its_schema() {
    for entry in catalog::entries() {
        let envelope = golden(&entry);
        assert_eq!(envelope.event_type, entry.event_type);
        assert_eq!(envelope.schema_version, entry.version);
        (entry.parse_exact)(envelope.data.clone())
            .unwrap_or_else(|e| panic!("{} golden no longer parses: {e}", entry.file_stem()));

        let schema = serde_json::to_value((entry.schema)()).unwrap();
        let validator = jsonschema::options().should_validate_formats(true).build(&schema).unwrap();
        let errors: Vec<String> = validator.iter_errors(&envelope.data).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{} golden fails its schema: {errors:?}", entry.file_stem());

        let envelope_schema = serde_json::to_value(catalog::envelope_schema()).unwrap();
        let whole = serde_json::to_value(&envelope).unwrap();
        assert!(jsonschema::is_valid(&envelope_schema, &whole), "{} envelope", entry.file_stem());
    }
}

#[test]
fn every_golden_upcasts_to_the_latest_version() {
    for entry in catalog::entries() {
        let envelope = golden(&entry);
        let event = DomainEvent::from_envelope(envelope.clone())
            .unwrap_or_else(|e| panic!("{} does not upcast: {e}", entry.file_stem()));
        assert_eq!(event.event_type(), entry.event_type);
        assert_eq!(Some(event.data.schema_version()), EventData::latest_version(entry.event_type));
        assert_eq!(event.meta.event_id, envelope.event_id);
    }
}

#[test]
fn latest_goldens_round_trip_byte_for_byte() {
    for entry in catalog::entries() {
        if EventData::latest_version(entry.event_type) != Some(entry.version) {
            continue;
        }
        let envelope = golden(&entry);
        let event = DomainEvent::from_envelope(envelope.clone()).unwrap();
        assert_eq!(event.to_envelope().unwrap(), envelope, "{}", entry.file_stem());
        // The text the router puts on the bus reads back as the same envelope.
        let text = serde_json::to_string(&event.wire()).unwrap();
        assert_eq!(serde_json::from_str::<Envelope>(&text).unwrap(), envelope, "{}", entry.file_stem());
    }
}

#[test]
fn golden_event_ids_are_the_deterministic_ones() {
    for entry in catalog::entries() {
        let e = golden(&entry);
        let id =
            events_schema::event_id(&e.tenant, e.aggregate_type, &e.aggregate_id, e.aggregate_version, &e.event_type);
        assert_eq!(id, e.event_id, "{}", entry.file_stem());
    }
}

#[test]
fn every_event_type_has_all_its_versions_in_the_catalog() {
    let entries = catalog::entries();
    for t in EventData::TYPES {
        let latest = EventData::latest_version(t).unwrap();
        for v in 1..=latest {
            assert!(
                entries.iter().any(|e| e.event_type == *t && e.version == v),
                "{t} v{v} is missing from the catalog"
            );
        }
    }
}

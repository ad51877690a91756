//! The contract's guard rails: committed schemas and the routing file match the code, and
//! every golden fixture of every version, events and commands alike, still parses,
//! validates and upcasts.
//!
//! After an intended change (a new version, a new event), regenerate the committed files with
//! `TASKSTREAM_BLESS=1 cargo test -p events-schema --test contract` and review the diff.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};

use events_schema::catalog::{self, CatalogEntry};
use events_schema::commands::{Command, CommandData, CommandEnvelope};
use events_schema::{BridgeEvent, DomainEvent, Envelope, EventData, routing};

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

fn golden_of<T: serde::de::DeserializeOwned>(entry: &CatalogEntry) -> T {
    let path = root().join("fixtures").join(entry.golden_path());
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("every shipped version needs a golden; {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not an envelope: {e}", path.display()))
}

fn golden(entry: &CatalogEntry) -> Envelope {
    golden_of(entry)
}

fn command_golden(entry: &CatalogEntry) -> CommandEnvelope {
    golden_of(entry)
}

/// Every error `schema` finds in `value`.
fn schema_errors(schema: &schemars::Schema, value: &serde_json::Value) -> Vec<String> {
    let schema = serde_json::to_value(schema).unwrap();
    let validator = jsonschema::options().should_validate_formats(true).build(&schema).unwrap();
    validator.iter_errors(value).map(|e| e.to_string()).collect()
}

#[test]
fn committed_schemas_match_the_code() {
    let dir = root().join("schemas");
    let mut drift = Vec::new();
    for (path, schema) in catalog::schema_files() {
        drift.extend(check_committed(&dir.join(path), &pretty(&schema)).err());
    }
    assert!(
        drift.is_empty(),
        "schema drift: {drift:#?}\nA shipped version must not change: add a new version with an \
         upcaster instead. For a new version or event, regenerate with TASKSTREAM_BLESS=1."
    );
}

/// Every file under `dir`, as paths relative to it with `/` separators.
fn files_under(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    for file in std::fs::read_dir(dir).unwrap() {
        let file = file.unwrap();
        let name = format!("{prefix}{}", file.file_name().into_string().unwrap());
        if file.file_type().unwrap().is_dir() {
            files_under(&file.path(), &format!("{name}/"), out);
        } else {
            out.push(name);
        }
    }
}

#[test]
fn no_stray_schema_files() {
    let expected: Vec<String> = catalog::schema_files().into_iter().map(|(path, _)| path).collect();
    let mut found = Vec::new();
    files_under(&root().join("schemas"), "", &mut found);
    for name in found {
        assert!(expected.contains(&name), "schemas/{name} belongs to no catalog entry");
    }
}

#[test]
fn committed_registry_documents_match_the_code() {
    let dir = root().join("registry");
    if blessing() {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let documents = events_schema::export::eventbridge_documents();
    let mut drift = Vec::new();
    for (name, document) in &documents {
        drift.extend(check_committed(&dir.join(format!("{name}.json")), &pretty(document)).err());
    }
    assert!(
        drift.is_empty(),
        "registry drift: {drift:#?}\nRegenerate with TASKSTREAM_BLESS=1: the CDK registers these."
    );
    let mut found = Vec::new();
    files_under(&dir, "", &mut found);
    for name in found {
        let known = documents.iter().any(|(n, _)| format!("{n}.json") == name);
        assert!(known, "registry/{name} belongs to no detail-type");
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

        let errors = schema_errors(&(entry.schema)(), &envelope.data);
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
fn bus_text_written_directly_is_the_wrapped_envelope_and_reads_back_both_ways() {
    for entry in catalog::entries() {
        if EventData::latest_version(entry.event_type) != Some(entry.version) {
            continue;
        }
        let envelope = golden(&entry);
        let event = DomainEvent::from_envelope(envelope.clone()).unwrap();
        let text = BridgeEvent::encode(&event).unwrap();
        let wrapped = serde_json::to_value(BridgeEvent::wrap(&envelope).unwrap()).unwrap();
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), wrapped, "{}", entry.file_stem());
        let (read, replay) = BridgeEvent::read_envelope(&text).unwrap();
        assert_eq!((read, replay), (envelope.clone(), None), "{}", entry.file_stem());
        let long_way: BridgeEvent = serde_json::from_str(&text).unwrap();
        assert_eq!(long_way.envelope().unwrap(), envelope, "{}", entry.file_stem());
    }
}

#[test]
fn bus_text_the_short_read_refuses_is_left_to_the_long_one() {
    let entry = catalog::entries().into_iter().next().unwrap();
    let event = DomainEvent::from_envelope(golden(&entry)).unwrap();
    let mut bus: serde_json::Value = serde_json::from_str(&BridgeEvent::encode(&event).unwrap()).unwrap();
    bus["replay-name"] = "nightly".into();
    let (_, replay) = BridgeEvent::read_envelope(&bus.to_string()).unwrap();
    assert_eq!(replay.as_deref(), Some("nightly"));
    // A detail-type that names another event, a missing source, a detail that is no envelope.
    let mut mismatched = bus.clone();
    mismatched["detail-type"] = "SomethingElse".into();
    let mut sourceless = bus.clone();
    sourceless.as_object_mut().unwrap().remove("source");
    let mut foreign = bus.clone();
    foreign["detail"] = serde_json::json!({ "hello": "world" });
    for body in [mismatched, sourceless, foreign] {
        assert!(BridgeEvent::read_envelope(&body.to_string()).is_none(), "{body}");
    }
    assert!(BridgeEvent::read_envelope("not json").is_none());
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

#[test]
fn every_command_golden_parses_as_its_own_version_and_validates_against_its_schemas() {
    for entry in catalog::command_entries() {
        let envelope = command_golden(&entry);
        assert_eq!(envelope.command_type, entry.event_type);
        assert_eq!(envelope.schema_version, entry.version);
        (entry.parse_exact)(envelope.data.clone())
            .unwrap_or_else(|e| panic!("{} golden no longer parses: {e}", entry.file_stem()));
        let errors = schema_errors(&(entry.schema)(), &envelope.data);
        assert!(errors.is_empty(), "{} golden fails its schema: {errors:?}", entry.file_stem());
        let whole = serde_json::to_value(&envelope).unwrap();
        let errors = schema_errors(&catalog::command_envelope_schema(), &whole);
        assert!(errors.is_empty(), "{} golden fails the command envelope schema: {errors:?}", entry.file_stem());
    }
}

#[test]
fn latest_command_goldens_decode_and_round_trip_byte_for_byte() {
    for entry in catalog::command_entries() {
        if CommandData::latest_version(entry.event_type) != Some(entry.version) {
            continue;
        }
        let envelope = command_golden(&entry);
        let command = Command::from_envelope(envelope.clone())
            .unwrap_or_else(|e| panic!("{} does not decode: {e}", entry.file_stem()));
        assert_eq!(command.command_type(), entry.event_type);
        assert_eq!(command.to_envelope().unwrap(), envelope, "{}", entry.file_stem());
    }
}

#[test]
fn every_command_type_has_all_its_versions_in_the_catalog() {
    let entries = catalog::command_entries();
    for t in CommandData::TYPES {
        let latest = CommandData::latest_version(t).unwrap();
        for v in 1..=latest {
            assert!(
                entries.iter().any(|e| e.event_type == *t && e.version == v),
                "{t} v{v} is missing from the command catalog"
            );
        }
    }
}

#[test]
fn commands_and_events_never_share_a_name() {
    // On the bus both are detail-types: a command named like an event would reach its rules.
    for t in CommandData::TYPES {
        assert!(EventData::latest_version(t).is_none(), "{t} is both a command and an event");
    }
}

//! `taskstream schema`: the contract for services in other languages (`export`), and the
//! compatibility gate (`check`) that refuses a breaking change to a shipped version.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use events_schema::{catalog, compat, export};
use serde_json::Value;

#[derive(clap::Args)]
pub struct SchemaArgs {
    #[command(subcommand)]
    command: SchemaCommand,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// JSON Schema (2020-12) files, one per event or command version plus the envelopes,
    /// laid out as `events-schema/schemas/` is.
    Jsonschema,
    /// One OpenAPI 3.1 document with every schema as a component.
    Openapi,
    /// One OpenAPI 3.0 document per detail-type in the EventBridge schema registry's form.
    Eventbridge,
}

#[derive(clap::Subcommand)]
enum SchemaCommand {
    /// Write the schemas of every event and command.
    Export {
        #[arg(long, value_enum)]
        format: Format,
        /// Where to write: a directory for jsonschema and eventbridge, a file for openapi.
        /// Without it, one JSON document goes to stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Exit non-zero, naming each one, on a breaking change to a shipped schema: a version
    /// removed, a field removed or retyped, a new required field, an enum value removed.
    Check {
        /// The shipped schemas: a directory laid out as `events-schema/schemas/` (as
        /// `export --format jsonschema --out` writes it, or a checkout of a release's).
        #[arg(long)]
        against: PathBuf,
    },
}

pub fn run(args: SchemaArgs) -> anyhow::Result<()> {
    match args.command {
        SchemaCommand::Export { format, out } => export_schemas(format, out.as_deref()),
        SchemaCommand::Check { against } => check(&against),
    }
}

/// The schema files as JSON values. schemars writes a `Schema` with its keywords in a
/// reading order (`$schema`, `title`, `type`, `properties` …) that a `Value` would sort away,
/// so files are written from the `Schema` itself (see [`pretty`]) and compared as values.
fn schema_files() -> Vec<(String, Value)> {
    catalog::schema_files().into_iter().map(|(path, schema)| (path, schema.to_value())).collect()
}

fn pretty(value: &impl serde::Serialize) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}

fn write_file(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, pretty(value)?).with_context(|| format!("writing {}", path.display()))
}

fn export_schemas(format: Format, out: Option<&Path>) -> anyhow::Result<()> {
    match format {
        Format::Jsonschema => write_all(catalog::schema_files(), out),
        Format::Eventbridge => {
            let documents =
                export::eventbridge_documents().into_iter().map(|(name, doc)| (format!("{name}.json"), doc));
            write_all(documents.collect(), out)
        }
        Format::Openapi => {
            let document = export::openapi_document();
            match out {
                Some(path) => write_file(path, &document),
                None => print(&document),
            }
        }
    }
}

/// Each file into `dir`, or all of them as one JSON object (path → content) to stdout.
fn write_all<T: serde::Serialize>(files: Vec<(String, T)>, dir: Option<&Path>) -> anyhow::Result<()> {
    match dir {
        Some(dir) => {
            for (path, value) in &files {
                write_file(&dir.join(path), value)?;
            }
            tracing::info!(files = files.len(), dir = %dir.display(), "schemas written");
            Ok(())
        }
        None => print(&files.into_iter().collect::<std::collections::BTreeMap<String, T>>()),
    }
}

fn print(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(pretty(value)?.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Every `*.schema.json` under `dir`, by its path relative to `dir` (`/`-separated).
fn read_schema_dir(dir: &Path) -> anyhow::Result<BTreeMap<String, Value>> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Value>) -> anyhow::Result<()> {
        let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                walk(&path, &format!("{prefix}{name}/"), out)?;
            } else if name.ends_with(".schema.json") {
                let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                let value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
                out.insert(format!("{prefix}{name}"), value);
            }
        }
        Ok(())
    }
    let mut found = BTreeMap::new();
    walk(dir, "", &mut found)?;
    if found.is_empty() {
        bail!("{} holds no *.schema.json files: nothing to check against", dir.display());
    }
    Ok(found)
}

fn check(against: &Path) -> anyhow::Result<()> {
    let shipped = read_schema_dir(against)?;
    let current: BTreeMap<String, Value> = schema_files().into_iter().collect();
    let breaking = compat::check(&shipped, &current);
    let mut out = std::io::stdout().lock();
    for change in &breaking {
        writeln!(out, "breaking: {change}")?;
    }
    let new: Vec<&String> = current.keys().filter(|path| !shipped.contains_key(*path)).collect();
    for path in &new {
        writeln!(out, "new: {path}")?;
    }
    out.flush()?;
    if !breaking.is_empty() {
        bail!(
            "{} breaking change(s) to shipped schemas; a shipped version never changes: add a new version \
             (a new struct and an upcaster) instead",
            breaking.len()
        );
    }
    writeln!(out, "{} shipped schemas are compatible; {} new", shipped.len(), new.len())?;
    Ok(())
}

//! `taskstream keys`: create, list and revoke API keys of a data directory, and the admin key
//! `serve` makes on its first start.
//!
//! These commands open the SQLite file directly, not through the engine, whose lock belongs
//! to a running `serve`: SQLite serialises the two processes' writes, a new key works at
//! once, and a revocation reaches the running `serve` when its key cache expires.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use shared_core::Role;
use shared_embedded::{ApiKey, ApiKeys, KeyAdmin, NewKey};

/// The file `serve` writes its first admin key to, inside the data directory.
pub const ADMIN_KEY_FILE: &str = "admin.key";
/// The tenant of the admin key `serve` makes on its first start.
const FIRST_TENANT: &str = "default";

#[derive(clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(clap::Subcommand)]
enum KeysCommand {
    /// Create a key; it is printed once, alone on the last line, and never stored in clear.
    Create {
        #[command(flatten)]
        data: DataDir,
        /// The tenant every request made with the key is scoped to.
        #[arg(long)]
        tenant: String,
        /// viewer (reads), member (also writes tasks and comments) or admin (also manages
        /// categories, projects, sprints and keys).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The person the key speaks for (a user name, as tasks use for assignee): its
        /// requests act as them, and `/notifications` shows theirs.
        #[arg(long)]
        person: Option<String>,
    },
    /// List keys (ids, tenants, roles, when created and revoked; never secrets).
    List {
        #[command(flatten)]
        data: DataDir,
    },
    /// Revoke a key by its id. A running `serve` refuses it once its key cache expires.
    Revoke {
        #[command(flatten)]
        data: DataDir,
        /// The key's id (the part after `tsk_`, as `keys list` shows it).
        key_id: String,
    },
}

#[derive(clap::Args)]
struct DataDir {
    /// The data directory, as given to `serve`.
    #[arg(long, env = "TASKSTREAM_DATA", default_value = "./taskstream-data")]
    data: PathBuf,
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| format!("expected viewer, member or admin, got {text:?}"))
}

pub fn run(args: KeysArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match args.command {
        KeysCommand::Create { data, tenant, role, person } => {
            // Keys may be made before the first `serve`: the database is created if missing.
            let admin = open(&data.data, true)?;
            let new = admin.create_for(&tenant, role, person.as_deref())?;
            tracing::info!(key_id = %new.info.key_id, tenant = %tenant, role = role.as_str(), "API key created");
            let speaks_for = new.info.person.as_deref().map(|p| format!(" speaking for {p}")).unwrap_or_default();
            writeln!(
                out,
                "created key {} for tenant {} with role {}{speaks_for}; it is shown this once:",
                new.info.key_id,
                new.info.tenant,
                role.as_str()
            )?;
            writeln!(out, "{}", new.key.expose())?;
        }
        KeysCommand::List { data } => {
            let keys = open(&data.data, false)?.list()?;
            writeln!(
                out,
                "{:<16}  {:<20}  {:<6}  {:<30}  {:<30}  PERSON",
                "KEY ID", "TENANT", "ROLE", "CREATED", "REVOKED"
            )?;
            for key in keys {
                writeln!(
                    out,
                    "{:<16}  {:<20}  {:<6}  {:<30}  {:<30}  {}",
                    key.key_id,
                    key.tenant,
                    key.role.as_str(),
                    key.created_at,
                    key.revoked_at.as_deref().unwrap_or("-"),
                    key.person.as_deref().unwrap_or("-")
                )?;
            }
        }
        KeysCommand::Revoke { data, key_id } => {
            open(&data.data, false)?.revoke(&key_id)?;
            tracing::info!(key_id = %key_id, "API key revoked");
            writeln!(out, "revoked key {key_id}; a running serve refuses it within its key cache time")?;
        }
    }
    out.flush()?;
    Ok(())
}

fn open(data: &Path, create: bool) -> anyhow::Result<KeyAdmin> {
    KeyAdmin::open(data, create).with_context(|| format!("opening the keys of {}", data.display()))
}

/// On a data directory without keys, makes an admin key of tenant `default` and writes it
/// to `<data>/admin.key` (owner-only), so a new user has a working key at once. A later
/// start reuses the file. The key itself never reaches a log.
pub async fn ensure_admin_key(data: &Path, keys: &ApiKeys) -> anyhow::Result<()> {
    let path = data.join(ADMIN_KEY_FILE);
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if let Some(key) = existing.as_deref().and_then(ApiKey::parse)
        && keys.is_active(&key).await?
    {
        tracing::info!(path = %path.display(), "admin API key in place");
        return Ok(());
    }
    // Keys made with `keys create` before the first start do not stand in the way: the file
    // is written unless an admin key exists, and then the log says where to look.
    if keys.has_admin().await? {
        if existing.is_some() {
            tracing::warn!(
                path = %path.display(),
                "this file does not hold a valid key of this data directory; make one with `taskstream keys create --role admin`"
            );
        } else {
            tracing::warn!(
                path = %path.display(),
                "no admin key file written: this data directory has admin keys already (made with `taskstream keys create`); \
                 use one of them (`taskstream keys list` names them)"
            );
        }
        return Ok(());
    }
    // The file first, then the row: a crash between the two leaves a file whose key is
    // unknown, which the next start replaces, never a key nobody can read.
    let new = NewKey::generate(FIRST_TENANT, Role::Admin)?;
    write_owner_only(&path, &format!("{}\n", new.key.expose()))
        .with_context(|| format!("writing {}", path.display()))?;
    keys.add(&new).await?;
    tracing::info!(
        path = %path.display(),
        key_id = %new.info.key_id,
        tenant = FIRST_TENANT,
        "created an admin API key; send it as x-api-key (it is in this file)"
    );
    Ok(())
}

/// Writes `contents` to `path` through a new file created with mode 0600, so the secret is
/// never readable by others, not even for a moment; the rename makes it appear whole.
fn write_owner_only(path: &Path, contents: &str) -> std::io::Result<()> {
    let staging = path.with_extension("key.new");
    match std::fs::remove_file(&staging) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&staging)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&staging, path)
}

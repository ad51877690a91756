//! `taskstream webhooks`: a tenant's webhook subscriptions, managed through a running
//! `serve`'s HTTP API with an admin key, so the same tenant wall, roles and checks apply as
//! to any other client (a member's key is refused, another tenant's ids are not found).
//! Tables for people, `--json` for scripts; a signing secret is printed only by the two
//! commands that make one (`create`, `rotate-secret`), alone on the last line.

use std::path::PathBuf;

use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Value, json};

use crate::operate::table::Table;

#[derive(clap::Args)]
pub struct WebhooksArgs {
    #[command(flatten)]
    api: Api,
    #[command(subcommand)]
    command: WebhooksCommand,
}

/// How to reach serve and as whom.
#[derive(clap::Args)]
struct Api {
    /// The serve to manage.
    #[arg(long, global = true, env = "TASKSTREAM_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// An admin API key of the tenant; by default the admin key serve wrote into its data
    /// directory.
    #[arg(long, global = true, env = "TASKSTREAM_KEY", hide_env_values = true)]
    key: Option<String>,
    /// Where to find `admin.key` when no key is given.
    #[arg(long, global = true, env = "TASKSTREAM_DATA", default_value = "taskstream-data")]
    data: PathBuf,
    /// Print the API's JSON for scripts instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum WebhooksCommand {
    /// The tenant's subscriptions (never their secrets).
    List,
    /// Subscribe an endpoint; its signing secret is printed this once.
    Create {
        /// Where deliveries are POSTed (http or https; a public address unless serve runs
        /// with --allow-private-webhooks).
        #[arg(long)]
        endpoint: String,
        /// An event type to deliver (repeat for more), e.g. TaskCreated.
        #[arg(long = "event-type", required = true)]
        event_types: Vec<String>,
        /// Make it turned off: nothing is delivered until it is turned on.
        #[arg(long)]
        inactive: bool,
    },
    /// One subscription.
    Show { id: String },
    /// Change a subscription: what is not given stays as it is.
    Update {
        id: String,
        #[arg(long)]
        endpoint: Option<String>,
        /// The event types (repeat for more); replaces the current list.
        #[arg(long = "event-type")]
        event_types: Vec<String>,
        /// Turn it on (also after it was turned off for failing) or off.
        #[arg(long)]
        active: Option<bool>,
    },
    /// Remove a subscription and its deliveries.
    Delete { id: String },
    /// A new signing secret, printed this once; the old one keeps signing for 24 hours.
    RotateSecret { id: String },
    /// A subscription's deliveries, newest first: status, attempts, last answer and latency.
    Deliveries {
        id: String,
        /// At most this many (1–100).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Send a delivery again, with a fresh retry schedule.
    Redeliver { id: String, delivery_id: String },
}

/// A client of serve's webhook routes.
struct Client {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Client {
    fn new(api: &Api) -> anyhow::Result<Self> {
        let key = match &api.key {
            Some(key) => key.clone(),
            None => {
                let path = api.data.join(crate::keys::ADMIN_KEY_FILE);
                std::fs::read_to_string(&path)
                    .with_context(|| format!("no --key given, and {} cannot be read", path.display()))?
                    .trim()
                    .to_owned()
            }
        };
        let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
        Ok(Self { base: api.url.trim_end_matches('/').to_owned(), key, http })
    }

    /// The answer's `data`, or the API's error as the command's error.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url).header("x-api-key", &self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| format!("{method} {url}"))?;
        let status = response.status();
        let bytes = response.bytes().await.with_context(|| format!("reading the answer to {method} {url}"))?;
        let answer: Value =
            if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        if status.is_success() {
            return Ok(answer.get("data").cloned().unwrap_or(Value::Null));
        }
        let error = &answer["error"];
        let message = error["message"].as_str().unwrap_or("no error message");
        let fields = error["details"]["fields"]
            .as_array()
            .map(|fields| {
                fields
                    .iter()
                    .map(|f| {
                        format!("{}: {}", f["field"].as_str().unwrap_or("?"), f["message"].as_str().unwrap_or("?"))
                    })
                    // A message about one field is often that field's line already.
                    .filter(|line| !message.contains(line.as_str()))
                    .map(|line| format!("\n  {line}"))
                    .collect::<String>()
            })
            .unwrap_or_default();
        bail!("{method} {path}: HTTP {} {}: {message}{fields}", status.as_u16(), error["code"].as_str().unwrap_or(""))
    }
}

/// The id as a path segment: only what an id can hold, so nothing can reach another route.
fn segment(id: &str) -> anyhow::Result<&str> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        bail!("{id:?} is not an id");
    }
    Ok(id)
}

pub async fn run(args: WebhooksArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.api)?;
    let json = args.api.json;
    match args.command {
        WebhooksCommand::List => {
            let all = client.call(Method::GET, "/webhooks", None).await?;
            print(json, &all, || subscriptions(&all))
        }
        WebhooksCommand::Create { endpoint, event_types, inactive } => {
            let body = json!({"url": endpoint, "eventTypes": event_types, "active": !inactive});
            let made = client.call(Method::POST, "/webhooks", Some(body)).await?;
            print(json, &made, || with_secret(&made))
        }
        WebhooksCommand::Show { id } => {
            let one = client.call(Method::GET, &format!("/webhooks/{}", segment(&id)?), None).await?;
            print(json, &one, || subscriptions(&Value::Array(vec![one.clone()])))
        }
        WebhooksCommand::Update { id, endpoint, event_types, active } => {
            let path = format!("/webhooks/{}", segment(&id)?);
            // A PUT replaces the whole subscription: start from what it is now.
            let current = client.call(Method::GET, &path, None).await?;
            let body = json!({
                "url": endpoint.map_or_else(|| current["url"].clone(), Value::from),
                "eventTypes": if event_types.is_empty() { current["eventTypes"].clone() } else { json!(event_types) },
                "active": active.map_or_else(|| current["active"].clone(), Value::from),
            });
            let changed = client.call(Method::PUT, &path, Some(body)).await?;
            print(json, &changed, || subscriptions(&Value::Array(vec![changed.clone()])))
        }
        WebhooksCommand::Delete { id } => {
            client.call(Method::DELETE, &format!("/webhooks/{}", segment(&id)?), None).await?;
            if json {
                println!("{}", json!({"deleted": id}));
            } else {
                println!("deleted {id}");
            }
            Ok(())
        }
        WebhooksCommand::RotateSecret { id } => {
            let path = format!("/webhooks/{}/rotate-secret", segment(&id)?);
            let rotated = client.call(Method::POST, &path, None).await?;
            print(json, &rotated, || with_secret(&rotated))
        }
        WebhooksCommand::Deliveries { id, limit } => {
            let path = format!("/webhooks/{}/deliveries?limit={limit}", segment(&id)?);
            let page = client.call(Method::GET, &path, None).await?;
            print(json, &page, || deliveries(&page))
        }
        WebhooksCommand::Redeliver { id, delivery_id } => {
            let path = format!("/webhooks/{}/deliveries/{}/redeliver", segment(&id)?, segment(&delivery_id)?);
            let again = client.call(Method::POST, &path, None).await?;
            print(json, &again, || deliveries(&Value::Array(vec![again.clone()])))
        }
    }
}

fn print(json: bool, value: &Value, table: impl FnOnce() -> String) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(value)?);
    } else {
        print!("{}", table());
    }
    Ok(())
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn subscriptions(all: &Value) -> String {
    let mut table = Table::new(&["ID", "ACTIVE", "URL", "EVENT TYPES", "FAILING SINCE", "TURNED OFF"]);
    for s in all.as_array().into_iter().flatten() {
        let types =
            s["eventTypes"].as_array().map(|t| t.iter().map(text).collect::<Vec<_>>().join(",")).unwrap_or_default();
        let off = match (&s["disabledAt"], &s["disabledReason"]) {
            (Value::Null, _) => "-".to_owned(),
            (at, reason) => format!("{} ({})", text(at), text(reason)),
        };
        table.row(vec![text(&s["id"]), text(&s["active"]), text(&s["url"]), types, text(&s["failingSince"]), off]);
    }
    table.render()
}

/// The subscription, then its secret alone on the last line (for `| tail -1`).
fn with_secret(made: &Value) -> String {
    let mut out = subscriptions(&Value::Array(vec![made.clone()]));
    out.push_str("\nThe signing secret, shown this once (keep it where the receiver can read it):\n");
    out.push_str(&text(&made["secret"]));
    out.push('\n');
    out
}

fn deliveries(page: &Value) -> String {
    let mut table =
        Table::new(&["ID", "EVENT", "STATUS", "ATTEMPTS", "LAST CODE", "LATENCY", "NEXT ATTEMPT", "LAST ERROR"]);
    for d in page.as_array().into_iter().flatten() {
        table.row(vec![
            text(&d["id"]),
            text(&d["eventType"]),
            text(&d["status"]),
            text(&d["attempts"]),
            text(&d["lastStatusCode"]),
            d["lastLatencyMs"].as_u64().map_or_else(|| "-".to_owned(), |ms| format!("{ms}ms")),
            text(&d["nextAttemptAt"]),
            text(&d["lastError"]),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_path_segments_and_nothing_else() {
        assert_eq!(segment("0191e3c2-7f7e-7a11-b3a1-1c2d3e4f5a6b").ok(), Some("0191e3c2-7f7e-7a11-b3a1-1c2d3e4f5a6b"));
        for bad in ["", "../keys", "a/b", "x?y=1", "id#frag", "a b"] {
            assert!(segment(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_turned_off_subscription_shows_when_and_why() {
        let all = json!([{
            "id": "w1", "active": false, "url": "https://hooks.example.com/in", "eventTypes": ["TaskCreated", "TaskUpdated"],
            "failingSince": "2026-01-01T00:00:00.000Z", "disabledAt": "2026-01-04T00:00:00.000Z",
            "disabledReason": "the receiver answered HTTP 503"
        }]);
        let shown = subscriptions(&all);
        assert!(shown.contains("TaskCreated,TaskUpdated"), "{shown}");
        assert!(shown.contains("2026-01-04T00:00:00.000Z (the receiver answered HTTP 503)"), "{shown}");
        assert!(shown.lines().next().is_some_and(|h| h.starts_with("ID")), "{shown}");
    }
}

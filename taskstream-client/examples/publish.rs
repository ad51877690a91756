//! A Git integration's view: a pull request opens (create its task under the PR's key), goes
//! to review (move the task), and CI reports (comment) — published to a running serve.
//!
//! ```sh
//! cargo run -p cli -- serve &                       # in another terminal
//! TASKSTREAM_KEY=$(cat taskstream-data/admin.key) cargo run -p taskstream-client --example publish
//! ```

use taskstream_client::{
    Delivery, Priority, PublishError, Publisher, ServePublisher, TaskRef, TaskStatus, comment, create_task, set_status,
};

/// Publishes the pull request's three commands, twice (the second time every one is a
/// duplicate, and nothing changes), and answers what the first time did.
pub async fn run(url: &str, key: &str, pull_request: &str) -> Result<Vec<Delivery>, PublishError> {
    let publisher = Publisher::Serve(ServePublisher::new(url, key)?);
    let task = TaskRef::external_key(pull_request);
    let commands = [
        create_task(format!("Review {pull_request}"))
            .external_key(pull_request)
            .priority(Priority::High)
            .tag("git")
            .build(),
        set_status(task.clone(), TaskStatus::InProgress).build(),
        set_status(task.clone(), TaskStatus::InReview).build(),
        comment(task, "CI passed on the last push").actor("ci-bot").build(),
    ];
    let first = publisher.publish(&commands).await?;
    for (command, delivery) in commands.iter().zip(&first) {
        println!("{} {}: {delivery:?}", command.command_type(), command.meta.command_id);
    }
    // A retry after a lost answer, say: the same commands, the same ids.
    let again = publisher.publish(&commands).await?;
    let duplicates = again.iter().filter(|d| matches!(d, Delivery::Applied(a) if a.duplicate)).count();
    println!("sent again: {duplicates} of {} were duplicates", commands.len());
    Ok(first)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("TASKSTREAM_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".to_owned());
    let key = std::env::var("TASKSTREAM_KEY").map_err(|_| "set TASKSTREAM_KEY to an API key of the tenant")?;
    let pull_request = std::env::args().nth(1).unwrap_or_else(|| "PR-123".to_owned());
    run(&url, &key, &pull_request).await?;
    Ok(())
}

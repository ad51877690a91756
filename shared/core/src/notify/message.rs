//! What a notification says on each channel: an email (subject, a plain-text part and an HTML
//! part) and a Slack Block Kit message. Pure functions of the notification, so the words are
//! tested here and every sender (SMTP, SES, Slack) sends the same ones.
//!
//! Everything a notification carries may come from a user (task titles, comment bodies,
//! names), so it is escaped for where it lands: HTML text for the HTML part, Slack's `mrkdwn`
//! escapes for Slack, and a subject folded to one line (a header cannot hold a line break).

use serde_json::{Value, json};

use super::Notification;
use super::people::Kind;

/// The most characters of an email subject, an ellipsis included.
const MAX_SUBJECT: usize = 150;
/// Slack refuses a header block's text past 150 characters.
const MAX_SLACK_HEADER: usize = 150;
/// Slack refuses a section's text past 3000 characters.
const MAX_SLACK_SECTION: usize = 3000;

/// An email ready for a mail transport: the address is the sender's to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The heading of a notification of `kind`: the Slack header, the HTML title.
pub fn heading(kind: Kind) -> &'static str {
    match kind {
        Kind::Assigned => "Assigned to you",
        Kind::Completed => "Task completed",
        Kind::Blocked => "Task blocked",
        Kind::Mentioned => "You were mentioned",
        Kind::Escalated => "Task escalated",
        Kind::Sprint => "Sprint update",
        Kind::DueSoon => "Task due soon",
        Kind::WebhookDisabled => "Webhook turned off",
    }
}

/// The facts under the summary, as (label, value) pairs, in the order shown.
fn facts(n: &Notification) -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(5);
    if let Some(task) = &n.task_id {
        out.push(("Task", task.clone()));
    }
    if let Some(sprint) = &n.sprint_id {
        out.push(("Sprint", sprint.clone()));
    }
    out.push(("By", n.actor.clone()));
    out.push(("When", n.occurred_at.to_string()));
    out.push(("Event", format!("{} {}", n.event_type, n.event_id.hyphenated())));
    out
}

/// Why the person gets this, and how to stop it.
fn footer(n: &Notification, channel: &str) -> String {
    format!(
        "You get this {channel} because your taskstream preferences send \u{201c}{}\u{201d} notifications this way. \
         Change them with PUT /people/{}, or mute all of them.",
        n.kind.as_str(),
        n.recipient
    )
}

/// `text` on one line (white space and control characters as single spaces), cut to `max`
/// characters with an ellipsis.
fn one_line(text: &str, max: usize) -> String {
    let folded: String = text.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty()).fold(
        String::with_capacity(text.len()),
        |mut out, word| {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
            out
        },
    );
    cut(&folded, max)
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('\u{2026}');
    out
}

/// Text made safe as HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text made literal in Slack `mrkdwn`: Slack reads `<...>` as links and mentions
/// (`<!channel>`), so its three control characters are escaped as it documents.
pub fn escape_slack(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// The email of a notification.
pub fn email(n: &Notification) -> Email {
    let subject = one_line(&format!("[taskstream] {}", n.summary), MAX_SUBJECT);
    let facts = facts(n);

    let mut text = String::with_capacity(512);
    text.push_str(heading(n.kind));
    text.push_str("\n\n");
    text.push_str(&n.summary);
    text.push_str("\n\n");
    for (label, value) in &facts {
        text.push_str(label);
        text.push_str(": ");
        text.push_str(value);
        text.push('\n');
    }
    text.push_str("\n-- \n");
    text.push_str(&footer(n, "email"));
    text.push('\n');

    let mut html = String::with_capacity(1024);
    html.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    html.push_str(&escape_html(&subject));
    html.push_str("</title></head>\n<body>\n<h1>");
    html.push_str(&escape_html(heading(n.kind)));
    html.push_str("</h1>\n<p>");
    // A comment's line breaks stay line breaks.
    html.push_str(&escape_html(&n.summary).replace('\n', "<br>\n"));
    html.push_str("</p>\n<table>\n");
    for (label, value) in &facts {
        html.push_str("<tr><th align=\"left\">");
        html.push_str(label);
        html.push_str("</th><td>");
        html.push_str(&escape_html(value));
        html.push_str("</td></tr>\n");
    }
    html.push_str("</table>\n<p><small>");
    html.push_str(&escape_html(&footer(n, "email")));
    html.push_str("</small></p>\n</body></html>\n");

    Email { subject, text, html }
}

/// The Slack message of a notification: Block Kit blocks, and `text` as the fallback Slack
/// shows in notifications and where blocks cannot be drawn.
pub fn slack(n: &Notification) -> Value {
    let context =
        facts(n).into_iter().map(|(label, value)| format!("{label}: {value}")).collect::<Vec<_>>().join(" \u{00b7} ");
    json!({
        "text": cut(&escape_slack(&n.summary), MAX_SLACK_SECTION),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": cut(heading(n.kind), MAX_SLACK_HEADER)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": cut(&escape_slack(&n.summary), MAX_SLACK_SECTION)}},
            {"type": "context", "elements": [{"type": "plain_text", "text": cut(&context, MAX_SLACK_SECTION)}]},
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{Channel, Status};
    use events_schema::Timestamp;
    use uuid::Uuid;

    fn notification(kind: Kind, summary: &str) -> Notification {
        Notification {
            id: Uuid::from_u128(1),
            tenant: "acme".into(),
            recipient: "li".into(),
            channel: Channel::Email,
            kind,
            event_id: Uuid::from_u128(2),
            event_type: "TaskAssigned".into(),
            task_id: Some("TASK-1".into()),
            sprint_id: None,
            actor: "sam".into(),
            summary: summary.into(),
            occurred_at: Timestamp::from_unix_millis(1_767_225_600_000).unwrap(),
            status: Status::Pending,
            read_at: None,
            attempts: 0,
            last_error: None,
        }
    }

    #[test]
    fn every_kind_has_its_email_with_subject_text_and_html() {
        for kind in Kind::ALL {
            let n = notification(kind, "sam did something to \u{201c}Ship it\u{201d}");
            let mail = email(&n);
            assert_eq!(mail.subject, "[taskstream] sam did something to \u{201c}Ship it\u{201d}", "{kind:?}");
            let expected_text = format!(
                "{}\n\nsam did something to \u{201c}Ship it\u{201d}\n\nTask: TASK-1\nBy: sam\nWhen: {}\n\
                 Event: TaskAssigned 00000000-0000-0000-0000-000000000002\n\n-- \nYou get this email because your \
                 taskstream preferences send \u{201c}{}\u{201d} notifications this way. Change them with PUT \
                 /people/li, or mute all of them.\n",
                heading(kind),
                n.occurred_at,
                kind.as_str()
            );
            assert_eq!(mail.text, expected_text, "{kind:?}");
            assert!(mail.html.contains(&format!("<h1>{}</h1>", heading(kind))), "{kind:?}: {}", mail.html);
            assert!(mail.html.contains("<p>sam did something to \u{201c}Ship it\u{201d}</p>"), "{}", mail.html);
            assert!(mail.html.contains("<tr><th align=\"left\">Task</th><td>TASK-1</td></tr>"), "{}", mail.html);
        }
        let headings: std::collections::BTreeSet<_> = Kind::ALL.iter().map(|k| heading(*k)).collect();
        assert_eq!(headings.len(), Kind::ALL.len(), "each kind reads differently");
    }

    #[test]
    fn the_html_part_escapes_what_users_wrote_and_the_subject_stays_one_line() {
        let n = notification(
            Kind::Mentioned,
            "sam mentioned you: \u{201c}<script>alert('x')</script> & \"more\"\nline two\u{201d}",
        );
        let mail = email(&n);
        assert!(!mail.html.contains("<script>"), "{}", mail.html);
        assert!(
            mail.html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;more&quot;<br>\nline two"),
            "{}",
            mail.html
        );
        assert!(!mail.subject.contains('\n'), "{:?}", mail.subject);
        assert!(mail.subject.ends_with("\"more\" line two\u{201d}"), "{:?}", mail.subject);
        assert!(mail.text.contains("<script>alert('x')</script>"), "the plain part is plain text: {}", mail.text);

        let long = notification(Kind::Assigned, &"x".repeat(400));
        let subject = email(&long).subject;
        assert_eq!(subject.chars().count(), MAX_SUBJECT);
        assert!(subject.ends_with('\u{2026}'));
    }

    #[test]
    fn the_slack_message_is_block_kit_with_escaped_mrkdwn() {
        let mut n = notification(Kind::Blocked, "sam marked \u{201c}<!channel> & co\u{201d} blocked");
        n.sprint_id = Some("S-3".into());
        let expected = json!({
            "text": "sam marked \u{201c}&lt;!channel&gt; &amp; co\u{201d} blocked",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "Task blocked"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "sam marked \u{201c}&lt;!channel&gt; &amp; co\u{201d} blocked"}},
                {"type": "context", "elements": [{"type": "plain_text", "text": format!(
                    "Task: TASK-1 \u{00b7} Sprint: S-3 \u{00b7} By: sam \u{00b7} When: {} \u{00b7} Event: TaskAssigned 00000000-0000-0000-0000-000000000002",
                    n.occurred_at
                )}]},
            ],
        });
        assert_eq!(slack(&n), expected);
        for kind in Kind::ALL {
            let message = slack(&notification(kind, "x"));
            assert_eq!(message["blocks"][0]["text"]["text"], heading(kind), "{kind:?}");
        }
        let long = slack(&notification(Kind::Mentioned, &"y".repeat(5000)));
        assert_eq!(long["blocks"][1]["text"]["text"].as_str().unwrap().chars().count(), MAX_SLACK_SECTION);
    }
}

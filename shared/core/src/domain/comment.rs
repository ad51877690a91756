//! Comments: immutable notes on a task, with `@name` mentions picked out for notifications.

use events_schema::Timestamp;
use events_schema::events::CommentSnapshot;

use super::fields::{FieldError, bounded_text};

pub fn new_comment(
    id: String,
    task_id: String,
    author: String,
    body: &str,
    now: Timestamp,
) -> Result<CommentSnapshot, FieldError> {
    let body = bounded_text("body", body, 1, 5_000)?;
    if body.trim().is_empty() {
        return Err(FieldError::new("body", "must not be blank"));
    }
    let mentions = mentions(&body);
    Ok(CommentSnapshot { id, task_id, author, body, mentions, created_at: now })
}

/// `@name` at the start or after a character that cannot be part of a name (so e-mail
/// addresses are not mentions); names are letters, digits, `.`, `_`, `-`, up to 64, with a
/// trailing `.` dropped (end of sentence). Unique, in order of first mention.
pub fn mentions(body: &str) -> Vec<String> {
    let is_name = |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '-');
    let mut found: Vec<String> = Vec::new();
    let mut prev: Option<char> = None;
    for (i, c) in body.char_indices() {
        if c == '@' && !prev.is_some_and(is_name) {
            let rest = &body[i + 1..];
            let end = rest.find(|ch: char| !is_name(ch)).unwrap_or(rest.len());
            let name = rest[..end].trim_end_matches('.');
            if !name.is_empty() && name.chars().count() <= 64 && !found.iter().any(|f| f == name) {
                found.push(name.to_owned());
            }
        }
        prev = Some(c);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_found_once_in_order() {
        assert_eq!(mentions("@maria draft is in, @sam.k please review. cc @maria"), ["maria", "sam.k"]);
        assert_eq!(mentions("thanks @li."), ["li"]);
    }

    #[test]
    fn email_addresses_and_lone_at_signs_are_not_mentions() {
        assert!(mentions("mail ops@example.com or @ anyone").is_empty());
    }

    #[test]
    fn a_blank_body_is_refused() {
        assert!(new_comment("c".into(), "t".into(), "a".into(), "  ", Timestamp::now()).is_err());
        assert!(new_comment("c".into(), "t".into(), "a".into(), &"x".repeat(5_001), Timestamp::now()).is_err());
    }
}

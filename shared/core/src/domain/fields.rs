//! Field newtypes, built by `parse` and unable to hold an invalid value: validation happens
//! once at the edge and the rest of the code trusts the type.

use std::fmt;

/// What was wrong with one field, in words a client can act on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self { field: field.to_owned(), message: message.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn char_len_between(field: &str, value: &str, min: usize, max: usize) -> Result<(), FieldError> {
    let len = value.chars().count();
    if len < min || len > max {
        let expected =
            if min == 0 { format!("at most {max} characters") } else { format!("{min} to {max} characters") };
        return Err(FieldError::new(field, format!("must be {expected}, got {len}")));
    }
    Ok(())
}

/// `raw` if its length in characters is within `min..=max`.
pub(crate) fn bounded_text(field: &str, raw: &str, min: usize, max: usize) -> Result<String, FieldError> {
    char_len_between(field, raw, min, max)?;
    Ok(raw.to_owned())
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_inner(self) -> String {
                self.0
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// 1 to 200 characters after trimming surrounding white space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);
string_newtype!(Title);

impl Title {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(FieldError::new("title", "must not be empty"));
        }
        char_len_between("title", trimmed, 1, Self::MAX_CHARS)?;
        Ok(Self(trimmed.to_owned()))
    }
}

/// At most 10 000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);
string_newtype!(Description);

impl Description {
    pub const MAX_CHARS: usize = 10_000;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        char_len_between("description", raw, 0, Self::MAX_CHARS)?;
        Ok(Self(raw.to_owned()))
    }
}

/// A user handle (assignee, reporter): 1 to 128 characters, no white space or control
/// characters, so it can be mentioned as `@name` and used in keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);
string_newtype!(UserName);

impl UserName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        char_len_between(field, raw, 1, 128)?;
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(FieldError::new(field, "must not contain white space"));
        }
        Ok(Self(raw.to_owned()))
    }
}

/// A tag: 1 to 50 characters of letters, digits, `-`, `_`, `.` or `:`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tag(String);
string_newtype!(Tag);

impl Tag {
    pub const MAX_PER_TASK: usize = 20;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        char_len_between("tags", raw, 1, 50)?;
        if !raw.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')) {
            return Err(FieldError::new(
                "tags",
                format!("{raw:?} may hold only letters, digits, '-', '_', '.' and ':'"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A task's tags: deduplicated and sorted, so equal sets compare equal.
    pub fn parse_set(raw: &[String]) -> Result<Vec<Tag>, FieldError> {
        let mut tags = raw.iter().map(|t| Tag::parse(t)).collect::<Result<Vec<_>, _>>()?;
        tags.sort();
        tags.dedup();
        if tags.len() > Self::MAX_PER_TASK {
            return Err(FieldError::new("tags", format!("at most {} tags, got {}", Self::MAX_PER_TASK, tags.len())));
        }
        Ok(tags)
    }
}

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DueDate(time::Date);

impl DueDate {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(raw, &format)
            .map(Self)
            .map_err(|_| FieldError::new("dueDate", format!("must be a calendar date YYYY-MM-DD, got {raw:?}")))
    }

    pub fn date(&self) -> time::Date {
        self.0
    }
}

impl fmt::Display for DueDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.0.year(), u8::from(self.0.month()), self.0.day())
    }
}

/// Story points: 0 to 1 000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EstimatePoints(u32);

impl EstimatePoints {
    pub fn parse(raw: u32) -> Result<Self, FieldError> {
        if raw > 1_000 {
            return Err(FieldError::new("estimatePoints", format!("must be at most 1000, got {raw}")));
        }
        Ok(Self(raw))
    }

    pub fn get(&self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_is_trimmed_and_bounded_in_characters_not_bytes() {
        assert_eq!(Title::parse("  Ship it ").unwrap().as_str(), "Ship it");
        assert!(Title::parse("   ").is_err());
        assert!(Title::parse(&"é".repeat(200)).is_ok());
        let err = Title::parse(&"x".repeat(201)).unwrap_err();
        assert_eq!(err.to_string(), "title: must be 1 to 200 characters, got 201");
    }

    #[test]
    fn description_limit() {
        assert!(Description::parse(&"d".repeat(10_000)).is_ok());
        assert!(Description::parse(&"d".repeat(10_001)).is_err());
    }

    #[test]
    fn due_date_must_exist_on_the_calendar() {
        assert_eq!(DueDate::parse("2026-02-28").unwrap().to_string(), "2026-02-28");
        assert!(DueDate::parse("2026-02-30").is_err());
        assert!(DueDate::parse("28/02/2026").is_err());
    }

    #[test]
    fn tags_are_deduplicated_sorted_and_bounded() {
        let tags = Tag::parse_set(&["b".into(), "a".into(), "b".into()]).unwrap();
        assert_eq!(tags.iter().map(Tag::as_str).collect::<Vec<_>>(), ["a", "b"]);
        assert!(Tag::parse_set(&["has space".into()]).is_err());
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(Tag::parse_set(&many).is_err());
    }

    #[test]
    fn user_names_reject_white_space() {
        assert!(UserName::parse("assignee", "li").is_ok());
        assert!(UserName::parse("assignee", "li wei").is_err());
        assert!(UserName::parse("assignee", "").is_err());
    }
}

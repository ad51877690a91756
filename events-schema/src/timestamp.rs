//! An instant on the wire: RFC 3339 in UTC, so that the same instant always serialises to
//! the same text (event ids and golden fixtures depend on it).

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    pub fn now() -> Self {
        Self::from(OffsetDateTime::now_utc())
    }

    pub fn from_unix_millis(millis: i64) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok().map(Self)
    }

    pub fn unix_millis(&self) -> i64 {
        // An OffsetDateTime spans ±9999 years, well inside i64 milliseconds.
        i64::try_from(self.0.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    pub fn as_offset(&self) -> OffsetDateTime {
        self.0
    }

    /// Whole seconds from `earlier` to `self`, zero when `earlier` is later.
    pub fn seconds_since(&self, earlier: Timestamp) -> u64 {
        let secs = (self.0 - earlier.0).whole_seconds();
        u64::try_from(secs).unwrap_or(0)
    }

    pub fn parse(text: &str) -> Result<Self, time::error::Parse> {
        match Self::parse_canonical(text) {
            Some(ts) => Ok(ts),
            None => OffsetDateTime::parse(text, &Rfc3339).map(Self::from),
        }
    }

    /// The form this type writes (`2026-03-01T08:00:00.123Z`: UTC, up to nine fractional
    /// digits), read directly: every stored item and event carries several, and the general
    /// RFC 3339 parser is several times slower. Anything else (offsets, leap seconds, odd
    /// digits) is left to the general parser by answering `None`.
    fn parse_canonical(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        let digits = |from: usize, to: usize| -> Option<u32> {
            b.get(from..to)?.iter().try_fold(0u32, |n, d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
        };
        let at = |i: usize, c: u8| b.get(i) == Some(&c);
        if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':') && b.last() == Some(&b'Z')) {
            return None;
        }
        let millis = match b.len() {
            20 => 0,
            22..=30 if at(19, b'.') => {
                // Milliseconds are what a timestamp keeps; further digits are dropped.
                let given = b.len() - 21;
                let kept = given.min(3);
                digits(20, b.len() - 1)?;
                digits(20, 20 + kept)? * 10u32.pow(u32::try_from(3 - kept).ok()?)
            }
            _ => return None,
        };
        let month = time::Month::try_from(u8::try_from(digits(5, 7)?).ok()?).ok()?;
        let date = time::Date::from_calendar_date(
            i32::try_from(digits(0, 4)?).ok()?,
            month,
            u8::try_from(digits(8, 10)?).ok()?,
        )
        .ok()?;
        let time = time::Time::from_hms_milli(
            u8::try_from(digits(11, 13)?).ok()?,
            u8::try_from(digits(14, 16)?).ok()?,
            u8::try_from(digits(17, 19)?).ok()?,
            u16::try_from(millis).ok()?,
        )
        .ok()?;
        Some(Self(time::PrimitiveDateTime::new(date, time).assume_utc()))
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(value: OffsetDateTime) -> Self {
        // Millisecond precision: what DynamoDB, EventBridge and SQLite all keep losslessly.
        let utc = value.to_offset(UtcOffset::UTC);
        let millis = utc.millisecond();
        Self(utc.replace_millisecond(millis).unwrap_or(utc))
    }
}

impl fmt::Display for Timestamp {
    /// Always `YYYY-MM-DDTHH:MM:SS.mmmZ`: three fraction digits even when they are zeros, so
    /// timestamps sort as strings (RFC 3339's shortest form does not: `…:00Z` sorts after
    /// `…:00.5Z`). Formatted on the stack: the router writes four of these per event.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        let Ok(year) = u16::try_from(t.year()) else {
            // Outside years 0 to 9999 no fixed width exists; RFC 3339 has the last word.
            return f.write_str(&t.format(&Rfc3339).map_err(|_| fmt::Error)?);
        };
        if year > 9999 {
            return f.write_str(&t.format(&Rfc3339).map_err(|_| fmt::Error)?);
        }
        let mut buf = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut n: u32| {
            for i in (at..at + width).rev() {
                buf[i] = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        put(0, 4, u32::from(year));
        put(5, 2, u32::from(u8::from(t.month())));
        put(8, 2, u32::from(t.day()));
        put(11, 2, u32::from(t.hour()));
        put(14, 2, u32::from(t.minute()));
        put(17, 2, u32::from(t.second()));
        put(20, 3, u32::from(t.millisecond()));
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A visitor rather than `String`/`Cow` (which always copies): the text is parsed
        // where it lies.
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Timestamp, E> {
                Timestamp::parse(text)
                    .map_err(|e| E::custom(format!("expected an RFC 3339 timestamp, got {text:?}: {e}")))
            }
        }
        deserializer.deserialize_str(Text)
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": "date-time" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_form_reads_as_the_general_parser_reads_it() {
        let general = |t: &str| OffsetDateTime::parse(t, &Rfc3339).map(Timestamp::from).ok();
        let mut texts: Vec<String> = [
            "2026-03-01T08:00:00Z",
            "2026-03-01T08:00:00.1Z",
            "2026-03-01T08:00:00.12Z",
            "2026-03-01T08:00:00.123Z",
            "2026-03-01T08:00:00.123456789Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999Z",
            "2024-02-29T12:00:00Z",
            // Not canonical or not valid: both must refuse, or the general parser decides.
            "2025-02-29T12:00:00Z",
            "2026-13-01T08:00:00Z",
            "2026-03-01T24:00:00Z",
            "2026-03-01T08:60:00Z",
            "2026-03-01T08:00:60Z",
            "2026-03-01T08:00:00.Z",
            "2026-03-01T08:00:00.1234567890Z",
            "2026-03-01t08:00:00Z",
            "2026-03-01T08:00:00+02:00",
            "2026-03-01T08:00:00.5+02:00",
            "2026-3-01T08:00:00Z",
            "2026-03-01T08:00:0xZ",
            "+2026-03-01T08:00:00Z",
            "",
            "Z",
        ]
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
        texts.extend((0..3000).map(|i| Timestamp::from_unix_millis(i * 9_876_543_211 + i % 1000).unwrap().to_string()));
        for text in &texts {
            assert_eq!(Timestamp::parse(text).ok(), general(text), "{text:?}");
        }
    }

    #[test]
    fn displays_three_fraction_digits_always_so_timestamps_sort_as_text() {
        // Whole seconds, every fractional length, and the ends of the four-digit years.
        let millis = [0, 1, 10, 100, 120, 123, 999, 1_700_000_000_000, 1_700_000_000_250, 253_402_300_799_999];
        let mut all: Vec<i64> = millis.into_iter().chain((0..2000).map(|i| i * 7_919_777_131 + i % 1000)).collect();
        for &ms in &all {
            let ts = Timestamp::from_unix_millis(ms).unwrap();
            let text = ts.to_string();
            assert_eq!(text.len(), 24, "{text}");
            assert_eq!(Timestamp::parse(&text).unwrap(), ts, "{text} reads back");
            assert_eq!(OffsetDateTime::parse(&text, &Rfc3339).unwrap(), ts.0, "{text} is RFC 3339");
        }
        assert_eq!(Timestamp::from_unix_millis(1_700_000_000_000).unwrap().to_string(), "2023-11-14T22:13:20.000Z");
        all.sort_unstable();
        let texts: Vec<String> = all.iter().map(|&ms| Timestamp::from_unix_millis(ms).unwrap().to_string()).collect();
        assert!(texts.windows(2).all(|w| w[0] <= w[1]), "text order is time order");
    }

    #[test]
    fn normalises_to_utc_milliseconds() {
        let ts = Timestamp::parse("2026-03-01T10:00:00.123456+02:00").unwrap();
        assert_eq!(ts.to_string(), "2026-03-01T08:00:00.123Z");
        let back: Timestamp = serde_json::from_str(&serde_json::to_string(&ts).unwrap()).unwrap();
        assert_eq!(back, ts);
    }

    #[test]
    fn rejects_text_that_is_not_rfc3339() {
        let err = serde_json::from_str::<Timestamp>("\"yesterday\"").unwrap_err();
        assert!(err.to_string().contains("RFC 3339"), "{err}");
    }

    #[test]
    fn seconds_since_never_goes_negative() {
        let a = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let b = Timestamp::parse("2026-01-01T00:01:30Z").unwrap();
        assert_eq!(b.seconds_since(a), 90);
        assert_eq!(a.seconds_since(b), 0);
    }
}

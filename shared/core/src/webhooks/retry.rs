//! When a failed delivery is tried again, and when it is given up on.

use std::time::Duration;

/// How long a receiver has to answer one attempt with a 2xx.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The waits between attempts: after the first failure the first wait, and so on; once they
/// are spent the delivery is dead-lettered with the last reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

impl Default for RetrySchedule {
    /// About 5 s, 30 s, 2 min, 10 min, 1 h and 6 h: seven attempts over about 7 h 13 min.
    fn default() -> Self {
        Self([5, 30, 120, 600, 3600, 6 * 3600].into_iter().map(Duration::from_secs).collect())
    }
}

impl RetrySchedule {
    pub fn new(waits: Vec<Duration>) -> Self {
        Self(waits)
    }

    /// Reads `250ms,1s,2m,1h`: waits in order, each with its unit.
    pub fn parse(text: &str) -> Result<Self, String> {
        text.split(',').map(|w| parse_wait(w.trim())).collect::<Result<Vec<_>, _>>().map(Self)
    }

    /// The wait before the next attempt after `attempts` failed ones, or `None`: give up.
    pub fn after(&self, attempts: u32) -> Option<Duration> {
        let index = usize::try_from(attempts).ok()?.checked_sub(1)?;
        self.0.get(index).copied()
    }

    /// How many attempts a delivery gets in all.
    pub fn attempts(&self) -> usize {
        self.0.len() + 1
    }
}

fn parse_wait(text: &str) -> Result<Duration, String> {
    let split =
        text.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| format!("{text:?} has no unit (ms, s, m, h)"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("expected a wait such as 500ms, 5s, 2m or 1h, got {text:?}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(n.saturating_mul(3600))),
        _ => Err(format!("unknown unit {unit:?} in {text:?}: use ms, s, m or h")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_waits_grow_then_the_delivery_is_given_up() {
        let s = RetrySchedule::default();
        let waits: Vec<u64> = (1..=6).map(|n| s.after(n).unwrap().as_secs()).collect();
        assert_eq!(waits, [5, 30, 120, 600, 3600, 21600]);
        assert_eq!(s.after(7), None);
        assert_eq!(s.after(0), None, "nothing failed yet, nothing to wait for");
        assert_eq!(s.attempts(), 7);
    }

    #[test]
    fn a_schedule_reads_from_text() {
        let s = RetrySchedule::parse("20ms, 1s,2m,1h").unwrap();
        assert_eq!(s.after(1), Some(Duration::from_millis(20)));
        assert_eq!(s.after(4), Some(Duration::from_secs(3600)));
        assert_eq!(s.after(5), None);
        for bad in ["", "5", "5d", "fast", "1s,,2s"] {
            assert!(RetrySchedule::parse(bad).is_err(), "{bad:?}");
        }
    }
}

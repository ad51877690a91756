//! A progress line on stderr for runs longer than a second: one line rewritten in place
//! (a carriage return), only when stderr is a terminal, so logs and pipes stay clean. No
//! dependency: a bar crate would add more to the build than this does to the code.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub(super) struct ProgressLine {
    started: Instant,
    shown: bool,
    enabled: bool,
}

impl ProgressLine {
    pub(super) fn new() -> Self {
        Self { started: Instant::now(), shown: false, enabled: std::io::stderr().is_terminal() }
    }

    /// Shows `text` with a bar for `permille` (0 to 1000), once the run has lasted a second.
    pub(super) fn update(&mut self, permille: i64, text: &str) {
        if !self.enabled || self.started.elapsed() < Duration::from_secs(1) {
            return;
        }
        let filled = usize::try_from(permille.clamp(0, 1000) / 50).unwrap_or(0);
        let bar: String = "#".repeat(filled) + &"-".repeat(20 - filled);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r[{bar}] {:>5.1}% {text}\x1b[K", permille as f64 / 10.0);
        let _ = err.flush();
        self.shown = true;
    }

    /// Ends the line, if one was shown.
    pub(super) fn finish(&mut self) {
        if self.shown {
            eprintln!();
            self.shown = false;
        }
    }
}

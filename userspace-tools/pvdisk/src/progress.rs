// SPDX-License-Identifier: GPL-2.0

//! Progress on stderr for long runs, only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// A throttled one-line progress display.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    what: &'static str,
    last: Instant,
    start: Instant,
    shown: bool,
}

impl Progress {
    /// Progress for `what`, shown only if stderr is a terminal.
    pub fn new(what: &'static str) -> Self {
        Progress {
            enabled: std::io::stderr().is_terminal(),
            what,
            last: Instant::now(),
            start: Instant::now(),
            shown: false,
        }
    }

    /// A progress that never prints (library callers, tests).
    pub fn silent() -> Self {
        Progress {
            enabled: false,
            what: "",
            last: Instant::now(),
            start: Instant::now(),
            shown: false,
        }
    }

    /// Updates the line with `msg` (at most a few times a second).
    pub fn update(&mut self, msg: impl FnOnce() -> String) {
        if !self.enabled || self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        self.shown = true;
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r\x1b[K{}: {}", self.what, msg());
        let _ = e.flush();
    }

    /// Shows `done` bytes of `total` (if known) with the percentage and
    /// the rate since the start.
    pub fn bytes(&mut self, done: u64, total: Option<u64>) {
        let start = self.start;
        self.update(|| {
            let secs = start.elapsed().as_secs().max(1);
            let rate = crate::units::fmt_size(done / secs);
            match total {
                Some(t) if t > 0 => format!(
                    "{} of {} ({}%), {}/s",
                    crate::units::fmt_size(done),
                    crate::units::fmt_size(t),
                    done.saturating_mul(100) / t,
                    rate
                ),
                _ => format!("{}, {}/s", crate::units::fmt_size(done), rate),
            }
        });
    }

    /// Clears the line.
    pub fn finish(&mut self) {
        if self.shown {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
            self.shown = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

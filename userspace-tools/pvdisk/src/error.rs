// SPDX-License-Identifier: GPL-2.0

//! The tool's error: one sentence with its context, printed as is.

use crate::format::FormatError;
use std::fmt;

/// An error of a store operation: a sentence such as
/// "block 8123: bad checksum (stored ..., computed ...)".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

/// Result of the tool's operations.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error from a message.
    pub fn msg(s: impl Into<String>) -> Self {
        Error(s.into())
    }

    /// An I/O error with what was being done.
    pub fn io(what: impl fmt::Display, e: std::io::Error) -> Self {
        Error(format!("{}: {}", what, e))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<FormatError> for Error {
    fn from(e: FormatError) -> Self {
        Error(e.to_string())
    }
}

/// Shorthand for `Err(Error::msg(format!(..)))`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::msg(format!($($arg)*)))
    };
}

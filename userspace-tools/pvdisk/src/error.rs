// SPDX-License-Identifier: GPL-2.0

//! The tool's error: what kind of failure it is (from which the exit
//! status follows) and one sentence with its context, printed as is.

use crate::format::FormatError;
use std::fmt;

/// An error of a store operation. Each kind carries a sentence such as
/// "block 8123: bad checksum (stored ..., computed ...)".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Reading or writing a device or file failed.
    Io(String),
    /// A block or a structure on the store is damaged.
    Corrupt(String),
    /// A named VDI, snapshot or file does not exist.
    NotFound(String),
    /// The store is in use: another pvdisk command, a driver, a hold.
    Busy(String),
    /// The request cannot be done (name taken, store full, too small...).
    Refused(String),
    /// The command line is wrong (exit status 2).
    Usage(String),
}

/// Result of the tool's operations.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A refused request, from a message.
    pub fn msg(s: impl Into<String>) -> Self {
        Error::Refused(s.into())
    }

    /// An I/O error with what was being done, without the "(os error N)"
    /// that std appends.
    pub fn io(what: impl fmt::Display, e: std::io::Error) -> Self {
        let kind = e.kind();
        let text = io_text(&e);
        let s = format!("{}: {}", what, text);
        if kind == std::io::ErrorKind::NotFound {
            Error::NotFound(s)
        } else {
            Error::Io(s)
        }
    }

    /// The same kind of error with its sentence rewritten by `f`.
    pub fn context(self, f: impl FnOnce(&str) -> String) -> Error {
        match self {
            Error::Io(s) => Error::Io(f(&s)),
            Error::Corrupt(s) => Error::Corrupt(f(&s)),
            Error::NotFound(s) => Error::NotFound(f(&s)),
            Error::Busy(s) => Error::Busy(f(&s)),
            Error::Refused(s) => Error::Refused(f(&s)),
            Error::Usage(s) => Error::Usage(f(&s)),
        }
    }

    /// The sentence.
    pub fn text(&self) -> &str {
        match self {
            Error::Io(s)
            | Error::Corrupt(s)
            | Error::NotFound(s)
            | Error::Busy(s)
            | Error::Refused(s)
            | Error::Usage(s) => s,
        }
    }

    /// The process exit status this error ends a command with.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// The message of an I/O error, lower-case first letter kept as the OS
/// gives it, without std's " (os error N)" suffix.
pub fn io_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl std::error::Error for Error {}

impl From<FormatError> for Error {
    fn from(e: FormatError) -> Self {
        Error::Corrupt(e.to_string())
    }
}

/// Shorthand for `Err(Error::msg(format!(..)))`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::msg(format!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_have_no_os_error_number() {
        let e = Error::io(
            "s.img",
            std::io::Error::from_raw_os_error(2), // ENOENT
        );
        assert_eq!(e.to_string(), "s.img: No such file or directory");
        assert!(matches!(e, Error::NotFound(_)));
        assert_eq!(Error::Usage("x".into()).exit_code(), 2);
        assert_eq!(Error::Busy("x".into()).exit_code(), 1);
    }
}

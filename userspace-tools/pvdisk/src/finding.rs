// SPDX-License-Identifier: GPL-2.0

//! What `check` (and gc's mark) finds wrong with a store: a kind, for
//! counting and for machines, and a sentence that starts with the block
//! at fault.

use std::fmt;

/// The kind of a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Problem {
    /// A block its decoder refused (magic, checksum, number, field), or
    /// that could not be read.
    Damaged,
    /// A pointer to where it must not point (outside the extents, into
    /// the wrong kind of extent, onto a bitmap, to a block reached twice).
    Pointer,
    /// A block writable from a live VDI that is also reached elsewhere.
    Sharing,
    /// A reachable block marked free.
    Bitmap,
    /// The registry or catalogue disagrees with itself (duplicate ids or
    /// names, an owned free extent).
    Registry,
    /// Two live snapshots share a label, or a label is a VDI's name.
    Label,
}

impl Problem {
    /// Lower-case name for messages and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Problem::Damaged => "damaged",
            Problem::Pointer => "pointer",
            Problem::Sharing => "sharing",
            Problem::Bitmap => "bitmap",
            Problem::Registry => "registry",
            Problem::Label => "label",
        }
    }
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Its kind.
    pub problem: Problem,
    /// The sentence, block number first.
    pub text: String,
}

impl Finding {
    /// A finding of `problem` described by `text`.
    pub fn new(problem: Problem, text: impl Into<String>) -> Finding {
        Finding {
            problem,
            text: text.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

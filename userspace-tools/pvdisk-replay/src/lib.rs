// SPDX-License-Identifier: GPL-2.0

//! Crash-consistency replay of a pvdisk store recorded by the kernel's
//! dm-log-writes target: the log parser ([`log`]), the image it rebuilds
//! ([`image`]), the self-describing blocks of the workload ([`pattern`])
//! and its journal ([`journal`]), the oracle ([`oracle`]) and the replay
//! over flushes, marks and random subsets of unflushed writes
//! ([`replay`]). The store is judged with the `pvdisk` tool's own check.
//! See `Documentation/testing.rst`, *Crash replay*.

pub mod image;
pub mod journal;
pub mod log;
pub mod oracle;
pub mod pattern;
pub mod replay;

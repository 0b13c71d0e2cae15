// SPDX-License-Identifier: GPL-2.0

//! A [`BlockIo`] that records every block write and sync of the device it
//! wraps, for the crash tests: replaying the record up to any point gives
//! every state a crash could leave.

use crate::dev::BlockIo;
use crate::error::Result;
use crate::format::Block;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// One entry of a write journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalEntry {
    /// A block write.
    Write(u64, Box<Block>),
    /// A sync: every write before it is durable before any write after it.
    Sync,
}

type Record = Arc<Mutex<Vec<JournalEntry>>>;

/// A device whose writes and syncs are recorded.
#[derive(Debug)]
pub struct Journal {
    inner: Box<dyn BlockIo>,
    record: Record,
}

/// The caller's end of a journal: takes what was recorded so far.
#[derive(Debug, Clone)]
pub struct JournalHandle(Record);

impl JournalHandle {
    /// The entries recorded since the last call.
    pub fn take(&self) -> Vec<JournalEntry> {
        self.0
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }
}

impl Journal {
    /// Wraps `inner`; returns the journal and its handle.
    pub fn new(inner: Box<dyn BlockIo>) -> (Journal, JournalHandle) {
        let record: Record = Arc::default();
        (
            Journal {
                inner,
                record: record.clone(),
            },
            JournalHandle(record),
        )
    }

    fn push(&self, e: JournalEntry) {
        if let Ok(mut r) = self.record.lock() {
            r.push(e);
        }
    }
}

impl BlockIo for Journal {
    fn blocks(&self) -> u64 {
        self.inner.blocks()
    }

    fn read_blocks(&self, nr: u64, buf: &mut [u8]) -> Result<()> {
        self.inner.read_blocks(nr, buf)
    }

    fn write_block(&self, nr: u64, buf: &Block) -> Result<()> {
        self.push(JournalEntry::Write(nr, Box::new(*buf)));
        self.inner.write_block(nr, buf)
    }

    fn sync(&self) -> Result<()> {
        self.push(JournalEntry::Sync);
        self.inner.sync()
    }

    fn barrier(&self) {
        self.push(JournalEntry::Sync);
        self.inner.barrier();
    }

    fn is_same_file(&self, path: &Path) -> bool {
        self.inner.is_same_file(path)
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Snapshots of a powered VDI (`PVDISK_IOC_SNAPSHOT`), taken without
//! pausing its I/O.
//!
//! Taking one is a change of the tree that the caller makes under the map
//! lock, the one lock the request path takes: the live VDI gets a new root
//! whose every link is read-only, and the old root joins the map state's
//! list of snapshots not yet logged ([`Unlogged`]), numbered in order
//! (Documentation/ioctl.rst):
//!
//! - every write that completed before the call is in the old tree: an
//!   in-place write went to a block the tree links, and a copy-on-write
//!   write is acknowledged only once the worker linked it;
//! - from the moment the map lock is dropped no request writes below the
//!   old root in place: the request path sees a read-only link and hands
//!   the write to the worker, which copies;
//! - a write in flight is wholly in or out for each block: an in-place
//!   one lands in the snapshot's block, a copy-on-write one is linked
//!   below the new root only (the worker links under the current root);
//! - requests are never held, and the old tree never changes again.
//!
//! The next commit moves the listed snapshots into the snapshot log's head
//! block and writes, in order, the new nodes and that head, then the VDI
//! record naming the new root and head: three block writes for a snapshot
//! of an idle disk.
//!
//! A lazy snapshot returns after the change: the worker's next commit (a
//! flush, a FUA write, the one-second tick, or the list half full) makes
//! it durable, so taking one costs no I/O at all. A durable one, and one
//! with a label, commits in the caller, holding the worker lock: a label
//! must be durable before the names lock lets another VDI or snapshot
//! check it is free.

use kernel::{
    alloc::{
        flags::{GFP_KERNEL, GFP_NOIO},
        Flags,
    },
    prelude::*,
    realtime,
    sync::Arc,
};

use super::apply::Spares;
use super::worker::WorkerState;
use super::{MapState, Vdi};
use crate::format::{
    extent::ExtentKind,
    radix::ptr_block,
    snaplog::{SnapEntry, SnapLogBlock, ENTRIES_PER_BLOCK, LABEL_LEN},
};
use crate::map::{self, MapError};
use crate::ratelimit::warn_ratelimited;
use crate::ring::Ring;
use crate::store::{
    meta::{boxed, corrupt},
    LogHead,
};

/// Snapshots listed at most before a snapshot waits for a commit: two
/// log blocks' worth, which the worker logs in two commits.
pub(super) const UNLOGGED_MAX: usize = 2 * ENTRIES_PER_BLOCK;
/// A lazy snapshot asks for a commit once this many wait to be logged.
const UNLOGGED_COMMIT: usize = ENTRIES_PER_BLOCK / 2;

/// What a snapshot made, for the ioctl's reply.
#[derive(Clone, Copy)]
pub(crate) struct Taken {
    pub(crate) vdi_id: u64,
    pub(crate) seq: u64,
    /// Where its log entry is; 0 for a lazy snapshot, whose entry the
    /// next commit writes.
    pub(crate) log_block: u64,
    pub(crate) log_index: u32,
    pub(crate) timestamp: u64,
}

/// Snapshots taken and not yet in the log (part of the map state).
pub(crate) struct Unlogged {
    /// The number the next snapshot gets.
    next_seq: u64,
    /// Their log entries, oldest first.
    entries: Ring<SnapEntry>,
    /// A metadata block set aside for the next commit's log head, so that
    /// a commit finds one even when the store has filled since; 0 if none.
    /// The detach gives back one left over.
    pub(super) log_block: u64,
}

impl Unlogged {
    /// An empty list for a VDI with `count` snapshots.
    pub(super) fn new(count: u64) -> Result<Self> {
        Ok(Self {
            next_seq: count + 1,
            entries: Ring::new(UNLOGGED_MAX, GFP_KERNEL)?,
            log_block: 0,
        })
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The snapshot log of a VDI, as its worker keeps it.
pub(super) struct SnapLog {
    /// The committed head and count.
    pub(super) head: LogHead,
    /// A copy of the committed head block if `loaded`; during a commit,
    /// the new head being built (too big for the stack).
    pub(super) block: KBox<SnapLogBlock>,
    pub(super) loaded: bool,
}

impl SnapLog {
    pub(super) fn new(head: LogHead) -> Result<Self> {
        Ok(Self {
            head,
            block: boxed(|| SnapLogBlock::new(0, 0, 0))?,
            loaded: false,
        })
    }
}

/// A commit's new log head, made ready before the map lock is taken.
pub(super) struct LogStart {
    /// The block the new head goes to.
    block: u64,
    /// The old head, copied into the new one (and freed after the
    /// commit); `None` when the new head is a new block linking to it.
    copied: Option<u64>,
}

/// The outcome of trying to take a snapshot under the map lock.
enum Swap {
    Taken(Taken),
    /// The root is not cached: read it and try again.
    Miss {
        block: u64,
        level: u32,
    },
    /// The list is full: commit and try again.
    Full,
}

impl Vdi {
    /// Takes a snapshot labelled `label` (NUL-padded, checked by the
    /// caller; empty for none). Returns once it is in the tree if `lazy`
    /// and unlabelled, else once a commit made it durable.
    pub(crate) fn snapshot(self: &Arc<Self>, label: &[u8; LABEL_LEN], lazy: bool) -> Result<Taken> {
        if self.read_only {
            return Err(EROFS);
        }
        if self.is_broken() {
            return Err(EIO);
        }
        let named = label.first().is_some_and(|&c| c != 0);
        if lazy && !named {
            if let Some(taken) = self.take_lazy(label)? {
                return Ok(taken);
            }
        }
        self.take_durable(label, named)
    }

    /// Two metadata blocks: the new root, and one for the log head (given
    /// back if one is set aside already), and the new root's cache slot.
    fn snapshot_blocks(&self, flags: Flags) -> Result<(u64, u64, Spares)> {
        let first = self.store.alloc_blocks(ExtentKind::Metadata, 2)?;
        match Spares::new(1, flags) {
            Ok(spares) => Ok((first, first + 1, spares)),
            Err(e) => {
                self.store.give_back(ExtentKind::Metadata, first, 2);
                Err(e)
            }
        }
    }

    /// The lazy snapshot: one change under the map lock. `None` when it
    /// needs the worker lock (root not cached, list full).
    fn take_lazy(self: &Arc<Self>, label: &[u8; LABEL_LEN]) -> Result<Option<Taken>> {
        let (new_root, log_block, mut spares) = self.snapshot_blocks(GFP_KERNEL)?;
        let mut state = self.map.lock();
        let swap = self.swap_root(&mut state, new_root, log_block, label, &mut spares);
        let due = state.unlogged.entries.len() >= UNLOGGED_COMMIT;
        drop(state);
        match swap {
            Ok(Swap::Taken(taken)) => {
                if due {
                    self.inbox.lock().commit = true;
                    self.kick();
                }
                Ok(Some(taken))
            }
            other => {
                self.store.give_back(ExtentKind::Metadata, new_root, 2);
                other.map(|_| None)
            }
        }
    }

    /// The durable (or labelled) snapshot: the change, then commits until
    /// it is logged, holding the worker lock.
    fn take_durable(self: &Arc<Self>, label: &[u8; LABEL_LEN], named: bool) -> Result<Taken> {
        let store = &self.store;
        let mut ws = self.worker.lock();
        // Held until the commit wrote the record: nobody takes the label
        // in between. (Worker lock, then names: as live management.)
        let _names = named.then(|| store.names.lock());
        if named {
            let len = label.iter().position(|&c| c == 0).unwrap_or(LABEL_LEN);
            let name = label.get(..len).unwrap_or(&[]);
            if let Err(e) = store.records.lock().check_free(store, name) {
                if e == EEXIST {
                    warn_ratelimited!("{}: snapshot label in use\n", &*self.name);
                }
                return Err(e);
            }
        }
        // The log's head must be readable before the tree changes: a
        // damaged head refuses the snapshot (EIO) and changes nothing.
        self.load_log(&mut ws)?;
        let mut taken = loop {
            // No reclaim into I/O under the worker lock: it could wait for
            // this disk's worker.
            let (new_root, log_block, mut spares) = self.snapshot_blocks(GFP_NOIO)?;
            let mut state = self.map.lock();
            let swap = self.swap_root(&mut state, new_root, log_block, label, &mut spares);
            drop(state);
            let retry = match swap {
                Ok(Swap::Taken(taken)) => break taken,
                Ok(Swap::Miss { block, level }) => self.load(&mut ws, block, level),
                Ok(Swap::Full) => self.commit(&mut ws),
                Err(e) => Err(e),
            };
            store.give_back(ExtentKind::Metadata, new_root, 2);
            retry?;
        };
        // Commits log the list oldest first: ours is in once the count
        // reaches it (more lazy ones may have joined meanwhile).
        // Each commit logs a block's worth; the list holds two at most.
        for _ in 0..UNLOGGED_MAX / ENTRIES_PER_BLOCK + 2 {
            if ws.log.head.count >= taken.seq {
                break;
            }
            self.commit(&mut ws)?;
        }
        if ws.log.head.count < taken.seq {
            return Err(EIO);
        }
        let block = &ws.log.block;
        if ws.log.loaded && taken.seq >= block.first_seq {
            taken.log_block = ws.log.head.block;
            taken.log_index = (taken.seq - block.first_seq) as u32;
        }
        Ok(taken)
    }

    /// Under the map lock: gives the live tree a new root `new_root`, a
    /// copy of its root with every link read-only, and lists the old root
    /// as the next snapshot. `log_block` is set aside for the next
    /// commit's log head unless one is already; the caller gives both
    /// blocks back unless a snapshot was taken, and `log_block` if it was
    /// not set aside.
    fn swap_root(
        &self,
        state: &mut MapState,
        new_root: u64,
        log_block: u64,
        label: &[u8; LABEL_LEN],
        spares: &mut Spares,
    ) -> Result<Swap> {
        if state.unlogged.entries.len() >= UNLOGGED_MAX {
            return Ok(Swap::Full);
        }
        let old_root = ptr_block(state.tree.root);
        match map::read_only_root(&state.cache, &state.tree, new_root) {
            Ok(change) => self.make_change(state, &change, spares)?,
            Err(MapError::Miss { block, level }) => return Ok(Swap::Miss { block, level }),
            Err(e) => {
                warn_ratelimited!("{}: snapshot: {}\n", &*self.name, e);
                return Err(EIO);
            }
        }
        // From here the tree has the new root: only a commit can follow.
        let timestamp = realtime::seconds();
        let unlogged = &mut state.unlogged;
        let entry = SnapEntry {
            root: old_root,
            timestamp,
            flags: 0,
            label: *label,
        };
        if unlogged.entries.push(entry).is_err() {
            // Checked above: cannot happen.
            self.broken
                .store(true, core::sync::atomic::Ordering::Relaxed);
            return Err(EIO);
        }
        if unlogged.log_block == 0 {
            unlogged.log_block = log_block;
        } else {
            self.store.give_back(ExtentKind::Metadata, log_block, 1);
        }
        let seq = unlogged.next_seq;
        unlogged.next_seq += 1;
        self.shows
            .snap_count
            .store(seq, core::sync::atomic::Ordering::Relaxed);
        Ok(Swap::Taken(Taken {
            vdi_id: self.shows.id,
            seq,
            log_block: 0,
            log_index: 0,
            timestamp,
        }))
    }

    /// Before a commit that logs snapshots: puts the log's head, as the
    /// commit will start it, into `ws.log.block` (a copy of the current
    /// head if it has room, else a new block linking to it), and picks
    /// its block (the one set aside, else a new one).
    pub(super) fn start_log(&self, ws: &mut WorkerState) -> Result<LogStart> {
        let reserved = core::mem::take(&mut self.map.lock().unlogged.log_block);
        let block = match reserved {
            0 => self.store.alloc_blocks(ExtentKind::Metadata, 1)?,
            b => b,
        };
        if let Err(e) = self.load_log(ws) {
            self.store.give_back(ExtentKind::Metadata, block, 1);
            return Err(e);
        }
        let head = ws.log.head.block;
        // Changed from here on: read again unless the commit succeeds.
        ws.log.loaded = false;
        if head != 0 && (ws.log.block.count as usize) < ENTRIES_PER_BLOCK {
            return Ok(LogStart {
                block,
                copied: Some(head),
            });
        }
        *ws.log.block = SnapLogBlock::new(self.shows.id, head, ws.log.head.count + 1);
        Ok(LogStart {
            block,
            copied: None,
        })
    }

    /// Reads the log's head block into `ws.log.block` unless it is there.
    fn load_log(&self, ws: &mut WorkerState) -> Result {
        let head = ws.log.head.block;
        if head == 0 || ws.log.loaded {
            return Ok(());
        }
        let bytes = ws.buf.read(&self.store.bios, head)?;
        corrupt(SnapLogBlock::decode_into(
            bytes,
            self.store.id,
            head,
            &mut ws.log.block,
        ))?;
        ws.log.loaded = true;
        Ok(())
    }

    /// Under the commit's map lock: moves the listed snapshots, oldest
    /// first, into the head `start_log` began, as far as it has room.
    /// Returns the new head and the old head block it replaces.
    pub(super) fn log_unlogged(
        &self,
        ws: &mut WorkerState,
        state: &mut MapState,
        start: &LogStart,
    ) -> (LogHead, Option<u64>) {
        let mut count = ws.log.head.count;
        while (ws.log.block.count as usize) < ENTRIES_PER_BLOCK {
            let Some(entry) = state.unlogged.entries.pop() else {
                break;
            };
            // Cannot fail: there is room.
            ws.log.block.push(entry);
            count += 1;
        }
        (
            LogHead {
                block: start.block,
                count,
            },
            start.copied,
        )
    }
}

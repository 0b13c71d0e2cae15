// SPDX-License-Identifier: GPL-2.0

//! Snapshots of a powered VDI (`PVDISK_IOC_SNAPSHOT`), taken without
//! pausing its I/O.
//!
//! The caller hands the snapshot to the disk's worker, which takes it
//! between two of its steps, ahead of any request or commit waiting, and
//! ends with the commit that makes it durable (Documentation/ioctl.rst):
//!
//! - every write that completed before the call is in the tree: an in-place
//!   write went to a block the tree links, and a copy-on-write write is
//!   acknowledged only once the worker linked it;
//! - the live VDI gets a new root whose every link is read-only, so from
//!   the moment the map lock is dropped no request writes below the old
//!   root in place: the request path sees a read-only link and hands the
//!   write to the worker, which copies;
//! - a write in flight is wholly in or out for each block: an in-place
//!   one lands in the snapshot's block, a copy-on-write one is linked
//!   below the new root only;
//! - requests are never held: reads and in-place writes go on in
//!   `queue_rq`, and the worker's other work waits for one commit.
//!
//! The three block writes: the new root and the new snapshot-log head
//! (with the new nodes of the commit), then the VDI record.

use kernel::{
    alloc::flags::GFP_NOIO,
    new_condvar, new_mutex,
    prelude::*,
    realtime,
    sync::{Arc, CondVar, Mutex},
};

use super::apply::Spares;
use super::worker::WorkerState;
use super::Vdi;
use crate::format::{
    extent::ExtentKind,
    radix::ptr_block,
    snaplog::{SnapEntry, SnapLogBlock, ENTRIES_PER_BLOCK, LABEL_LEN},
};
use crate::map::{self, MapError};
use crate::ratelimit::warn_ratelimited;
use crate::store::{
    meta::{boxed, corrupt},
    LogHead,
};

/// What a snapshot made, for the ioctl's reply.
#[derive(Clone, Copy)]
pub(crate) struct Taken {
    pub(crate) vdi_id: u64,
    pub(crate) seq: u64,
    pub(crate) log_block: u64,
    pub(crate) log_index: u32,
    pub(crate) timestamp: u64,
}

/// A snapshot asked of the worker.
#[derive(Clone, Copy)]
pub(super) struct SnapshotAsk {
    /// NUL-padded, empty for none.
    label: [u8; LABEL_LEN],
    /// Answer once the new root is in the tree, before the commit.
    lazy: bool,
}

/// Where a snapshot ioctl waits for the worker's reply.
#[pin_data]
pub(super) struct SnapshotCall {
    /// One snapshot of the disk at a time: the reply has one slot.
    #[pin]
    gate: Mutex<()>,
    #[pin]
    reply: Mutex<Option<Result<Taken>>>,
    #[pin]
    done: CondVar,
}

impl SnapshotCall {
    pub(super) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            gate <- new_mutex!((), "pvdisk::SnapshotCall::gate"),
            reply <- new_mutex!(None, "pvdisk::SnapshotCall::reply"),
            done <- new_condvar!("pvdisk::SnapshotCall::done"),
        })
    }
}

/// The VDI's snapshot log, as its worker keeps it.
pub(super) struct SnapLog {
    /// The committed head and count.
    pub(super) head: LogHead,
    /// The head block being built (too big for the stack); between
    /// snapshots, a copy of the committed head if `loaded`.
    pub(super) block: KBox<SnapLogBlock>,
    pub(super) loaded: bool,
    /// A new head for the next commit to write, and the old head block
    /// it replaces (freed after that commit), if any.
    pub(super) pending: Option<(LogHead, Option<u64>)>,
}

impl SnapLog {
    pub(super) fn new(head: LogHead) -> Result<Self> {
        Ok(Self {
            head,
            block: boxed(|| SnapLogBlock::new(0, 0, 0))?,
            loaded: false,
            pending: None,
        })
    }
}

impl Vdi {
    /// Takes a snapshot labelled `label` (NUL-padded, checked by the
    /// caller; empty for none). Waits for the worker to take it and
    /// commit it (about one commit), or only to take it if `lazy`.
    pub(crate) fn snapshot(self: &Arc<Self>, label: &[u8; LABEL_LEN], lazy: bool) -> Result<Taken> {
        if self.read_only {
            return Err(EROFS);
        }
        if self.is_broken() {
            return Err(EIO);
        }
        let call = &self.snap;
        let _gate = call.gate.lock();
        *call.reply.lock() = None;
        self.inbox.lock().snapshot = Some(SnapshotAsk {
            label: *label,
            lazy,
        });
        self.kick();
        let mut reply = call.reply.lock();
        loop {
            if let Some(taken) = reply.take() {
                return taken;
            }
            // Bounded: the worker takes a snapshot before anything else.
            call.done.wait(&mut reply);
        }
    }

    /// The worker's part of [`Vdi::snapshot`]: answers the caller, a
    /// lazy one before the commit.
    pub(super) fn answer_snapshot(&self, ws: &mut WorkerState, ask: &SnapshotAsk) {
        let mut answered = false;
        let taken = self.take_snapshot(ws, &ask.label, |taken| {
            if ask.lazy {
                self.answer(Ok(taken));
                answered = true;
            }
        });
        if !answered {
            self.answer(taken);
        }
    }

    fn answer(&self, taken: Result<Taken>) {
        *self.snap.reply.lock() = Some(taken);
        self.snap.done.notify_all();
    }

    /// Takes the snapshot; calls `in_tree` once it is in the tree, before
    /// the commit that makes it durable.
    fn take_snapshot(
        &self,
        ws: &mut WorkerState,
        label: &[u8; LABEL_LEN],
        in_tree: impl FnOnce(Taken),
    ) -> Result<Taken> {
        if self.is_broken() {
            return Err(EIO);
        }
        let store = &self.store;
        let named = label.first().is_some_and(|&c| c != 0);
        // Held until the commit wrote the record: nobody takes the label
        // in between.
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
        let first = store.alloc_blocks(ExtentKind::Metadata, 2)?;
        let (new_root, log_block) = (first, first + 1);
        let seq = ws.log.head.count + 1;
        let old_head = match self.start_log_block(ws, seq) {
            Ok(old) => old,
            Err(e) => {
                store.give_back(ExtentKind::Metadata, first, 2);
                return Err(e);
            }
        };
        let old_root = match self.swap_root(ws, new_root) {
            Ok(root) => root,
            Err(e) => {
                store.give_back(ExtentKind::Metadata, first, 2);
                return Err(e);
            }
        };
        // From here the tree has the new root: only a commit can follow.
        let timestamp = realtime::seconds();
        let entry = SnapEntry {
            root: old_root,
            timestamp,
            flags: 0,
            label: *label,
        };
        let block = &mut ws.log.block;
        if !block.push(entry) {
            // `start_log_block` left room: cannot happen.
            self.broken
                .store(true, core::sync::atomic::Ordering::Relaxed);
            return Err(EIO);
        }
        let log_index = seq.saturating_sub(block.first_seq) as u32;
        ws.log.pending = Some((
            LogHead {
                block: log_block,
                count: seq,
            },
            old_head,
        ));
        let taken = Taken {
            vdi_id: self.shows.id,
            seq,
            log_block,
            log_index,
            timestamp,
        };
        self.shows
            .snap_count
            .store(seq, core::sync::atomic::Ordering::Relaxed);
        in_tree(taken);
        // A failed commit leaves the disk broken (refusing writes and
        // snapshots): a lazy snapshot already answered is lost whole.
        let committed = self.commit(ws);
        ws.log.pending = None;
        // The block is the committed head now, unless the commit failed.
        ws.log.loaded = committed.is_ok();
        committed?;
        Ok(taken)
    }

    /// Puts the new head of the log, without the new entry, into
    /// `ws.log.block`: a copy of the current head if it has room (the old
    /// head is then freed after the commit, which it returns), else a new
    /// block linking to it.
    fn start_log_block(&self, ws: &mut WorkerState, seq: u64) -> Result<Option<u64>> {
        let head = ws.log.head.block;
        if head != 0 {
            if !ws.log.loaded {
                let bytes = ws.buf.read(&self.store.bios, head)?;
                corrupt(SnapLogBlock::decode_into(
                    bytes,
                    self.store.id,
                    head,
                    &mut ws.log.block,
                ))?;
            }
            // Changed from here on: read again if the snapshot fails.
            ws.log.loaded = false;
            if (ws.log.block.count as usize) < ENTRIES_PER_BLOCK {
                return Ok(Some(head));
            }
        }
        *ws.log.block = SnapLogBlock::new(self.shows.id, head, seq);
        Ok(None)
    }

    /// Gives the live tree the new root `new_root`, a copy of its root
    /// with every link read-only; returns the old root, now the
    /// snapshot's.
    fn swap_root(&self, ws: &mut WorkerState, new_root: u64) -> Result<u64> {
        loop {
            let mut spares = Spares::new(1, GFP_NOIO)?;
            let mut state = self.map.lock();
            let old_root = ptr_block(state.tree.root);
            match map::read_only_root(&state.cache, &state.tree, new_root) {
                Ok(change) => {
                    self.make_change(&mut state, &change, &mut spares)?;
                    return Ok(old_root);
                }
                Err(MapError::Miss { block, level }) => {
                    drop(state);
                    self.load(ws, block, level)?;
                }
                Err(e) => {
                    warn_ratelimited!("{}: snapshot: {}\n", &*self.name, e);
                    return Err(EIO);
                }
            }
        }
    }
}

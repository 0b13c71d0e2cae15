// SPDX-License-Identifier: GPL-2.0

//! Live management of the registry (`PVDISK_IOC_CREATE`, `_DELETE`,
//! `_LABEL`): what the tool does offline, done by the driver while disks
//! of the store are powered, so that nothing writes metadata behind its
//! back (Documentation/ioctl.rst, *Live management*).
//!
//! Each change is durable when it returns, in the order the tool's
//! transactions keep: new blocks (a root, copied log blocks) first, then
//! the VDI record with `REQ_PREFLUSH | REQ_FUA`, and only then are the
//! blocks it replaced retired. A crash in between leaves the old record
//! (the new blocks leak, for gc) or the new one.
//!
//! The caller holds the store's `names` lock (a name checked free stays
//! free until the record that takes it is written) and, through `&mut
//! Records`, the registry lock, so no disk attaches or commits a record
//! meanwhile. Changes to the snapshot log of a VDI that a disk has powered
//! also hold that disk's worker lock (`vdi::manage`).

use kernel::{alloc::flags::GFP_KERNEL, block::bio::Durability, prelude::*, realtime};

use super::meta::corrupt;
use super::records::{log_blocks_bound, LogHead, Records, Target};
use super::{Run, Store};
use crate::format::{
    extent::ExtentKind,
    radix::{capacity_blocks, height_for, RadixNode},
    snaplog::SnapEntry,
    vdi::{VdiRecord, VDI_DELETED},
};
use crate::ratelimit::{warn_ratelimited, ENOTEMPTY};

/// What a new VDI starts from.
pub(crate) enum Source<'a> {
    /// An empty VDI of this many bytes.
    Empty(u64),
    /// A writable clone of the snapshot named so; its size in bytes, 0
    /// for the snapshot's.
    Clone(&'a [u8], u64),
}

impl Records {
    /// Creates the VDI `name`: empty or a clone. Returns its id. `EEXIST`
    /// if the name is in use, `ENOENT` if the snapshot is not there,
    /// `EINVAL` for a bad size or a source that is not a snapshot,
    /// `ENOSPC` for a full registry or store.
    pub(crate) fn create(&mut self, store: &Store, name: &[u8], source: Source<'_>) -> Result<u64> {
        if store.read_only {
            return Err(EROFS);
        }
        self.check_free(store, name)?;
        let mut record = VdiRecord {
            created: realtime::seconds(),
            ..VdiRecord::default()
        };
        let field = record.name.get_mut(..name.len()).ok_or(EINVAL)?;
        field.copy_from_slice(name);
        let copy_of = match source {
            Source::Empty(bytes) => {
                record.size = bytes;
                record.height = height_for(bytes / 4096).ok_or(EINVAL)?;
                None
            }
            Source::Clone(spec, bytes) => {
                let target = self.find(store, spec)?;
                let Some(seq) = target.snapshot else {
                    warn_ratelimited!("clone: {} is a VDI, not a snapshot\n", text(spec));
                    return Err(EINVAL);
                };
                record.size = if bytes == 0 {
                    target.record.size
                } else {
                    bytes
                };
                record.height = target.record.height;
                record.parent = target.record.id;
                record.parent_seq = seq;
                Some(target.root)
            }
        };
        if record.size == 0
            || record.size % 4096 != 0
            || record.size / 4096 > capacity_blocks(record.height)
        {
            return Err(EINVAL);
        }
        let (slot, last_id) = self.free_slot(store)?;
        record.id = last_id + 1;
        // The root: a copy of the snapshot's root with every link
        // read-only, or an empty node.
        match copy_of {
            Some(root) => {
                let bytes = self.buf.read(&store.bios, root)?;
                corrupt(RadixNode::decode_into(
                    bytes,
                    store.id,
                    root,
                    record.height,
                    &mut self.node,
                ))?;
                self.node.make_read_only();
            }
            None => self.node.ptrs.fill(0),
        }
        let root = store.alloc_blocks(ExtentKind::Metadata, 1)?;
        if let Err(e) = self.write_node(store, root, record.height) {
            store.give_back(ExtentKind::Metadata, root, 1);
            return Err(e);
        }
        record.root = root;
        // After a failed write the record may still have reached the
        // disk: the root is then left to gc, never reused.
        self.write(store, slot, &record, Durability::FlushFua)?;
        Ok(record.id)
    }

    /// Writes `self.node` to block `nr`, as a node at `level`.
    fn write_node(&mut self, store: &Store, nr: u64, level: u32) -> Result {
        self.node.encode(self.buf.block_mut()?, store.id, nr, level);
        self.buf.write(&store.bios, nr, Durability::Cached)
    }

    /// The first empty registry slot and the highest id ever given (ids
    /// are never reused; deleted records keep theirs until gc).
    fn free_slot(&mut self, store: &Store) -> Result<(u32, u64)> {
        let mut free = None;
        let mut last_id = 0;
        for slot in 0..store.sb.vdi_slots {
            let record = self.read(store, slot)?;
            last_id = last_id.max(record.id);
            if record.is_empty() && free.is_none() {
                free = Some(slot);
            }
        }
        match free {
            Some(slot) => Ok((slot, last_id)),
            None => {
                warn_ratelimited!("VDI registry is full; delete VDIs and run pvdisk gc\n");
                Err(ENOSPC)
            }
        }
    }

    /// Deletes the VDI `target` names (gc reclaims its blocks). `EBUSY`
    /// if a disk shows it or one of its snapshots; `ENOTEMPTY` if it has
    /// live snapshots or clones, unless `force`.
    pub(crate) fn delete_vdi(&mut self, store: &Store, target: &Target, force: bool) -> Result {
        if store.read_only {
            return Err(EROFS);
        }
        let name = target.record.name();
        if self.attached_any(target.slot) {
            warn_ratelimited!("delete: VDI {} is shown by a powered disk\n", name);
            return Err(EBUSY);
        }
        if !force && self.has_dependents(store, target)? {
            warn_ratelimited!("delete: VDI {} has snapshots or clones\n", name);
            return Err(Error::from_errno(-ENOTEMPTY));
        }
        let mut record = self.read(store, target.slot)?;
        record.flags |= VDI_DELETED;
        record.generation += 1;
        self.write(store, target.slot, &record, Durability::Fua)
    }

    /// True if the VDI of `target` has a live snapshot or a live clone.
    fn has_dependents(&mut self, store: &Store, target: &Target) -> Result<bool> {
        match self.snapshot(store, target.slot, target.record, |_, _| true) {
            Ok(_) => return Ok(true),
            Err(e) if e == ENOENT => {}
            Err(e) => return Err(e),
        }
        for slot in 0..store.sb.vdi_slots {
            let record = self.read(store, slot)?;
            if !record.is_empty() && !record.is_deleted() && record.parent == target.record.id {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Rewrites the entry of snapshot `seq` of the VDI in `slot` with
    /// `change`: the log blocks from the head down to the one holding it
    /// are copied (snapshot logs are copy-on-write, so a torn write never
    /// damages an entry), then the record names the new head. Returns the
    /// new head. The caller keeps the log still (see the module doc).
    pub(crate) fn change_snapshot(
        &mut self,
        store: &Store,
        slot: u32,
        seq: u64,
        change: impl Fn(&mut SnapEntry),
    ) -> Result<LogHead> {
        if store.read_only {
            return Err(EROFS);
        }
        let mut record = self.read(store, slot)?;
        // The chain from the head down to the block holding `seq`.
        let mut chain = KVec::new();
        let mut nr = record.snaplog;
        let mut left = log_blocks_bound(record.snap_count);
        loop {
            if nr == 0 || left == 0 {
                return Err(ENOENT);
            }
            left -= 1;
            self.read_log(store, nr)?;
            chain.push(nr, GFP_KERNEL)?;
            let log = &self.log;
            if seq >= log.first_seq && seq < log.first_seq + u64::from(log.count) {
                break;
            }
            nr = log.prev;
        }
        let count = chain.len() as u64;
        let first = store.alloc_blocks(ExtentKind::Metadata, count)?;
        if let Err(e) = self.copy_chain(store, &chain, first, seq, &change) {
            store.give_back(ExtentKind::Metadata, first, count);
            return Err(e);
        }
        record.snaplog = first;
        record.generation += 1;
        self.write(store, slot, &record, Durability::FlushFua)?;
        let mut old = KVec::with_capacity(chain.len(), GFP_KERNEL)?;
        for &nr in chain.iter() {
            old.push(
                Run {
                    first: nr,
                    count: 1,
                },
                GFP_KERNEL,
            )?;
        }
        // Leaked (for gc) if the allocator cannot take them back.
        let _ = store.alloc.lock().retire(&store.bios, &old);
        Ok(LogHead {
            block: first,
            count: record.snap_count,
        })
    }

    /// Writes copies of the log blocks `chain` (head first) to `first`,
    /// `first + 1`, ...: each links to the next copy, the last (which
    /// holds `seq`, and is still in `self.log` from the walk) keeps its
    /// older blocks and gets `change`.
    fn copy_chain(
        &mut self,
        store: &Store,
        chain: &[u64],
        first: u64,
        seq: u64,
        change: &impl Fn(&mut SnapEntry),
    ) -> Result {
        let last = chain.len().saturating_sub(1);
        for (i, &old) in chain.iter().enumerate().rev() {
            if i != last {
                self.read_log(store, old)?;
            }
            let new = first + i as u64;
            if i == last {
                let index = seq.saturating_sub(self.log.first_seq) as usize;
                change(self.log.entries.get_mut(index).ok_or(EIO)?);
            } else {
                self.log.prev = new + 1;
            }
            let block = self.buf.block_mut()?;
            self.log.encode(block, store.id, new);
            self.buf.write(&store.bios, new, Durability::Cached)?;
        }
        Ok(())
    }
}

/// A name from user space (checked by the caller), for a log line.
fn text(name: &[u8]) -> &str {
    core::str::from_utf8(name).unwrap_or("(name)")
}

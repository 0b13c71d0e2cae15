// SPDX-License-Identifier: GPL-2.0

//! The VDI registry as the driver uses it: finding what a disk attaches
//! (a VDI by name, or a snapshot by label or `VDI@N`), the holds that say
//! which host has a VDI attached, and the record rewrite that ends a
//! commit. Every rewrite reads the record again and changes only its own
//! fields, so that holds and commits of disks sharing a record (a VDI and
//! a snapshot of it) never undo one another.

use kernel::{alloc::flags::GFP_NOIO, block::bio::Durability, prelude::*};

use super::meta::{boxed, corrupt, MetaBuf};
use super::Store;
use crate::format::{
    radix::capacity_blocks, snaplog::SnapLogBlock, superblock::Superblock, vdi::VdiRecord,
};
use crate::ratelimit::warn_ratelimited;

/// What a disk attaches.
pub(crate) struct Target {
    /// Registry slot of the VDI (of the snapshot's VDI).
    pub(crate) slot: u32,
    pub(crate) record: VdiRecord,
    /// The snapshot's number, for a read-only disk.
    pub(crate) snapshot: Option<u64>,
    /// Root of the tree the disk reads: the VDI's, or the snapshot's.
    pub(crate) root: u64,
}

impl Target {
    pub(crate) fn read_only(&self) -> bool {
        self.snapshot.is_some()
    }

    /// Size in blocks, as far as the tree's height reaches.
    pub(crate) fn blocks(&self) -> u64 {
        (self.record.size / 4096).min(capacity_blocks(self.record.height))
    }
}

/// One disk's attachment of a VDI record.
struct Attachment {
    slot: u32,
    writable: bool,
}

pub(crate) struct Records {
    buf: MetaBuf,
    /// A snapshot-log block, decoded (too big for the stack).
    log: KBox<SnapLogBlock>,
    /// Attachments on this host; `None` is a free slot.
    attached: KVec<Option<Attachment>>,
}

impl Records {
    pub(crate) fn new(_sb: &Superblock) -> Result<Self> {
        Ok(Self {
            buf: MetaBuf::new()?,
            log: boxed(|| SnapLogBlock::new(0, 0, 0))?,
            attached: KVec::new(),
        })
    }

    fn read(&mut self, store: &Store, slot: u32) -> Result<VdiRecord> {
        let nr = store.sb.vdi_block(slot);
        let block = self.buf.read(&store.bios, nr)?;
        corrupt(VdiRecord::decode(block, store.id, nr))
    }

    fn write(
        &mut self,
        store: &Store,
        slot: u32,
        record: &VdiRecord,
        durability: Durability,
    ) -> Result {
        let nr = store.sb.vdi_block(slot);
        record.encode(self.buf.block_mut()?, store.id, nr);
        self.buf.write(&store.bios, nr, durability)
    }

    /// Finds `spec`: a VDI name, `VDI@N`, or a snapshot label. `ENOENT`
    /// if there is no such live VDI or snapshot.
    pub(crate) fn find(&mut self, store: &Store, spec: &[u8]) -> Result<Target> {
        let (name, number) = match spec.iter().rposition(|&c| c == b'@') {
            Some(at) => {
                let number = core::str::from_utf8(spec.get(at + 1..).unwrap_or(&[]))
                    .ok()
                    .and_then(|n| n.parse::<u64>().ok())
                    .filter(|&n| n > 0)
                    .ok_or(EINVAL)?;
                (spec.get(..at).unwrap_or(&[]), Some(number))
            }
            None => (spec, None),
        };
        let mut by_label = None;
        // A damaged record or log of another VDI does not stop the
        // search; it is the answer only if nothing else matches.
        let mut damaged = None;
        for slot in 0..store.sb.vdi_slots {
            let record = match self.read(store, slot) {
                Ok(record) => record,
                Err(e) => {
                    damaged.get_or_insert(e);
                    continue;
                }
            };
            if record.is_empty() || record.is_deleted() {
                continue;
            }
            if record.name().as_bytes() == name {
                return match number {
                    None => Ok(Target {
                        slot,
                        record,
                        snapshot: None,
                        root: record.root,
                    }),
                    Some(n) => self.snapshot(store, slot, record, |seq, _| seq == n),
                };
            }
            if number.is_none() && by_label.is_none() && record.snap_count > 0 {
                match self.snapshot(store, slot, record, |_, label| label.as_bytes() == name) {
                    Ok(target) => by_label = Some(target),
                    Err(e) if e == ENOENT => {}
                    Err(e) => {
                        damaged.get_or_insert(e);
                    }
                }
            }
        }
        by_label.ok_or(damaged.unwrap_or(ENOENT))
    }

    /// The live snapshot of the VDI in `slot` that `wanted(number, label)`
    /// picks.
    fn snapshot(
        &mut self,
        store: &Store,
        slot: u32,
        record: VdiRecord,
        wanted: impl Fn(u64, &str) -> bool,
    ) -> Result<Target> {
        let mut nr = record.snaplog;
        // Bounded: a looping chain of log blocks is corruption.
        let mut left = record.snap_count / 63 + 2;
        while nr != 0 && left > 0 {
            left -= 1;
            let block = self.buf.read(&store.bios, nr)?;
            corrupt(SnapLogBlock::decode_into(
                block,
                store.id,
                nr,
                &mut self.log,
            ))?;
            let log = &self.log;
            for (i, entry) in log.used().iter().enumerate() {
                let seq = log.first_seq + i as u64;
                if !entry.is_deleted() && wanted(seq, entry.label()) {
                    return Ok(Target {
                        slot,
                        record,
                        snapshot: Some(seq),
                        root: entry.root,
                    });
                }
            }
            nr = log.prev;
        }
        Err(ENOENT)
    }

    /// Records that a disk attaches `target`: the first attachment of a
    /// record writes this host's hold into it. `EBUSY` if the VDI is
    /// attached for writing already (here or by another host).
    pub(crate) fn attach(&mut self, store: &Store, target: &Target) -> Result {
        let writable = !target.read_only();
        let mut ours = false;
        for a in self.attached.iter().flatten() {
            if a.slot == target.slot {
                if writable && a.writable {
                    warn_ratelimited!("VDI {} is already attached\n", target.record.name());
                    return Err(EBUSY);
                }
                ours = true;
            }
        }
        // Room first, so that nothing fails after the hold is written.
        if !self.attached.iter().any(|a| a.is_none()) {
            self.attached.push(None, GFP_NOIO)?;
        }
        // A store with an unknown read-only-compatible feature is never
        // written, holds included: its read-only disks attach without one.
        if !ours && !store.read_only {
            let mut record = self.read(store, target.slot)?;
            if record.attached_by == store.host {
                pr_info!(
                    "VDI {}: taking back this host's hold from before a crash\n",
                    record.name()
                );
            } else if record.attached_by != 0 {
                warn_ratelimited!(
                    "VDI {} is attached by host {}\n",
                    record.name(),
                    record.attached_by
                );
                return Err(EBUSY);
            }
            record.attached_by = store.host;
            record.generation += 1;
            self.write(store, target.slot, &record, Durability::Fua)?;
        }
        if let Some(free) = self.attached.iter_mut().find(|a| a.is_none()) {
            *free = Some(Attachment {
                slot: target.slot,
                writable,
            });
        }
        Ok(())
    }

    /// Records that a disk detached from the record in `slot`; the last
    /// attachment clears the hold.
    pub(crate) fn detach(&mut self, store: &Store, slot: u32, writable: bool) -> Result {
        let mut found = false;
        for a in self.attached.iter_mut() {
            if !found
                && a.as_ref()
                    .is_some_and(|a| a.slot == slot && a.writable == writable)
            {
                *a = None;
                found = true;
            }
        }
        if store.read_only || self.attached.iter().flatten().any(|a| a.slot == slot) {
            return Ok(());
        }
        let mut record = self.read(store, slot)?;
        record.attached_by = 0;
        record.generation += 1;
        self.write(store, slot, &record, Durability::Fua)
    }

    /// The end of a commit that changed the VDI's root or its snapshot
    /// log: rewrites its record with `root` and, if given, the new log
    /// head, once everything written before is durable, and durably
    /// (`REQ_PREFLUSH | REQ_FUA`).
    pub(crate) fn write_root(
        &mut self,
        store: &Store,
        slot: u32,
        root: u64,
        log: Option<LogHead>,
    ) -> Result {
        let mut record = self.read(store, slot)?;
        record.root = root;
        if let Some(log) = log {
            record.snaplog = log.block;
            record.snap_count = log.count;
        }
        record.generation += 1;
        self.write(store, slot, &record, Durability::FlushFua)
    }

    /// `EEXIST` if `label` names a live VDI or a live snapshot of the
    /// store (one namespace, as the tool has it).
    pub(crate) fn check_free(&mut self, store: &Store, label: &[u8]) -> Result {
        match self.find(store, label) {
            Ok(_) => Err(EEXIST),
            Err(e) if e == ENOENT => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Where a VDI's snapshot log starts, and how many snapshots it has had.
#[derive(Clone, Copy)]
pub(crate) struct LogHead {
    pub(crate) block: u64,
    pub(crate) count: u64,
}

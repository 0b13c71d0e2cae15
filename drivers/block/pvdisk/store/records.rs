// SPDX-License-Identifier: GPL-2.0

//! The VDI registry as the driver uses it: finding what a disk attaches
//! (a VDI by name, or a snapshot by label or `VDI@N`), the holds that say
//! which host has a VDI attached, and the record rewrite that ends a
//! commit. Every rewrite reads the record again and changes only its own
//! fields, so that holds and commits of disks sharing a record (a VDI and
//! a snapshot of it) never undo one another.

use kernel::{
    alloc::flags::{GFP_KERNEL, GFP_NOIO},
    block::bio::Durability,
    prelude::*,
};

use super::meta::{boxed, corrupt, MetaBuf};
use super::Store;
use crate::format::{
    radix::{capacity_blocks, RadixNode},
    snaplog::{SnapLogBlock, ENTRIES_PER_BLOCK},
    superblock::Superblock,
    vdi::VdiRecord,
};
use crate::ratelimit::warn_ratelimited;
use crate::uapi::split_spec;

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
    /// The snapshot a read-only disk shows; `None` for the VDI itself.
    snapshot: Option<u64>,
}

pub(crate) struct Records {
    pub(super) buf: MetaBuf,
    /// A snapshot-log block, decoded (too big for the stack).
    pub(super) log: KBox<SnapLogBlock>,
    /// A radix node, decoded (too big for the stack).
    pub(super) node: KBox<RadixNode>,
    /// Attachments on this host; `None` is a free slot.
    attached: KVec<Option<Attachment>>,
    /// The records as last read or written, by slot, in chunks (no
    /// large allocation); `None` until read. While the store is open only
    /// this driver writes them (the tool asks it to), so a lookup, a
    /// name check or a clone reads the registry once, not at every call.
    known: KVec<KBox<[Option<VdiRecord>; CHUNK]>>,
}

/// Records per chunk of [`Records::known`].
const CHUNK: usize = 8;

impl Records {
    pub(crate) fn new(sb: &Superblock) -> Result<Self> {
        let chunks = (sb.vdi_slots as usize).div_ceil(CHUNK);
        let mut known = KVec::with_capacity(chunks, GFP_KERNEL)?;
        for _ in 0..chunks {
            known.push(KBox::new([None; CHUNK], GFP_KERNEL)?, GFP_KERNEL)?;
        }
        Ok(Self {
            known,
            buf: MetaBuf::new()?,
            log: boxed(|| SnapLogBlock::new(0, 0, 0))?,
            node: boxed(RadixNode::default)?,
            attached: KVec::new(),
        })
    }

    /// True if a disk of this host shows the VDI in `slot` (read and
    /// write).
    pub(crate) fn attached_writable(&self, slot: u32) -> bool {
        self.attached
            .iter()
            .flatten()
            .any(|a| a.slot == slot && a.snapshot.is_none())
    }

    /// True if a disk of this host shows the VDI in `slot` or one of its
    /// snapshots.
    pub(crate) fn attached_any(&self, slot: u32) -> bool {
        self.attached.iter().flatten().any(|a| a.slot == slot)
    }

    /// True if a read-only disk of this host shows snapshot `seq` of the
    /// VDI in `slot`.
    pub(crate) fn shows(&self, slot: u32, seq: u64) -> bool {
        self.attached
            .iter()
            .flatten()
            .any(|a| a.slot == slot && a.snapshot == Some(seq))
    }

    /// The record in `slot`, from memory once it was read.
    pub(super) fn read(&mut self, store: &Store, slot: u32) -> Result<VdiRecord> {
        if let Some(record) = self.known_mut(slot).and_then(|r| *r) {
            return Ok(record);
        }
        let nr = store.sb.vdi_block(slot);
        let block = self.buf.read(&store.bios, nr)?;
        let record = corrupt(VdiRecord::decode(block, store.id, nr))?;
        if let Some(known) = self.known_mut(slot) {
            *known = Some(record);
        }
        Ok(record)
    }

    /// Writes `record` to `slot`. After a failed write the record on disk
    /// is unknown: it is read again next time.
    pub(super) fn write(
        &mut self,
        store: &Store,
        slot: u32,
        record: &VdiRecord,
        durability: Durability,
    ) -> Result {
        let nr = store.sb.vdi_block(slot);
        record.encode(self.buf.block_mut()?, store.id, nr);
        let written = self.buf.write(&store.bios, nr, durability);
        if let Some(known) = self.known_mut(slot) {
            *known = written.is_ok().then_some(*record);
        }
        written
    }

    fn known_mut(&mut self, slot: u32) -> Option<&mut Option<VdiRecord>> {
        let slot = slot as usize;
        self.known.get_mut(slot / CHUNK)?.get_mut(slot % CHUNK)
    }

    /// Finds `spec`: a VDI name, `VDI@N`, or a snapshot label. `ENOENT`
    /// if there is no such live VDI or snapshot.
    pub(crate) fn find(&mut self, store: &Store, spec: &[u8]) -> Result<Target> {
        let (name, number) = match split_spec(spec) {
            (name, Some(text)) => {
                let number = core::str::from_utf8(text)
                    .ok()
                    .and_then(|n| n.parse::<u64>().ok())
                    .filter(|&n| n > 0)
                    .ok_or(EINVAL)?;
                (name, Some(number))
            }
            (name, None) => (name, None),
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

    /// Reads snapshot-log block `nr` into `self.log`.
    pub(super) fn read_log(&mut self, store: &Store, nr: u64) -> Result {
        let bytes = self.buf.read(&store.bios, nr)?;
        corrupt(SnapLogBlock::decode_into(
            bytes,
            store.id,
            nr,
            &mut self.log,
        ))
    }

    /// The live snapshot of the VDI in `slot` that `wanted(number, label)`
    /// picks.
    pub(super) fn snapshot(
        &mut self,
        store: &Store,
        slot: u32,
        record: VdiRecord,
        wanted: impl Fn(u64, &str) -> bool,
    ) -> Result<Target> {
        let mut nr = record.snaplog;
        let mut left = log_blocks_bound(record.snap_count);
        while nr != 0 && left > 0 {
            left -= 1;
            self.read_log(store, nr)?;
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
                if writable && a.snapshot.is_none() {
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
                snapshot: target.snapshot,
            });
        }
        Ok(())
    }

    /// Records that a disk showing `snapshot` (`None` for the VDI) of the
    /// record in `slot` detached; the last attachment clears the hold.
    pub(crate) fn detach(&mut self, store: &Store, slot: u32, snapshot: Option<u64>) -> Result {
        let mut found = false;
        for a in self.attached.iter_mut() {
            if !found
                && a.as_ref()
                    .is_some_and(|a| a.slot == slot && a.snapshot == snapshot)
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

/// Most snapshot-log blocks a VDI with `snap_count` snapshots can have:
/// a longer chain (a loop) is corruption.
pub(super) fn log_blocks_bound(snap_count: u64) -> u64 {
    snap_count / ENTRIES_PER_BLOCK as u64 + 2
}

/// Where a VDI's snapshot log starts, and how many snapshots it has had.
#[derive(Clone, Copy)]
pub(crate) struct LogHead {
    pub(crate) block: u64,
    pub(crate) count: u64,
}

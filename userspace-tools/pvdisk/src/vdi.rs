// SPDX-License-Identifier: GPL-2.0

//! VDIs: create, find, read/write by logical block, delete.

use crate::bail;
use crate::error::{Error, Result};
use crate::format::block::make_name;
use crate::format::extent::ExtentKind;
use crate::format::radix::{capacity_blocks, height_for, make_ptr, RadixNode};
use crate::format::vdi::{VdiRecord, VDI_DELETED};
use crate::format::{Block, BLOCK_SIZE};
use crate::store::{now, Store};

/// The refusal of deleting VDI `target` without `--force` while it is not
/// alone (`notes` from [`Store::delete_notes`]).
pub fn not_alone(target: &str, notes: &[String]) -> Error {
    Error::msg(format!(
        "VDI '{}' is not alone: {}; use --force to delete it",
        target,
        notes.join("; ")
    ))
}

/// Checks the size of a new empty VDI and returns its tree height.
pub fn check_new_size(size: u64) -> Result<u32> {
    if size == 0 || !size.is_multiple_of(BLOCK_SIZE as u64) {
        bail!("VDI size must be a positive multiple of 4096 bytes");
    }
    height_for(size / BLOCK_SIZE as u64).ok_or_else(|| {
        Error::msg(format!(
            "VDI size {} is too large",
            crate::units::fmt_size(size)
        ))
    })
}

/// Checks the size of a clone whose tree has `height` levels.
pub fn check_clone_size(size: u64, height: u32) -> Result<()> {
    if size == 0
        || !size.is_multiple_of(BLOCK_SIZE as u64)
        || size / BLOCK_SIZE as u64 > capacity_blocks(height)
    {
        bail!(
            "clone size must be a positive multiple of 4096 bytes of at most {}",
            crate::units::fmt_size(capacity_blocks(height).saturating_mul(BLOCK_SIZE as u64))
        );
    }
    Ok(())
}

/// The one item of a batch of one.
pub(crate) fn only<T>(batch: Vec<T>) -> Result<T> {
    batch
        .into_iter()
        .next()
        .ok_or_else(|| Error::msg("a batch of one made nothing"))
}

impl Store {
    /// Slots and records of VDIs that exist and are not deleted.
    pub fn live_vdis(&self) -> Vec<(u32, VdiRecord)> {
        self.vdis
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.is_empty() && !r.is_deleted())
            .map(|(i, r)| (i as u32, *r))
            .collect()
    }

    /// The live VDI with id `id`, if any.
    pub fn vdi_by_id(&self, id: u64) -> Option<(u32, VdiRecord)> {
        self.live_vdis().into_iter().find(|(_, r)| r.id == id)
    }

    /// Record in `slot`.
    pub fn vdi(&self, slot: u32) -> Result<VdiRecord> {
        self.vdis
            .get(slot as usize)
            .copied()
            .filter(|r| !r.is_empty())
            .ok_or_else(|| Error::msg(format!("VDI slot {} is empty", slot)))
    }

    fn next_vdi_id(&self) -> u64 {
        self.vdis.iter().map(|r| r.id).max().unwrap_or(0) + 1
    }

    /// `n` free registry slots, lowest first, or the refusal if the
    /// registry has fewer (a damaged slot is never reused).
    pub fn free_slots(&self, n: usize) -> Result<Vec<u32>> {
        let bad = |s: usize| self.bad_slots.iter().any(|(b, _)| *b as usize == s);
        let free: Vec<u32> = self
            .vdis
            .iter()
            .enumerate()
            .filter(|(s, r)| r.is_empty() && !bad(*s))
            .map(|(s, _)| s as u32)
            .take(n)
            .collect();
        match free.len() {
            k if k == n => Ok(free),
            0 => Err(Error::msg(format!(
                "VDI registry is full ({} slots); delete VDIs and run gc",
                self.vdis.len()
            ))),
            k => Err(Error::msg(format!(
                "VDI registry has room for {} more VDIs ({} slots), not {}; delete VDIs and run gc",
                k,
                self.vdis.len(),
                n
            ))),
        }
    }

    /// Creates an empty VDI of `size` bytes (a multiple of 4096).
    pub fn create_vdi(&mut self, name: &str, size: u64) -> Result<u32> {
        only(self.create_vdis(&[name], size)?)
    }

    /// Creates an empty VDI of `size` bytes for each name, all or none
    /// (see [`Store::add_vdis`]); returns their slots in the names' order.
    pub fn create_vdis<S: AsRef<str>>(&mut self, names: &[S], size: u64) -> Result<Vec<u32>> {
        self.check_new_vdi_names(names)?;
        let height = check_new_size(size)?;
        self.add_vdis(names, size, height, RadixNode::default(), 0, 0)
    }

    /// Creates a VDI for each name whose root is a copy of `root_copy`
    /// (clones), all or none.
    pub(crate) fn create_vdis_from<S: AsRef<str>>(
        &mut self,
        names: &[S],
        size: u64,
        height: u32,
        root_copy: RadixNode,
        parent: u64,
        parent_seq: u64,
    ) -> Result<Vec<u32>> {
        self.check_new_vdi_names(names)?;
        check_clone_size(size, height)?;
        self.add_vdis(names, size, height, root_copy, parent, parent_seq)
    }

    /// Writes a new VDI record in a free slot for each name, each with a
    /// fresh copy of `root` as its root node; `parent` and `parent_seq`
    /// name the snapshot they were cloned from (0 for none). The caller
    /// has checked names and size.
    ///
    /// All or none: the registry's room and the metadata blocks for the
    /// roots are checked before anything is allocated, and the whole
    /// batch is one transaction, built in memory and written by one
    /// [`Store::flush`]: the roots (new blocks), one sync, then the
    /// records, one sync. A record is never durable before its root
    /// (the single create's argument, for every VDI of the batch), so a
    /// crash leaves each new VDI whole or absent; a refusal, or any
    /// failure before the flush, writes nothing.
    fn add_vdis<S: AsRef<str>>(
        &mut self,
        names: &[S],
        size: u64,
        height: u32,
        root: RadixNode,
        parent: u64,
        parent_seq: u64,
    ) -> Result<Vec<u32>> {
        let fields = names
            .iter()
            .map(|n| make_name(n.as_ref()).ok_or_else(|| Error::msg("bad name")))
            .collect::<Result<Vec<_>>>()?;
        let slots = self.free_slots(names.len())?;
        self.check_metadata_room(names.len() as u64)?;
        let first_id = self.next_vdi_id();
        let created = now();
        self.transact(|st| {
            for ((id, &slot), name) in (first_id..).zip(&slots).zip(fields) {
                let root_block = st.alloc(ExtentKind::Metadata)?;
                st.insert_new_node(root_block, height, root.clone());
                let rec = VdiRecord {
                    id,
                    height,
                    size,
                    root: root_block,
                    parent,
                    parent_seq,
                    created,
                    name,
                    ..VdiRecord::default()
                };
                st.set_vdi(slot, rec);
            }
            Ok(slots)
        })
    }

    /// Marks the VDI in `slot` deleted; GC reclaims its blocks.
    pub fn delete_vdi(&mut self, slot: u32) -> Result<()> {
        let mut rec = self.vdi(slot)?;
        rec.flags |= VDI_DELETED;
        self.transact(|st| {
            st.set_vdi(slot, rec);
            Ok(())
        })
    }

    /// Writes one block of a VDI (durable at the next flush).
    pub fn vdi_write(&mut self, slot: u32, lba: u64, data: &Block) -> Result<()> {
        let rec = self.vdi(slot)?;
        if lba >= rec.size / BLOCK_SIZE as u64 {
            bail!(
                "VDI '{}': block {} is beyond its size of {} blocks",
                rec.name(),
                lba,
                rec.size / BLOCK_SIZE as u64
            );
        }
        self.write_lba(rec.root, rec.height, lba, data)
    }

    /// Reads one block of a VDI.
    pub fn vdi_read(&mut self, slot: u32, lba: u64, out: &mut Block) -> Result<()> {
        let rec = self.vdi(slot)?;
        if lba >= rec.size / BLOCK_SIZE as u64 {
            bail!("VDI '{}': block {} is beyond its size", rec.name(), lba);
        }
        self.read_lba(rec.root, rec.height, lba, out)
    }

    /// Renames the VDI in `slot`.
    pub fn rename_vdi(&mut self, slot: u32, name: &str) -> Result<()> {
        let mut rec = self.vdi(slot)?;
        if rec.name() == name {
            return Ok(());
        }
        self.check_new_vdi_name(name)?;
        rec.name = make_name(name).ok_or_else(|| Error::msg("bad name"))?;
        self.transact(|st| {
            st.set_vdi(slot, rec);
            Ok(())
        })
    }

    /// What deleting the VDI in `slot` takes with it: its live snapshots
    /// (by name) and the live clones made from them, which stay but lose
    /// their parent.
    pub fn delete_consequences(&self, slot: u32) -> Result<(Vec<String>, Vec<String>)> {
        let rec = self.vdi(slot)?;
        let snaps = self
            .snapshots(slot)?
            .into_iter()
            .filter(|(_, e)| !e.is_deleted())
            .map(|(seq, e)| match e.label() {
                "" => format!("{}@{}", rec.name(), seq),
                l => format!("{}@{} '{}'", rec.name(), seq, l),
            })
            .collect();
        let clones = self
            .live_vdis()
            .into_iter()
            .filter(|(_, r)| r.parent == rec.id)
            .map(|(_, r)| r.name().to_string())
            .collect();
        Ok((snaps, clones))
    }

    /// What deleting the VDI in `slot` takes with it or leaves behind, one
    /// clause each ("its snapshots ... go with it", "its clones ... stay
    /// but lose their parent"); empty for a VDI that is alone.
    pub fn delete_notes(&self, slot: u32) -> Result<Vec<String>> {
        let (snaps, clones) = self.delete_consequences(slot)?;
        let mut notes = Vec::new();
        if !snaps.is_empty() {
            notes.push(format!("its snapshots {} go with it", snaps.join(", ")));
        }
        if !clones.is_empty() {
            notes.push(format!(
                "its clones {} stay but lose their parent",
                clones.join(", ")
            ));
        }
        Ok(notes)
    }

    /// Changes the size of the VDI in `slot`. Growing past what the tree's
    /// height covers adds a level on top (only without snapshots, whose
    /// roots keep the old height). Shrinking needs `force` and nothing
    /// mapped past the new end.
    pub fn resize_vdi(&mut self, slot: u32, size: u64, force: bool) -> Result<()> {
        let rec = self.vdi(slot)?;
        if size == 0 || !size.is_multiple_of(BLOCK_SIZE as u64) {
            bail!("VDI size must be a positive multiple of 4096 bytes");
        }
        let blocks = size / BLOCK_SIZE as u64;
        if size < rec.size {
            if !force {
                bail!(
                    "shrinking VDI '{}' from {} to {} drops its end; use --force (refused anyway while anything is mapped there)",
                    rec.name(),
                    crate::units::fmt_size(rec.size),
                    crate::units::fmt_size(size)
                );
            }
            let mut last = None;
            self.for_each_mapped(rec.root, rec.height, &mut |lba, _| {
                last = Some(lba);
                Ok(())
            })?;
            if let Some(lba) = last.filter(|&l| l >= blocks) {
                bail!(
                    "VDI '{}' has data mapped at {} past the new end {}; refusing to shrink",
                    rec.name(),
                    crate::units::fmt_size(lba * BLOCK_SIZE as u64),
                    crate::units::fmt_size(size)
                );
            }
        }
        let height = height_for(blocks).ok_or_else(|| {
            Error::msg(format!(
                "VDI size {} is too large",
                crate::units::fmt_size(size)
            ))
        })?;
        self.transact(|st| st.resize_steps(slot, rec, size, height))
    }

    fn resize_steps(
        &mut self,
        slot: u32,
        mut rec: VdiRecord,
        size: u64,
        height: u32,
    ) -> Result<()> {
        if height > rec.height {
            if rec.snap_count > 0 {
                bail!(
                    "growing VDI '{}' to {} needs a taller tree, which its snapshots' roots cannot follow; clone it first",
                    rec.name(),
                    crate::units::fmt_size(size)
                );
            }
            for level in rec.height + 1..=height {
                let mut top = RadixNode::default();
                top.set(0, make_ptr(rec.root, false));
                let nb = self.alloc(ExtentKind::Metadata)?;
                self.insert_new_node(nb, level, top);
                rec.root = nb;
            }
            rec.height = height;
        }
        rec.size = size;
        self.set_vdi(slot, rec);
        Ok(())
    }
}

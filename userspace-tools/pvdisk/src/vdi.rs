// SPDX-License-Identifier: GPL-2.0

//! VDIs: create, find, read/write by logical block, delete.

use crate::bail;
use crate::error::{Error, Result};
use crate::format::block::make_name;
use crate::format::extent::ExtentKind;
use crate::format::radix::{capacity_blocks, height_for, RadixNode};
use crate::format::vdi::{VdiRecord, VDI_DELETED};
use crate::format::{Block, BLOCK_SIZE};
use crate::store::{now, Store};

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

    fn free_slot(&self) -> Result<u32> {
        let bad = |s: usize| self.bad_slots.iter().any(|(b, _)| *b as usize == s);
        self.vdis
            .iter()
            .enumerate()
            .position(|(s, r)| r.is_empty() && !bad(s))
            .map(|s| s as u32)
            .ok_or_else(|| {
                Error::msg(format!(
                    "VDI registry is full ({} slots); delete VDIs and run gc",
                    self.vdis.len()
                ))
            })
    }

    /// Creates an empty VDI of `size` bytes (a multiple of 4096).
    pub fn create_vdi(&mut self, name: &str, size: u64) -> Result<u32> {
        self.check_new_vdi_name(name)?;
        if size == 0 || !size.is_multiple_of(BLOCK_SIZE as u64) {
            bail!("VDI size must be a positive multiple of 4096 bytes");
        }
        let height = height_for(size / BLOCK_SIZE as u64)
            .ok_or_else(|| Error::msg(format!("VDI size {} is too large", size)))?;
        self.add_vdi(name, size, height, RadixNode::default(), 0, 0)
    }

    /// Creates a VDI whose root is `root_copy` (a clone).
    pub(crate) fn create_vdi_from(
        &mut self,
        name: &str,
        size: u64,
        height: u32,
        root_copy: RadixNode,
        parent: u64,
        parent_seq: u64,
    ) -> Result<u32> {
        self.check_new_vdi_name(name)?;
        if size == 0
            || !size.is_multiple_of(BLOCK_SIZE as u64)
            || size / BLOCK_SIZE as u64 > capacity_blocks(height)
        {
            bail!(
                "clone size must be a positive multiple of 4096 bytes of at most {} bytes",
                capacity_blocks(height).saturating_mul(BLOCK_SIZE as u64)
            );
        }
        self.add_vdi(name, size, height, root_copy, parent, parent_seq)
    }

    /// Writes a new VDI record in a free slot with a fresh copy of `root`
    /// as its root node; `parent` and `parent_seq` name the snapshot it
    /// was cloned from (0 for none). The caller has checked name and size.
    fn add_vdi(
        &mut self,
        name: &str,
        size: u64,
        height: u32,
        root: RadixNode,
        parent: u64,
        parent_seq: u64,
    ) -> Result<u32> {
        let name = make_name(name).ok_or_else(|| Error::msg("bad name"))?;
        let slot = self.free_slot()?;
        let root_block = self.alloc(ExtentKind::Metadata)?;
        self.insert_new_node(root_block, height, root);
        let rec = VdiRecord {
            id: self.next_vdi_id(),
            height,
            size,
            root: root_block,
            parent,
            parent_seq,
            created: now(),
            name,
            ..VdiRecord::default()
        };
        self.set_vdi(slot, rec);
        self.flush()?;
        Ok(slot)
    }

    /// Marks the VDI in `slot` deleted; GC reclaims its blocks.
    pub fn delete_vdi(&mut self, slot: u32) -> Result<()> {
        let mut rec = self.vdi(slot)?;
        rec.flags |= VDI_DELETED;
        self.set_vdi(slot, rec);
        self.flush()
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
}

// SPDX-License-Identifier: GPL-2.0

//! The commit protocol: how a transaction built up in memory becomes
//! durable.
//!
//! # Write ordering
//!
//! The store is changed by building up a transaction in memory and calling
//! [`Store::flush`], which makes it durable in the only order that keeps
//! the store consistent after a crash at any point:
//!
//! 1. allocation bitmaps (new blocks marked used); if extents were claimed,
//!    sync, then the catalogue (a claimed extent's bitmap is durable before
//!    the catalogue says the extent is in use);
//! 2. new blocks: data (already written directly) and new radix nodes;
//!    sync — nothing links to them yet;
//! 3. existing radix nodes changed in place (the commit nodes), then VDI
//!    records; sync — this is the commit;
//! 4. blocks freed by the transaction are cleared in the bitmaps; sync.
//!
//! A crash before 3 leaks the blocks of 1–2 (GC reclaims them); a crash
//! after 3 loses nothing. Freed blocks are only reusable by the next
//! transaction.
//!
//! Every operation runs in [`Store::transact`]: committed by one flush if
//! it succeeds, thrown away ([`Store::abort`]) if it fails.

use crate::cache::NodeState;
use crate::error::Result;
use crate::format::extent::{CatalogueBlock, ENTRIES_PER_BLOCK};
use crate::format::superblock::CATALOGUE_START;
use crate::format::vdi::VdiRecord;
use crate::format::{Block, BLOCK_SIZE};
use crate::store::{read_tables, Store};

impl Store {
    pub(crate) fn write_catalogue(&mut self) -> Result<()> {
        let mut b = [0u8; BLOCK_SIZE];
        for nr in std::mem::take(&mut self.cat_dirty) {
            let first = ((nr - CATALOGUE_START) as usize) * ENTRIES_PER_BLOCK;
            let mut cat = CatalogueBlock::default();
            for (i, slot) in cat.entries.iter_mut().enumerate() {
                if let Some(e) = self.extents.get(first + i) {
                    *slot = *e;
                }
            }
            cat.encode(&mut b, self.id, nr);
            self.dev.write_block(nr, &b)?;
        }
        Ok(())
    }

    fn write_bitmaps(&mut self) -> Result<()> {
        let mut b = [0u8; BLOCK_SIZE];
        for (&e, bm) in self.bitmaps.iter_mut() {
            let start = self.sb.extent_start(e);
            for (i, d) in bm.dirty.iter_mut().enumerate() {
                if *d {
                    if let Some(blk) = bm.blocks.get(i) {
                        blk.encode(&mut b, self.id, start + i as u64);
                        self.dev.write_block(start + i as u64, &b)?;
                    }
                    *d = false;
                }
            }
        }
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        if self.durable {
            self.dev.sync()
        } else {
            self.dev.barrier();
            Ok(())
        }
    }

    /// Replaces the record in `slot`; written at the next flush.
    pub fn set_vdi(&mut self, slot: u32, rec: VdiRecord) {
        if let Some(r) = self.vdis.get_mut(slot as usize) {
            *r = rec;
            self.vdi_dirty.insert(slot);
        }
    }

    /// Makes the current transaction durable (see the module comment for
    /// the order).
    pub fn flush(&mut self) -> Result<()> {
        self.write_bitmaps()?;
        if !self.cat_dirty.is_empty() {
            // A claimed extent's fresh bitmap must be durable before the
            // catalogue says the extent is in use.
            self.sync()?;
            self.write_catalogue()?;
        }
        let mut b = [0u8; BLOCK_SIZE];
        let mut new: Vec<u64> = Vec::new();
        let mut dirty: Vec<u64> = Vec::new();
        for (&nr, c) in &self.nodes {
            match c.state {
                NodeState::New => new.push(nr),
                NodeState::Dirty => dirty.push(nr),
                NodeState::Clean => {}
            }
        }
        new.sort_unstable();
        dirty.sort_unstable();
        for nr in &new {
            if let Some(c) = self.nodes.get_mut(nr) {
                c.node.encode(&mut b, self.id, *nr, c.level);
                c.state = NodeState::Clean;
                self.dev.write_block(*nr, &b)?;
            }
        }
        let commits = !dirty.is_empty() || !self.vdi_dirty.is_empty();
        if commits {
            self.sync()?;
        }
        for nr in &dirty {
            if let Some(c) = self.nodes.get_mut(nr) {
                c.node.encode(&mut b, self.id, *nr, c.level);
                c.state = NodeState::Clean;
                self.dev.write_block(*nr, &b)?;
            }
        }
        for slot in std::mem::take(&mut self.vdi_dirty) {
            let nr = self.sb.vdi_block(slot);
            if let Some(r) = self.vdis.get_mut(slot as usize) {
                if !r.is_empty() {
                    r.generation += 1;
                }
                r.encode(&mut b, self.id, nr);
                self.dev.write_block(nr, &b)?;
            }
        }
        self.sync()?;
        if !self.pending_free.is_empty() {
            for nr in std::mem::take(&mut self.pending_free) {
                self.free_now(nr)?;
            }
            self.write_bitmaps()?;
            self.write_catalogue()?;
            self.sync()?;
        }
        Ok(())
    }

    /// Runs `f` as one transaction: committed by [`Store::flush`] if it
    /// succeeds, thrown away if it (or the commit) fails, so that a failed
    /// operation leaves nothing half-done for the next commit to write.
    pub fn transact<T>(&mut self, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        let r = f(self).and_then(|v| self.flush().map(|()| v));
        if r.is_err() {
            self.abort()?;
        }
        r
    }

    /// Forgets every change not yet committed: pending frees, new and
    /// changed nodes, bitmaps, catalogue and registry go back to what the
    /// disk holds. Blocks already written for the transaction are
    /// unreachable (leaks for gc).
    pub fn abort(&mut self) -> Result<()> {
        self.pending_free.clear();
        self.nodes.retain(|_, c| c.state == NodeState::Clean);
        self.bitmaps.clear();
        self.cat_dirty.clear();
        self.vdi_dirty.clear();
        let (extents, vdis, bad_slots) = read_tables(&*self.dev, &self.sb)?;
        self.extents = extents;
        self.vdis = vdis;
        self.bad_slots = bad_slots;
        Ok(())
    }

    /// Writes a block that is not a radix node (data, snapshot log) now.
    pub fn write_raw(&mut self, nr: u64, b: &Block) -> Result<()> {
        self.dev.write_block(nr, b)
    }

    /// Reads any block.
    pub fn read_raw(&self, nr: u64, b: &mut Block) -> Result<()> {
        self.dev.read_block(nr, b)
    }
}

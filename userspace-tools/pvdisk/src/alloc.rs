// SPDX-License-Identifier: GPL-2.0

//! The allocator: extent catalogue kinds, the per-extent allocation
//! bitmaps, claiming free extents, freeing, and the metadata reserve that
//! keeps a full store able to delete, relabel and collect.

use crate::error::{Error, Result};
use crate::format::bitmap::{BitmapBlock, BITS_PER_BLOCK};
use crate::format::extent::ExtentKind;
use crate::format::superblock::Superblock;
use crate::format::{Block, BLOCK_SIZE};
use crate::store::Store;

/// The loaded bitmap of one extent.
#[derive(Debug, Clone)]
pub struct ExtentBitmap {
    /// Bitmap blocks in order.
    pub blocks: Vec<BitmapBlock>,
    /// Which of them changed since the last flush.
    pub dirty: Vec<bool>,
    /// Number of allocated blocks (bitmap blocks included).
    pub used: u32,
    hint: u32,
}

impl ExtentBitmap {
    /// A fresh bitmap for extent `e` with only its own blocks allocated.
    pub fn fresh(sb: &Superblock, e: u32) -> Self {
        let n = sb.bitmap_blocks();
        let mut blocks: Vec<BitmapBlock> = (0..n).map(|i| BitmapBlock::new(e, i)).collect();
        for i in 0..n {
            set_bit(&mut blocks, i, true);
        }
        ExtentBitmap {
            dirty: vec![true; n as usize],
            blocks,
            used: n,
            hint: n,
        }
    }

    /// Is block `i` of the extent allocated?
    pub fn get(&self, i: u32) -> bool {
        let i = i as usize;
        self.blocks
            .get(i / BITS_PER_BLOCK)
            .is_some_and(|b| b.get(i % BITS_PER_BLOCK))
    }

    /// Marks block `i` of the extent allocated or free.
    pub fn set(&mut self, i: u32, v: bool) {
        if self.get(i) == v {
            return;
        }
        set_bit(&mut self.blocks, i, v);
        if let Some(d) = self.dirty.get_mut(i as usize / BITS_PER_BLOCK) {
            *d = true;
        }
        if v {
            self.used += 1;
        } else {
            self.used -= 1;
            self.hint = self.hint.min(i);
        }
    }
}

fn set_bit(blocks: &mut [BitmapBlock], i: u32, v: bool) {
    let i = i as usize;
    if let Some(b) = blocks.get_mut(i / BITS_PER_BLOCK) {
        b.set(i % BITS_PER_BLOCK, v);
    }
}

/// Metadata blocks that only operations freeing space may allocate, so
/// that a store whose metadata is full can still delete or relabel a
/// snapshot (a copied log block or two) and then gc.
pub const METADATA_RESERVE: u64 = 16;

impl Store {
    /// Kind of the extent holding `block`, if inside one.
    pub fn kind_of(&self, block: u64) -> Option<ExtentKind> {
        self.sb
            .extent_of(block)
            .and_then(|e| self.extents.get(e as usize))
            .map(|e| e.kind)
    }

    /// Loads (once) and returns the bitmap of a metadata or data extent.
    pub fn bitmap(&mut self, e: u32) -> Result<&mut ExtentBitmap> {
        if !self.bitmaps.contains_key(&e) {
            let bm = self.load_bitmap(e)?;
            self.bitmaps.insert(e, bm);
        }
        self.bitmaps
            .get_mut(&e)
            .ok_or_else(|| Error::msg("bitmap vanished"))
    }

    /// Reads and decodes the bitmap of extent `e` from disk.
    pub fn load_bitmap(&self, e: u32) -> Result<ExtentBitmap> {
        let kind = self.extents.get(e as usize).map(|x| x.kind);
        if !matches!(kind, Some(ExtentKind::Metadata | ExtentKind::Data)) {
            return Err(Error::msg(format!("extent {} has no bitmap", e)));
        }
        let n = self.sb.bitmap_blocks();
        let start = self.sb.extent_start(e);
        let mut raw = vec![0u8; n as usize * BLOCK_SIZE];
        self.dev.read_blocks(start, &mut raw)?;
        let mut blocks = Vec::with_capacity(n as usize);
        for (i, chunk) in raw.chunks_exact(BLOCK_SIZE).enumerate() {
            let blk: &Block = chunk.try_into().map_err(|_| Error::msg("short read"))?;
            blocks.push(BitmapBlock::decode(
                blk,
                self.id,
                start + i as u64,
                e,
                i as u32,
                self.sb.extent_blocks,
            )?);
        }
        let used = blocks.iter().map(|b| b.count()).sum();
        let bm = ExtentBitmap {
            dirty: vec![false; n as usize],
            blocks,
            used,
            hint: n,
        };
        for i in 0..n {
            if !bm.get(i) {
                return Err(Error::msg(format!(
                    "block {}: bitmap of extent {} does not cover its own block {}",
                    start,
                    e,
                    start + u64::from(i)
                )));
            }
        }
        Ok(bm)
    }

    /// True if `block` is marked allocated.
    pub fn is_allocated(&mut self, block: u64) -> Result<bool> {
        let Some(e) = self.sb.extent_of(block) else {
            return Ok(false);
        };
        if !matches!(
            self.extents.get(e as usize).map(|x| x.kind),
            Some(ExtentKind::Metadata | ExtentKind::Data)
        ) {
            return Ok(false);
        }
        let off = (block - self.sb.extent_start(e)) as u32;
        Ok(self.bitmap(e)?.get(off))
    }

    /// Allocates a block from an extent of `kind` (metadata or data),
    /// claiming a free extent when the existing ones are full.
    pub fn alloc(&mut self, kind: ExtentKind) -> Result<u64> {
        if kind == ExtentKind::Metadata {
            self.check_metadata_room(1)?;
        }
        self.alloc_from(kind)
    }

    /// Refuses, before anything is allocated, a change that needs `n`
    /// new metadata blocks when the store has fewer outside the reserve
    /// (the reserve counts only while [`Store::set_use_reserve`] is off):
    /// `n` calls of [`Store::alloc`] for metadata then succeed.
    pub fn check_metadata_room(&mut self, n: u64) -> Result<()> {
        if self.use_reserve {
            return Ok(());
        }
        let free = self.meta_headroom()?.saturating_sub(METADATA_RESERVE);
        if free >= n {
            return Ok(());
        }
        if free == 0 {
            return Err(Error::msg(
                "store is full: no free metadata block outside the reserve kept for delete, label and gc",
            ));
        }
        Err(Error::msg(format!(
            "store is full: {} metadata blocks needed, {} free outside the reserve kept for delete, label and gc",
            n, free
        )))
    }

    /// Metadata blocks still allocatable: free blocks of metadata extents
    /// plus the usable blocks of free extents.
    fn meta_headroom(&mut self) -> Result<u64> {
        let usable = u64::from(self.sb.usable_blocks_per_extent());
        let mut n = 0;
        for e in self.extents_of(ExtentKind::Metadata) {
            n += u64::from(self.sb.extent_blocks - self.bitmap(e)?.used);
        }
        Ok(n + usable * self.extents_of(ExtentKind::Free).len() as u64)
    }

    /// Lets the allocator use the metadata reserve (operations that free
    /// space: deleting or relabelling a snapshot) or not; returns the old
    /// setting.
    pub fn set_use_reserve(&mut self, on: bool) -> bool {
        std::mem::replace(&mut self.use_reserve, on)
    }

    fn alloc_from(&mut self, kind: ExtentKind) -> Result<u64> {
        let eb = self.sb.extent_blocks;
        let candidates: Vec<u32> = (0..self.sb.extent_count)
            .filter(|&e| self.extents[e as usize].kind == kind)
            .collect();
        for e in candidates {
            let start = self.sb.extent_start(e);
            let bm = self.bitmap(e)?;
            if bm.used >= eb {
                continue;
            }
            // From the hint first; if the hint was stale (blocks below it
            // freed), from the start.
            for from in [bm.hint, 0] {
                let mut i = from;
                while i < eb && bm.get(i) {
                    i += 1;
                }
                if i < eb {
                    bm.set(i, true);
                    bm.hint = i + 1;
                    return Ok(start + u64::from(i));
                }
            }
            bm.hint = 0;
        }
        let Some(e) =
            (1..self.sb.extent_count).find(|&e| self.extents[e as usize].kind == ExtentKind::Free)
        else {
            return Err(Error::msg(format!(
                "store is full: no free {} block and no free extent",
                kind.name()
            )));
        };
        if kind == ExtentKind::Data {
            // The last free extents stay available to metadata while the
            // metadata extents are down to the reserve.
            let usable = u64::from(self.sb.usable_blocks_per_extent());
            if self.meta_headroom()? < METADATA_RESERVE + usable {
                return Err(Error::msg(
                    "store is full: no free data block, and the last free extent is kept for metadata",
                ));
            }
        }
        self.extents[e as usize].kind = kind;
        self.cat_dirty.insert(self.sb.catalogue_pos(e).0);
        let bm = ExtentBitmap::fresh(&self.sb, e);
        self.bitmaps.insert(e, bm);
        self.alloc_from(kind)
    }

    /// Frees `block` once the current transaction has committed.
    pub fn free_after_commit(&mut self, block: u64) {
        self.pending_free.push(block);
    }

    /// Frees `block` now (GC, or a block never linked).
    pub fn free_now(&mut self, block: u64) -> Result<()> {
        let e = self
            .sb
            .extent_of(block)
            .ok_or_else(|| Error::msg(format!("block {}: outside every extent", block)))?;
        let off = (block - self.sb.extent_start(e)) as u32;
        if off < self.sb.bitmap_blocks() {
            return Err(Error::msg(format!("block {}: is a bitmap block", block)));
        }
        self.bitmap(e)?.set(off, false);
        Ok(())
    }

    /// Replaces the whole bitmap of extent `e` (GC sweep).
    pub fn replace_bitmap(&mut self, e: u32, bm: ExtentBitmap) {
        self.bitmaps.insert(e, bm);
    }

    /// Marks extent `e` free (GC: nothing in it is reachable).
    pub fn release_extent(&mut self, e: u32) {
        if let Some(x) = self.extents.get_mut(e as usize) {
            x.kind = ExtentKind::Free;
            x.owner = 0;
        }
        self.bitmaps.remove(&e);
        self.cat_dirty.insert(self.sb.catalogue_pos(e).0);
    }

    /// Extent indexes of a kind.
    pub fn extents_of(&self, kind: ExtentKind) -> Vec<u32> {
        (0..self.sb.extent_count)
            .filter(|&e| self.extents[e as usize].kind == kind)
            .collect()
    }
}

// SPDX-License-Identifier: GPL-2.0

//! An open pvdisk store: superblock, extent catalogue, VDI registry, the
//! loaded allocation bitmaps and a radix node cache.
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

use crate::dev::Dev;
use crate::error::{Error, Result};
use crate::format::bitmap::{BitmapBlock, BITS_PER_BLOCK};
use crate::format::extent::{CatalogueBlock, ExtentEntry, ExtentKind, ENTRIES_PER_BLOCK};
use crate::format::radix::RadixNode;
use crate::format::superblock::{Superblock, CATALOGUE_START, SUPERBLOCK_MAGIC};
use crate::format::vdi::VdiRecord;
use crate::format::{block, Block, StoreId, BLOCK_SIZE};
use crate::units::fmt_size;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeState {
    Clean,
    New,
    Dirty,
}

#[derive(Debug)]
struct CachedNode {
    node: Box<RadixNode>,
    level: u32,
    state: NodeState,
}

/// Metadata blocks that only operations freeing space may allocate, so
/// that a store whose metadata is full can still delete or relabel a
/// snapshot (a copied log block or two) and then gc.
pub const METADATA_RESERVE: u64 = 16;

/// Clean nodes kept in the cache before it is trimmed.
const NODE_CACHE_MAX: usize = 16384;

/// An open store.
#[derive(Debug)]
pub struct Store {
    /// The device.
    pub dev: Dev,
    /// Its superblock.
    pub sb: Superblock,
    /// The identity its metadata checksums are bound to.
    pub id: StoreId,
    /// Catalogue entry of every extent.
    pub extents: Vec<ExtentEntry>,
    /// VDI registry, by slot. A slot that failed to decode reads as
    /// empty here and is listed in `bad_slots`.
    pub vdis: Vec<VdiRecord>,
    /// Registry slots whose block is damaged, with the reason: they cost
    /// only their own VDI, are never reused, and make check fail.
    pub bad_slots: Vec<(u32, String)>,
    cat_dirty: BTreeSet<u64>,
    bitmaps: BTreeMap<u32, ExtentBitmap>,
    vdi_dirty: BTreeSet<u32>,
    nodes: HashMap<u64, CachedNode>,
    pending_free: Vec<u64>,
    durable: bool,
    use_reserve: bool,
}

impl Store {
    /// Writes a new, empty store on `path` with extents of `extent_bytes`
    /// (by default scaled to the device, [`default_extent_bytes`]).
    /// Refuses a device that already holds a pvdisk store, a file system,
    /// a volume or a partition table unless `force`, and a device too
    /// small to hold a VDI block.
    pub fn format(path: &Path, extent_bytes: Option<u64>, force: bool) -> Result<Store> {
        let dev = Dev::open(path, true, false)?;
        let mut b = [0u8; BLOCK_SIZE];
        let bytes = dev.blocks() * BLOCK_SIZE as u64;
        let mut head = vec![0u8; crate::signature::HEAD_BYTES.min(bytes as usize)];
        dev.read_blocks(0, &mut head)?;
        if let Some(what) = crate::signature::recognise(&head) {
            if !force {
                return Err(Error::Refused(format!(
                    "{}: already holds {} (use --force to overwrite it)",
                    path.display(),
                    what
                )));
            }
        }
        let extent_bytes = extent_bytes.unwrap_or_else(|| default_extent_bytes(bytes));
        if !extent_bytes.is_multiple_of(BLOCK_SIZE as u64) {
            return Err(Error::msg(
                "extent size must be a multiple of 4096 bytes".to_string(),
            ));
        }
        let extent_blocks = u32::try_from(extent_bytes / BLOCK_SIZE as u64)
            .map_err(|_| Error::msg("extent size too large".to_string()))?;
        let sb = Superblock::new(dev.blocks(), extent_blocks, make_uuid(), now()).map_err(|e| {
            Error::msg(format!(
                "{}: cannot format {} with {} extents: {}",
                path.display(),
                fmt_size(bytes),
                fmt_size(extent_bytes),
                e
            ))
        })?;
        if sb.extent_count < 3 {
            return Err(Error::msg(format!(
                "{}: {} holds only {} extents of {}, and a store needs three (system, metadata, data) to hold a VDI block; use a smaller --extent-size",
                path.display(),
                fmt_size(bytes),
                sb.extent_count,
                fmt_size(extent_bytes)
            )));
        }
        // Zap the old superblock first: a half-written format is not a store.
        dev.write_block(0, &[0u8; BLOCK_SIZE])?;
        dev.sync()?;
        let empty = VdiRecord::default();
        let id = sb.store_id();
        for slot in 0..sb.vdi_slots {
            empty.encode(&mut b, id, sb.vdi_block(slot));
            dev.write_block(sb.vdi_block(slot), &b)?;
        }
        let mut extents = vec![ExtentEntry::FREE; sb.extent_count as usize];
        extents[0].kind = ExtentKind::System;
        let mut store = Store {
            dev,
            sb,
            id,
            extents,
            vdis: vec![empty; sb.vdi_slots as usize],
            bad_slots: Vec::new(),
            cat_dirty: (0..u64::from(sb.catalogue_blocks))
                .map(|i| CATALOGUE_START + i)
                .collect(),
            bitmaps: BTreeMap::new(),
            vdi_dirty: BTreeSet::new(),
            nodes: HashMap::new(),
            pending_free: Vec::new(),
            durable: true,
            use_reserve: false,
        };
        store.write_catalogue()?;
        store.dev.sync()?;
        sb.encode(&mut b);
        store.dev.write_block(0, &b)?;
        store.dev.sync()?;
        Ok(store)
    }

    /// Opens an existing store, read-only unless `write`; fails at once if
    /// another process has it locked.
    pub fn open(path: &Path, write: bool) -> Result<Store> {
        Store::open_wait(path, write, false)
    }

    /// Opens an existing store, read-only unless `write`, with a shared
    /// (read) or exclusive (write) lock; if `wait`, waits for a busy store
    /// instead of failing.
    pub fn open_wait(path: &Path, write: bool, wait: bool) -> Result<Store> {
        let dev = Dev::open(path, write, wait)?;
        let mut b = [0u8; BLOCK_SIZE];
        if dev.blocks() == 0 {
            return Err(Error::msg(format!(
                "{}: empty device, not a pvdisk store",
                path.display()
            )));
        }
        dev.read_block(0, &mut b)?;
        if block::block_magic(&b) != SUPERBLOCK_MAGIC {
            return Err(Error::msg(format!(
                "{}: not a pvdisk store (no superblock magic in block 0)",
                path.display()
            )));
        }
        let sb = Superblock::decode(&b)?;
        let id = sb.store_id();
        if dev.blocks() < sb.total_blocks {
            return Err(Error::msg(format!(
                "{}: device has {} blocks but the store was formatted with {}",
                path.display(),
                dev.blocks(),
                sb.total_blocks
            )));
        }
        if write && !sb.writable() {
            return Err(Error::msg(format!(
                "block 0: unknown read-only-compatible features {:#x}, refusing to write",
                sb.ro_compat
            )));
        }
        let (extents, vdis, bad_slots) = read_tables(&dev, &sb)?;
        Ok(Store {
            dev,
            sb,
            id,
            extents,
            vdis,
            bad_slots,
            cat_dirty: BTreeSet::new(),
            bitmaps: BTreeMap::new(),
            vdi_dirty: BTreeSet::new(),
            nodes: HashMap::new(),
            pending_free: Vec::new(),
            durable: true,
            use_reserve: false,
        })
    }

    /// Turns fsync at commit points on or off (tests on temp files).
    pub fn set_durable(&mut self, durable: bool) {
        self.durable = durable;
    }

    // ---- holds ------------------------------------------------------

    /// Describes every hold on the store (VDIs attached, extents owned).
    pub fn holds(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in self
            .vdis
            .iter()
            .filter(|r| !r.is_empty() && r.attached_by != 0)
        {
            out.push(format!(
                "VDI '{}' is attached by host {}",
                r.name(),
                r.attached_by
            ));
        }
        for (i, e) in self
            .extents
            .iter()
            .enumerate()
            .filter(|(_, e)| e.owner != 0)
        {
            out.push(format!("extent {} is held by host {}", i, e.owner));
        }
        out
    }

    /// Refuses an offline change while a driver holds anything, unless
    /// `force`; returns the holds that `force` overrides, for the caller
    /// to say so.
    pub fn check_holds(&self, force: bool) -> Result<Vec<String>> {
        let holds = self.holds();
        if holds.is_empty() || force {
            return Ok(holds);
        }
        Err(Error::Busy(format!(
            "store is in use: {}{} (detach it first, or use --force)",
            holds[0],
            if holds.len() > 1 {
                format!(" and {} more holds", holds.len() - 1)
            } else {
                String::new()
            }
        )))
    }

    // ---- extents and bitmaps -----------------------------------------

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
        if kind == ExtentKind::Metadata
            && !self.use_reserve
            && self.meta_headroom()? <= METADATA_RESERVE
        {
            return Err(Error::msg(
                "store is full: no free metadata block outside the reserve kept for delete, label and gc",
            ));
        }
        self.alloc_from(kind)
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

    fn write_catalogue(&mut self) -> Result<()> {
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

    // ---- radix node cache ----------------------------------------------

    /// Reads the radix node at `block`, expected at `level`.
    pub fn node(&mut self, block: u64, level: u32) -> Result<&RadixNode> {
        self.load_node(block, level)?;
        self.nodes
            .get(&block)
            .map(|c| &*c.node)
            .ok_or_else(|| Error::msg("node vanished"))
    }

    fn load_node(&mut self, block: u64, level: u32) -> Result<()> {
        if let Some(c) = self.nodes.get(&block) {
            if c.level != level {
                return Err(Error::msg(format!(
                    "block {}: radix node reached at level {} and at level {}",
                    block, c.level, level
                )));
            }
            return Ok(());
        }
        if self.kind_of(block) != Some(ExtentKind::Metadata) {
            return Err(Error::msg(format!(
                "block {}: radix pointer outside a metadata extent",
                block
            )));
        }
        if self.nodes.len() >= NODE_CACHE_MAX {
            self.nodes.retain(|_, c| c.state != NodeState::Clean);
        }
        let mut b = [0u8; BLOCK_SIZE];
        self.dev.read_block(block, &mut b)?;
        let node = RadixNode::decode(&b, self.id, block, level)?;
        self.nodes.insert(
            block,
            CachedNode {
                node: Box::new(node),
                level,
                state: NodeState::Clean,
            },
        );
        Ok(())
    }

    /// The node at `block` for modification: it is written at the next
    /// flush (in place, after every new block).
    pub fn node_mut(&mut self, block: u64, level: u32) -> Result<&mut RadixNode> {
        self.load_node(block, level)?;
        let c = self
            .nodes
            .get_mut(&block)
            .ok_or_else(|| Error::msg("node vanished"))?;
        if c.state == NodeState::Clean {
            c.state = NodeState::Dirty;
        }
        Ok(&mut c.node)
    }

    /// Places a new node at a freshly allocated `block`.
    pub fn insert_new_node(&mut self, block: u64, level: u32, node: RadixNode) {
        self.nodes.insert(
            block,
            CachedNode {
                node: Box::new(node),
                level,
                state: NodeState::New,
            },
        );
    }

    /// Number of nodes waiting to be written.
    pub fn pending_nodes(&self) -> usize {
        self.nodes
            .values()
            .filter(|c| c.state != NodeState::Clean)
            .count()
    }

    /// Forgets every cached node (after GC rewrote the world).
    pub fn drop_cache(&mut self) {
        self.nodes.retain(|_, c| c.state != NodeState::Clean);
    }

    // ---- VDI records -------------------------------------------------------

    /// Replaces the record in `slot`; written at the next flush.
    pub fn set_vdi(&mut self, slot: u32, rec: VdiRecord) {
        if let Some(r) = self.vdis.get_mut(slot as usize) {
            *r = rec;
            self.vdi_dirty.insert(slot);
        }
    }

    // ---- commit ------------------------------------------------------------

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
        let (extents, vdis, bad_slots) = read_tables(&self.dev, &self.sb)?;
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

    /// Extent indexes of a kind.
    pub fn extents_of(&self, kind: ExtentKind) -> Vec<u32> {
        (0..self.sb.extent_count)
            .filter(|&e| self.extents[e as usize].kind == kind)
            .collect()
    }
}

/// The catalogue and the registry as on disk: extent entries, VDI records
/// by slot, and the slots that failed to decode.
type Tables = (Vec<ExtentEntry>, Vec<VdiRecord>, Vec<(u32, String)>);

/// Reads the catalogue and the registry of the store `sb` describes.
fn read_tables(dev: &Dev, sb: &Superblock) -> Result<Tables> {
    let id = sb.store_id();
    let mut b = [0u8; BLOCK_SIZE];
    let mut extents = Vec::with_capacity(sb.extent_count as usize);
    for i in 0..u64::from(sb.catalogue_blocks) {
        let nr = CATALOGUE_START + i;
        dev.read_block(nr, &mut b)?;
        let cat = CatalogueBlock::decode(&b, id, nr)?;
        extents.extend_from_slice(&cat.entries);
    }
    extents.truncate(sb.extent_count as usize);
    if extents.first().map(|e| e.kind) != Some(ExtentKind::System) {
        return Err(Error::msg(format!(
            "block {}: extent 0 is not the system extent",
            CATALOGUE_START
        )));
    }
    if let Some(i) = extents
        .iter()
        .skip(1)
        .position(|e| e.kind == ExtentKind::System)
    {
        return Err(Error::msg(format!(
            "block {}: extent {} claims to be a system extent",
            sb.catalogue_pos(i as u32 + 1).0,
            i + 1
        )));
    }
    let mut raw = vec![0u8; sb.vdi_slots as usize * BLOCK_SIZE];
    dev.read_blocks(sb.registry_start(), &mut raw)?;
    let mut vdis = Vec::with_capacity(sb.vdi_slots as usize);
    let mut bad_slots = Vec::new();
    for (slot, chunk) in raw.chunks_exact(BLOCK_SIZE).enumerate() {
        let blk: &Block = chunk.try_into().map_err(|_| Error::msg("short read"))?;
        match VdiRecord::decode(blk, id, sb.vdi_block(slot as u32)) {
            Ok(r) => vdis.push(r),
            Err(e) => {
                bad_slots.push((slot as u32, format!("{} (VDI slot {})", e, slot)));
                vdis.push(VdiRecord::default());
            }
        }
    }
    Ok((extents, vdis, bad_slots))
}

/// The extent size `format` uses unless told: the largest power of two
/// from 1 MiB to 1 GiB that cuts the device into at least 16 extents, so a
/// small device does not spend most of itself on the system extent.
pub fn default_extent_bytes(device_bytes: u64) -> u64 {
    let mut e: u64 = 1 << 30;
    while e > 1 << 20 && device_bytes / e < 16 {
        e >>= 1;
    }
    e
}

/// A store identity from the clock and the process id (no randomness
/// crate; uniqueness, not secrecy, is what matters).
fn make_uuid() -> [u8; 16] {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = t ^ (u64::from(std::process::id()) << 32) ^ 0x9e37_79b9_7f4a_7c15;
    let mut out = [0u8; 16];
    for chunk in out.chunks_mut(8) {
        // splitmix64
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes());
    }
    out
}

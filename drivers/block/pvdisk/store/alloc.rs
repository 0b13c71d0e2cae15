// SPDX-License-Identifier: GPL-2.0

//! Space: extents this host allocates from, and a reserve of blocks that
//! are already marked used on disk, from which node and data blocks are
//! handed out without I/O.
//!
//! Claiming follows Documentation/format.rst: a free extent gets a fresh
//! bitmap (durable: written and flushed) before its catalogue entry says
//! it is metadata or data and names this host as its owner; an extent
//! that already holds blocks is adopted by writing the owner alone. A
//! reserve chunk's bits are written and flushed before any of its blocks
//! is handed out, so nothing can link a block that the bitmap calls free.
//! After a crash the unused reserve is a leak that `pvdisk gc` reclaims.
//! At close the unused reserve is cleared in the bitmaps, and the owners
//! are cleared, in that order.
//!
//! Only workers and attach/detach call in here, under the store's
//! allocator mutex: never the request path.

use kernel::{
    alloc::flags::{GFP_ATOMIC, GFP_KERNEL, GFP_NOIO},
    block::bio::{BioSet, Durability},
    prelude::*,
};

use super::meta::{boxed, corrupt, MetaBuf};
use crate::format::{
    bitmap::{BitmapBlock, BITS_PER_BLOCK},
    block::StoreId,
    extent::{CatalogueBlock, ExtentEntry, ExtentKind, ENTRIES_PER_BLOCK},
    superblock::{Superblock, CATALOGUE_START},
};
use crate::ratelimit::warn_ratelimited;

/// Blocks reserved at once for data (8 MiB) and for metadata (1 MiB).
const DATA_CHUNK: u64 = 2048;
const META_CHUNK: u64 = 256;

/// A run of consecutive blocks.
#[derive(Clone, Copy)]
pub(crate) struct Run {
    pub(crate) first: u64,
    pub(crate) count: u64,
}

/// An extent this host allocates from, with its bitmap as on disk.
struct HeldExtent {
    extent: u32,
    kind: ExtentKind,
    bitmaps: KVec<KBox<BitmapBlock>>,
    /// Where to look for free bits next.
    scan_from: u64,
    full: bool,
    /// The catalogue names this host as the owner: blocks may be
    /// allocated from it, and its bitmap changed.
    owned: bool,
}

impl HeldExtent {
    /// `extent`, holding `kind`, with its bitmap as on disk; full when
    /// every block is used.
    fn new(
        sb: &Superblock,
        extent: u32,
        kind: ExtentKind,
        bitmaps: KVec<KBox<BitmapBlock>>,
        owned: bool,
    ) -> Self {
        let used: u64 = bitmaps.iter().map(|bm| u64::from(bm.count())).sum();
        Self {
            extent,
            kind,
            full: used >= u64::from(sb.extent_blocks),
            bitmaps,
            scan_from: u64::from(sb.bitmap_blocks()),
            owned,
        }
    }
}

pub(crate) struct Allocator {
    sb: Superblock,
    id: StoreId,
    host: u64,
    catalogue: KVec<ExtentEntry>,
    held: KVec<HeldExtent>,
    /// Blocks unlinked by a commit (discard): cleared in the bitmaps at
    /// close, when no I/O to them can be left. Not reused before.
    freed: KVec<Run>,
    buf: MetaBuf,
    /// A catalogue block to encode or decode (too big for the stack).
    scratch: KBox<CatalogueBlock>,
}

impl Allocator {
    /// Reads the catalogue, and adopts again the extents that this host
    /// owned when it last crashed.
    pub(crate) fn open(bios: &BioSet, sb: &Superblock, host: u64) -> Result<Self> {
        let mut buf = MetaBuf::new()?;
        let mut scratch = boxed(CatalogueBlock::default)?;
        let id = sb.store_id();
        let mut catalogue = KVec::with_capacity(sb.extent_count as usize, GFP_NOIO)?;
        for k in 0..sb.catalogue_blocks {
            let nr = CATALOGUE_START + u64::from(k);
            corrupt(CatalogueBlock::decode_into(
                buf.read(bios, nr)?,
                id,
                nr,
                &mut scratch,
            ))?;
            for entry in scratch.entries.iter() {
                if catalogue.len() < sb.extent_count as usize {
                    catalogue.push(*entry, GFP_NOIO)?;
                }
            }
        }
        let mut this = Self {
            sb: *sb,
            id,
            host,
            catalogue,
            held: KVec::new(),
            freed: KVec::new(),
            buf,
            scratch,
        };
        for extent in 1..sb.extent_count {
            let entry = this.entry(extent)?;
            if entry.owner == host && entry.kind != ExtentKind::Free {
                pr_info!(
                    "store: extent {} was held by this host: taken back\n",
                    extent
                );
                this.hold(bios, extent, entry.kind)?;
            }
        }
        Ok(this)
    }

    fn entry(&self, extent: u32) -> Result<ExtentEntry> {
        self.catalogue.get(extent as usize).copied().ok_or(EINVAL)
    }

    /// Records blocks that a commit unlinked, to free at close. Their
    /// extents are held from now on (the bitmap is this host's to change),
    /// unless another host holds them: then the blocks leak to gc.
    pub(crate) fn retire(&mut self, bios: &BioSet, runs: &[Run]) -> Result {
        self.freed.reserve(runs.len(), GFP_NOIO)?;
        for run in runs.iter().filter(|r| r.count != 0) {
            let Some(extent) = self.sb.extent_of(run.first) else {
                continue;
            };
            let entry = self.entry(extent)?;
            let usable = matches!(entry.kind, ExtentKind::Data | ExtentKind::Metadata);
            if !usable || (entry.owner != 0 && entry.owner != self.host) {
                continue;
            }
            if !self.held.iter().any(|h| h.extent == extent) {
                self.hold(bios, extent, entry.kind)?;
            }
            self.own(bios, extent)?;
            self.freed.push(*run, GFP_NOIO)?;
        }
        Ok(())
    }

    /// Marks a chunk of at least `count` free blocks of `kind` used on
    /// disk (durably: written and flushed) and returns it, for the
    /// reserve. Claims an extent first when none has room.
    pub(crate) fn reserve_chunk(
        &mut self,
        bios: &BioSet,
        kind: ExtentKind,
        count: u64,
    ) -> Result<Run> {
        let chunk = match kind {
            ExtentKind::Data => DATA_CHUNK,
            _ => META_CHUNK,
        }
        .max(count);
        loop {
            let found = self
                .held
                .iter_mut()
                .filter(|h| h.kind == kind && h.owned && !h.full)
                .find_map(|h| find_free(h, &self.sb, count, chunk).map(|run| (h.extent, run)));
            if let Some((extent, run)) = found {
                self.mark(bios, extent, run, true)?;
                bios.flush_sync()?;
                return Ok(run);
            }
            self.claim(bios, kind)?;
        }
    }

    /// Sets (or clears) the bits of `run` in `extent`'s bitmap and writes
    /// the bitmap blocks it touches (no flush).
    fn mark(&mut self, bios: &BioSet, extent: u32, run: Run, used: bool) -> Result {
        let start = self.sb.extent_start(extent);
        let held = self
            .held
            .iter_mut()
            .find(|h| h.extent == extent)
            .ok_or(EINVAL)?;
        let first = run.first - start;
        let (first_bm, last_bm) = (
            first / BITS_PER_BLOCK as u64,
            (first + run.count - 1) / BITS_PER_BLOCK as u64,
        );
        for i in first..first + run.count {
            if let Some(bm) = held.bitmaps.get_mut((i / BITS_PER_BLOCK as u64) as usize) {
                bm.set((i % BITS_PER_BLOCK as u64) as usize, used);
            }
        }
        if !used {
            held.full = false;
        }
        for index in first_bm..=last_bm {
            let bm = held.bitmaps.get(index as usize).ok_or(EINVAL)?;
            let nr = start + index;
            bm.encode(self.buf.block_mut()?, self.id, nr);
            self.buf.write(bios, nr, Durability::Cached)?;
        }
        Ok(())
    }

    /// Takes an extent for `kind`: one of that kind with room and no
    /// owner, else a free one.
    fn claim(&mut self, bios: &BioSet, kind: ExtentKind) -> Result {
        for extent in 1..self.sb.extent_count {
            let entry = self.entry(extent)?;
            if entry.owner == 0
                && entry.kind == kind
                && !self.held.iter().any(|h| h.extent == extent)
            {
                self.hold(bios, extent, kind)?;
                let held = self.held.iter().find(|h| h.extent == extent);
                if held.is_some_and(|h| !h.full) {
                    return self.own(bios, extent);
                }
            }
        }
        for extent in 1..self.sb.extent_count {
            if self.entry(extent)?.kind == ExtentKind::Free {
                return self.claim_free(bios, extent, kind);
            }
        }
        warn_ratelimited!("store is full: no free {} extent\n", kind.name());
        Err(ENOSPC)
    }

    /// Claims free `extent`: a fresh bitmap, flushed, then the catalogue.
    fn claim_free(&mut self, bios: &BioSet, extent: u32, kind: ExtentKind) -> Result {
        let nbitmaps = self.sb.bitmap_blocks();
        let mut bitmaps = KVec::with_capacity(nbitmaps as usize, GFP_NOIO)?;
        let start = self.sb.extent_start(extent);
        for index in 0..nbitmaps {
            let mut bm = boxed(|| BitmapBlock::new(extent, index))?;
            // The bitmap blocks themselves are always in use.
            for i in 0..nbitmaps {
                let i = i as usize;
                if i / BITS_PER_BLOCK == index as usize {
                    bm.set(i % BITS_PER_BLOCK, true);
                }
            }
            let nr = start + u64::from(index);
            bm.encode(self.buf.block_mut()?, self.id, nr);
            self.buf.write(bios, nr, Durability::Cached)?;
            bitmaps.push(bm, GFP_NOIO)?;
        }
        bios.flush_sync()?;
        let held = HeldExtent::new(&self.sb, extent, kind, bitmaps, false);
        self.held.push(held, GFP_NOIO)?;
        self.own(bios, extent)
    }

    /// Writes this host as the owner of held `extent`.
    fn own(&mut self, bios: &BioSet, extent: u32) -> Result {
        let host = self.host;
        let held = self
            .held
            .iter_mut()
            .find(|h| h.extent == extent)
            .ok_or(EINVAL)?;
        if held.owned {
            return Ok(());
        }
        held.owned = true;
        let kind = held.kind;
        self.set_owner(bios, extent, kind, host)
    }

    /// Reads `extent`'s bitmap and adds it to the held extents.
    fn hold(&mut self, bios: &BioSet, extent: u32, kind: ExtentKind) -> Result {
        let nbitmaps = self.sb.bitmap_blocks();
        let mut bitmaps = KVec::with_capacity(nbitmaps as usize, GFP_NOIO)?;
        let start = self.sb.extent_start(extent);
        for index in 0..nbitmaps {
            let nr = start + u64::from(index);
            let mut bm = boxed(|| BitmapBlock::new(extent, index))?;
            let block = self.buf.read(bios, nr)?;
            corrupt(BitmapBlock::decode_into(
                block,
                self.id,
                nr,
                extent,
                index,
                self.sb.extent_blocks,
                &mut bm,
            ))?;
            bitmaps.push(bm, GFP_NOIO)?;
        }
        let owned = self.entry(extent)?.owner == self.host;
        let held = HeldExtent::new(&self.sb, extent, kind, bitmaps, owned);
        self.held.push(held, GFP_NOIO)?;
        Ok(())
    }

    /// Writes `extent`'s catalogue entry as `kind` owned by `owner`, and
    /// flushes.
    fn set_owner(&mut self, bios: &BioSet, extent: u32, kind: ExtentKind, owner: u64) -> Result {
        if let Some(entry) = self.catalogue.get_mut(extent as usize) {
            *entry = ExtentEntry { kind, owner };
        }
        let (nr, _) = self.sb.catalogue_pos(extent);
        let k = (nr - CATALOGUE_START) as usize;
        for (i, slot) in self.scratch.entries.iter_mut().enumerate() {
            *slot = self
                .catalogue
                .get(k * ENTRIES_PER_BLOCK + i)
                .copied()
                .unwrap_or(ExtentEntry::FREE);
        }
        self.scratch.encode(self.buf.block_mut()?, self.id, nr);
        self.buf.write(bios, nr, Durability::Cached)?;
        bios.flush_sync()
    }

    /// Clears the unused `reserve` and the freed blocks in the bitmaps,
    /// then the owners: what the last disk of a store does at power-off. Blocks handed out stay
    /// used (the commit before linked or leaked them).
    pub(crate) fn release(&mut self, bios: &BioSet, reserve: &[Run]) -> Result {
        let freed = core::mem::take(&mut self.freed);
        let runs = [reserve, freed.as_slice()];
        for run in runs.iter().flat_map(|r| r.iter()) {
            if run.count == 0 {
                continue;
            }
            let extent = self.sb.extent_of(run.first);
            let last = self.sb.extent_of(run.first + run.count - 1);
            // Blocks of extents this host does not hold stay used: gc
            // reclaims them.
            match extent {
                Some(e) if last == extent && self.held.iter().any(|h| h.extent == e && h.owned) => {
                    self.mark(bios, e, *run, false)?
                }
                _ => {}
            }
        }
        bios.flush_sync()?;
        let held: KVec<(u32, ExtentKind)> = {
            let mut v = KVec::with_capacity(self.held.len(), GFP_NOIO)?;
            for h in self.held.iter().filter(|h| h.owned) {
                v.push((h.extent, h.kind), GFP_NOIO)?;
            }
            v
        };
        for (extent, kind) in held.iter() {
            self.set_owner(bios, *extent, *kind, 0)?;
        }
        self.held = KVec::new();
        Ok(())
    }
}

/// Finds up to `chunk` (at least `count`) free consecutive blocks in
/// `held`, and marks the extent full when it has no such run.
fn find_free(held: &mut HeldExtent, sb: &Superblock, count: u64, chunk: u64) -> Option<Run> {
    let blocks = u64::from(sb.extent_blocks);
    let start = sb.extent_start(held.extent);
    let bit = |h: &HeldExtent, i: u64| {
        h.bitmaps
            .get((i / BITS_PER_BLOCK as u64) as usize)
            .map_or(true, |bm| bm.get((i % BITS_PER_BLOCK as u64) as usize))
    };
    // Two passes: from the hint to the end, then from the start.
    for (from, to) in [(held.scan_from, blocks), (0, held.scan_from.min(blocks))] {
        let mut i = from;
        while i < to {
            if bit(held, i) {
                i += 1;
                continue;
            }
            let mut n = 1;
            while i + n < blocks && n < chunk && !bit(held, i + n) {
                n += 1;
            }
            if n >= count {
                held.scan_from = i + n;
                return Some(Run {
                    first: start + i,
                    count: n,
                });
            }
            i += n;
        }
    }
    held.full = true;
    None
}

/// Blocks marked used on disk and not handed out yet, by kind: taken
/// without I/O, under a spinlock (never held across metadata I/O).
pub(crate) struct Reserve {
    data: KVec<Run>,
    meta: KVec<Run>,
}

impl Reserve {
    /// Runs kept per kind without allocating.
    const SLOTS: usize = 64;

    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            data: KVec::with_capacity(Self::SLOTS, GFP_KERNEL)?,
            meta: KVec::with_capacity(Self::SLOTS, GFP_KERNEL)?,
        })
    }

    fn runs(&mut self, kind: ExtentKind) -> &mut KVec<Run> {
        match kind {
            ExtentKind::Data => &mut self.data,
            _ => &mut self.meta,
        }
    }

    /// `count` consecutive blocks of `kind`, if a run has them.
    pub(crate) fn take(&mut self, kind: ExtentKind, count: u64) -> Option<u64> {
        if count == 0 {
            return Some(0);
        }
        let run = self.runs(kind).iter_mut().find(|r| r.count >= count)?;
        let first = run.first;
        run.first += count;
        run.count -= count;
        Some(first)
    }

    /// Adds `run` (a new chunk, or blocks given back unused), merged with
    /// a run it continues. Allocates only when every slot is taken.
    pub(crate) fn put(&mut self, kind: ExtentKind, run: Run) -> Result {
        if run.count == 0 {
            return Ok(());
        }
        let runs = self.runs(kind);
        for r in runs.iter_mut() {
            if r.count != 0 && r.first + r.count == run.first {
                r.count += run.count;
                return Ok(());
            }
        }
        if let Some(slot) = runs.iter_mut().find(|r| r.count == 0) {
            *slot = run;
            return Ok(());
        }
        runs.push(run, GFP_ATOMIC)?;
        Ok(())
    }

    /// Unused blocks of `kind`.
    pub(crate) fn free(&self, kind: ExtentKind) -> u64 {
        let runs = match kind {
            ExtentKind::Data => &self.data,
            _ => &self.meta,
        };
        runs.iter().map(|r| r.count).sum()
    }

    /// Empties the reserve, for the release at close.
    pub(crate) fn take_all(&mut self) -> (KVec<Run>, KVec<Run>) {
        (
            core::mem::take(&mut self.data),
            core::mem::take(&mut self.meta),
        )
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Metadata block I/O: synchronous, from a context that may sleep
//! (attach, the disk's worker, commits); one 4 KiB block at a time, or a
//! batch of blocks in flight together (commits). Blocks
//! are decoded and sealed by the shared format module only.

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{
    alloc::flags::GFP_NOIO,
    block::bio::{BioSet, Durability, EndIo},
    page::Page,
    prelude::*,
};

use crate::format::block::{Block, BLOCK_SIZE};
use crate::ratelimit::{errname, warn_ratelimited};

/// Metadata blocks written since the module was loaded, by every store:
/// `stats` shows it, so that the metadata cost of a workload can be
/// measured.
static META_WRITES: AtomicU64 = AtomicU64::new(0);

/// Metadata blocks written since the module was loaded.
pub(crate) fn meta_writes() -> u64 {
    META_WRITES.load(Ordering::Relaxed)
}

/// Sectors (512 bytes) per store block.
pub(crate) const SECTORS_PER_BLOCK: u64 = (BLOCK_SIZE / 512) as u64;

/// A buffer for one metadata block: the page the bio reads or writes, and
/// the block's bytes as the format module sees them.
pub(crate) struct MetaBuf {
    page: Page,
    bytes: KVec<u8>,
}

impl MetaBuf {
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            page: Page::alloc_page(GFP_NOIO)?,
            bytes: KVec::from_elem(0u8, BLOCK_SIZE, GFP_NOIO)?,
        })
    }

    /// The block's bytes.
    pub(crate) fn block(&self) -> Result<&Block> {
        self.bytes.as_slice().try_into().map_err(|_| EINVAL)
    }

    /// The block's bytes, to encode into before [`MetaBuf::write`].
    pub(crate) fn block_mut(&mut self) -> Result<&mut Block> {
        self.bytes.as_mut_slice().try_into().map_err(|_| EINVAL)
    }

    /// Reads block `nr` of the device into the buffer.
    pub(crate) fn read(&mut self, bios: &BioSet, nr: u64) -> Result<&Block> {
        let sector = nr.checked_mul(SECTORS_PER_BLOCK).ok_or(EINVAL)?;
        bios.read_page_sync(&mut self.page, sector)
            .inspect_err(|e| {
                warn_ratelimited!("metadata block {}: read failed: {}\n", nr, errname(*e));
            })?;
        // SAFETY: `bytes` holds `BLOCK_SIZE` bytes, the size of a page.
        unsafe {
            self.page.read_raw(self.bytes.as_mut_ptr(), 0, BLOCK_SIZE)?;
        }
        self.block()
    }

    /// Writes the buffer to block `nr`, as durable as `durability` says.
    pub(crate) fn write(&mut self, bios: &BioSet, nr: u64, durability: Durability) -> Result {
        let sector = self.stage(nr)?;
        written(nr, bios.write_page_sync(&self.page, sector, durability))
    }

    /// [`MetaBuf::write`], and `E::end_io` gets `context` and the write's
    /// status from its completion, before this returns (with the error
    /// at once if it never went down).
    pub(crate) fn write_with<E: EndIo>(
        &mut self,
        bios: &BioSet,
        nr: u64,
        durability: Durability,
        context: E::Context,
    ) -> Result {
        let sector = match self.stage(nr) {
            Ok(sector) => sector,
            Err(e) => {
                E::end_io(context, Err(e));
                return Err(e);
            }
        };
        let status = bios.write_page_sync_with::<E>(&self.page, sector, durability, context);
        written(nr, status)
    }

    /// Copies the block's bytes into the page for a write to block `nr`;
    /// returns the block's first sector.
    fn stage(&mut self, nr: u64) -> Result<u64> {
        let sector = nr.checked_mul(SECTORS_PER_BLOCK).ok_or(EINVAL)?;
        // SAFETY: `bytes` holds `BLOCK_SIZE` bytes, the size of a page.
        unsafe {
            self.page.write_raw(self.bytes.as_ptr(), 0, BLOCK_SIZE)?;
        }
        Ok(sector)
    }
}

/// Counts a metadata block written to `nr`, or says it failed.
fn written(nr: u64, status: Result) -> Result {
    status
        .inspect(|()| {
            META_WRITES.fetch_add(1, Ordering::Relaxed);
        })
        .inspect_err(|e| {
            warn_ratelimited!("metadata block {}: write failed: {}\n", nr, errname(*e));
        })
}

/// Metadata blocks written together: encoded one by one (under a lock if
/// need be), then written at once, in flight together, and waited for.
pub(crate) struct MetaBatch {
    pages: KVec<Page>,
    sectors: KVec<u64>,
    bytes: KVec<u8>,
}

impl MetaBatch {
    /// Blocks per batch.
    const SIZE: usize = 32;

    pub(crate) fn new() -> Result<Self> {
        let mut pages = KVec::with_capacity(Self::SIZE, GFP_NOIO)?;
        for _ in 0..Self::SIZE {
            pages.push(Page::alloc_page(GFP_NOIO)?, GFP_NOIO)?;
        }
        Ok(Self {
            pages,
            sectors: KVec::with_capacity(Self::SIZE, GFP_NOIO)?,
            bytes: KVec::from_elem(0u8, BLOCK_SIZE, GFP_NOIO)?,
        })
    }

    /// No room for another block: write the batch first.
    pub(crate) fn is_full(&self) -> bool {
        self.sectors.len() >= Self::SIZE
    }

    /// Adds block `nr`, encoded by `encode`. Does not sleep.
    pub(crate) fn add(&mut self, nr: u64, encode: impl FnOnce(&mut Block)) -> Result {
        let sector = nr.checked_mul(SECTORS_PER_BLOCK).ok_or(EINVAL)?;
        let page = self.pages.get(self.sectors.len()).ok_or(ENOSPC)?;
        let block: &mut Block = self.bytes.as_mut_slice().try_into().map_err(|_| EINVAL)?;
        encode(block);
        // SAFETY: `bytes` holds `BLOCK_SIZE` bytes, the size of a page.
        unsafe { page.write_raw(self.bytes.as_ptr(), 0, BLOCK_SIZE)? };
        // Cannot fail: the capacity is `SIZE` and the batch is not full.
        self.sectors.push(sector, GFP_NOIO)?;
        Ok(())
    }

    /// Writes the blocks added (no flush) and empties the batch.
    pub(crate) fn write(&mut self, bios: &BioSet) -> Result {
        let mut list = KVec::with_capacity(self.sectors.len(), GFP_NOIO)?;
        for (page, &sector) in self.pages.iter().zip(self.sectors.iter()) {
            list.push((page, sector), GFP_NOIO)?;
        }
        let count = list.len() as u64;
        let result = bios.write_pages_sync(&list);
        if result.is_ok() {
            META_WRITES.fetch_add(count, Ordering::Relaxed);
        }
        drop(list);
        self.sectors = KVec::with_capacity(Self::SIZE, GFP_NOIO)?;
        result.inspect_err(|e| {
            warn_ratelimited!(
                "metadata: writing {} blocks failed: {}\n",
                count,
                errname(*e)
            );
        })
    }
}

/// A heap copy of what `make` returns. The 4 KiB blocks of the format
/// go through this so that their temporary stays in this small frame: the
/// kernel stack (16 KiB) cannot hold several of them in one caller's.
#[inline(never)]
pub(crate) fn boxed<T>(make: impl FnOnce() -> T) -> Result<KBox<T>> {
    Ok(KBox::new(make(), GFP_NOIO)?)
}

/// Turns a format decoder's error into `EIO`, with one dmesg line that
/// names the block (the error's text starts with it).
pub(crate) fn corrupt<T>(
    result: core::result::Result<T, crate::format::block::FormatError>,
) -> Result<T> {
    result.map_err(|e| {
        warn_ratelimited!("corrupt metadata: {}\n", e);
        EIO
    })
}

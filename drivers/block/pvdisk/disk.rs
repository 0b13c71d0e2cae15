// SPDX-License-Identifier: GPL-2.0

//! Making and removing `/dev/pvdiskN`.

use kernel::{
    alloc::flags::GFP_KERNEL,
    block::{
        bdev::BdevFile,
        mq::{gen_disk::GenDisk, gen_disk::GenDiskBuilder, TagSet},
    },
    prelude::*,
    sync::Arc,
};

use crate::io::{Backend, PassThrough};

/// The block size pvdisk exposes: the store's block size.
const BLOCK_SIZE: u32 = 4096;
const SECTORS_PER_BLOCK: u64 = BLOCK_SIZE as u64 / 512;

/// Requests in flight per disk.
const QUEUE_DEPTH: u32 = 128;

/// Largest request, in sectors: 1 MiB, so sequential I/O is not chopped
/// into the block layer's default 128 KiB; the backing device splits
/// further if its own limit is lower.
const MAX_REQUEST_SECTORS: u32 = 2048;

/// A powered disk: `/dev/pvdisk<index>` over its backing device.
pub(crate) struct Disk {
    gendisk: GenDisk<PassThrough>,
    backend: Arc<Backend>,
    index: usize,
}

impl Disk {
    /// Create `/dev/pvdisk<index>` passing I/O through to `backing`.
    pub(crate) fn create(index: usize, backing: BdevFile) -> Result<Self> {
        let bdev = backing.bdev();
        // Whole blocks only: a partial block at the end is not addressable.
        let sectors = bdev.nr_sectors() / SECTORS_PER_BLOCK * SECTORS_PER_BLOCK;
        if sectors == 0 || bdev.logical_block_size() > BLOCK_SIZE {
            return Err(EINVAL);
        }
        let fua = bdev.fua();
        let discard_sectors = bdev.max_discard_sectors();
        let discard_granularity = bdev.discard_granularity();
        let write_zeroes_sectors = bdev.max_write_zeroes_sectors();
        let backend = Arc::pin_init(Backend::new(backing), GFP_KERNEL)?;
        let tagset = Arc::pin_init(TagSet::new_blocking(1, QUEUE_DEPTH, 1), GFP_KERNEL)?;
        let gendisk = GenDiskBuilder::new()
            .capacity_sectors(sectors)
            .logical_block_size(BLOCK_SIZE)?
            .physical_block_size(BLOCK_SIZE)?
            .rotational(false)
            .max_hw_sectors(MAX_REQUEST_SECTORS)
            .write_cache(true)
            // FUA only if the backing device does it. Without, the block
            // layer emulates it here (write, then flush) instead of below:
            // the same cost, but every backing flush is then one of ours.
            .fua(fua)
            // Pass-through: discard and write-zeroes go down as they are,
            // so the disk offers what the backing device offers.
            .max_discard_sectors(discard_sectors)
            .discard_granularity(discard_granularity)
            .max_write_zeroes_sectors(write_zeroes_sectors)
            .build(format_args!("pvdisk{}", index), tagset, backend.clone())?;
        Ok(Self {
            gendisk,
            backend,
            index,
        })
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// Refuse new opens, unless the disk is open (`EBUSY`): what power-off
    /// does before removing the disk.
    pub(crate) fn close(&self) -> Result {
        self.gendisk.try_close()
    }

    /// Test hook: the next `count` requests are requeued as if bios ran out.
    pub(crate) fn inject_allocation_failures(&self, count: u32) {
        self.backend.inject_allocation_failures(count);
    }

    /// Injected allocation failures not yet consumed by a request.
    pub(crate) fn pending_allocation_failures(&self) -> u32 {
        self.backend.pending_allocation_failures()
    }
}

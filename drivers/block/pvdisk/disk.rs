// SPDX-License-Identifier: GPL-2.0

//! Making and removing `/dev/pvdiskN`.

use kernel::{
    alloc::flags::GFP_KERNEL,
    block::{
        bdev::BdevFile,
        bio::BioSet,
        mq::gen_disk::{GenDisk, GenDiskBuilder},
    },
    prelude::*,
    sync::{Arc, Completion},
    time::msecs_to_jiffies,
};

use crate::io::{Backend, DiskOps, Target};
use crate::vdi::Vdi;

/// The block size pvdisk exposes: the store's block size.
const BLOCK_SIZE: u32 = 4096;
const SECTORS_PER_BLOCK: u64 = BLOCK_SIZE as u64 / 512;

/// Largest request, in sectors: 1 MiB, so sequential I/O is not chopped
/// into the block layer's default 128 KiB; the backing device splits
/// further if its own limit is lower.
const MAX_REQUEST_SECTORS: u32 = 2048;

/// Bios kept in reserve for a raw disk's device.
const BIO_POOL_SIZE: u32 = 64;

/// Longest wait in [`Disk::remove`] for the backend to be dropped: a
/// reference held longer (not by a racing open) is left to drop it.
const RELEASE_WAIT_MS: u32 = 5000;

/// Completes a [`Completion`] when dropped, which the disk's removal
/// waits for: the last field of the backend.
pub(crate) struct ReleaseOnDrop(Arc<Completion>);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        self.0.complete_all();
    }
}

/// What a disk is made from.
pub(crate) enum Source {
    /// Pass-through of the raw device.
    Raw(BdevFile),
    /// A VDI (or snapshot) of a store.
    Vdi(Arc<Vdi>),
}

/// A powered disk: `/dev/pvdisk<index>`.
pub(crate) struct Disk {
    gendisk: GenDisk<DiskOps>,
    backend: Arc<Backend>,
    index: usize,
    /// Completed when the backend is gone.
    released: Arc<Completion>,
}

impl Disk {
    /// Create `/dev/pvdisk<index>` over `source`.
    pub(crate) fn create(index: usize, source: Source) -> Result<Self> {
        let mut builder = GenDiskBuilder::new()
            .logical_block_size(BLOCK_SIZE)?
            .physical_block_size(BLOCK_SIZE)?
            .rotational(false)
            .max_hw_sectors(MAX_REQUEST_SECTORS)
            .write_cache(true);
        let target = match source {
            Source::Raw(backing) => {
                let bdev = backing.bdev();
                // Whole blocks only: a partial block at the end is not addressable.
                let sectors = bdev.nr_sectors() / SECTORS_PER_BLOCK * SECTORS_PER_BLOCK;
                if sectors == 0 || bdev.logical_block_size() > BLOCK_SIZE {
                    return Err(EINVAL);
                }
                // FUA as the backing device has it. A bio-based disk gets
                // `REQ_FUA` either way (the block layer emulates FUA only
                // for blk-mq disks): the clone carries it down, where the
                // device does it or emulates it. Discard and write-zeroes
                // go down as they are.
                builder = builder
                    .capacity_sectors(sectors)
                    .fua(bdev.fua())
                    .max_discard_sectors(bdev.max_discard_sectors())
                    .discard_granularity(bdev.discard_granularity())
                    .max_write_zeroes_sectors(bdev.max_write_zeroes_sectors());
                Target::Raw(KBox::pin_init(
                    BioSet::new(backing, BIO_POOL_SIZE),
                    GFP_KERNEL,
                )?)
            }
            Source::Vdi(vdi) => {
                let bdev = vdi.store.bios.target();
                if bdev.logical_block_size() > BLOCK_SIZE {
                    return Err(EINVAL);
                }
                builder = builder
                    .capacity_sectors(vdi.size() / 512)
                    .fua(bdev.fua())
                    .read_only(vdi.read_only);
                if !vdi.read_only {
                    // Both unmap: the range reads as zeros afterwards.
                    builder = builder
                        .max_discard_sectors(MAX_REQUEST_SECTORS)
                        .discard_granularity(BLOCK_SIZE)
                        .max_write_zeroes_sectors(MAX_REQUEST_SECTORS);
                }
                Target::Vdi(vdi)
            }
        };
        let released = Arc::pin_init(Completion::new(), GFP_KERNEL)?;
        let backend = Arc::new(
            Backend::new(target, ReleaseOnDrop(released.clone())),
            GFP_KERNEL,
        )?;
        let gendisk = builder.build_bio_based(format_args!("pvdisk{}", index), backend.clone())?;
        Ok(Self {
            gendisk,
            backend,
            index,
            released,
        })
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// The VDI the disk shows, if it is not a raw pass-through.
    pub(crate) fn vdi(&self) -> Option<&Arc<Vdi>> {
        match &self.backend.target {
            Target::Vdi(vdi) => Some(vdi),
            Target::Raw(_) => None,
        }
    }

    /// Refuse new opens, unless the disk is open (`EBUSY`): what power-off
    /// does before removing the disk.
    pub(crate) fn close(&self) -> Result {
        self.gendisk.try_close()
    }

    /// Removes the disk (waiting for its requests), and gives back the VDI
    /// it showed, if any, for the caller to detach.
    ///
    /// The disk's last reference, and with it its backend (the raw
    /// device's bio set, or its share of the VDI), can outlive the
    /// removal: an open failing against the removed disk holds one for a
    /// moment. So this waits for the backend to go, up to
    /// [`RELEASE_WAIT_MS`]: a power-off that returned has let go of the
    /// raw device, and a power-on right after can open it exclusively.
    pub(crate) fn remove(self) -> Option<Arc<Vdi>> {
        let vdi = self.vdi().cloned();
        let Self {
            gendisk,
            backend,
            released,
            ..
        } = self;
        drop(gendisk);
        drop(backend);
        // Done, timed out or interrupted by a signal: either way the
        // removal is complete; only the device may be let go later.
        let _ =
            released.wait_for_completion_interruptible_timeout(msecs_to_jiffies(RELEASE_WAIT_MS));
        vdi
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

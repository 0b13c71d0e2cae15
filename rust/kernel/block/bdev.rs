// SPDX-License-Identifier: GPL-2.0

//! Opening another block device, for drivers that stack on one.
//!
//! C header: [`include/linux/blkdev.h`](srctree/include/linux/blkdev.h)

use crate::{
    alloc::{flags::GFP_KERNEL, KBox},
    bindings,
    error::from_err_ptr,
    error::Result,
    str::CStr,
    types::Opaque,
};
use core::{
    ptr::NonNull,
    sync::atomic::{AtomicBool, Ordering},
};

/// A borrowed `struct block_device`.
///
/// # Invariants
///
/// `self.0` is a valid, open block device for the lifetime of the borrow.
#[repr(transparent)]
pub struct BlockDevice(Opaque<bindings::block_device>);

impl BlockDevice {
    /// The raw pointer, for the block layer.
    #[inline]
    pub fn as_ptr(&self) -> *mut bindings::block_device {
        self.0.get()
    }

    /// The size of the device in 512-byte sectors.
    pub fn nr_sectors(&self) -> u64 {
        // SAFETY: By type invariant the device is valid. The size may change
        // under us (a resize); a racy read gives the old or the new size.
        unsafe { core::ptr::read_volatile(&(*self.0.get()).bd_nr_sectors) }
    }

    /// The smallest unit the device can address, in bytes.
    pub fn logical_block_size(&self) -> u32 {
        // SAFETY: By type invariant the device is valid and an open device
        // has a queue.
        unsafe { (*(*self.0.get()).bd_queue).limits.logical_block_size }
    }

    /// Whether the device does `REQ_FUA` writes itself; without, the block
    /// layer emulates them with a flush after the write.
    pub fn fua(&self) -> bool {
        // SAFETY: As in `logical_block_size`. Features may be updated under
        // us; a racy read gives the old or the new value.
        let features =
            unsafe { core::ptr::read_volatile(&(*(*self.0.get()).bd_queue).limits.features) };
        features & bindings::BLK_FEAT_FUA != 0
    }

    /// The largest discard the device takes, in 512-byte sectors; zero if
    /// it cannot discard.
    pub fn max_discard_sectors(&self) -> u32 {
        // SAFETY: By type invariant the device is valid and an open device
        // has a queue. Limits may be updated under us; a racy read gives
        // the old or the new value.
        unsafe { core::ptr::read_volatile(&(*(*self.0.get()).bd_queue).limits.max_discard_sectors) }
    }

    /// The device's unit of discard, in bytes; zero if it cannot discard.
    pub fn discard_granularity(&self) -> u32 {
        // SAFETY: As in `max_discard_sectors`.
        unsafe { core::ptr::read_volatile(&(*(*self.0.get()).bd_queue).limits.discard_granularity) }
    }

    /// The largest `REQ_OP_WRITE_ZEROES` the device takes, in 512-byte
    /// sectors; zero if it has no such command.
    pub fn max_write_zeroes_sectors(&self) -> u32 {
        // SAFETY: As in `max_discard_sectors`.
        unsafe {
            core::ptr::read_volatile(&(*(*self.0.get()).bd_queue).limits.max_write_zeroes_sectors)
        }
    }
}

/// Check that `path` names a block device, without opening it.
///
/// Fails with `ENOENT` if `path` does not exist and `ENOTBLK` if it is not a
/// block device.
pub fn lookup(path: &CStr) -> Result {
    let mut dev: bindings::dev_t = 0;
    // SAFETY: `path` is a valid NUL-terminated string and `dev` is writable.
    crate::error::to_result(unsafe { bindings::lookup_bdev(path.as_char_ptr(), &mut dev) })
}

/// A block device opened by path for reading and writing, exclusively.
///
/// While it is open, nobody else can open the device exclusively (a
/// mount, another stacking driver, `O_EXCL`): they get `EBUSY`, and so
/// does this open if someone else holds it. If the device goes away
/// meanwhile (its driver removes it), [`BdevFile::is_dead`] says so; I/O
/// to it fails from then on.
///
/// # Invariants
///
/// - `self.file` is a file returned by `bdev_file_open_by_path`, owned by
///   `self` and released with `bdev_fput`.
/// - `self.holder` is the holder the file was opened with, alive until
///   `bdev_fput` returned.
pub struct BdevFile {
    file: NonNull<bindings::file>,
    holder: NonNull<Holder>,
}

/// What the block layer hands back to [`HOLDER_OPS`]: the device's
/// `bd_holder` while we hold it.
struct Holder {
    dead: AtomicBool,
}

/// Told by the block layer about the held device.
static HOLDER_OPS: bindings::blk_holder_ops = bindings::blk_holder_ops {
    mark_dead: Some(mark_dead_callback),
    sync: None,
    freeze: None,
    thaw: None,
};

/// Called by the block layer when the held device goes away, with the
/// device's `bd_holder_lock` held, which it must release.
///
/// # Safety
///
/// `bdev` is a device opened by [`BdevFile::open_exclusive`], whose
/// `bd_holder` is that file's [`Holder`]: the claim is given up under
/// `bd_holder_lock` in `bdev_fput`, before the holder is freed.
unsafe extern "C" fn mark_dead_callback(bdev: *mut bindings::block_device, _surprise: bool) {
    // SAFETY: By the safety requirements `bd_holder` is a live `Holder`.
    unsafe {
        (*(*bdev).bd_holder.cast::<Holder>())
            .dead
            .store(true, Ordering::Release)
    };
    // SAFETY: The block layer called us with the lock held, for us to drop.
    unsafe { bindings::mutex_unlock(&raw mut (*bdev).bd_holder_lock) };
}

// SAFETY: The open file may be used and released from any thread; the
// holder is only touched atomically.
unsafe impl Send for BdevFile {}
// SAFETY: `&BdevFile` only gives access to thread-safe block layer objects
// and an atomic flag.
unsafe impl Sync for BdevFile {}

impl BdevFile {
    /// Open the block device at `path` for reading and writing, exclusively.
    ///
    /// Fails with `ENOENT` if `path` does not exist, `ENOTBLK` if it is not a
    /// block device, `EBUSY` if someone holds the device exclusively.
    pub fn open_exclusive(path: &CStr) -> Result<Self> {
        let mode = bindings::BLK_OPEN_READ | bindings::BLK_OPEN_WRITE;
        let holder = KBox::into_raw(KBox::new(
            Holder {
                dead: AtomicBool::new(false),
            },
            GFP_KERNEL,
        )?);
        // SAFETY: `holder` came from `KBox::into_raw` just above.
        let holder = unsafe { NonNull::new_unchecked(holder) };
        // SAFETY: `path` is a valid NUL-terminated string; `holder` is ours
        // and stays alive while the file is open (type invariant), as
        // `HOLDER_OPS` requires.
        let file = from_err_ptr(unsafe {
            bindings::bdev_file_open_by_path(
                path.as_char_ptr(),
                mode,
                holder.as_ptr().cast(),
                &HOLDER_OPS,
            )
        });
        match file.map(NonNull::new) {
            // INVARIANT: `bdev_file_open_by_path` returned a valid open file
            // held by `holder`.
            Ok(Some(file)) => Ok(Self { file, holder }),
            other => {
                // SAFETY: The open failed, so the block layer does not know
                // `holder`.
                drop(unsafe { KBox::from_raw(holder.as_ptr()) });
                Err(other.err().unwrap_or(crate::error::code::ENODEV))
            }
        }
    }

    /// The opened block device.
    #[inline]
    pub fn bdev(&self) -> &BlockDevice {
        // SAFETY: By type invariant the file is an open block device file;
        // `file_bdev` returns its device, valid while the file is open, which
        // the borrow of `self` guarantees.
        unsafe { &*bindings::file_bdev(self.file.as_ptr()).cast::<BlockDevice>() }
    }

    /// Whether the device went away (was removed by its driver) since it
    /// was opened. The device stays open, but all I/O to it fails.
    #[inline]
    pub fn is_dead(&self) -> bool {
        // SAFETY: By type invariant the holder is alive while `self` is.
        unsafe { self.holder.as_ref() }.dead.load(Ordering::Acquire)
    }
}

impl Drop for BdevFile {
    fn drop(&mut self) {
        // SAFETY: By type invariant we own the file. `bdev_fput` gives up
        // the exclusive claim at once, so the device can be reopened as soon
        // as this returns, and `mark_dead_callback` cannot run any more.
        unsafe { bindings::bdev_fput(self.file.as_ptr()) };
        // SAFETY: The holder came from `KBox::into_raw` in `open_exclusive`;
        // the block layer no longer knows it.
        drop(unsafe { KBox::from_raw(self.holder.as_ptr()) });
    }
}

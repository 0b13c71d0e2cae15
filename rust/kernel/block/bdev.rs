// SPDX-License-Identifier: GPL-2.0

//! Opening another block device, for drivers that stack on one.
//!
//! C header: [`include/linux/blkdev.h`](srctree/include/linux/blkdev.h)

use crate::{bindings, error::from_err_ptr, error::Result, str::CStr, types::Opaque};
use core::ptr::NonNull;

/// A borrowed `struct block_device`.
///
/// # Invariants
///
/// `self.0` is a valid, open block device for the lifetime of the borrow.
#[repr(transparent)]
pub struct BlockDevice(Opaque<bindings::block_device>);

impl BlockDevice {
    /// The raw pointer, for the block layer.
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
/// does this open if someone else holds it.
///
/// # Invariants
///
/// `self.file` is a file returned by `bdev_file_open_by_path`, owned by
/// `self` and released with `bdev_fput`.
pub struct BdevFile {
    file: NonNull<bindings::file>,
}

// SAFETY: The open file may be used and released from any thread.
unsafe impl Send for BdevFile {}
// SAFETY: `&BdevFile` only gives access to thread-safe block layer objects.
unsafe impl Sync for BdevFile {}

impl BdevFile {
    /// Open the block device at `path` for reading and writing, exclusively
    /// for `holder` (any object that identifies the user).
    ///
    /// Fails with `ENOENT` if `path` does not exist, `ENOTBLK` if it is not a
    /// block device, `EBUSY` if someone holds the device exclusively.
    pub fn open_exclusive<H>(path: &CStr, holder: &H) -> Result<Self> {
        let mode = bindings::BLK_OPEN_READ | bindings::BLK_OPEN_WRITE;
        let holder: *const H = holder;
        // SAFETY: `path` is a valid NUL-terminated string; `holder` is only
        // used as an identity by the block layer. A null `hops` is allowed.
        let file = from_err_ptr(unsafe {
            bindings::bdev_file_open_by_path(
                path.as_char_ptr(),
                mode,
                holder.cast_mut().cast(),
                core::ptr::null(),
            )
        })?;
        // INVARIANT: `bdev_file_open_by_path` returned a valid open file.
        NonNull::new(file)
            .map(|file| Self { file })
            .ok_or(crate::error::code::ENODEV)
    }

    /// The opened block device.
    pub fn bdev(&self) -> &BlockDevice {
        // SAFETY: By type invariant the file is an open block device file;
        // `file_bdev` returns its device, valid while the file is open, which
        // the borrow of `self` guarantees.
        unsafe { &*bindings::file_bdev(self.file.as_ptr()).cast::<BlockDevice>() }
    }
}

impl Drop for BdevFile {
    fn drop(&mut self) {
        // SAFETY: By type invariant we own the file. `bdev_fput` gives up
        // the exclusive claim at once, so the device can be reopened as soon
        // as this returns.
        unsafe { bindings::bdev_fput(self.file.as_ptr()) };
    }
}

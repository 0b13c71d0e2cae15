// SPDX-License-Identifier: GPL-2.0

//! Block I/O on a store: a regular file or a block device, with
//! pread/pwrite of whole 4 KiB blocks.
//!
//! Opening a store also locks it (`flock`, through std's `File::lock`):
//! shared for commands that only read, exclusive for commands that change
//! it, on files and block devices alike, so two `pvdisk` processes never
//! interleave their writes. A busy store is refused with one sentence, or
//! waited for.

use crate::error::{Error, Result};
use crate::format::{Block, BLOCK_SIZE};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};

/// `O_EXCL` on Linux (no libc crate at runtime).
const O_EXCL: i32 = 0o200;
/// `EBUSY` on Linux.
const EBUSY: i32 = 16;
use std::path::{Path, PathBuf};

/// Whole-block I/O on a store: all that the store's layers (allocator,
/// node cache, commit) need from a device. [`Dev`] is the real one (a
/// file or a block device); [`crate::journal::Journal`] wraps another and
/// records every write and sync for the crash tests.
pub trait BlockIo: Send + Sync + std::fmt::Debug {
    /// Device size in blocks.
    fn blocks(&self) -> u64;

    /// Reads consecutive blocks starting at `nr` into `buf` (a multiple
    /// of the block size).
    fn read_blocks(&self, nr: u64, buf: &mut [u8]) -> Result<()>;

    /// Writes block `nr`.
    fn write_block(&self, nr: u64, buf: &Block) -> Result<()>;

    /// Makes everything written so far durable.
    fn sync(&self) -> Result<()>;

    /// Marks an ordering point without making anything durable (stores
    /// opened without durability, in tests).
    fn barrier(&self) {}

    /// True if `path` names this very device (see [`Dev::is_same_file`]).
    fn is_same_file(&self, _path: &Path) -> bool {
        false
    }

    /// Reads block `nr`.
    fn read_block(&self, nr: u64, buf: &mut Block) -> Result<()> {
        self.read_blocks(nr, buf)
    }
}

/// An open store device.
#[derive(Debug)]
pub struct Dev {
    file: File,
    path: PathBuf,
    blocks: u64,
    writable: bool,
}

impl Dev {
    /// Opens `path` for reading, and writing if `write`, and locks it:
    /// shared for reading, exclusive for writing. A lock held by another
    /// process is an error, or is waited for if `wait`.
    ///
    /// A block device opened for writing is opened with `O_EXCL`, which
    /// the kernel refuses while a driver, a mount or another exclusive
    /// opener holds the device: the tool never writes behind a live
    /// driver's back. A block device opened for reading is opened plainly,
    /// so the commands that only read work beside a live driver.
    pub fn open(path: &Path, write: bool, wait: bool) -> Result<Dev> {
        Dev::open_unless_claimed(path, write, wait)?.ok_or_else(|| {
            Error::Busy(format!(
                "{}: device is busy (held by a driver or a mount); detach it first",
                path.display()
            ))
        })
    }

    /// Like [`Dev::open`], but `Ok(None)` when `path` is a block device
    /// that the kernel refuses to open exclusively for writing (`EBUSY`:
    /// a driver or a mount has claimed it), so that the caller can say
    /// who holds the store.
    ///
    /// A block device's page cache is dropped at open (`POSIX_FADV_DONTNEED`):
    /// the driver writes around it, so pages cached by an earlier command
    /// may be older than what the driver has committed since.
    pub fn open_unless_claimed(path: &Path, write: bool, wait: bool) -> Result<Option<Dev>> {
        let bdev = std::fs::metadata(path)
            .map(|m| m.file_type().is_block_device())
            .unwrap_or(false);
        let mut opts = OpenOptions::new();
        opts.read(true).write(write);
        if write && bdev {
            opts.custom_flags(O_EXCL);
        }
        let mut file = match opts.open(path) {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(EBUSY) && write && bdev => return Ok(None),
            Err(e) => return Err(Error::io(path.display(), e)),
        };
        lock(&file, path, write, wait)?;
        if bdev {
            crate::sys::drop_cache(&file);
        }
        // Works for block devices too, where metadata().len() is 0.
        let bytes = file
            .seek(SeekFrom::End(0))
            .map_err(|e| Error::io(path.display(), e))?;
        Ok(Some(Dev {
            file,
            path: path.to_path_buf(),
            blocks: bytes / BLOCK_SIZE as u64,
            writable: write,
        }))
    }

    /// True if `path` names this very store: the same inode (a hard or
    /// symbolic link, another path) or the same block device.
    pub fn is_same_file(&self, path: &Path) -> bool {
        let (Ok(mine), Ok(other)) = (self.file.metadata(), std::fs::metadata(path)) else {
            return false;
        };
        same_file(&mine, &other)
    }

    /// Path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True if opened for writing.
    pub fn writable(&self) -> bool {
        self.writable
    }
}

impl BlockIo for Dev {
    fn blocks(&self) -> u64 {
        self.blocks
    }

    fn read_blocks(&self, nr: u64, buf: &mut [u8]) -> Result<()> {
        let n = buf.len() as u64 / BLOCK_SIZE as u64;
        if nr.checked_add(n).is_none_or(|end| end > self.blocks) {
            return Err(Error::msg(format!(
                "block {}: beyond the end of the device ({} blocks)",
                nr, self.blocks
            )));
        }
        self.file
            .read_exact_at(buf, nr * BLOCK_SIZE as u64)
            .map_err(|e| Error::io(format_args!("block {}: read", nr), e))
    }

    fn write_block(&self, nr: u64, buf: &Block) -> Result<()> {
        if nr >= self.blocks {
            return Err(Error::msg(format!(
                "block {}: beyond the end of the device ({} blocks)",
                nr, self.blocks
            )));
        }
        self.file
            .write_all_at(buf, nr * BLOCK_SIZE as u64)
            .map_err(|e| Error::io(format_args!("block {}: write", nr), e))
    }

    fn sync(&self) -> Result<()> {
        self.file
            .sync_all()
            .map_err(|e| Error::io(format_args!("{}: sync", self.path.display()), e))
    }

    fn is_same_file(&self, path: &Path) -> bool {
        Dev::is_same_file(self, path)
    }
}

/// True if two metadata describe the same file or the same block device.
pub fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    let bdev = |m: &std::fs::Metadata| m.file_type().is_block_device();
    (a.dev() == b.dev() && a.ino() == b.ino()) || (bdev(a) && bdev(b) && a.rdev() == b.rdev())
}

/// Takes the store lock on `file`: exclusive if `write`, else shared.
fn lock(file: &File, path: &Path, write: bool, wait: bool) -> Result<()> {
    let res = match (write, wait) {
        (true, true) => file.lock().map_err(TryLockError::Error),
        (false, true) => file.lock_shared().map_err(TryLockError::Error),
        (true, false) => file.try_lock(),
        (false, false) => file.try_lock_shared(),
    };
    match res {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(Error::Busy(format!(
            "another pvdisk command is using {} (try again, or use --wait)",
            path.display()
        ))),
        Err(TryLockError::Error(e)) => Err(Error::io(format_args!("{}: lock", path.display()), e)),
    }
}

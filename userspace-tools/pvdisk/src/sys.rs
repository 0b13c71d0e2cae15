// SPDX-License-Identifier: GPL-2.0

//! The tool's only foreign calls, for what std does not offer (there is
//! no libc crate at runtime): `lseek` with `SEEK_DATA`/`SEEK_HOLE`, so that
//! an import reads only the data of a sparse image, and `ioctl(BLKFLSBUF)`
//! (or `posix_fadvise` without the privilege for it), to drop a block
//! device's stale page cache, and the ioctls of `/dev/pvdiskN`
//! (`PVDISK_IOC_SNAPSHOT`, `PVDISK_IOC_INFO`, and `PVDISK_IOC_CREATE`,
//! `_DELETE`, `_LABEL` of live management), whose structs the shared
//! `uapi` module encodes as byte images.

#![allow(unsafe_code)]

use crate::uapi::{self, Header, CREATE_SIZE, DELETE_SIZE, INFO_SIZE, LABEL_SIZE, SNAPSHOT_SIZE};
use std::fs::File;
use std::os::fd::AsRawFd;

/// `SEEK_DATA` on Linux.
const SEEK_DATA: i32 = 3;
/// `SEEK_HOLE` on Linux.
const SEEK_HOLE: i32 = 4;
/// `ENXIO` on Linux: no data at or after the offset.
const ENXIO: i32 = 6;

/// `POSIX_FADV_DONTNEED` on Linux (6 on 64-bit s390, 4 elsewhere).
#[cfg(target_arch = "s390x")]
const POSIX_FADV_DONTNEED: i32 = 6;
#[cfg(not(target_arch = "s390x"))]
const POSIX_FADV_DONTNEED: i32 = 4;

/// `BLKFLSBUF`, `_IO(0x12, 97)`: write back and drop a block device's
/// page cache.
const BLKFLSBUF: std::ffi::c_ulong = 0x1261;

extern "C" {
    fn lseek(fd: i32, offset: i64, whence: i32) -> i64;
    fn posix_fadvise(fd: i32, offset: i64, len: i64, advice: i32) -> i32;
    fn ioctl(fd: i32, request: std::ffi::c_ulong, ...) -> i32;
}

/// Drops the cached pages of `f` (a block device), so that what is read
/// next comes from the device. A driver writes to the device with bios
/// that go around its page cache: pages an earlier command read or wrote
/// may be older than what the driver has committed since.
///
/// `BLKFLSBUF` needs `CAP_SYS_ADMIN`; without it, `POSIX_FADV_DONTNEED`
/// is the fallback, which Linux 6.12 was seen to leave a block device's
/// pages in place (a snapshot log read stale after the driver grew it),
/// so an unprivileged reader of a live store may see an older state.
/// Best effort: an error only means the cache stays.
pub fn drop_cache(f: &File) {
    // SAFETY: `BLKFLSBUF` takes no argument and touches no memory of
    // ours; the descriptor is owned by `f`, which is borrowed and so stays
    // open for the call.
    if unsafe { ioctl(f.as_raw_fd(), BLKFLSBUF, 0) } == 0 {
        return;
    }
    // SAFETY: `posix_fadvise` only reads its integer arguments and does
    // not touch memory of ours; the descriptor is owned by `f`, which is
    // borrowed and so stays open for the call. Offset 0 and length 0 mean
    // the whole file.
    let _ = unsafe { posix_fadvise(f.as_raw_fd(), 0, 0, POSIX_FADV_DONTNEED) };
}

/// The size bits of an ioctl command number (`_IOC_SIZE`).
fn ioc_size(cmd: u32) -> usize {
    ((cmd >> 16) & 0x3fff) as usize
}

/// Runs pvdisk ioctl `cmd` on `f` with the struct image `arg`, which the
/// driver reads and fills in place. Refuses (`InvalidInput`, no call) an
/// image whose header or command does not give its own length as the
/// struct's size: that size is all the driver may touch.
fn pvdisk_ioctl<const N: usize>(f: &File, cmd: u32, arg: &mut [u8; N]) -> std::io::Result<()> {
    if Header::decode(arg).size as usize != N || ioc_size(cmd) != N {
        return Err(std::io::ErrorKind::InvalidInput.into());
    }
    // SAFETY: `arg` is a live, exclusively borrowed buffer of N bytes,
    // and the struct it holds says it is N bytes long (checked above): a
    // pvdisk driver reads at most `size` bytes from the pointer and writes
    // back at most that many (uapi.rs), and another driver that took the
    // command would read or write its size bits' worth, also N. Any
    // alignment does: the kernel copies the struct with copy_from_user.
    // The descriptor is owned by `f`, which is borrowed and so stays open
    // for the call.
    let r = unsafe {
        ioctl(
            f.as_raw_fd(),
            std::ffi::c_ulong::from(cmd),
            arg.as_mut_ptr(),
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `PVDISK_IOC_SNAPSHOT` on the disk `f` (opened for writing): takes a
/// snapshot labelled `label` (NUL-padded, "" for none) and returns what
/// the driver says it made.
pub fn pvdisk_snapshot(f: &File, label: [u8; uapi::LABEL_LEN]) -> std::io::Result<uapi::Snapshot> {
    let mut b = [0u8; SNAPSHOT_SIZE];
    let header = Header {
        size: SNAPSHOT_SIZE as u32,
        flags: 0,
    };
    uapi::Snapshot {
        label,
        ..uapi::Snapshot::default()
    }
    .encode(header, &mut b);
    pvdisk_ioctl(f, uapi::PVDISK_IOC_SNAPSHOT, &mut b)?;
    Ok(uapi::Snapshot::decode(&b))
}

/// `PVDISK_IOC_INFO` on `f`: what the disk shows. Any opener may ask; a
/// file or device that is not a pvdisk disk showing a VDI answers with an
/// error (`ENOTTY` from most).
pub fn pvdisk_info(f: &File) -> std::io::Result<uapi::Info> {
    let mut b = [0u8; INFO_SIZE];
    let header = Header {
        size: INFO_SIZE as u32,
        flags: 0,
    };
    uapi::Info::default().encode(header, &mut b);
    pvdisk_ioctl(f, uapi::PVDISK_IOC_INFO, &mut b)?;
    Ok(uapi::Info::decode(&b))
}

/// `PVDISK_IOC_CREATE` on any disk `f` of a store: a new VDI `name`,
/// empty of `bytes` bytes (`from` all NUL) or a clone of the snapshot
/// named in `from` (`bytes` 0 for the snapshot's size). Returns the new
/// VDI's id.
pub fn pvdisk_create(
    f: &File,
    name: [u8; uapi::NAME_LEN],
    from: [u8; uapi::SPEC_LEN],
    bytes: u64,
) -> std::io::Result<u64> {
    let mut b = [0u8; CREATE_SIZE];
    let header = Header {
        size: CREATE_SIZE as u32,
        flags: 0,
    };
    uapi::Create {
        bytes,
        name,
        from,
        vdi_id: 0,
    }
    .encode(header, &mut b);
    pvdisk_ioctl(f, uapi::PVDISK_IOC_CREATE, &mut b)?;
    Ok(uapi::Create::decode(&b).vdi_id)
}

/// `PVDISK_IOC_DELETE` on any disk `f` of a store: deletes the VDI or
/// snapshot named in `target`; `flags` are `PVDISK_DELETE_*`.
pub fn pvdisk_delete(f: &File, target: [u8; uapi::SPEC_LEN], flags: u32) -> std::io::Result<()> {
    let mut b = [0u8; DELETE_SIZE];
    let header = Header {
        size: DELETE_SIZE as u32,
        flags,
    };
    uapi::Delete { target }.encode(header, &mut b);
    pvdisk_ioctl(f, uapi::PVDISK_IOC_DELETE, &mut b)
}

/// `PVDISK_IOC_LABEL` on any disk `f` of a store: sets the label of the
/// snapshot named in `snapshot`.
pub fn pvdisk_label(
    f: &File,
    snapshot: [u8; uapi::SPEC_LEN],
    label: [u8; uapi::LABEL_LEN],
) -> std::io::Result<()> {
    let mut b = [0u8; LABEL_SIZE];
    let header = Header {
        size: LABEL_SIZE as u32,
        flags: 0,
    };
    uapi::Label { snapshot, label }.encode(header, &mut b);
    pvdisk_ioctl(f, uapi::PVDISK_IOC_LABEL, &mut b)
}

/// Where `lseek(fd, off, whence)` lands; `Ok(None)` for ENXIO (no more
/// data), `Err` if the file system cannot tell.
fn seek(f: &File, off: u64, whence: i32) -> std::io::Result<Option<u64>> {
    let off = i64::try_from(off).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: `lseek` only reads its integer arguments; the descriptor is
    // owned by `f`, which is borrowed and so stays open for the call. It
    // moves the file offset, which the tool never uses (it reads with
    // pread).
    let r = unsafe { lseek(f.as_raw_fd(), off, whence) };
    if r >= 0 {
        return Ok(Some(r as u64));
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(ENXIO) {
        Ok(None)
    } else {
        Err(e)
    }
}

/// The byte ranges of `f` (of `len` bytes) that may hold data, in order.
/// A file system that cannot tell (or a device) gives one range over the
/// whole length.
pub fn data_ranges(f: &File, len: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut off = 0u64;
    while off < len {
        let start = match seek(f, off, SEEK_DATA) {
            Ok(Some(s)) => s,
            Ok(None) => break,
            Err(_) => return vec![(0, len)],
        };
        if start >= len {
            break;
        }
        let end = match seek(f, start, SEEK_HOLE) {
            Ok(Some(e)) => e.min(len),
            _ => len,
        };
        if end <= start {
            return vec![(0, len)];
        }
        out.push((start, end));
        off = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_struct_that_does_not_fit_its_command_is_never_passed() {
        let f = File::open("/dev/null").expect("open /dev/null");
        let mut b = [0u8; SNAPSHOT_SIZE];
        // Header size 0: the driver would read a different length.
        let e = pvdisk_ioctl(&f, uapi::PVDISK_IOC_SNAPSHOT, &mut b).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        // Right header, command of another size.
        b[..4].copy_from_slice(&(SNAPSHOT_SIZE as u32).to_ne_bytes());
        let e = pvdisk_ioctl(&f, uapi::PVDISK_IOC_INFO, &mut b).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_file_is_not_a_disk() {
        // /dev/null has no ioctls: the call is made and refused.
        let f = File::open("/dev/null").expect("open /dev/null");
        let e = pvdisk_info(&f).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(25), "{e}"); // ENOTTY
        let e = pvdisk_snapshot(&f, [0; uapi::LABEL_LEN]).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(25), "{e}");
        let e = pvdisk_create(&f, [0; uapi::NAME_LEN], [0; uapi::SPEC_LEN], 4096).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(25), "{e}");
        let e = pvdisk_delete(&f, [0; uapi::SPEC_LEN], uapi::PVDISK_DELETE_FORCE).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(25), "{e}");
        let e = pvdisk_label(&f, [0; uapi::SPEC_LEN], [0; uapi::LABEL_LEN]).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(25), "{e}");
    }
}

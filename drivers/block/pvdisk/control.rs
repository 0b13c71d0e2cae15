// SPDX-License-Identifier: GPL-2.0

//! The ioctls of `/dev/pvdiskN` (include/uapi/linux/pvdisk.h): checks of
//! the caller and of the argument struct, then the VDI does the work.
//!
//! Errnos, in the order they are checked (Documentation/ioctl.rst):
//! `ENOTTY` for a command that is not pvdisk's or a disk without a VDI;
//! for a snapshot `EPERM` without `CAP_SYS_ADMIN`, `EROFS` on a snapshot
//! disk and `EBADF` for a descriptor not open for writing; then `EFAULT`,
//! `EINVAL` (too short, unknown flag, bad label) and `E2BIG` for the
//! struct; then what the work says (`EEXIST` for a label in use, `ENOSPC`,
//! `EIO`).
//!
//! The live management commands (create, delete, label) act on the
//! store, from any of its disks: `EPERM` without `CAP_SYS_ADMIN`, then the
//! struct's errnos, then the store's (`ENOENT`, `EEXIST`, `EBUSY`,
//! `ENOTEMPTY`, `ENOSPC`, `EROFS`, `EIO`).

use kernel::{
    block::mq::gen_disk::OpenMode,
    capability::{capable, Capability},
    prelude::*,
    sync::Arc,
    uaccess::UserSlice,
};

use crate::io::{Backend, Target};
use crate::ratelimit::{errname, warn_ratelimited};
use crate::store::Source;
use crate::uapi::{
    self, ArgError, Command, Header, CREATE_SIZE, DELETE_SIZE, INFO_SIZE, LABEL_SIZE, NAME_LEN,
    SNAPSHOT_SIZE,
};
use crate::vdi::Vdi;

/// Largest argument struct accepted (bytes beyond ours must be zero).
const MAX_ARG_SIZE: usize = 4096;

/// Runs ioctl `cmd` with the user pointer `arg`.
pub(crate) fn ioctl(backend: &Backend, mode: OpenMode, cmd: u32, arg: usize) -> Result<i32> {
    let command = Command::of(cmd).ok_or(ENOTTY)?;
    let Target::Vdi(vdi) = &backend.target else {
        return Err(ENOTTY);
    };
    let status = match command {
        Command::Snapshot => snapshot(vdi, mode, arg),
        Command::Info => info(vdi, arg),
        Command::Create => create(vdi, arg),
        Command::Delete => delete(vdi, arg),
        Command::Label => label(vdi, arg),
    };
    if let Err(e) = status {
        // The common refusals say why where they are found; this line
        // names the errno for the rest.
        if e != EPERM && e != EBADF && e != EROFS && e != EFAULT && e != ENOENT {
            warn_ratelimited!(
                "{}: {:?} ioctl refused: {}\n",
                &*vdi.name,
                command,
                errname(e)
            );
        }
    }
    status.map(|()| 0)
}

fn snapshot(vdi: &Arc<Vdi>, mode: OpenMode, arg: usize) -> Result {
    if !capable(Capability::SYS_ADMIN) {
        return Err(EPERM);
    }
    if vdi.read_only {
        return Err(EROFS);
    }
    if !mode.write() {
        return Err(EBADF);
    }
    let mut b = [0u8; SNAPSHOT_SIZE];
    let header = read_arg(arg, &mut b, Command::Snapshot.known_flags())?;
    let mut snap = uapi::Snapshot::decode(&b);
    if snap.label().is_none() {
        return Err(EINVAL);
    }
    let lazy = header.flags & uapi::PVDISK_SNAPSHOT_LAZY != 0;
    let taken = vdi.snapshot(&snap.label, lazy)?;
    snap.vdi_id = taken.vdi_id;
    snap.seq = taken.seq;
    snap.log_block = taken.log_block;
    snap.log_index = taken.log_index;
    snap.timestamp = taken.timestamp;
    snap.encode(header, &mut b);
    write_arg(arg, &b)
}

fn info(vdi: &Arc<Vdi>, arg: usize) -> Result {
    let mut b = [0u8; INFO_SIZE];
    let header = read_arg(arg, &mut b, 0)?;
    let info = uapi::Info {
        flags: if vdi.read_only {
            uapi::PVDISK_INFO_SNAPSHOT
        } else {
            0
        },
        vdi_id: vdi.shows.id,
        disk_bytes: vdi.size(),
        snap_count: vdi
            .shows
            .snap_count
            .load(core::sync::atomic::Ordering::Relaxed),
        snapshot: vdi.shows.snapshot,
        store_uuid: vdi.store.sb.uuid,
        name: vdi.shows.name,
    };
    info.encode(header, &mut b);
    write_arg(arg, &b)
}

fn create(vdi: &Arc<Vdi>, arg: usize) -> Result {
    if !capable(Capability::SYS_ADMIN) {
        return Err(EPERM);
    }
    let mut b = [0u8; CREATE_SIZE];
    let header = read_arg(arg, &mut b, 0)?;
    let mut create = uapi::Create::decode(&b);
    let name = uapi::name_of(&create.name).ok_or(EINVAL)?;
    let source = if create.from.iter().all(|&c| c == 0) {
        Source::Empty(create.bytes)
    } else {
        Source::Clone(spec(&create.from)?, create.bytes)
    };
    create.vdi_id = vdi.create_vdi(name, source)?;
    create.encode(header, &mut b);
    write_arg(arg, &b)
}

fn delete(vdi: &Arc<Vdi>, arg: usize) -> Result {
    if !capable(Capability::SYS_ADMIN) {
        return Err(EPERM);
    }
    let mut b = [0u8; DELETE_SIZE];
    let header = read_arg(arg, &mut b, Command::Delete.known_flags())?;
    let delete = uapi::Delete::decode(&b);
    vdi.delete(
        spec(&delete.target)?,
        header.flags & uapi::PVDISK_DELETE_FORCE != 0,
    )
}

fn label(vdi: &Arc<Vdi>, arg: usize) -> Result {
    if !capable(Capability::SYS_ADMIN) {
        return Err(EPERM);
    }
    let mut b = [0u8; LABEL_SIZE];
    read_arg(arg, &mut b, 0)?;
    let label = uapi::Label::decode(&b);
    if label.label.first() == Some(&0) || uapi::label_of(&label.label).is_none() {
        return Err(EINVAL);
    }
    vdi.label(spec(&label.snapshot)?, &label.label)
}

/// A VDI name, a label or `VDI@N` from a struct: `EINVAL` unless it is
/// NUL-padded and its name part follows the naming rule.
fn spec(field: &[u8; uapi::SPEC_LEN]) -> Result<&[u8]> {
    let text = uapi::spec_of(field).ok_or(EINVAL)?;
    let (name, _) = uapi::split_spec(text);
    if !uapi::name_allowed(name, NAME_LEN) {
        return Err(EINVAL);
    }
    Ok(text)
}

/// Reads the argument struct at `arg` into `out` (the size this version
/// knows) and returns its header, after checking it (its flags may have
/// the bits `known_flags`) and that any bytes beyond `out` are zero.
fn read_arg<const N: usize>(arg: usize, out: &mut [u8; N], known_flags: u32) -> Result<Header> {
    let mut head = [0u8; 8];
    UserSlice::new(arg, head.len())
        .reader()
        .read_slice(&mut head)?;
    let header = Header::decode(&head);
    let size = header.size as usize;
    match header.check_with(N, known_flags) {
        Ok(()) if size <= MAX_ARG_SIZE => {}
        Ok(()) | Err(ArgError::TooBig) => return Err(E2BIG),
        Err(ArgError::Invalid) => return Err(EINVAL),
    }
    let mut reader = UserSlice::new(arg, size).reader();
    reader.read_slice(out)?;
    let mut chunk = [0u8; 64];
    while !reader.is_empty() {
        let n = reader.len().min(chunk.len());
        let part = chunk.get_mut(..n).ok_or(EINVAL)?;
        reader.read_slice(part)?;
        if !uapi::tail_is_zero(part) {
            return Err(E2BIG);
        }
    }
    Ok(header)
}

/// Writes the reply `b` back to the struct at `arg` (only the size this
/// version knows).
fn write_arg(arg: usize, b: &[u8]) -> Result {
    UserSlice::new(arg, b.len()).writer().write_slice(b)
}

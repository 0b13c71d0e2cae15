// SPDX-License-Identifier: GPL-2.0

//! A powered disk, `/dev/pvdiskN`, asked through the driver's ioctls
//! (Documentation/tool.rst, *Online snapshots*): what it shows
//! (`PVDISK_IOC_INFO`) and a snapshot of its VDI taken by the driver
//! (`PVDISK_IOC_SNAPSHOT`), which keeps the disk's I/O running. The tool
//! never writes a live store's metadata itself.
//!
//! A path is a disk when it is a block device that answers
//! `PVDISK_IOC_INFO`, whatever its name: a store on a device, or a
//! pass-through disk, does not answer.

use crate::error::{io_text, Error, Result};
use crate::names::check_label;
use crate::sys;
use crate::uapi::{self, LABEL_LEN};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// Linux errnos the ioctls give (asm-generic/errno-base.h, errno.h).
pub(crate) mod errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const EIO: i32 = 5;
    pub const E2BIG: i32 = 7;
    pub const EBADF: i32 = 9;
    pub const EFAULT: i32 = 14;
    pub const EBUSY: i32 = 16;
    pub const EEXIST: i32 = 17;
    pub const EINVAL: i32 = 22;
    pub const ENOTTY: i32 = 25;
    pub const ENOSPC: i32 = 28;
    pub const EROFS: i32 = 30;
    pub const ENOTEMPTY: i32 = 39;
}

/// What a disk shows, from `PVDISK_IOC_INFO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskInfo {
    /// Name of the VDI (of the snapshot's VDI on a snapshot disk).
    pub name: String,
    /// Id of that VDI.
    pub vdi_id: u64,
    /// Size of the disk in bytes.
    pub bytes: u64,
    /// Snapshots taken of the VDI so far.
    pub snapshots: u64,
    /// `Some(N)` on a read-only disk showing snapshot `VDI@N`.
    pub snapshot: Option<u64>,
    /// UUID of the store, as `pvdisk info STORE` prints it.
    pub store_uuid: String,
}

impl DiskInfo {
    /// Reads the driver's struct. A name that is not NUL-padded UTF-8 is
    /// shown as far as it goes, with replacement characters: the driver
    /// checked it when the VDI was made, so this only guards the output.
    pub fn from_uapi(i: &uapi::Info) -> Self {
        let len = i.name.iter().position(|&c| c == 0).unwrap_or(i.name.len());
        let name = i.name.get(..len).unwrap_or(&[]);
        let snapshot = i.flags & uapi::PVDISK_INFO_SNAPSHOT != 0;
        DiskInfo {
            name: String::from_utf8_lossy(name).into_owned(),
            vdi_id: i.vdi_id,
            bytes: i.disk_bytes,
            snapshots: i.snap_count,
            snapshot: snapshot.then_some(i.snapshot),
            store_uuid: i.store_uuid.iter().map(|b| format!("{:02x}", b)).collect(),
        }
    }

    /// `VDI` for a disk showing the VDI, `VDI@N` for a snapshot disk.
    pub fn shows(&self) -> String {
        match self.snapshot {
            Some(n) => format!("{}@{}", self.name, n),
            None => self.name.clone(),
        }
    }
}

/// `PVDISK_IOC_INFO` on `path` if it is a pvdisk disk; `None` if it is
/// anything else (a store, a file, a device that does not answer, a path
/// that cannot be opened: the store commands report those).
pub fn probe(path: &Path) -> Option<DiskInfo> {
    // Only a block device can be a disk; opening anything else could block
    // (a FIFO) or mean nothing.
    let meta = std::fs::metadata(path).ok()?;
    if !meta.file_type().is_block_device() {
        return None;
    }
    let f = File::open(path).ok()?;
    sys::pvdisk_info(&f).ok().map(|i| DiskInfo::from_uapi(&i))
}

/// What an online snapshot made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    /// The VDI's name.
    pub vdi: String,
    /// The snapshot is `VDI@seq`.
    pub seq: u64,
    /// Its label, "" for none.
    pub label: String,
    /// Where its log entry is, block and index.
    pub log_block: u64,
    /// Index of the entry in its log block.
    pub log_index: u32,
    /// Seconds since the epoch.
    pub timestamp: u64,
}

/// `label` as the ioctl's NUL-padded field, after checking it against
/// the naming rule (a usage error, before any call).
pub fn label_field(label: &str) -> Result<[u8; LABEL_LEN]> {
    check_label(label)?;
    let mut field = [0u8; LABEL_LEN];
    // check_label bounds the length by LABEL_LEN.
    if let Some(dst) = field.get_mut(..label.len()) {
        dst.copy_from_slice(label.as_bytes());
    }
    Ok(field)
}

/// Takes a snapshot of the VDI the disk at `path` shows, through the
/// driver: `PVDISK_IOC_INFO` for its name, then `PVDISK_IOC_SNAPSHOT` on
/// a descriptor open for writing (which the driver requires, with
/// `CAP_SYS_ADMIN`). Each refusal becomes one sentence that says why.
pub fn snapshot(path: &Path, label: &str) -> Result<Taken> {
    let field = label_field(label)?;
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(format!("{}: opening it for writing", path.display()), e))?;
    let info = sys::pvdisk_info(&f)
        .map(|i| DiskInfo::from_uapi(&i))
        .map_err(|e| explain(path, &e, None, label))?;
    let s = sys::pvdisk_snapshot(&f, field).map_err(|e| explain(path, &e, Some(&info), label))?;
    Ok(Taken {
        vdi: info.name,
        seq: s.seq,
        label: label.to_string(),
        log_block: s.log_block,
        log_index: s.log_index,
        timestamp: s.timestamp,
    })
}

/// The sentence for a refused ioctl on `path`: why, in the terms of the
/// tool, then the errno's name (what the C interface documents). `info`
/// is what the disk shows when it is known, `label` the label asked for.
pub fn explain(path: &Path, e: &io::Error, info: Option<&DiskInfo>, label: &str) -> Error {
    let Some(code) = e.raw_os_error() else {
        return Error::Io(format!("{}: {}", path.display(), io_text(e)));
    };
    let (name, why) = match code {
        errno::EPERM => (
            "EPERM",
            "taking a snapshot needs CAP_SYS_ADMIN; run it as root".to_string(),
        ),
        errno::EBADF => (
            "EBADF",
            "the disk must be opened for writing to take a snapshot".to_string(),
        ),
        errno::EROFS => (
            "EROFS",
            match info {
                Some(i) => format!(
                    "the disk shows snapshot {}, which is read-only; snapshot the disk that shows {}",
                    i.shows(),
                    i.name
                ),
                None => "the disk shows a snapshot, which is read-only".to_string(),
            },
        ),
        errno::EEXIST => (
            "EEXIST",
            format!(
                "the label '{}' is in use by a live snapshot or a VDI of the store",
                label
            ),
        ),
        errno::ENOTTY => (
            "ENOTTY",
            "not a pvdisk disk showing a VDI (a pass-through disk, or another driver's device)"
                .to_string(),
        ),
        errno::EINVAL => (
            "EINVAL",
            "the driver refused the request as malformed (is the driver older than the tool?)"
                .to_string(),
        ),
        errno::E2BIG => (
            "E2BIG",
            "the driver does not know every field the tool sent (the driver is older than the tool)"
                .to_string(),
        ),
        errno::EFAULT => (
            "EFAULT",
            "the driver could not read or write the request".to_string(),
        ),
        errno::ENOSPC => (
            "ENOSPC",
            "the store has no free block for the snapshot; delete VDIs or snapshots and run gc"
                .to_string(),
        ),
        errno::EIO => (
            "EIO",
            "I/O error on the store (the kernel log says more)".to_string(),
        ),
        errno::EBUSY => ("EBUSY", "the disk is busy".to_string()),
        _ => return Error::Io(format!("{}: {}", path.display(), io_text(e))),
    };
    let s = format!("{}: {} ({})", path.display(), why, name);
    match code {
        errno::EIO => Error::Io(s),
        errno::EBUSY => Error::Busy(s),
        _ => Error::Refused(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_drivers_rule() {
        let f = label_field("before-upgrade").unwrap();
        assert_eq!(uapi::label_of(&f), Some("before-upgrade"));
        assert_eq!(label_field("").unwrap(), [0; LABEL_LEN]);
        assert!(label_field(&"l".repeat(LABEL_LEN)).is_ok());
        for bad in ["a b", "-x", "..", "a@1", "é"] {
            let e = label_field(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
        let e = label_field(&"l".repeat(LABEL_LEN + 1)).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn disk_info() {
        let mut i = uapi::Info {
            flags: uapi::PVDISK_INFO_SNAPSHOT,
            vdi_id: 3,
            disk_bytes: 64 << 20,
            snap_count: 4,
            snapshot: 2,
            store_uuid: [0xab; uapi::UUID_LEN],
            name: [0; uapi::NAME_LEN],
        };
        i.name[..2].copy_from_slice(b"vm");
        let d = DiskInfo::from_uapi(&i);
        assert_eq!(d.shows(), "vm@2");
        assert_eq!(d.store_uuid, "ab".repeat(16));
        i.flags = 0;
        i.snapshot = 0;
        i.name = [b'n'; uapi::NAME_LEN];
        let d = DiskInfo::from_uapi(&i);
        assert_eq!(d.snapshot, None);
        assert_eq!(d.shows(), "n".repeat(64));
    }

    #[test]
    fn errnos_are_explained() {
        let p = Path::new("/dev/pvdisk1");
        let e = |code| io::Error::from_raw_os_error(code);
        let shows = DiskInfo {
            name: "vm".into(),
            vdi_id: 1,
            bytes: 1,
            snapshots: 2,
            snapshot: Some(2),
            store_uuid: String::new(),
        };
        let t = explain(p, &e(errno::EROFS), Some(&shows), "");
        assert_eq!(
            t.to_string(),
            "/dev/pvdisk1: the disk shows snapshot vm@2, which is read-only; \
             snapshot the disk that shows vm (EROFS)"
        );
        assert_eq!(t.exit_code(), 1);
        let t = explain(p, &e(errno::EEXIST), None, "base").to_string();
        assert!(
            t.contains("label 'base' is in use") && t.ends_with("(EEXIST)"),
            "{t}"
        );
        for (code, name) in [
            (errno::EPERM, "EPERM"),
            (errno::EBADF, "EBADF"),
            (errno::ENOTTY, "ENOTTY"),
            (errno::EINVAL, "EINVAL"),
            (errno::E2BIG, "E2BIG"),
            (errno::ENOSPC, "ENOSPC"),
            (errno::EIO, "EIO"),
        ] {
            let t = explain(p, &e(code), None, "");
            assert!(t.to_string().ends_with(&format!("({name})")), "{t}");
            assert_eq!(t.exit_code(), 1);
        }
        // An errno the interface does not give: the OS's words.
        let t = explain(p, &e(12), None, "").to_string();
        assert_eq!(t, "/dev/pvdisk1: Cannot allocate memory");
    }
}

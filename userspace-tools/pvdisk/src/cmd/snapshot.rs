// SPDX-License-Identifier: GPL-2.0

//! `pvdisk snapshot STORE VDI [--label LABEL]` (offline) and
//! `pvdisk snapshot /dev/pvdiskN [--label LABEL]` (online, through the
//! driver's ioctl).

use super::{open_rw, Command, Failure, Outcome, FORCE, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::format::superblock::SUPERBLOCK_MAGIC;
use pvdisk::Error;
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

pub const CMD: Command = Command {
    spec: Spec {
        name: "snapshot",
        usage: "STORE VDI [--label LABEL] | /dev/pvdiskN [--label LABEL]",
        about: "Take a snapshot of a VDI (three block writes).",
        positional: &["STORE"],
        optional: &["VDI"],
        options: &[("label", true, "name the snapshot"), FORCE, WAIT],
    },
    run,
};

fn run(p: &Parsed) -> Outcome {
    let label = p.value("label").unwrap_or("");
    if p.positional.len() == 1 {
        return Err(online_or_missing_vdi(Path::new(p.pos(0))));
    }
    let mut store = open_rw(p)?;
    let slot = store.find_vdi(p.pos(1))?;
    let seq = store.snapshot(slot, label)?;
    if label.is_empty() {
        println!("snapshot {}@{}", p.pos(1), seq);
    } else {
        println!("snapshot {}@{} labelled '{}'", p.pos(1), seq, label);
    }
    Ok(0)
}

/// `pvdisk snapshot PATH` without a VDI: an online snapshot if PATH is a
/// block device that is not itself a store (a /dev/pvdiskN disk), else a
/// forgotten VDI. Decided by what PATH is, never by its name.
fn online_or_missing_vdi(path: &Path) -> Failure {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return Error::io(path.display(), e),
    };
    if meta.file_type().is_block_device() && !holds_store(path) {
        return Error::msg(format!(
            "{}: not supported yet: the driver's snapshot ioctl is not built",
            path.display()
        ));
    }
    Error::Usage(format!(
        "missing VDI: {} is a store, name the VDI to snapshot (pvdisk snapshot STORE VDI)",
        path.display()
    ))
}

/// True if `path` starts with a pvdisk superblock magic.
fn holds_store(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| u32::from_le_bytes(magic) == SUPERBLOCK_MAGIC)
}

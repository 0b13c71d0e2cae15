// SPDX-License-Identifier: GPL-2.0

//! `pvdisk snapshot STORE VDI [--label LABEL]` (offline) and
//! `pvdisk snapshot /dev/pvdiskN [--label LABEL]` (online, through the
//! driver's ioctl).

use super::{open_rw, Command, Failure, Outcome, FORCE, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::format::superblock::SUPERBLOCK_MAGIC;
use pvdisk::live::Live;
use pvdisk::{online, Error};
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

pub const CMD: Command = Command {
    spec: Spec {
        name: "snapshot",
        usage: "STORE VDI [--label LABEL] | /dev/pvdiskN [--label LABEL]",
        about: "Take a snapshot of a VDI (three block writes), or of a powered disk's VDI through the driver.",
        positional: &["STORE"],
        optional: &["VDI"],
        options: &[("label", true, "name the snapshot"), FORCE, WAIT],
    },
    run,
};

fn run(p: &Parsed) -> Outcome {
    let label = p.value("label").unwrap_or("");
    if p.positional.len() == 1 {
        return online(p, Path::new(p.pos(0)), label);
    }
    let vdi = p.pos(1);
    let mut store = open_rw(p, "snapshot STORE VDI", &|live: &Live| {
        match live.disk_showing(vdi) {
        Some(d) => format!(
            "take it through the driver: pvdisk snapshot {}",
            d.path.display()
        ),
        None => format!(
            "no disk shows VDI '{}': power one on for it and run 'pvdisk snapshot /dev/pvdiskN', or power them off first",
            vdi
        ),
    }
    })?;
    let slot = store.find_vdi(vdi)?;
    let seq = store.snapshot(slot, label)?;
    print_taken(p.pos(1), seq, label);
    Ok(0)
}

/// The same line offline and online.
fn print_taken(vdi: &str, seq: u64, label: &str) {
    if label.is_empty() {
        println!("snapshot {}@{}", vdi, seq);
    } else {
        println!("snapshot {}@{} labelled '{}'", vdi, seq, label);
    }
}

/// `pvdisk snapshot PATH` without a VDI: an online snapshot if PATH is a
/// disk (a block device that answers `PVDISK_IOC_INFO`), else a forgotten
/// VDI. Decided by what PATH is, never by its name.
fn online(p: &Parsed, path: &Path, label: &str) -> Outcome {
    if online::probe(path).is_none() {
        return Err(not_a_disk(path));
    }
    // --force and --wait are about a store's holds and lock, which the
    // driver owns while the disk is powered: say so rather than ignore
    // them.
    for opt in ["force", "wait"] {
        if p.flag(opt) {
            return Err(Error::Usage(format!(
                "--{} is for a store; {} is a disk, whose snapshot the driver takes",
                opt,
                path.display()
            )));
        }
    }
    let taken = online::snapshot(path, label)?;
    print_taken(&taken.vdi, taken.seq, &taken.label);
    Ok(0)
}

/// Why PATH alone is not enough: a store needs the VDI, anything else is
/// neither a store nor a disk.
fn not_a_disk(path: &Path) -> Failure {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return Error::io(path.display(), e),
    };
    // Only files and block devices are opened to look for a store: a
    // FIFO's open would wait for a writer.
    let ft = meta.file_type();
    if (ft.is_file() || ft.is_block_device()) && holds_store(path) {
        return Error::Usage(format!(
            "missing VDI: {} is a store, name the VDI to snapshot (pvdisk snapshot STORE VDI)",
            path.display()
        ));
    }
    Error::msg(format!(
        "{}: neither a store nor a pvdisk disk (a block device that answers PVDISK_IOC_INFO)",
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

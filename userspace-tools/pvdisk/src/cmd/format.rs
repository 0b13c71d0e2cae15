// SPDX-License-Identifier: GPL-2.0

//! `pvdisk format STORE [--extent-size SIZE] [--force]`

use super::{size_opt, Command, Outcome};
use pvdisk::args::{Parsed, Spec};
use pvdisk::format::BLOCK_SIZE;
use pvdisk::live::{Live, Sysfs};
use pvdisk::units::fmt_size;
use pvdisk::{Error, Store};
use std::path::Path;

pub const CMD: Command = Command {
    spec: Spec {
        name: "format",
        usage: "STORE [--extent-size SIZE] [--force]",
        about: "Write an empty pvdisk store on a device or file.",
        positional: &["STORE"],
        optional: &[],
        options: &[
            (
                "extent-size",
                true,
                "extent size (default: scaled to the device, 1M to 1G)",
            ),
            (
                "force",
                false,
                "overwrite a device holding a store, a file system or a partition table",
            ),
        ],
    },
    run,
};

fn run(p: &Parsed) -> Outcome {
    let extent = size_opt(p, "extent-size")?;
    let path = Path::new(p.pos(0));
    let store = Store::format(path, extent, p.flag("force")).map_err(|e| match e {
        // A device the kernel has claimed: say so if it is a live store.
        Error::Busy(_) => match Live::find(&Sysfs, path, false) {
            Some(live) => live.refuse("format", &|_: &Live| {
                "power them off first (and be sure: format destroys every VDI)".to_string()
            }),
            None => e,
        },
        e => e,
    })?;
    let sb = &store.sb();
    println!(
        "formatted {}: {} in {} extents of {}, {} VDI slots",
        p.pos(0),
        fmt_size(sb.store_bytes()),
        sb.extent_count,
        fmt_size(u64::from(sb.extent_blocks) * BLOCK_SIZE as u64),
        sb.vdi_slots
    );
    Ok(0)
}

// SPDX-License-Identifier: GPL-2.0

//! `pvdisk format STORE [--extent-size SIZE] [--force]`

use super::{size_opt, Command, Outcome};
use pvdisk::args::{Parsed, Spec};
use pvdisk::format::BLOCK_SIZE;
use pvdisk::units::fmt_size;
use pvdisk::Store;
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
    let store = Store::format(Path::new(p.pos(0)), extent, p.flag("force"))?;
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

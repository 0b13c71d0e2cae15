// SPDX-License-Identifier: GPL-2.0

//! `pvdisk gc STORE`

use super::{open_rw, Command, Outcome, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::format::BLOCK_SIZE;
use pvdisk::gc::gc;
use pvdisk::live::Live;
use pvdisk::progress::Progress;
use pvdisk::units::fmt_size;

pub const CMD: Command = Command {
    spec: Spec {
        name: "gc",
        usage: "STORE",
        about: "Reclaim blocks of deleted VDIs and snapshots and orphaned blocks.",
        positional: &["STORE"],
        optional: &[],
        options: &[
            (
                "force",
                false,
                "collect even though holds are set: frees the blocks a crashed host had reserved (never on a store in use)",
            ),
            WAIT,
        ],
    },
    run,
};

fn run(p: &Parsed) -> Outcome {
    let mut store = open_rw(p, "gc", &|_: &Live| {
        "power them off first (on a live store the blocks gc would free are the driver's reserve)"
            .to_string()
    })?;
    let s = gc(&mut store, &mut Progress::new("gc"))?;
    println!(
        "gc: freed {} blocks ({}), released {} extents, removed {} deleted VDIs; {} blocks in use",
        s.freed,
        fmt_size(s.freed * BLOCK_SIZE as u64),
        s.extents_released,
        s.vdis_removed,
        s.kept
    );
    Ok(0)
}

// SPDX-License-Identifier: GPL-2.0

//! `pvdisk resize STORE VDI SIZE [--force]`

use super::{open_rw, power_off_first, Command, Outcome, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::units::{fmt_size, parse_size};
use pvdisk::Error;

pub const CMD: Command = Command {
    spec: Spec {
        name: "resize",
        usage: "STORE VDI SIZE [--force]",
        about: "Grow a VDI, or shrink it (--force) when nothing is mapped past the new end.",
        positional: &["STORE", "VDI", "SIZE"],
        optional: &[],
        options: &[
            (
                "force",
                false,
                "allow shrinking; also act even though a driver holds the store",
            ),
            WAIT,
        ],
    },
    run,
};

fn run(p: &Parsed) -> Outcome {
    let size = parse_size(p.pos(2)).ok_or_else(|| {
        Error::Usage(format!(
            "bad size '{}' (a number with an optional K, M, G or T suffix)",
            p.pos(2)
        ))
    })?;
    let mut store = open_rw(p, "resize", &power_off_first)?;
    let slot = store.find_vdi(p.pos(1))?;
    let old = store.vdi(slot)?.size;
    store.resize_vdi(slot, size, p.flag("force"))?;
    println!(
        "resized VDI '{}' from {} to {}",
        p.pos(1),
        fmt_size(old),
        fmt_size(size)
    );
    Ok(0)
}

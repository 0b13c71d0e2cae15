// SPDX-License-Identifier: GPL-2.0

//! `pvdisk rename STORE VDI|SNAPSHOT NEWNAME`

use super::{open_rw, Command, Outcome, FORCE, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::live::Live;
use pvdisk::names::Named;

pub const CMD: Command = Command {
    spec: Spec {
        name: "rename",
        usage: "STORE VDI|SNAPSHOT NEWNAME",
        about: "Rename a VDI, or change a snapshot's label.",
        positional: &["STORE", "VDI|SNAPSHOT", "NEWNAME"],
        optional: &[],
        options: &[FORCE, WAIT],
    },
    run,
};

fn run(p: &Parsed) -> Outcome {
    let mut store = open_rw(p, "rename", &|_: &Live| {
        "power them off first; a snapshot's label can be changed live with 'pvdisk label'"
            .to_string()
    })?;
    let (old, new) = (p.pos(1), p.pos(2));
    match store.resolve(old)? {
        Named::Vdi(slot) => {
            store.rename_vdi(slot, new)?;
            println!("renamed VDI '{}' to '{}'", old, new);
        }
        Named::Snapshot(s) => {
            store.label_snapshot(s, new)?;
            println!("labelled {} '{}'", store.snap_name(s), new);
        }
    }
    Ok(0)
}

// SPDX-License-Identifier: GPL-2.0

//! `pvdisk delete STORE VDI|SNAPSHOT`

use super::{open_rw, Command, Outcome, FORCE, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::names::Named;

pub const CMD: Command = Command {
    spec: Spec {
        name: "delete",
        usage: "STORE VDI|SNAPSHOT",
        about: "Delete a VDI (and its snapshots) or one snapshot; gc reclaims the space.",
        positional: &["STORE", "VDI|SNAPSHOT"],
        optional: &[],
        options: &[FORCE, WAIT],
    },
    run,
};

fn run(p: &Parsed) -> Outcome {
    let mut store = open_rw(p)?;
    let target = p.pos(1);
    match store.resolve(target)? {
        Named::Vdi(slot) => {
            store.delete_vdi(slot)?;
            println!(
                "deleted VDI '{}'; run 'pvdisk gc' to reclaim its blocks",
                target
            );
        }
        Named::Snapshot(s) => {
            let name = store.snap_name(s);
            store.delete_snapshot(s)?;
            println!(
                "deleted snapshot {}; run 'pvdisk gc' to reclaim its blocks",
                name
            );
        }
    }
    Ok(0)
}

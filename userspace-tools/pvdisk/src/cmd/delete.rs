// SPDX-License-Identifier: GPL-2.0

//! `pvdisk delete STORE VDI|SNAPSHOT`

use super::{open_managed, Command, Outcome, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::live::Managed;
use pvdisk::names::Named;
use pvdisk::vdi::not_alone;

pub const CMD: Command = Command {
    spec: Spec {
        name: "delete",
        usage: "STORE VDI|SNAPSHOT [--force]",
        about: "Delete a VDI (and its snapshots) or one snapshot; gc reclaims the space.",
        positional: &["STORE", "VDI|SNAPSHOT"],
        optional: &[],
        options: &[
            (
                "force",
                false,
                "delete a VDI with its snapshots; also act even though a driver holds the store",
            ),
            WAIT,
        ],
    },
    run,
};

fn run(p: &Parsed) -> Outcome {
    let managed = open_managed(p)?;
    let target = p.pos(1);
    let force = p.flag("force");
    let named = managed.state().resolve(target)?;
    match named {
        Named::Vdi(slot) => {
            let also = managed.state().delete_notes(slot)?;
            if !also.is_empty() && !force {
                return Err(not_alone(target, &also));
            }
            match managed {
                Managed::Offline(mut store, _) => store.delete_vdi(slot)?,
                Managed::Live(live) => live.delete(target, named, force)?,
            }
            if !also.is_empty() {
                println!("{}", also.join("; "));
            }
            println!(
                "deleted VDI '{}'; run 'pvdisk gc' to reclaim its blocks",
                target
            );
        }
        Named::Snapshot(s) => {
            let name = managed.state().snap_name(s);
            match managed {
                Managed::Offline(mut store, _) => store.delete_snapshot(s)?,
                Managed::Live(live) => live.delete(target, named, force)?,
            }
            println!(
                "deleted snapshot {}; run 'pvdisk gc' to reclaim its blocks",
                name
            );
        }
    }
    Ok(0)
}

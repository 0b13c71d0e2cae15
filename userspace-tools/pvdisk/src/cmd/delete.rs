// SPDX-License-Identifier: GPL-2.0

//! `pvdisk delete STORE VDI|SNAPSHOT`

use super::{open_rw, Command, Outcome, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::names::Named;
use pvdisk::Error;

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
    let mut store = open_rw(p)?;
    let target = p.pos(1);
    match store.resolve(target)? {
        Named::Vdi(slot) => {
            let (snaps, clones) = store.delete_consequences(slot)?;
            let mut also = Vec::new();
            if !snaps.is_empty() {
                also.push(format!("its snapshots {} go with it", snaps.join(", ")));
            }
            if !clones.is_empty() {
                also.push(format!(
                    "its clones {} stay but lose their parent",
                    clones.join(", ")
                ));
            }
            if !also.is_empty() && !p.flag("force") {
                return Err(Error::msg(format!(
                    "VDI '{}' is not alone: {}; use --force to delete it",
                    target,
                    also.join("; ")
                )));
            }
            store.delete_vdi(slot)?;
            if !also.is_empty() {
                println!("{}", also.join("; "));
            }
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

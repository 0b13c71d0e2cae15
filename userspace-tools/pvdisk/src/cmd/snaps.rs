// SPDX-License-Identifier: GPL-2.0

//! `pvdisk snaps STORE VDI`

use super::{open_ro, Command, Outcome, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::units::fmt_time;

pub const CMD: Command = Command {
    spec: Spec {
        name: "snaps",
        usage: "STORE VDI",
        about: "List the snapshots of a VDI, oldest first.",
        positional: &["STORE", "VDI"],
        optional: &[],
        options: &[WAIT],
    },
    run,
};

fn run(p: &Parsed) -> Outcome {
    let store = open_ro(p)?;
    let slot = store.find_vdi(p.pos(1))?;
    println!(
        "{:<24} {:<20} {:<8} LABEL",
        "SNAPSHOT", "TIME (UTC)", "STATE"
    );
    for (seq, e) in store.snapshots(slot)? {
        println!(
            "{:<24} {:<20} {:<8} {}",
            format!("{}@{}", p.pos(1), seq),
            fmt_time(e.timestamp),
            if e.is_deleted() { "deleted" } else { "live" },
            e.label()
        );
    }
    Ok(0)
}

// SPDX-License-Identifier: GPL-2.0

//! `pvdisk list STORE`

use super::{open_ro, Command, Outcome, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::snapshot::SnapRef;
use pvdisk::units::fmt_size;

pub const CMD: Command = Command {
    spec: Spec {
        name: "list",
        usage: "STORE",
        about: "List the VDIs of a store.",
        positional: &["STORE"],
        optional: &[],
        options: &[WAIT],
    },
    run,
};

fn run(p: &Parsed) -> Outcome {
    let store = open_ro(p)?;
    println!(
        "{:<20} {:>5} {:>8} {:>6} {:>6}  {:<20} ATTACHED",
        "NAME", "ID", "SIZE", "HEIGHT", "SNAPS", "PARENT"
    );
    for (_, r) in store.live_vdis() {
        let parent = if r.parent == 0 {
            "-".to_string()
        } else {
            match store.vdi_by_id(r.parent) {
                Some((slot, _)) => store.snap_name(SnapRef {
                    slot,
                    seq: r.parent_seq,
                }),
                None => format!("(deleted VDI {})@{}", r.parent, r.parent_seq),
            }
        };
        let attached = if r.attached_by == 0 {
            "-".to_string()
        } else {
            format!("host {}", r.attached_by)
        };
        println!(
            "{:<20} {:>5} {:>8} {:>6} {:>6}  {:<20} {}",
            r.name(),
            r.id,
            fmt_size(r.size),
            r.height,
            r.snap_count,
            parent,
            attached
        );
    }
    Ok(0)
}

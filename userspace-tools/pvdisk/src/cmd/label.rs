// SPDX-License-Identifier: GPL-2.0

//! `pvdisk label STORE SNAPSHOT LABEL`

use super::{open_rw, Command, Outcome, FORCE, WAIT};
use pvdisk::args::{Parsed, Spec};

pub const CMD: Command = Command {
    spec: Spec {
        name: "label",
        usage: "STORE SNAPSHOT LABEL",
        about: "Set or change the label of a snapshot.",
        positional: &["STORE", "SNAPSHOT", "LABEL"],
        optional: &[],
        options: &[FORCE, WAIT],
    },
    run,
};

fn run(p: &Parsed) -> Outcome {
    let mut store = open_rw(p)?;
    let s = store.resolve_snapshot(p.pos(1))?;
    store.label_snapshot(s, p.pos(2))?;
    println!("labelled {} '{}'", store.snap_name(s), p.pos(2));
    Ok(0)
}

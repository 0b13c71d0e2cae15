// SPDX-License-Identifier: GPL-2.0

//! `pvdisk label STORE SNAPSHOT LABEL`

use super::{open_managed, Command, Outcome, FORCE, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::live::Managed;

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
    let (spec, label) = (p.pos(1), p.pos(2));
    let name = match open_managed(p)? {
        Managed::Offline(mut store, _) => {
            let s = store.resolve_snapshot(spec)?;
            store.label_snapshot(s, label)?;
            store.snap_name(s)
        }
        Managed::Live(live) => {
            let s = live.state.resolve_snapshot(spec)?;
            live.label(spec, s, label)?;
            live.state.snap_name(s)
        }
    };
    println!("labelled {} '{}'", name, label);
    Ok(0)
}

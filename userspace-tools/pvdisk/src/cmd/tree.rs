// SPDX-License-Identifier: GPL-2.0

//! `pvdisk tree STORE [--dot]`

use super::{open_ro, Command, Outcome, JSON, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::tree::{forest, render_dot, render_json, render_text};

pub const CMD: Command = Command {
    spec: Spec {
        name: "tree",
        usage: "STORE [--dot | --json]",
        about: "Show the forest of VDIs, snapshots and clones.",
        positional: &["STORE"],
        optional: &[],
        options: &[
            ("dot", false, "print a Graphviz digraph instead of text"),
            JSON,
            WAIT,
        ],
    },
    run,
};

fn run(p: &Parsed) -> Outcome {
    let store = open_ro(p)?;
    let f = forest(&store)?;
    if p.flag("json") {
        print!("{}", render_json(&f));
    } else if p.flag("dot") {
        print!("{}", render_dot(&f));
    } else {
        print!("{}", render_text(&f));
    }
    Ok(0)
}

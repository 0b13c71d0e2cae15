// SPDX-License-Identifier: GPL-2.0

//! `pvdisk check STORE`

use super::{open_ro, Command, Outcome, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::check::check;
use pvdisk::format::BLOCK_SIZE;
use pvdisk::progress::Progress;
use pvdisk::units::fmt_size;

pub const CMD: Command = Command {
    spec: Spec {
        name: "check",
        usage: "STORE",
        about: "Verify a store read-only; exit 1 on corruption (leaks are reported, exit 0).",
        positional: &["STORE"],
        optional: &[],
        options: &[WAIT],
    },
    run,
};

const SHOW: usize = 50;

fn run(p: &Parsed) -> Outcome {
    let mut store = open_ro(p)?;
    let r = check(&mut store, &mut Progress::new("check"))?;
    let w = &r.walk;
    println!(
        "{}: {} VDIs, {} snapshots, {} radix nodes, {} snapshot-log blocks, {} data blocks",
        p.pos(0),
        w.vdis,
        w.snapshots,
        w.nodes,
        w.logs,
        w.data
    );
    for c in r.corrupt.iter().take(SHOW) {
        println!("corrupt: {}", c);
    }
    if r.corrupt.len() > SHOW {
        println!("corrupt: ... and {} more", r.corrupt.len() - SHOW);
    }
    if !r.leaks.is_empty() {
        let list: Vec<String> = r.leaks.iter().take(SHOW).map(|b| b.to_string()).collect();
        println!(
            "leaked: {} blocks ({}) allocated but unreachable, gc reclaims them: {}{}",
            r.leaks.len(),
            fmt_size(r.leaks.len() as u64 * BLOCK_SIZE as u64),
            list.join(" "),
            if r.leaks.len() > SHOW { " ..." } else { "" }
        );
    }
    if r.clean() {
        println!(
            "clean{}",
            if r.leaks.is_empty() {
                ""
            } else {
                " (with leaks)"
            }
        );
        Ok(0)
    } else {
        eprintln!(
            "pvdisk check: {}: store is corrupt ({} problems)",
            p.pos(0),
            r.corrupt.len()
        );
        Ok(1)
    }
}

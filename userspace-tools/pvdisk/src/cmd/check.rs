// SPDX-License-Identifier: GPL-2.0

//! `pvdisk check STORE [--json]`

use super::{open_ro, Command, Outcome, JSON, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::check::check;
use pvdisk::format::BLOCK_SIZE;
use pvdisk::json::Json;
use pvdisk::progress::Progress;
use pvdisk::units::fmt_size;
use std::collections::BTreeMap;

pub const CMD: Command = Command {
    spec: Spec {
        name: "check",
        usage: "STORE [--json]",
        about: "Verify a store read-only; exit 1 on corruption (leaks are reported, exit 0).",
        positional: &["STORE"],
        optional: &[],
        options: &[JSON, WAIT],
    },
    run,
};

const SHOW: usize = 50;

fn run(p: &Parsed) -> Outcome {
    let mut store = open_ro(p)?;
    let r = check(&mut store, &mut Progress::new("check"))?;
    let w = &r.walk;
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &r.corrupt {
        *kinds.entry(f.problem.name()).or_default() += 1;
    }
    if p.flag("json") {
        let corrupt = r
            .corrupt
            .iter()
            .map(|f| {
                Json::Obj(vec![
                    ("problem", Json::str(f.problem.name())),
                    ("text", Json::str(&f.text)),
                ])
            })
            .collect();
        let out = Json::Obj(vec![
            ("clean", Json::Bool(r.clean())),
            ("vdis", Json::Num(w.vdis)),
            ("snapshots", Json::Num(w.snapshots)),
            ("radix_nodes", Json::Num(w.nodes)),
            ("log_blocks", Json::Num(w.logs)),
            ("data_blocks", Json::Num(w.data)),
            ("corrupt", Json::Arr(corrupt)),
            (
                "leaked",
                Json::Arr(r.leaks.iter().map(|&b| Json::Num(b)).collect()),
            ),
        ]);
        println!("{}", out.render());
        return Ok(if r.clean() { 0 } else { 1 });
    }
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
        let by_kind: Vec<String> = kinds.iter().map(|(k, n)| format!("{} {}", n, k)).collect();
        eprintln!(
            "pvdisk check: {}: store is corrupt ({} problems: {})",
            p.pos(0),
            r.corrupt.len(),
            by_kind.join(", ")
        );
        Ok(1)
    }
}

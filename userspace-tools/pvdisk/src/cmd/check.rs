// SPDX-License-Identifier: GPL-2.0

//! `pvdisk check STORE [--json]`

use super::{open_ro, Command, Outcome, JSON, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::check::{check, confirm, LIVE_READS};
use pvdisk::format::BLOCK_SIZE;
use pvdisk::json::Json;
use pvdisk::progress::Progress;
use pvdisk::units::fmt_size;
use std::collections::BTreeMap;
use std::time::Duration;

pub const CMD: Command = Command {
    spec: Spec {
        name: "check",
        usage: "STORE [--json]",
        about: "Verify a store read-only, also one in use; exit 1 on corruption (leaks are reported, exit 0).",
        positional: &["STORE"],
        optional: &[],
        options: &[JSON, WAIT],
    },
    run,
};

const SHOW: usize = 50;

fn run(p: &Parsed) -> Outcome {
    let mut store = open_ro(p)?;
    let mut holders = store.holders();
    let mut r = check(&mut store, &mut Progress::new("check"))?;
    drop(store);
    // A store in use is read while its driver commits: a finding counts
    // only if fresh reads show it again (a race between two of check's
    // reads does not come back; damage does).
    let mut reads = 1;
    while !holders.is_empty() && !r.clean() && reads < LIVE_READS {
        std::thread::sleep(Duration::from_millis(100));
        let mut again = open_ro(p)?;
        holders = again.holders();
        r = confirm(&r, check(&mut again, &mut Progress::new("check"))?);
        reads += 1;
    }
    let me = pvdisk::host::this_host();
    let in_use_by = holders
        .iter()
        .map(|&h| pvdisk::host::describe(h, me))
        .collect::<Vec<_>>()
        .join(" and ");
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
                "in_use_by",
                Json::Arr(holders.iter().map(|&h| Json::Num(h)).collect()),
            ),
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
    if !holders.is_empty() {
        println!(
            "store is in use by {}: {}",
            in_use_by,
            if r.leaks.is_empty() {
                "checked as last committed"
            } else {
                "leaks below are the live driver's reserve and uncommitted writes"
            }
        );
    }
    for c in r.corrupt.iter().take(SHOW) {
        println!("corrupt: {}", c);
    }
    if r.corrupt.len() > SHOW {
        println!("corrupt: ... and {} more", r.corrupt.len() - SHOW);
    }
    if !r.leaks.is_empty() {
        let list: Vec<String> = r.leaks.iter().take(SHOW).map(|b| b.to_string()).collect();
        println!(
            "leaked: {} blocks ({}) allocated but unreachable, {}: {}{}",
            r.leaks.len(),
            fmt_size(r.leaks.len() as u64 * BLOCK_SIZE as u64),
            if holders.is_empty() {
                "gc reclaims them"
            } else {
                "expected while disks are powered (gc only after power-off)"
            },
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
            "pvdisk check: {}: store is corrupt ({} problems: {}){}",
            p.pos(0),
            r.corrupt.len(),
            by_kind.join(", "),
            if holders.is_empty() {
                String::new()
            } else {
                format!(
                    "; in use by {}, every problem was seen in all {} reads",
                    in_use_by, reads
                )
            }
        );
        Ok(1)
    }
}

// SPDX-License-Identifier: GPL-2.0

//! `pvdisk snaps STORE VDI [--json]`

use super::{open_ro, Command, Outcome, JSON, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::json::Json;
use pvdisk::units::fmt_time;

pub const CMD: Command = Command {
    spec: Spec {
        name: "snaps",
        usage: "STORE VDI [--json]",
        about: "List the snapshots of a VDI, oldest first.",
        positional: &["STORE", "VDI"],
        optional: &[],
        options: &[JSON, WAIT],
    },
    run,
};

fn run(p: &Parsed) -> Outcome {
    let store = open_ro(p)?;
    let slot = store.find_vdi(p.pos(1))?;
    let snaps = store.snapshots(slot)?;
    if p.flag("json") {
        let list = snaps
            .iter()
            .map(|(seq, e)| {
                Json::Obj(vec![
                    ("snapshot", Json::str(format!("{}@{}", p.pos(1), seq))),
                    ("number", Json::Num(*seq)),
                    ("time", Json::Num(e.timestamp)),
                    ("deleted", Json::Bool(e.is_deleted())),
                    (
                        "label",
                        Json::opt_str((!e.label().is_empty()).then(|| e.label())),
                    ),
                ])
            })
            .collect();
        println!("{}", Json::Arr(list).render());
        return Ok(0);
    }
    println!(
        "{:<24} {:<20} {:<8} LABEL",
        "SNAPSHOT", "TIME (UTC)", "STATE"
    );
    for (seq, e) in snaps {
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

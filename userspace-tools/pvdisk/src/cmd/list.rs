// SPDX-License-Identifier: GPL-2.0

//! `pvdisk list STORE [--json] [--bytes]`

use super::{open_ro, size_text, Command, Outcome, BYTES, JSON, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::json::Json;
use pvdisk::space::{listing, store_space};

pub const CMD: Command = Command {
    spec: Spec {
        name: "list",
        usage: "STORE [--json] [--bytes]",
        about: "List the VDIs of a store with their size, mapped and exclusive space.",
        positional: &["STORE"],
        optional: &[],
        options: &[JSON, BYTES, WAIT],
    },
    run,
};

fn run(p: &Parsed) -> Outcome {
    let mut store = open_ro(p)?;
    let rows = listing(&mut store);
    let warning = store_space(&mut store)?.warning();
    if p.flag("json") {
        let vdis = rows
            .iter()
            .map(|r| {
                let opt = |v: Option<u64>| v.map_or(Json::Null, Json::Num);
                Json::Obj(vec![
                    ("name", Json::str(&r.name)),
                    ("id", Json::Num(r.id)),
                    ("size", Json::Num(r.size)),
                    ("mapped", opt(r.mapped)),
                    ("exclusive", opt(r.exclusive)),
                    ("height", Json::Num(r.height.into())),
                    ("snapshots", Json::Num(r.snapshots)),
                    ("parent", Json::opt_str(r.parent.clone())),
                    (
                        "attached_by",
                        if r.attached_by == 0 {
                            Json::Null
                        } else {
                            Json::Num(r.attached_by)
                        },
                    ),
                ])
            })
            .collect();
        let out = Json::Obj(vec![
            ("vdis", Json::Arr(vdis)),
            ("warning", Json::opt_str(warning)),
        ]);
        println!("{}", out.render());
        return Ok(0);
    }
    println!(
        "{:<20} {:>5} {:>8} {:>8} {:>8} {:>6} {:>6}  {:<20} ATTACHED",
        "NAME", "ID", "SIZE", "MAPPED", "EXCL", "HEIGHT", "SNAPS", "PARENT"
    );
    let opt = |v: Option<u64>| v.map_or("?".to_string(), |b| size_text(p, b));
    let me = pvdisk::host::this_host();
    for r in &rows {
        println!(
            "{:<20} {:>5} {:>8} {:>8} {:>8} {:>6} {:>6}  {:<20} {}",
            r.name,
            r.id,
            size_text(p, r.size),
            opt(r.mapped),
            opt(r.exclusive),
            r.height,
            r.snapshots,
            r.parent.as_deref().unwrap_or("-"),
            if r.attached_by == 0 {
                "-".to_string()
            } else {
                pvdisk::host::describe(r.attached_by, me)
            }
        );
    }
    if let Some(w) = warning {
        eprintln!("pvdisk list: warning: {}", w);
    }
    Ok(0)
}

// SPDX-License-Identifier: GPL-2.0

//! `pvdisk list STORE [--json] [--bytes]`

use super::{open_ro, size_text, Command, Outcome, BYTES, JSON, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::json::Json;
use pvdisk::snapshot::SnapRef;
use pvdisk::space::{store_space, vdi_space};

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

/// One line of the listing.
struct Row {
    name: String,
    id: u64,
    size: u64,
    mapped: Option<u64>,
    exclusive: Option<u64>,
    height: u32,
    snaps: u64,
    parent: Option<String>,
    attached_by: u64,
}

fn run(p: &Parsed) -> Outcome {
    let mut store = open_ro(p)?;
    let space = vdi_space(&mut store);
    let warning = store_space(&mut store)?.warning();
    let mut rows = Vec::new();
    for (slot, r) in store.live_vdis() {
        let parent = (r.parent != 0).then(|| match store.vdi_by_id(r.parent) {
            Some((slot, _)) => store.snap_name(SnapRef {
                slot,
                seq: r.parent_seq,
            }),
            None => format!("(deleted VDI {})@{}", r.parent, r.parent_seq),
        });
        let s = space.get(&slot).copied().flatten();
        rows.push(Row {
            name: r.name().to_string(),
            id: r.id,
            size: r.size,
            mapped: s.map(|s| s.mapped),
            exclusive: s.map(|s| s.exclusive),
            height: r.height,
            snaps: r.snap_count,
            parent,
            attached_by: r.attached_by,
        });
    }
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
                    ("snapshots", Json::Num(r.snaps)),
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
    for r in &rows {
        println!(
            "{:<20} {:>5} {:>8} {:>8} {:>8} {:>6} {:>6}  {:<20} {}",
            r.name,
            r.id,
            size_text(p, r.size),
            opt(r.mapped),
            opt(r.exclusive),
            r.height,
            r.snaps,
            r.parent.as_deref().unwrap_or("-"),
            if r.attached_by == 0 {
                "-".to_string()
            } else {
                format!("host {}", r.attached_by)
            }
        );
    }
    if let Some(w) = warning {
        eprintln!("pvdisk list: warning: {}", w);
    }
    Ok(0)
}

// SPDX-License-Identifier: GPL-2.0

//! `pvdisk info STORE [--json] [--bytes]`

use super::{open_ro, size_text, Command, Outcome, BYTES, JSON, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::format::extent::ExtentKind;
use pvdisk::format::BLOCK_SIZE;
use pvdisk::json::Json;
use pvdisk::space::store_space;
use pvdisk::units::fmt_time;

pub const CMD: Command = Command {
    spec: Spec {
        name: "info",
        usage: "STORE [--json] [--bytes]",
        about: "Show the superblock, extents and space use.",
        positional: &["STORE"],
        optional: &[],
        options: &[JSON, BYTES, WAIT],
    },
    run,
};

const KINDS: [ExtentKind; 4] = [
    ExtentKind::System,
    ExtentKind::Metadata,
    ExtentKind::Data,
    ExtentKind::Free,
];

fn run(p: &Parsed) -> Outcome {
    let mut store = open_ro(p)?;
    let sb = *store.sb();
    let space = store_space(&mut store)?;
    let uuid: String = sb.uuid.iter().map(|b| format!("{:02x}", b)).collect();
    let device = sb.total_blocks * BLOCK_SIZE as u64;
    let extent = u64::from(sb.extent_blocks) * BLOCK_SIZE as u64;
    let counts: Vec<(ExtentKind, usize)> = KINDS
        .iter()
        .map(|&k| (k, store.extents_of(k).len()))
        .collect();
    let live = store.live_vdis().len() as u64;
    let deleted = store
        .records()
        .iter()
        .filter(|r| !r.is_empty() && r.is_deleted())
        .count() as u64;
    let damaged: Vec<String> = store.bad_slots().iter().map(|(_, w)| w.clone()).collect();
    let holds = store.holds();
    let warning = space.warning();
    if p.flag("json") {
        let strs = |v: &[String]| Json::Arr(v.iter().map(Json::str).collect());
        let out = Json::Obj(vec![
            ("store", Json::str(p.pos(0))),
            ("version", Json::Num(sb.version.into())),
            (
                "features",
                Json::Obj(vec![
                    ("compat", Json::Num(sb.compat)),
                    ("ro_compat", Json::Num(sb.ro_compat)),
                    ("incompat", Json::Num(sb.incompat)),
                ]),
            ),
            ("uuid", Json::str(&uuid)),
            ("created", Json::Num(sb.created)),
            ("size", Json::Num(device)),
            ("extent_size", Json::Num(extent)),
            (
                "extents",
                Json::Obj(
                    counts
                        .iter()
                        .map(|&(k, n)| (k.name(), Json::Num(n as u64)))
                        .collect(),
                ),
            ),
            (
                "data",
                Json::Obj(vec![
                    ("used", Json::Num(space.data_used)),
                    ("free", Json::Num(space.data_free)),
                ]),
            ),
            (
                "metadata",
                Json::Obj(vec![
                    ("used", Json::Num(space.meta_used)),
                    ("free", Json::Num(space.meta_free)),
                ]),
            ),
            ("unclaimed", Json::Num(space.unclaimed)),
            ("provisioned", Json::Num(space.provisioned)),
            (
                "overcommit",
                Json::Hundredths(space.overcommit_hundredths()),
            ),
            ("used_percent", Json::Num(space.used_percent())),
            (
                "vdis",
                Json::Obj(vec![
                    ("live", Json::Num(live)),
                    ("deleted", Json::Num(deleted)),
                    ("slots", Json::Num(sb.vdi_slots.into())),
                ]),
            ),
            ("damaged", strs(&damaged)),
            ("holds", strs(&holds)),
            ("warning", Json::opt_str(warning)),
        ]);
        println!("{}", out.render());
        return Ok(0);
    }
    let sz = |b: u64| size_text(p, b);
    println!("store:        {}", p.pos(0));
    println!(
        "format:       version {}, features compat {:#x} ro_compat {:#x} incompat {:#x}",
        sb.version, sb.compat, sb.ro_compat, sb.incompat
    );
    println!("uuid:         {}", uuid);
    println!("created:      {} UTC", fmt_time(sb.created));
    println!(
        "size:         {} ({} blocks of 4K), {} of it in extents",
        sz(device),
        sb.total_blocks,
        sz(sb.store_bytes())
    );
    println!("extents:      {} of {}", sb.extent_count, sz(extent));
    for (kind, n) in &counts {
        println!("  {:<10}  {:>6}", kind.name(), n);
    }
    println!(
        "data:         {} used, {} free in data extents",
        sz(space.data_used),
        sz(space.data_free)
    );
    println!(
        "metadata:     {} used, {} free in metadata extents",
        sz(space.meta_used),
        sz(space.meta_free)
    );
    println!(
        "space:        {}% used; {} in free extents; {} provisioned, overcommit {}.{:02}",
        space.used_percent(),
        sz(space.unclaimed),
        sz(space.provisioned),
        space.overcommit_hundredths() / 100,
        space.overcommit_hundredths() % 100
    );
    println!(
        "VDIs:         {} live, {} deleted, {} slots",
        live, deleted, sb.vdi_slots
    );
    for why in &damaged {
        println!("damaged:      {}; run pvdisk check", why);
    }
    if holds.is_empty() {
        println!("holds:        none");
    } else {
        for h in holds {
            println!("hold:         {}", h);
        }
    }
    if let Some(w) = warning {
        println!("warning:      {}", w);
    }
    Ok(0)
}

// SPDX-License-Identifier: GPL-2.0

//! `pvdisk info STORE [--json] [--bytes]`, and `pvdisk info /dev/pvdiskN`
//! for what a powered disk shows (`PVDISK_IOC_INFO`).

use super::{open_ro, size_text, Command, Outcome, BYTES, JSON, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::json::Json;
use pvdisk::online::{self, DiskInfo};
use pvdisk::space::{store_info, StoreInfo};
use pvdisk::units::fmt_time;

pub const CMD: Command = Command {
    spec: Spec {
        name: "info",
        usage: "STORE|/dev/pvdiskN [--json] [--bytes]",
        about: "Show the superblock, extents and space use, or what a disk shows.",
        positional: &["STORE"],
        optional: &[],
        options: &[JSON, BYTES, WAIT],
    },
    run,
};

fn run(p: &Parsed) -> Outcome {
    if let Some(disk) = online::probe(std::path::Path::new(p.pos(0))) {
        return disk_info(p, &disk);
    }
    let mut store = open_ro(p)?;
    let StoreInfo {
        sb,
        uuid,
        device,
        extent,
        extents: counts,
        space,
        live,
        deleted,
        damaged,
        holds,
    } = store_info(&mut store)?;
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
            (
                "this_host",
                pvdisk::host::this_host().map_or(Json::Null, Json::Num),
            ),
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

/// `pvdisk info /dev/pvdiskN`: what the driver says the disk shows. The
/// store behind it is read with `pvdisk info STORE`.
fn disk_info(p: &Parsed, d: &DiskInfo) -> Outcome {
    if p.flag("json") {
        let out = Json::Obj(vec![
            ("disk", Json::str(p.pos(0))),
            ("vdi", Json::str(&d.name)),
            ("id", Json::Num(d.vdi_id)),
            ("size", Json::Num(d.bytes)),
            ("snapshots", Json::Num(d.snapshots)),
            (
                "snapshot",
                d.snapshot.map_or(Json::Null, |_| Json::str(d.shows())),
            ),
            ("read_only", Json::Bool(d.snapshot.is_some())),
            ("store_uuid", Json::str(&d.store_uuid)),
        ]);
        println!("{}", out.render());
        return Ok(0);
    }
    println!("disk:         {}", p.pos(0));
    match d.snapshot {
        Some(_) => println!("shows:        snapshot {}, read-only", d.shows()),
        None => println!("shows:        VDI {}, read-write", d.name),
    }
    println!("VDI id:       {}", d.vdi_id);
    println!("size:         {}", size_text(p, d.bytes));
    println!("snapshots:    {} taken of {}", d.snapshots, d.name);
    println!("store uuid:   {}", d.store_uuid);
    Ok(0)
}

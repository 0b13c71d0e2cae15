// SPDX-License-Identifier: GPL-2.0

//! `pvdisk info STORE`

use super::{open_ro, Command, Outcome, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::format::extent::ExtentKind;
use pvdisk::format::BLOCK_SIZE;
use pvdisk::units::{fmt_size, fmt_time};

pub const CMD: Command = Command {
    spec: Spec {
        name: "info",
        usage: "STORE",
        about: "Show the superblock, extents and space use.",
        positional: &["STORE"],
        optional: &[],
        options: &[WAIT],
    },
    run,
};

fn run(p: &Parsed) -> Outcome {
    let mut store = open_ro(p)?;
    let sb = store.sb;
    let uuid: String = sb.uuid.iter().map(|b| format!("{:02x}", b)).collect();
    println!("store:        {}", p.pos(0));
    println!(
        "format:       version {}, features compat {:#x} ro_compat {:#x} incompat {:#x}",
        sb.version, sb.compat, sb.ro_compat, sb.incompat
    );
    println!("uuid:         {}", uuid);
    println!("created:      {} UTC", fmt_time(sb.created));
    println!(
        "size:         {} ({} blocks of 4K), {} of it in extents",
        fmt_size(sb.total_blocks * BLOCK_SIZE as u64),
        sb.total_blocks,
        fmt_size(sb.store_bytes())
    );
    println!(
        "extents:      {} of {}",
        sb.extent_count,
        fmt_size(u64::from(sb.extent_blocks) * BLOCK_SIZE as u64)
    );
    for kind in [
        ExtentKind::System,
        ExtentKind::Metadata,
        ExtentKind::Data,
        ExtentKind::Free,
    ] {
        let list = store.extents_of(kind);
        let mut used = 0u64;
        if matches!(kind, ExtentKind::Metadata | ExtentKind::Data) {
            for &e in &list {
                used += u64::from(store.bitmap(e)?.used - sb.bitmap_blocks());
            }
        }
        let usage = match kind {
            ExtentKind::Metadata | ExtentKind::Data => {
                format!(
                    ", {} used ({} bytes)",
                    fmt_size(used * BLOCK_SIZE as u64),
                    used * BLOCK_SIZE as u64
                )
            }
            _ => String::new(),
        };
        println!("  {:<10}  {:>6}{}", kind.name(), list.len(), usage);
    }
    let live = store.live_vdis().len();
    let deleted = store
        .vdis
        .iter()
        .filter(|r| !r.is_empty() && r.is_deleted())
        .count();
    println!(
        "VDIs:         {} live, {} deleted, {} slots",
        live, deleted, sb.vdi_slots
    );
    for (_, why) in &store.bad_slots {
        println!("damaged:      {}; run pvdisk check", why);
    }
    let holds = store.holds();
    if holds.is_empty() {
        println!("holds:        none");
    } else {
        for h in holds {
            println!("hold:         {}", h);
        }
    }
    Ok(0)
}

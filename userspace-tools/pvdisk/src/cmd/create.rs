// SPDX-License-Identifier: GPL-2.0

//! `pvdisk create STORE NAME [--size SIZE] [--from SNAPSHOT]`

use super::{open_managed, size_opt, Command, Outcome, FORCE, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::live::Managed;
use pvdisk::units::fmt_size;
use pvdisk::Error;

pub const CMD: Command = Command {
    spec: Spec {
        name: "create",
        usage: "STORE NAME [--size SIZE] [--from SNAPSHOT]",
        about: "Create an empty VDI, or a writable clone of a snapshot.",
        positional: &["STORE", "NAME"],
        optional: &[],
        options: &[
            (
                "size",
                true,
                "size of the VDI (a clone defaults to its snapshot's)",
            ),
            ("from", true, "snapshot to clone (label or VDI@N)"),
            FORCE,
            WAIT,
        ],
    },
    run,
};

fn run(p: &Parsed) -> Outcome {
    let size = size_opt(p, "size")?;
    let from = p.value("from");
    if size.is_none() && from.is_none() {
        return Err(Error::Usage(
            "--size is required for a new empty VDI".into(),
        ));
    }
    let name = p.pos(1);
    let bytes = match open_managed(p)? {
        Managed::Offline(mut store, _) => {
            let slot = match from {
                Some(spec) => {
                    let s = store.resolve_snapshot(spec)?;
                    store.clone_snapshot(s, name, size)?
                }
                None => store.create_vdi(name, size.unwrap_or(0))?,
            };
            store.vdi(slot)?.size
        }
        Managed::Live(live) => live.create(name, from, size)?,
    };
    match from {
        Some(spec) => println!(
            "created VDI '{}' ({}), a clone of {}",
            name,
            fmt_size(bytes),
            spec
        ),
        None => println!("created VDI '{}' ({})", name, fmt_size(bytes)),
    }
    Ok(0)
}

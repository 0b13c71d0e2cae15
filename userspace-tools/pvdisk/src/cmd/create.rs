// SPDX-License-Identifier: GPL-2.0

//! `pvdisk create STORE NAME [--size SIZE] [--from SNAPSHOT] [--count N]`

use super::{open_managed, size_opt, Command, Outcome, FORCE, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::live::Managed;
use pvdisk::names::check_vdi_name;
use pvdisk::units::fmt_size;
use pvdisk::Error;

pub const CMD: Command = Command {
    spec: Spec {
        name: "create",
        usage: "STORE NAME [--size SIZE] [--from SNAPSHOT] [--count N]",
        about: "Create an empty VDI, or a writable clone of a snapshot; with --count, N of them.",
        positional: &["STORE", "NAME"],
        optional: &[],
        options: &[
            (
                "size",
                true,
                "size of the VDI (a clone defaults to its snapshot's)",
            ),
            ("from", true, "snapshot to clone (label or VDI@N)"),
            (
                "count",
                true,
                "make N VDIs, NAME-1 .. NAME-N, in one pass: all or none",
            ),
            FORCE,
            WAIT,
        ],
    },
    run,
};

/// The names `--count` gives: NAME-1 .. NAME-N; without it, NAME.
pub fn batch_names(name: &str, count: Option<u32>) -> Vec<String> {
    match count {
        None => vec![name.to_string()],
        Some(n) => (1..=n).map(|i| format!("{}-{}", name, i)).collect(),
    }
}

fn count_opt(p: &Parsed) -> Result<Option<u32>, Error> {
    let Some(v) = p.value("count") else {
        return Ok(None);
    };
    match v.parse::<u32>() {
        Ok(n) if n > 0 && v.bytes().all(|c| c.is_ascii_digit()) => Ok(Some(n)),
        _ => Err(Error::Usage(format!(
            "bad count '{}' for --count (a whole number from 1)",
            v
        ))),
    }
}

fn run(p: &Parsed) -> Outcome {
    let size = size_opt(p, "size")?;
    let from = p.value("from");
    let count = count_opt(p)?;
    if size.is_none() && from.is_none() {
        return Err(Error::Usage(
            "--size is required for a new empty VDI".into(),
        ));
    }
    let name = p.pos(1);
    if count.is_some() {
        // NAME itself first, so a bad one is named as given.
        check_vdi_name(name)?;
    }
    let names = batch_names(name, count);
    let (made, stopped) = match open_managed(p)? {
        Managed::Offline(mut store, _) => {
            let slots = match from {
                Some(spec) => {
                    let s = store.resolve_snapshot(spec)?;
                    store.clone_snapshots(s, &names, size)?
                }
                None => store.create_vdis(&names, size.unwrap_or(0))?,
            };
            let sizes = slots
                .iter()
                .map(|&slot| store.vdi(slot).map(|r| r.size))
                .collect::<Result<Vec<_>, _>>()?;
            (sizes, None)
        }
        Managed::Live(live) => live.create_many(&names, from, size),
    };
    // One write for the batch (stdout is line-buffered).
    let mut out = String::new();
    for (name, bytes) in names.iter().zip(made) {
        out.push_str(&match from {
            Some(spec) => format!(
                "created VDI '{}' ({}), a clone of {}\n",
                name,
                fmt_size(bytes),
                spec
            ),
            None => format!("created VDI '{}' ({})\n", name, fmt_size(bytes)),
        });
    }
    print!("{}", out);
    match stopped {
        Some(e) => Err(e),
        None => Ok(0),
    }
}

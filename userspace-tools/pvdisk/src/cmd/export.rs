// SPDX-License-Identifier: GPL-2.0

//! `pvdisk export STORE VDI|SNAPSHOT IMAGE`

use super::{open_ro, Command, Outcome, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::image::{export, Output};
use pvdisk::names::Named;
use pvdisk::progress::Progress;
use std::path::Path;

pub const CMD: Command = Command {
    spec: Spec {
        name: "export",
        usage: "STORE VDI|SNAPSHOT IMAGE [--force]",
        about: "Write a VDI or snapshot out as a raw image (sparse where zero).",
        positional: &["STORE", "VDI|SNAPSHOT", "IMAGE"],
        optional: &[],
        options: &[("force", false, "overwrite an existing image file"), WAIT],
    },
    run,
};

fn run(p: &Parsed) -> Outcome {
    let mut store = open_ro(p)?;
    let what = p.pos(1);
    let (root, rec) = match store.resolve(what)? {
        Named::Vdi(slot) => {
            let r = store.vdi(slot)?;
            (r.root, r)
        }
        Named::Snapshot(s) => (store.snapshot_entry(s)?.root, store.vdi(s.slot)?),
    };
    let out = Output::create(&store, Path::new(p.pos(2)), p.flag("force"))?;
    let s = export(
        &mut store,
        root,
        rec.height,
        rec.size,
        out.file(),
        &mut Progress::new("export"),
    )?;
    out.commit()?;
    println!(
        "exported {} to {}: {} blocks, {} written",
        what,
        p.pos(2),
        s.blocks,
        s.written
    );
    Ok(0)
}

// SPDX-License-Identifier: GPL-2.0

//! `pvdisk import STORE VDI IMAGE`

use super::{open_rw, Command, Outcome, FORCE, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::image::{import, refuse_store_itself};
use pvdisk::progress::Progress;
use pvdisk::Error;
use std::fs::File;

pub const CMD: Command = Command {
    spec: Spec {
        name: "import",
        usage: "STORE VDI IMAGE",
        about: "Copy a raw image into a VDI (zero blocks are skipped).",
        positional: &["STORE", "VDI", "IMAGE"],
        optional: &[],
        options: &[FORCE, WAIT],
    },
    run,
};

fn run(p: &Parsed) -> Outcome {
    let image = File::open(p.pos(2)).map_err(|e| Error::io(p.pos(2), e))?;
    let mut store = open_rw(p)?;
    refuse_store_itself(&store, std::path::Path::new(p.pos(2)))?;
    let slot = store.find_vdi(p.pos(1))?;
    let s = import(&mut store, slot, &image, &mut Progress::new("import"))?;
    println!(
        "imported {} into '{}': {} blocks, {} written, {} zero blocks skipped",
        p.pos(2),
        p.pos(1),
        s.blocks,
        s.written,
        s.blocks - s.written
    );
    Ok(0)
}

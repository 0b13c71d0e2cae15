// SPDX-License-Identifier: GPL-2.0

//! `pvdisk import STORE VDI IMAGE|-`

use super::{open_rw, Command, Outcome, FORCE, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::image::{import, import_stream, refuse_store_itself};
use pvdisk::live::Live;
use pvdisk::progress::Progress;
use pvdisk::units::fmt_size;
use pvdisk::Error;
use std::fs::File;

pub const CMD: Command = Command {
    spec: Spec {
        name: "import",
        usage: "STORE VDI IMAGE|-",
        about: "Replace a VDI's contents with a raw image ('-': standard input); zero blocks stay unmapped.",
        positional: &["STORE", "VDI", "IMAGE"],
        optional: &[],
        options: &[FORCE, WAIT],
    },
    run,
};

fn run(p: &Parsed) -> Outcome {
    let from_stdin = p.pos(2) == "-";
    let image = if from_stdin {
        None
    } else {
        Some(File::open(p.pos(2)).map_err(|e| Error::io(p.pos(2), e))?)
    };
    let mut store = open_rw(p, "import", &|_: &Live| {
        "power them off first, or write the image to a powered disk that shows the VDI".to_string()
    })?;
    let slot = store.find_vdi(p.pos(1))?;
    let mut progress = Progress::new("import");
    let s = match &image {
        Some(f) => {
            refuse_store_itself(&store, std::path::Path::new(p.pos(2)))?;
            import(&mut store, slot, f, &mut progress)?
        }
        None => import_stream(
            &mut store,
            slot,
            &mut std::io::stdin().lock(),
            &mut progress,
        )?,
    };
    println!(
        "imported {} into '{}': {} blocks, {} written, {} zero or sparse blocks left unmapped ({} of data read)",
        if from_stdin { "standard input" } else { p.pos(2) },
        p.pos(1),
        s.blocks,
        s.written,
        s.blocks - s.written,
        fmt_size(s.read)
    );
    Ok(0)
}

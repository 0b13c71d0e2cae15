// SPDX-License-Identifier: GPL-2.0

//! `pvdisk snapshot STORE VDI [--label LABEL]` (offline) and
//! `pvdisk snapshot /dev/pvdiskN [--label LABEL]` (online, through the
//! driver's ioctl).

use super::{open_rw, Command, Failure, Outcome, FORCE, WAIT};
use pvdisk::args::{Parsed, Spec};
use pvdisk::Error;

pub const CMD: Command = Command {
    spec: Spec {
        name: "snapshot",
        usage: "STORE VDI [--label LABEL] | /dev/pvdiskN [--label LABEL]",
        about: "Take a snapshot of a VDI (three block writes).",
        positional: &["STORE"],
        optional: &["VDI"],
        options: &[("label", true, "name the snapshot"), FORCE, WAIT],
    },
    run,
};

fn run(p: &Parsed) -> Outcome {
    let label = p.value("label").unwrap_or("");
    if p.positional.len() == 1 {
        let dev = p.pos(0);
        let base = dev.rsplit('/').next().unwrap_or(dev);
        if base.starts_with("pvdisk") {
            return Err(Failure::Op(Error::msg(format!(
                "{}: not supported yet: the driver's snapshot ioctl is not built",
                dev
            ))));
        }
        return Err(Failure::Usage(
            "missing VDI (or give a /dev/pvdiskN device for an online snapshot)".into(),
        ));
    }
    let mut store = open_rw(p)?;
    let slot = store.find_vdi(p.pos(1))?;
    let seq = store.snapshot(slot, label)?;
    if label.is_empty() {
        println!("snapshot {}@{}", p.pos(1), seq);
    } else {
        println!("snapshot {}@{} labelled '{}'", p.pos(1), seq, label);
    }
    Ok(0)
}

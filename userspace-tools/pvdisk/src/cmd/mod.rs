// SPDX-License-Identifier: GPL-2.0

//! One module per subcommand: each parses its arguments, calls the
//! library, and prints.

use pvdisk::args::{Parsed, Spec};
use pvdisk::live::{self, Live, Managed};
use pvdisk::store::{Access, Opened};
use pvdisk::units::parse_size;
use pvdisk::{Error, Store};
use std::path::Path;

mod check;
mod create;
mod delete;
mod export;
mod format;
mod gc;
mod import;
mod info;
mod label;
mod list;
mod rename;
mod resize;
mod snaps;
mod snapshot;
mod tree;

/// How a command failed: the library's typed error, whose kind gives the
/// exit status (2 for bad usage, 1 otherwise).
pub type Failure = Error;

/// A command's result: the exit status on success.
pub type Outcome = Result<u8, Failure>;

/// A subcommand.
pub struct Command {
    pub spec: Spec,
    pub run: fn(&Parsed) -> Outcome,
}

const COMMANDS: &[Command] = &[
    format::CMD,
    info::CMD,
    list::CMD,
    create::CMD,
    delete::CMD,
    snapshot::CMD,
    snaps::CMD,
    label::CMD,
    rename::CMD,
    resize::CMD,
    tree::CMD,
    import::CMD,
    export::CMD,
    check::CMD,
    gc::CMD,
];

/// Looks a subcommand up by name.
pub fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.spec.name == name)
}

/// `pvdisk --help`.
pub fn overview() -> String {
    let mut s = String::from(
        "pvdisk: copy-on-write virtual disk stores (offline tool)\n\n\
         Usage: pvdisk COMMAND [ARGS] (pvdisk COMMAND --help for details)\n\n\
         STORE is a block device or a regular file; a snapshot is named by its\n\
         label or as VDI@N; SIZE takes K/M/G/T suffixes.\n\nCommands:\n",
    );
    for c in COMMANDS {
        s.push_str(&format!(
            "  pvdisk {} {}\n      {}\n",
            c.spec.name, c.spec.usage, c.spec.about
        ));
    }
    s.push_str("\nExit status: 0 success, 1 failed operation or corrupt store, 2 bad usage.\n");
    s
}

/// Option entry shared by every command that changes a store.
pub const FORCE: (&str, bool, &str) = (
    "force",
    false,
    "act even though a driver holds the store (says what it overrides)",
);

/// Option entry of every command that opens a store.
pub const WAIT: (&str, bool, &str) = (
    "wait",
    false,
    "wait for another pvdisk command using the store instead of failing",
);

/// Option entry of the commands that can print JSON.
pub const JSON: (&str, bool, &str) = (
    "json",
    false,
    "print JSON (schema in Documentation/tool.rst)",
);

/// Option entry of the commands that print sizes.
pub const BYTES: (&str, bool, &str) = ("bytes", false, "print sizes as exact byte counts");

/// A size as the user asked for it: human (`20G`) or, with `--bytes`,
/// exact.
pub fn size_text(p: &Parsed, bytes: u64) -> String {
    if p.flag("bytes") {
        bytes.to_string()
    } else {
        pvdisk::units::fmt_size(bytes)
    }
}

/// Opens a store read-only, under a shared lock.
pub fn open_ro(p: &Parsed) -> Result<Store, Failure> {
    open(p, false)
}

/// Opens a store for a change that only works offline (command `what`),
/// under an exclusive lock, refusing it while held (unless --force, which
/// it reports). While the store's disks are powered on this host the
/// refusal names them and ends with `hint`: what to do instead.
pub fn open_rw(p: &Parsed, what: &str, hint: &dyn Fn(&Live) -> String) -> Result<Store, Failure> {
    let access = access(p, true);
    let path = Path::new(p.pos(0));
    match Store::open_for_change(path, access)? {
        Opened::Offline(store, overridden) => {
            warn_overridden(&overridden);
            Ok(*store)
        }
        Opened::Claimed => Err(live::offline_only(path, access, what, hint)),
    }
}

/// The usual end of a refusal of an offline-only command on a live store.
pub fn power_off_first(_: &Live) -> String {
    "power them off first".to_string()
}

/// Opens a store for a change that `create`, `delete` and `label` make
/// either way: offline (under an exclusive lock, refused while held
/// unless --force) or, while its disks are powered on this host, through
/// the driver (Documentation/tool.rst, *Live management*).
pub fn open_managed(p: &Parsed) -> Result<Managed, Failure> {
    let m = live::open(Path::new(p.pos(0)), access(p, true))?;
    if let Managed::Offline(_, overridden) = &m {
        warn_overridden(overridden);
    }
    Ok(m)
}

fn access(p: &Parsed, write: bool) -> Access {
    Access {
        write,
        wait: p.flag("wait"),
        force: p.flag("force"),
    }
}

fn warn_overridden(overridden: &[String]) {
    for h in overridden {
        eprintln!("pvdisk: warning: --force: ignoring that {}", h);
    }
}

fn open(p: &Parsed, write: bool) -> Result<Store, Failure> {
    let (store, overridden) = Store::open_for(Path::new(p.pos(0)), access(p, write))?;
    warn_overridden(&overridden);
    Ok(store)
}

/// Parses a SIZE option.
pub fn size_opt(p: &Parsed, name: &str) -> Result<Option<u64>, Failure> {
    match p.value(name) {
        None => Ok(None),
        Some(v) => parse_size(v).map(Some).ok_or_else(|| {
            Error::Usage(format!(
                "bad size '{}' for --{} (a number with an optional K, M, G or T suffix)",
                v, name
            ))
        }),
    }
}
